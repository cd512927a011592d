package spec

import (
	"errors"
	"strings"
	"testing"

	"github.com/vigil-sec/vigil/internal/api"
)

// demoDefinition covers every member type the descriptions use.
func demoDefinition() Definition {
	return Definition{
		Service: "demo",
		Version: "2024-01-01",
		Actions: []ActionDef{
			{Name: "Do", Input: "DoRequest", Output: "DoResponse"},
			{Name: "Empty", Input: "EmptyRequest", Output: "DoResponse"},
		},
		Objects: []ObjectDef{
			{Name: "DoRequest", Members: []MemberDef{
				{Name: "Name", Type: "string", Member: "string", Required: true},
				{Name: "Signed", Type: "int", Member: "int64"},
				{Name: "Unsigned", Type: "int", Member: "uint64"},
				{Name: "Flag", Type: "bool", Member: "bool"},
				{Name: "Ratio", Type: "float", Member: "float"},
				{Name: "When", Type: "string", Member: "datetime_iso"},
				{Name: "Tags", Type: "list", Member: "string"},
				{Name: "Ids", Type: "list", Member: "uint64"},
				{Name: "Deltas", Type: "list", Member: "int64"},
				{Name: "Flags", Type: "list", Member: "bool"},
				{Name: "Ratios", Type: "list", Member: "float"},
				{Name: "Filters", Type: "list", Member: "Filter"},
				{Name: "Image", Type: "object", Member: "Image"},
				{Name: "Old", Type: "string", Member: "string", Deprecated: true},
			}},
			{Name: "Filter", Members: []MemberDef{
				{Name: "Name", Type: "string", Member: "string", Required: true},
				{Name: "Values", Type: "list", Member: "string", Required: true},
				{Name: "ExactMatch", Type: "bool", Member: "bool"},
			}},
			{Name: "Image", Members: []MemberDef{
				{Name: "ImageName", Type: "string", Member: "string", Required: true},
				{Name: "Force", Type: "string", Member: "string"},
				{Name: "Count", Type: "int", Member: "uint64"},
				{Name: "Nested", Type: "object", Member: "Image"},
			}},
			{Name: "EmptyRequest"},
			{Name: "DoResponse", Members: []MemberDef{
				{Name: "RequestId", Type: "string", Member: "string"},
			}},
		},
	}
}

// demoLeniencies exercises both leniency kinds on the demo definition.
func demoLeniencies() []leniency {
	return []leniency{
		{"demo", "Image", "Force", boolAsString, "test"},
		{"demo", "Image", "Count", stringAsInteger, "test"},
		{"demo", "DoRequest", "Ids", stringAsInteger, "test"},
		{"other", "Nothing", "Here", boolAsString, "another service's entry is ignored"},
	}
}

func demoSchema(t testing.TB) *Schema {
	t.Helper()
	s, err := New(demoDefinition())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.applyLeniencies(demoLeniencies()); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestNewRejectsInconsistentDefinitions(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Definition)
		want   string
	}{
		{"no service", func(d *Definition) { d.Service = "" }, "without service"},
		{"unknown input", func(d *Definition) { d.Actions[0].Input = "Nope" }, `input object "Nope"`},
		{"unknown output", func(d *Definition) { d.Actions[0].Output = "Nope" }, `output object "Nope"`},
		{"duplicate action", func(d *Definition) { d.Actions[1].Name = "Do" }, "action Do defined twice"},
		{"duplicate object", func(d *Definition) { d.Objects[1].Name = "DoRequest" }, "object DoRequest defined twice"},
		{"duplicate member", func(d *Definition) { d.Objects[1].Members[1].Name = "Name" }, "Filter.Name defined twice"},
		{"unknown type", func(d *Definition) { d.Objects[1].Members[0].Type = "map" }, `unknown type "map"`},
		{"unknown element", func(d *Definition) { d.Objects[1].Members[1].Member = "Nope" }, `unknown member type "Nope"`},
		{"unknown object", func(d *Definition) { d.Objects[0].Members[12].Member = "Nope" }, `object "Nope" is not defined`},
		{"int of string", func(d *Definition) { d.Objects[0].Members[1].Member = "string" }, `type "int" cannot have member type "string"`},
		{"string of int", func(d *Definition) { d.Objects[0].Members[0].Member = "int64" }, `type "string" cannot have member type "int64"`},
		{"member without name", func(d *Definition) { d.Objects[0].Members[0].Name = "" }, "member without a name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := demoDefinition()
			tt.change(&d)
			_, err := New(d)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New: got %v, want error containing %q", err, tt.want)
			}
		})
	}
}

func TestLeniencyTableMustFitTheDefinition(t *testing.T) {
	tests := []struct {
		name  string
		entry leniency
		want  string
	}{
		{"unknown object", leniency{"demo", "Nope", "Force", boolAsString, ""}, "object not defined"},
		{"unknown member", leniency{"demo", "Image", "Nope", boolAsString, ""}, "member not defined"},
		{"bool for an int", leniency{"demo", "Image", "Count", boolAsString, ""}, "does not fit"},
		{"string for a string", leniency{"demo", "Image", "Force", stringAsInteger, ""}, "does not fit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(demoDefinition())
			if err != nil {
				t.Fatal(err)
			}
			err = s.applyLeniencies([]leniency{tt.entry})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want error containing %q", err, tt.want)
			}
		})
	}
}

func TestSchemaAccessors(t *testing.T) {
	d := demoDefinition()
	s := demoSchema(t)
	if s.Service() != "demo" || s.Version() != "2024-01-01" {
		t.Errorf("Service, Version = %q, %q", s.Service(), s.Version())
	}
	if got := strings.Join(s.ActionNames(), ","); got != "Do,Empty" {
		t.Errorf("ActionNames = %s", got)
	}
	if a, ok := s.Action("Do"); !ok || a != d.Actions[0] {
		t.Errorf("Action(Do) = %+v, %v", a, ok)
	}
	if _, ok := s.Action("Nope"); ok {
		t.Error("Action(Nope) found")
	}
	o, ok := s.Object("Filter")
	if !ok || len(o.Members) != 3 {
		t.Fatalf("Object(Filter) = %+v, %v", o, ok)
	}
	// Copies handed out must not alter the schema.
	o.Members[0].Required = false
	s.Definition().Objects[0].Members[0].Name = "Changed"
	if _, err := s.Validate("Do", []byte(`{"Name":"x","Filters":[{"Values":[]}]}`)); apiCode(err) != api.MissingParameter {
		t.Errorf("schema changed through a copy: %v", err)
	}
	if _, err := s.Validate("Do", []byte(`{"Name":"x"}`)); err != nil {
		t.Errorf("schema changed through a copy: %v", err)
	}
}

func TestMustNewPanicsOnBadDefinition(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("MustNew did not panic")
		}
	}()
	MustNew(Definition{})
}

func apiCode(err error) api.Code {
	var e *api.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}
