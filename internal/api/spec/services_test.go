package spec_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/vigil-sec/vigil/internal/api/cwp"
	"github.com/vigil-sec/vigil/internal/api/spec"
	"github.com/vigil-sec/vigil/internal/api/tcss"
)

// sharedDir holds the official descriptions and examples, outside the module.
const sharedDir = "../../../../shared/api"

type service struct {
	name     string // base name of the shared files: "cwp-2018-02-28"
	schema   *spec.Schema
	def      spec.Definition
	actions  map[string]spec.Action
	ordered  []spec.Action
	examples []string // the official examples, Chinese and English pages
}

func services(t testing.TB) []service {
	t.Helper()
	build := func(name string, s *spec.Schema, def spec.Definition, table []spec.Action) service {
		m := make(map[string]spec.Action, len(table))
		for _, a := range table {
			m[a.Name] = a
		}
		return service{name: name, schema: s, def: def, actions: m, ordered: table, examples: []string{
			sharedDir + "/zh-CN/" + name + ".examples.json",
			sharedDir + "/en/" + name + ".examples.json",
		}}
	}
	return []service{
		build("cwp-2018-02-28", cwp.Schema(), cwp.Definition(), cwp.Actions()),
		build("tcss-2020-11-01", tcss.Schema(), tcss.Definition(), tcss.Actions()),
	}
}

// decodeStrict decodes body into a fresh request of a, refusing unknown fields.
func decodeStrict(a spec.Action, body []byte) (any, error) {
	req := a.NewRequest()
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(req); err != nil {
		return nil, err
	}
	return req, nil
}

// TestGeneratedPackagesAgree checks the three generated files of each service
// against each other: the action table matches the schema, and every struct
// field matches its member definition in name, tag and Go type.
func TestGeneratedPackagesAgree(t *testing.T) {
	for _, svc := range services(t) {
		t.Run(svc.name, func(t *testing.T) {
			if got, want := len(svc.ordered), len(svc.schema.ActionNames()); got != want {
				t.Errorf("%d actions in the table, %d in the schema", got, want)
			}
			if !slices.IsSortedFunc(svc.ordered, func(a, b spec.Action) int { return strings.Compare(a.Name, b.Name) }) {
				t.Error("action table not sorted")
			}
			for _, name := range svc.schema.ActionNames() {
				def, _ := svc.schema.Action(name)
				a, ok := svc.actions[name]
				if !ok {
					t.Errorf("%s: not in the action table", name)
					continue
				}
				req, resp := a.NewRequest(), a.NewResponse()
				if n := reflect.TypeOf(req).Elem().Name(); n != def.Input {
					t.Errorf("%s: request type %s, want %s", name, n, def.Input)
				}
				if n := reflect.TypeOf(resp).Elem().Name(); n != def.Output {
					t.Errorf("%s: response type %s, want %s", name, n, def.Output)
				}
				setter, ok := resp.(spec.RequestIDSetter)
				if !ok {
					t.Errorf("%s: response is not a RequestIDSetter", name)
					continue
				}
				setter.SetRequestId("req-1")
				out, _ := json.Marshal(resp)
				if !strings.Contains(string(out), `"RequestId":"req-1"`) {
					t.Errorf("%s: SetRequestId did not set RequestId: %s", name, out)
				}
				checkStruct(t, svc, reflect.TypeOf(req).Elem(), map[string]bool{})
				checkStruct(t, svc, reflect.TypeOf(resp).Elem(), map[string]bool{})
			}
		})
	}
}

// checkStruct compares struct type rt with the object of the same name, and recurses into nested objects.
func checkStruct(t *testing.T, svc service, rt reflect.Type, done map[string]bool) {
	t.Helper()
	if done[rt.Name()] {
		return
	}
	done[rt.Name()] = true
	obj, ok := svc.schema.Object(rt.Name())
	if !ok {
		t.Errorf("type %s has no object definition", rt.Name())
		return
	}
	if rt.NumField() != len(obj.Members) {
		t.Errorf("%s: %d fields, %d members", rt.Name(), rt.NumField(), len(obj.Members))
		return
	}
	scalars := map[string]reflect.Type{
		"string": reflect.TypeFor[string](), "datetime_iso": reflect.TypeFor[string](),
		"int64": reflect.TypeFor[int64](), "uint64": reflect.TypeFor[uint64](),
		"bool": reflect.TypeFor[bool](), "float": reflect.TypeFor[float64](),
	}
	for i, m := range obj.Members {
		f := rt.Field(i)
		if f.Name != m.Name || f.Tag.Get("json") != m.Name+",omitzero" {
			t.Errorf("%s field %d: %s `%s`, want member %s", rt.Name(), i, f.Name, f.Tag, m.Name)
		}
		ft := f.Type
		if m.Type == "list" {
			if ft.Kind() != reflect.Slice {
				t.Errorf("%s.%s: %s is not a slice", rt.Name(), m.Name, ft)
				continue
			}
			ft = ft.Elem()
		}
		if ft.Kind() != reflect.Pointer {
			t.Errorf("%s.%s: %s is not a pointer", rt.Name(), m.Name, ft)
			continue
		}
		ft = ft.Elem()
		if want, ok := scalars[m.Member]; ok {
			if ft != want {
				t.Errorf("%s.%s: %s, want %s", rt.Name(), m.Name, ft, want)
			}
			continue
		}
		if ft.Name() != m.Member || ft.Kind() != reflect.Struct {
			t.Errorf("%s.%s: %s, want struct %s", rt.Name(), m.Name, ft, m.Member)
			continue
		}
		checkStruct(t, svc, ft, done)
	}
}

func TestLeniencyTableNamesRealMembers(t *testing.T) {
	svcs := services(t)
	for _, e := range spec.LenientMembers() {
		found := false
		for _, svc := range svcs {
			if svc.schema.Service() != e[0] {
				continue
			}
			// spec.New has already refused unknown objects and members of this service.
			_, found = svc.schema.Object(e[1])
		}
		if !found {
			t.Errorf("leniency %v names no generated service object", e)
		}
	}
}

func TestOmitzeroKeepsEmptyLists(t *testing.T) {
	resp := &cwp.DescribeRiskProcessEventsResponse{List: []*cwp.RiskProcessEvent{}}
	resp.SetRequestId("r")
	out, err := json.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(out), `{"List":[],"RequestId":"r"}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestForceAcceptsTheDocumentedBoolean(t *testing.T) {
	s := tcss.Schema()
	body := []byte(`{"ImageInfo":{"InstanceName":"ins-1","Namespace":"ns","ImageName":"img","ImageTag":"tag","Force":true},"Limit":10}`)
	out, err := s.Validate(tcss.ActionDescribeAssetImageRegistryVirusList, body)
	if err != nil {
		t.Fatal(err)
	}
	var req tcss.DescribeAssetImageRegistryVirusListRequest
	if err := json.Unmarshal(out, &req); err != nil {
		t.Fatal(err)
	}
	if req.ImageInfo == nil || req.ImageInfo.Force == nil || *req.ImageInfo.Force != "true" {
		t.Errorf("Force not normalized to \"true\": %s", out)
	}
}
