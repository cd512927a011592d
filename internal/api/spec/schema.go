// Package spec holds the request schema of an API service (generated from the
// official .api.json descriptions by internal/cmd/apigen) and checks raw
// requests against it before they are decoded into the generated Go types.
//
// The generated types are all pointers and decode leniently (encoding/json
// ignores unknown keys, folds case and accepts "1e2" for nothing but floats);
// the official service is strict. Validate gives callers the official errors —
// UnknownParameter, MissingParameter, InvalidParameter, InvalidParameterValue —
// naming the full parameter path (Filters.0.Values.1), and guarantees that a
// body it accepts decodes into the action's request type without error.
package spec

import (
	"fmt"
	"slices"
)

// Definition is an API surface as plain data: what apigen emits, and what New
// compiles. Member types use the vocabulary of the .api.json files.
type Definition struct {
	Service string // short service name: "cwp", "tcss"
	Version string // API version: "2018-02-28"
	Actions []ActionDef
	Objects []ObjectDef
}

// ActionDef is one action: its name and the names of its input and output objects.
type ActionDef struct {
	Name   string
	Input  string
	Output string
}

// ObjectDef is one object (request, response or shared structure) and its members in order.
type ObjectDef struct {
	Name    string
	Members []MemberDef
}

// MemberDef is one member of an object.
//
// Type is the JSON shape: "string", "int", "bool", "float", "list" or "object".
// Member is the element type: for scalars "string" (or "datetime_iso", a
// string too), "int64", "uint64", "bool", "float"; for "object" the object's
// name; for "list" the element type, scalar or object name.
type MemberDef struct {
	Name       string
	Type       string
	Member     string
	Required   bool
	Deprecated bool // "disabled" in the description: still accepted, no longer documented
}

// Action is one entry of a service's action table (generated per service as
// Actions()): constructors of fresh typed values for decoding a request and
// building a response. NewRequest returns a pointer to the action's request
// struct, NewResponse a pointer to its response struct (a RequestIDSetter).
type Action struct {
	Name        string
	NewRequest  func() any
	NewResponse func() any
}

// RequestIDSetter is implemented by every generated response type.
type RequestIDSetter interface {
	SetRequestId(id string)
}

// Schema is a compiled Definition. It is immutable and safe for concurrent use.
type Schema struct {
	def     Definition
	actions map[string]*action
	objects map[string]*object
}

type action struct {
	def   ActionDef
	input *object
}

// kind is the JSON-level type a value must have, with integer widths kept apart.
type kind uint8

const (
	kindString kind = iota + 1
	kindInt64
	kindUint64
	kindBool
	kindFloat
	kindObject
	kindList
)

// valueType describes the value of a member or of a list element.
type valueType struct {
	kind kind
	elem *valueType // kindList
	obj  *object    // kindObject
}

type object struct {
	name     string
	fields   []*field // in definition order
	byName   map[string]*field
	required []int // indexes into fields
}

type field struct {
	name     string
	index    int
	required bool
	typ      *valueType
	lenient  lenientKind // accepted stand-in JSON type (see leniencies.go)
}

// New compiles def, checking that every reference resolves and every type is known.
func New(def Definition) (*Schema, error) {
	if def.Service == "" || def.Version == "" {
		return nil, fmt.Errorf("spec: definition without service name or version")
	}
	s := &Schema{
		def:     cloneDefinition(def),
		actions: make(map[string]*action, len(def.Actions)),
		objects: make(map[string]*object, len(def.Objects)),
	}
	for _, od := range s.def.Objects {
		if od.Name == "" {
			return nil, fmt.Errorf("spec: object without a name")
		}
		if _, dup := s.objects[od.Name]; dup {
			return nil, fmt.Errorf("spec: object %s defined twice", od.Name)
		}
		s.objects[od.Name] = &object{name: od.Name, byName: make(map[string]*field, len(od.Members))}
	}
	for _, od := range s.def.Objects {
		o := s.objects[od.Name]
		for i, md := range od.Members {
			if md.Name == "" {
				return nil, fmt.Errorf("spec: %s: member without a name", od.Name)
			}
			if _, dup := o.byName[md.Name]; dup {
				return nil, fmt.Errorf("spec: %s.%s defined twice", od.Name, md.Name)
			}
			t, err := s.memberType(md)
			if err != nil {
				return nil, fmt.Errorf("spec: %s.%s: %w", od.Name, md.Name, err)
			}
			f := &field{name: md.Name, index: i, required: md.Required, typ: t}
			o.fields = append(o.fields, f)
			o.byName[md.Name] = f
			if md.Required {
				o.required = append(o.required, i)
			}
		}
	}
	for _, ad := range s.def.Actions {
		if _, dup := s.actions[ad.Name]; dup {
			return nil, fmt.Errorf("spec: action %s defined twice", ad.Name)
		}
		in, ok := s.objects[ad.Input]
		if !ok {
			return nil, fmt.Errorf("spec: action %s: input object %q is not defined", ad.Name, ad.Input)
		}
		if _, ok := s.objects[ad.Output]; !ok {
			return nil, fmt.Errorf("spec: action %s: output object %q is not defined", ad.Name, ad.Output)
		}
		s.actions[ad.Name] = &action{def: ad, input: in}
	}
	if err := s.applyLeniencies(leniencies()); err != nil {
		return nil, err
	}
	return s, nil
}

