package spec

import "fmt"

// lenientKind names a JSON type accepted in place of a member's declared one.
type lenientKind uint8

const (
	strict lenientKind = iota
	// boolAsString: a string member also accepts JSON true/false, rewritten
	// to the strings "true"/"false".
	boolAsString
	// stringAsInteger: an integer member (or list of integers) also accepts a
	// JSON string holding a decimal integer, rewritten to the bare number
	// after the usual range checks.
	stringAsInteger
)

// leniency is one member where the validator is knowingly less strict than
// the description, because an official document tells callers to send
// something else. Generated types keep the declared type: Validate rewrites
// the accepted stand-in to it, so handlers never see the difference.
type leniency struct {
	service, object, member string
	accept                  lenientKind
	why                     string
}

// leniencies is the whole list, in one place. New checks every entry of its
// service against the definition, so a spec change cannot silently void one.
func leniencies() []leniency {
	return []leniency{
		{"tcss", "ImageInfo", "Force", boolAsString,
			`a string ("true"/"false") in the SDKs, a JSON boolean in the documented example of ImageInfo`},
		{"cwp", "DescribeMalwareWhiteListRequest", "Limit", stringAsInteger,
			`the official request example sends "Limit": "10"`},
		{"cwp", "DescribeMalwareWhiteListRequest", "Offset", stringAsInteger,
			`the official request example sends "Offset": "0"`},
		{"cwp", "DeleteMalwareWhiteListRequest", "Ids", stringAsInteger,
			`the official request example sends "Ids": ["2", "1"]`},
		{"tcss", "RemoveAssetImageRegistryRegistryDetailRequest", "RegistryId", stringAsInteger,
			`the official request example (English page) sends "RegistryId": "1"`},
	}
}

func (s *Schema) applyLeniencies(table []leniency) error {
	for _, l := range table {
		if l.service != s.def.Service {
			continue
		}
		o, ok := s.objects[l.object]
		if !ok {
			return fmt.Errorf("spec: leniency for %s.%s: object not defined", l.object, l.member)
		}
		f, ok := o.byName[l.member]
		if !ok {
			return fmt.Errorf("spec: leniency for %s.%s: member not defined", l.object, l.member)
		}
		scalar := f.typ
		if scalar.kind == kindList {
			scalar = scalar.elem
		}
		switch {
		case l.accept == boolAsString && scalar.kind == kindString:
		case l.accept == stringAsInteger && (scalar.kind == kindInt64 || scalar.kind == kindUint64):
		default:
			return fmt.Errorf("spec: leniency for %s.%s does not fit its declared type", l.object, l.member)
		}
		f.lenient = l.accept
	}
	return nil
}
