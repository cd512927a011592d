package storetest

import (
	"fmt"
	"reflect"
	"testing"
	"time"
)

var timeType = reflect.TypeFor[time.Time]()

// checkEqual reports every field where got differs from want. Times are
// compared by instant, and a non-zero time in got must be in UTC; empty and
// nil slices are equal.
func checkEqual(t *testing.T, what string, got, want any) {
	t.Helper()
	var diffs []string
	diffValues(what, reflect.ValueOf(got), reflect.ValueOf(want), &diffs)
	for _, d := range diffs {
		t.Error(d)
	}
}

func diffValues(path string, got, want reflect.Value, out *[]string) {
	if got.Type() == timeType {
		g, w := got.Interface().(time.Time), want.Interface().(time.Time)
		if !g.Equal(w) || !g.IsZero() && g.Location() != time.UTC {
			*out = append(*out, fmt.Sprintf("%s = %v, want %v (in UTC)", path, g, w))
		}
		return
	}
	switch got.Kind() {
	case reflect.Struct:
		for i := range got.NumField() {
			diffValues(path+"."+got.Type().Field(i).Name, got.Field(i), want.Field(i), out)
		}
	case reflect.Slice:
		if got.Len() == 0 && want.Len() == 0 {
			return
		}
		if !reflect.DeepEqual(got.Interface(), want.Interface()) {
			*out = append(*out, fmt.Sprintf("%s = %#v, want %#v", path, got.Interface(), want.Interface()))
		}
	default:
		if !reflect.DeepEqual(got.Interface(), want.Interface()) {
			*out = append(*out, fmt.Sprintf("%s = %#v, want %#v", path, got.Interface(), want.Interface()))
		}
	}
}