// MustNew is New for generated definitions, which are known to be consistent.
func MustNew(def Definition) *Schema {
	s, err := New(def)
	if err != nil {
		panic(err)
	}
	return s
}

func (s *Schema) memberType(md MemberDef) (*valueType, error) {
	switch md.Type {
	case "list":
		elem, err := s.elemType(md.Member)
		if err != nil {
			return nil, err
		}
		return &valueType{kind: kindList, elem: elem}, nil
	case "object":
		o, ok := s.objects[md.Member]
		if !ok {
			return nil, fmt.Errorf("object %q is not defined", md.Member)
		}
		return &valueType{kind: kindObject, obj: o}, nil
	case "string", "int", "bool", "float":
		t, err := s.elemType(md.Member)
		if err != nil {
			return nil, err
		}
		want := map[string]kind{"string": kindString, "bool": kindBool, "float": kindFloat}[md.Type]
		if md.Type == "int" && (t.kind == kindInt64 || t.kind == kindUint64) || t.kind == want {
			return t, nil
		}
		return nil, fmt.Errorf("type %q cannot have member type %q", md.Type, md.Member)
	}
	return nil, fmt.Errorf("unknown type %q", md.Type)
}

// elemType resolves a "member" name: a scalar type name or an object name.
func (s *Schema) elemType(name string) (*valueType, error) {
	switch name {
	case "string", "datetime_iso":
		return &valueType{kind: kindString}, nil
	case "int64":
		return &valueType{kind: kindInt64}, nil
	case "uint64":
		return &valueType{kind: kindUint64}, nil
	case "bool":
		return &valueType{kind: kindBool}, nil
	case "float":
		return &valueType{kind: kindFloat}, nil
	}
	if o, ok := s.objects[name]; ok {
		return &valueType{kind: kindObject, obj: o}, nil
	}
	return nil, fmt.Errorf("unknown member type %q", name)
}

func cloneDefinition(def Definition) Definition {
	c := def
	c.Actions = slices.Clone(def.Actions)
	c.Objects = make([]ObjectDef, len(def.Objects))
	for i, o := range def.Objects {
		c.Objects[i] = ObjectDef{Name: o.Name, Members: slices.Clone(o.Members)}
	}
	return c
}

// Service is the short service name ("cwp").
func (s *Schema) Service() string { return s.def.Service }

// Version is the API version ("2018-02-28").
func (s *Schema) Version() string { return s.def.Version }

// Action returns the definition of the named action.
func (s *Schema) Action(name string) (ActionDef, bool) {
	a, ok := s.actions[name]
	if !ok {
		return ActionDef{}, false
	}
	return a.def, true
}

// ActionNames lists the actions, sorted.
func (s *Schema) ActionNames() []string {
	names := make([]string, 0, len(s.actions))
	for n := range s.actions {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Object returns a copy of the named object's definition.
func (s *Schema) Object(name string) (ObjectDef, bool) {
	i := slices.IndexFunc(s.def.Objects, func(o ObjectDef) bool { return o.Name == name })
	if i < 0 {
		return ObjectDef{}, false
	}
	o := s.def.Objects[i]
	return ObjectDef{Name: o.Name, Members: slices.Clone(o.Members)}, true
}

// Definition returns a copy of the definition the schema was compiled from.
func (s *Schema) Definition() Definition { return cloneDefinition(s.def) }
