package spec_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"net/url"
	"os"
	"reflect"
	"strings"
	"testing"
)

type example struct {
	Title  string `json:"title"`
	Input  string `json:"input"`
	Output string `json:"output"`
}

// readExamples reads the official examples of each action from all files,
// skipping the test when the shared material is absent.
func readExamples(t *testing.T, paths []string) map[string][]example {
	t.Helper()
	all := map[string][]example{}
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			t.Skipf("%s not found: the shared API material is not checked out next to the module", path)
		}
		if err != nil {
			t.Fatal(err)
		}
		var file struct {
			Actions map[string][]example `json:"actions"`
		}
		if err := json.Unmarshal(data, &file); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		for action, exs := range file.Actions {
			all[action] = append(all[action], exs...)
		}
	}
	return all
}

// exampleRequest splits an official request example into its JSON body (a
// POST) or its flattened parameters (a GET URL, one "&k=v" per line).
func exampleRequest(input string) (body []byte, form url.Values, ok bool) {
	if strings.HasPrefix(input, "POST ") {
		_, b, found := strings.Cut(input, "\n\n")
		return []byte(b), nil, found
	}
	_, query, found := strings.Cut(input, "?")
	if !found {
		return nil, nil, false
	}
	form = url.Values{}
	for _, part := range strings.FieldsFunc(query, func(r rune) bool { return r == '&' || r == '\n' }) {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		if k == "" || k == "Action" || strings.HasPrefix(k, "<") { // <公共请求参数>: the common parameters
			continue
		}
		form.Add(k, v) // the documents show values unencoded
	}
	return nil, form, true
}

// TestOfficialExamples runs every official request example through the
// path a request takes — FormToJSON for GET examples, then Validate — and
// decodes the result into the typed request, refusing unknown fields. The
// typed request must re-encode to the same JSON value, so no field is lost.
// Some official examples are not JSON; they are counted and skipped.
func TestOfficialExamples(t *testing.T) {
	for _, svc := range services(t) {
		t.Run(svc.name, func(t *testing.T) {
			examples := readExamples(t, svc.examples)
			var checked, forms, broken int
			for _, action := range svc.schema.ActionNames() {
				for i, ex := range examples[action] {
					body, form, ok := exampleRequest(ex.Input)
					if !ok {
						t.Errorf("%s example %d: cannot tell the request apart: %q", action, i, ex.Input)
						continue
					}
					if form != nil {
						var err error
						if body, err = svc.schema.FormToJSON(action, form); err != nil {
							t.Errorf("%s example %d: FormToJSON(%v): %v", action, i, form, err)
							continue
						}
						forms++
					} else if !json.Valid(body) {
						broken++
						t.Logf("%s example %d (%s): request body is not valid JSON, skipped", action, i, ex.Title)
						continue
					}
					out, err := svc.schema.Validate(action, body)
					if err != nil {
						t.Errorf("%s example %d: Validate: %v\n%s", action, i, err, body)
						continue
					}
					req, err := decodeStrict(svc.actions[action], out)
					if err != nil {
						t.Errorf("%s example %d: decode: %v\n%s", action, i, err, out)
						continue
					}
					reencoded, _ := json.Marshal(req)
					if !sameJSON(t, out, reencoded) {
						t.Errorf("%s example %d: the typed request loses data:\n%s\nre-encodes as\n%s", action, i, out, reencoded)
					}
					checked++
				}
			}
			t.Logf("%d request examples pass (%d sent as forms), %d are not JSON and were skipped", checked, forms, broken)
			if checked == 0 {
				t.Error("no example checked")
			}
		})
	}
}

// TestOfficialResponseExamples decodes the official response examples into
// the typed responses, refusing unknown fields: the response types must hold
// everything the official service answers. Examples that are not JSON (the
// English pages have several) are counted and skipped.
func TestOfficialResponseExamples(t *testing.T) {
	for _, svc := range services(t) {
		t.Run(svc.name, func(t *testing.T) {
			examples := readExamples(t, svc.examples)
			var decoded, broken int
			for _, action := range svc.schema.ActionNames() {
				for i, ex := range examples[action] {
					if !json.Valid([]byte(ex.Output)) {
						broken++
						t.Logf("%s example %d (%s): response is not valid JSON, skipped", action, i, ex.Title)
						continue
					}
					envelope := struct{ Response any }{Response: svc.actions[action].NewResponse()}
					dec := json.NewDecoder(strings.NewReader(ex.Output))
					dec.DisallowUnknownFields()
					if err := dec.Decode(&envelope); err != nil {
						t.Errorf("%s example %d: response does not decode into the typed response: %v", action, i, err)
						continue
					}
					decoded++
				}
			}
			t.Logf("%d response examples decode, %d are not JSON and were skipped", decoded, broken)
			if decoded == 0 {
				t.Error("no example checked")
			}
		})
	}
}

func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	for _, d := range []struct {
		data []byte
		v    *any
	}{{a, &x}, {b, &y}} {
		dec := json.NewDecoder(bytes.NewReader(d.data))
		dec.UseNumber()
		if err := dec.Decode(d.v); err != nil {
			t.Fatalf("%v: %s", err, d.data)
		}
	}
	return reflect.DeepEqual(x, y)
}
