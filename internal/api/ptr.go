package api

// Ptr returns a pointer to v: generated API types model every field as a
// pointer (as the official SDKs do) so that "absent" and "zero" differ.
func Ptr[T any](v T) *T { return &v }

// Value returns *p, or the zero value when p is nil.
func Value[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}
