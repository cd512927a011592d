package spec

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/vigil-sec/vigil/internal/api"
)

func TestValidateAccepts(t *testing.T) {
	full := `{"Name":"x","Signed":-9223372036854775808,"Unsigned":18446744073709551615,"Flag":true,` +
		`"Ratio":1.5e3,"When":"2024-08-27T03:30:37Z","Tags":["a",""],"Ids":[0,1],"Deltas":[-1,9223372036854775807],` +
		`"Flags":[false,true],"Ratios":[-0.5,2,1E-400],"Filters":[{"Name":"n","Values":[]},{"Name":"m","Values":["v"],"ExactMatch":false}],` +
		`"Image":{"ImageName":"i","Force":"true","Count":0,"Nested":{"ImageName":"j"}},"Old":"deprecated but accepted"}`
	tests := []struct {
		name   string
		action string
		body   string
		want   string // "" means body unchanged
	}{
		{"minimal", "Do", `{"Name":"x"}`, ""},
		{"every type", "Do", full, ""},
		{"white space everywhere", "Do", " \t\r\n{ \"Name\" :\n\"x\" , \"Tags\" : [ \"a\" , \"b\" ] , \"Filters\" : [ ] }\n ", ""},
		{"null means absent", "Do", `{"Name":"x","Signed":null,"Tags":null,"Image":null,"Filters":[{"Name":"n","Values":["v"],"ExactMatch":null}]}`, ""},
		{"escaped member name", "Do", `{"\u004eame":"x","Fl\u0061g":true}`, ""},
		{"escapes in strings", "Do", `{"Name":"a\"b\\c\u00e9\n","Tags":["\""]}`, ""},
		{"integer literal for a float", "Do", `{"Name":"x","Ratio":3}`, ""},
		{"negative zero", "Do", `{"Name":"x","Signed":-0}`, ""},
		{"empty object", "Empty", `{}`, ""},
		{"empty body", "Empty", ``, `{}`},
		{"white space body", "Empty", " \n\t", `{}`},
		{"lenient true", "Do", `{"Name":"x","Image":{"ImageName":"i","Force":true}}`, `{"Name":"x","Image":{"ImageName":"i","Force":"true"}}`},
		{"lenient false", "Do", `{"Name":"x","Image":{"Force":false,"ImageName":"i"}}`, `{"Name":"x","Image":{"Force":"false","ImageName":"i"}}`},
		{"lenient member still takes its type", "Do", `{"Name":"x","Image":{"ImageName":"i","Force":"yes","Count":7}}`, ""},
		{"lenient integer", "Do", `{"Name":"x","Image":{"ImageName":"i","Count":"0012"}}`, `{"Name":"x","Image":{"ImageName":"i","Count":12}}`},
		{"lenient integer list", "Do", `{"Name":"x","Ids":["2", 1 ,"18446744073709551615"]}`, `{"Name":"x","Ids":[2, 1 ,18446744073709551615]}`},
		{"several rewrites", "Do", `{"Ids":["2"],"Name":"x","Image":{"Force":true,"ImageName":"i","Count":"3"}}`, `{"Ids":[2],"Name":"x","Image":{"Force":"true","ImageName":"i","Count":3}}`},
	}
	s := demoSchema(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := []byte(tt.body)
			got, err := s.Validate(tt.action, body)
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			want := tt.want
			if want == "" {
				want = tt.body
				if len(body) > 0 && &got[0] != &body[0] {
					t.Error("an unchanged body was copied")
				}
			}
			if string(got) != want {
				t.Errorf("Validate returned\n%s\nwant\n%s", got, want)
			}
			if !json.Valid(got) {
				t.Errorf("result is not JSON: %s", got)
			}
		})
	}
}

func TestValidateRejects(t *testing.T) {
	deep := `{"Name":"x","Image":` + strings.Repeat(`{"ImageName":"i","Nested":`, 40) + `{}` + strings.Repeat(`}`, 41)
	tests := []struct {
		name   string
		action string
		body   string
		code   api.Code
		param  string // the parameter path the message must name; "" for none
		text   string // further text the English message must contain
	}{
		{"unknown action", "Nope", `{}`, api.InvalidAction, "Nope", ""},

		{"truncated", "Do", `{"Name":"x"`, api.InvalidParameter, "", "not valid JSON"},
		{"trailing comma", "Do", `{"Name":"x",}`, api.InvalidParameter, "", "not valid JSON"},
		{"trailing data", "Do", `{"Name":"x"} {}`, api.InvalidParameter, "", "not valid JSON"},
		{"single quotes", "Do", `{'Name':'x'}`, api.InvalidParameter, "", "not valid JSON"},
		{"bare word", "Do", `nul`, api.InvalidParameter, "", "not valid JSON"},
		{"byte order mark", "Do", "\ufeff{}", api.InvalidParameter, "", "not valid JSON"},
		{"list body", "Do", `[]`, api.InvalidParameter, "", "must be a JSON object"},
		{"string body", "Do", `"x"`, api.InvalidParameter, "", "must be a JSON object"},
		{"number body", "Do", `1`, api.InvalidParameter, "", "must be a JSON object"},
		{"null body", "Do", `null`, api.InvalidParameter, "", "must be a JSON object"},

		{"unknown member", "Do", `{"Name":"x","Nope":1}`, api.UnknownParameter, "Nope", ""},
		{"names are case-sensitive", "Do", `{"name":"x"}`, api.UnknownParameter, "name", ""},
		{"unknown in list element", "Do", `{"Name":"x","Filters":[{"Name":"n","Values":[]},{"Nope":true}]}`, api.UnknownParameter, "Filters.1.Nope", ""},
		{"unknown in object", "Do", `{"Name":"x","Image":{"Nested":{"Nope":1}}}`, api.UnknownParameter, "Image.Nested.Nope", ""},
		{"unknown escaped name", "Do", `{"Name":"x","N\u006fpe":1}`, api.UnknownParameter, "Nope", ""},
		{"unknown empty name", "Do", `{"":1}`, api.UnknownParameter, "", "``"},
		{"given twice", "Do", `{"Name":"x","Name":"y"}`, api.InvalidParameter, "Name", "more than once"},
		{"given twice with null", "Do", `{"Name":"x","Name":null}`, api.InvalidParameter, "Name", "more than once"},

		{"missing", "Do", `{}`, api.MissingParameter, "Name", ""},
		{"empty body misses required", "Do", ``, api.MissingParameter, "Name", ""},
		{"null is missing", "Do", `{"Name":null}`, api.MissingParameter, "Name", ""},
		{"missing in list element", "Do", `{"Name":"x","Filters":[{"Name":"n"}]}`, api.MissingParameter, "Filters.0.Values", ""},
		{"missing in object", "Do", `{"Name":"x","Image":{}}`, api.MissingParameter, "Image.ImageName", ""},
		{"missing deeper", "Do", `{"Name":"x","Image":{"ImageName":"i","Nested":{"Force":"true"}}}`, api.MissingParameter, "Image.Nested.ImageName", ""},

		{"number for string", "Do", `{"Name":1}`, api.InvalidParameter, "Name", "a string"},
		{"bool for string", "Do", `{"Name":true}`, api.InvalidParameter, "Name", "a string"},
		{"list for string", "Do", `{"Name":["x"]}`, api.InvalidParameter, "Name", "a string"},
		{"string for int64", "Do", `{"Name":"x","Signed":"1"}`, api.InvalidParameter, "Signed", "an integer"},
		{"string for uint64", "Do", `{"Name":"x","Unsigned":"1"}`, api.InvalidParameter, "Unsigned", "a non-negative integer"},
		{"bool for int", "Do", `{"Name":"x","Signed":false}`, api.InvalidParameter, "Signed", "an integer"},
		{"string for bool", "Do", `{"Name":"x","Flag":"true"}`, api.InvalidParameter, "Flag", "a boolean"},
		{"number for bool", "Do", `{"Name":"x","Flag":1}`, api.InvalidParameter, "Flag", "a boolean"},
		{"string for float", "Do", `{"Name":"x","Ratio":"1.5"}`, api.InvalidParameter, "Ratio", "a number"},
		{"object for list", "Do", `{"Name":"x","Tags":{}}`, api.InvalidParameter, "Tags", "a list"},
		{"scalar for list", "Do", `{"Name":"x","Tags":"a"}`, api.InvalidParameter, "Tags", "a list"},
		{"list for object", "Do", `{"Name":"x","Image":[]}`, api.InvalidParameter, "Image", "an object"},
		{"string for object", "Do", `{"Name":"x","Image":"i"}`, api.InvalidParameter, "Image", "an object"},
		{"wrong list element", "Do", `{"Name":"x","Tags":["a",2]}`, api.InvalidParameter, "Tags.1", "a string"},
		{"null list element", "Do", `{"Name":"x","Tags":[null]}`, api.InvalidParameter, "Tags.0", "a string"},
		{"wrong nested element", "Do", `{"Name":"x","Filters":[{"Name":"n","Values":["a","b"]},{"Name":"n","Values":["a",{}]}]}`, api.InvalidParameter, "Filters.1.Values.1", "a string"},
		{"wrong object element", "Do", `{"Name":"x","Filters":["n"]}`, api.InvalidParameter, "Filters.0", "an object"},
		{"null object element", "Do", `{"Name":"x","Filters":[null]}`, api.InvalidParameter, "Filters.0", "an object"},
		{"string for bool element", "Do", `{"Name":"x","Flags":["true"]}`, api.InvalidParameter, "Flags.0", "a boolean"},

		{"fraction", "Do", `{"Name":"x","Signed":1.5}`, api.InvalidParameter, "Signed", "an integer"},
		{"integral fraction", "Do", `{"Name":"x","Signed":1.0}`, api.InvalidParameter, "Signed", "an integer"},
		{"exponent", "Do", `{"Name":"x","Unsigned":1e2}`, api.InvalidParameter, "Unsigned", "without fraction or exponent"},
		{"exponent upper case", "Do", `{"Name":"x","Unsigned":1E2}`, api.InvalidParameter, "Unsigned", "without fraction or exponent"},
		{"int64 too big", "Do", `{"Name":"x","Signed":9223372036854775808}`, api.InvalidParameterValue, "Signed", "64-bit signed"},
		{"int64 too small", "Do", `{"Name":"x","Signed":-9223372036854775809}`, api.InvalidParameterValue, "Signed", "64-bit signed"},
		{"int64 far too big", "Do", `{"Name":"x","Deltas":[1,100000000000000000000000]}`, api.InvalidParameterValue, "Deltas.1", "64-bit signed"},
		{"uint64 negative", "Do", `{"Name":"x","Unsigned":-1}`, api.InvalidParameterValue, "Unsigned", "negative"},
		{"uint64 negative zero", "Do", `{"Name":"x","Unsigned":-0}`, api.InvalidParameterValue, "Unsigned", "negative"},
		{"uint64 too big", "Do", `{"Name":"x","Unsigned":18446744073709551616}`, api.InvalidParameterValue, "Unsigned", "64-bit unsigned"},
		{"uint64 element negative", "Do", `{"Name":"x","Ids":[1,-2]}`, api.InvalidParameterValue, "Ids.1", "negative"},
		{"float too big", "Do", `{"Name":"x","Ratio":1e400}`, api.InvalidParameterValue, "Ratio", "64-bit float"},
		{"float element too big", "Do", `{"Name":"x","Ratios":[0,-1e309]}`, api.InvalidParameterValue, "Ratios.1", "64-bit float"},

		{"no leniency elsewhere", "Do", `{"Name":"x","Tags":[true]}`, api.InvalidParameter, "Tags.0", "a string"},
		{"lenient bool, not number", "Do", `{"Name":"x","Image":{"ImageName":"i","Force":1}}`, api.InvalidParameter, "Image.Force", "a string"},
		{"lenient integer, fraction", "Do", `{"Name":"x","Image":{"ImageName":"i","Count":"1.5"}}`, api.InvalidParameter, "Image.Count", "integer"},
		{"lenient integer, empty", "Do", `{"Name":"x","Image":{"ImageName":"i","Count":""}}`, api.InvalidParameter, "Image.Count", "integer"},
		{"lenient integer, word", "Do", `{"Name":"x","Image":{"ImageName":"i","Count":"ten"}}`, api.InvalidParameter, "Image.Count", "integer"},
		{"lenient integer, padded", "Do", `{"Name":"x","Image":{"ImageName":"i","Count":" 1"}}`, api.InvalidParameter, "Image.Count", "integer"},
		{"lenient integer, escaped", "Do", `{"Name":"x","Image":{"ImageName":"i","Count":"\u0031"}}`, api.InvalidParameter, "Image.Count", "integer"},
		{"lenient integer, negative", "Do", `{"Name":"x","Image":{"ImageName":"i","Count":"-1"}}`, api.InvalidParameterValue, "Image.Count", "negative"},
		{"lenient integer, too big", "Do", `{"Name":"x","Ids":["18446744073709551616"]}`, api.InvalidParameterValue, "Ids.0", "64-bit unsigned"},
		{"lenient integer, bool", "Do", `{"Name":"x","Ids":[true]}`, api.InvalidParameter, "Ids.0", "integer"},

		{"too deep", "Do", deep, api.InvalidParameter, "", "nested more than 32 levels"},
	}
	s := demoSchema(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Validate(tt.action, []byte(tt.body))
			if err == nil {
				t.Fatalf("Validate accepted %s, returning %s", tt.body, got)
			}
			var e *api.Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is not an *api.Error", err)
			}
			if e.Code != tt.code {
				t.Errorf("code %s, want %s (%v)", e.Code, tt.code, err)
			}
			en, zh := e.Message(api.English), e.Message(api.Chinese)
			if tt.param != "" && (!strings.Contains(en, "`"+tt.param+"`") || !strings.Contains(zh, "`"+tt.param+"`")) {
				t.Errorf("messages do not name `%s`:\n%s\n%s", tt.param, en, zh)
			}
			if !strings.Contains(en, tt.text) {
				t.Errorf("message %q does not contain %q", en, tt.text)
			}
			if en == zh {
				t.Errorf("message not translated: %q", en)
			}
		})
	}
}

func TestValidateNamesSyntaxErrorPosition(t *testing.T) {
	_, err := demoSchema(t).Validate("Do", []byte(`{"Name": x}`))
	if err == nil || !strings.Contains(err.Error(), "at byte 10") {
		t.Errorf("got %v, want the offset of the bad character", err)
	}
}

func TestValidateClipsLongNames(t *testing.T) {
	long := strings.Repeat("é", 1000)
	_, err := demoSchema(t).Validate("Do", []byte(`{"`+long+`":1}`))
	var e *api.Error
	if !errors.As(err, &e) || e.Code != api.UnknownParameter {
		t.Fatalf("got %v", err)
	}
	if msg := e.Message(api.English); len(msg) > 300 || !strings.Contains(msg, "…") {
		t.Errorf("message not clipped: %d bytes", len(msg))
	}
}

func TestValidateDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	s := demoSchema(t)
	body := []byte(`{"Name":"x","Signed":-5,"Unsigned":7,"Flag":true,"Tags":["a","b"],"Ids":[1,2,3],` +
		`"Filters":[{"Name":"n","Values":["v1","v2"]},{"Name":"m","Values":[],"ExactMatch":true}],"Image":{"ImageName":"i"}}`)
	if _, err := s.Validate("Do", body); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = s.Validate("Do", body) }); n != 0 {
		t.Errorf("Validate allocates %v times per accepted body", n)
	}
}

// TestValidateWideObject covers objects of more than 64 members, whose
// presence is tracked beyond a single machine word.
func TestValidateWideObject(t *testing.T) {
	var members []MemberDef
	for i := range 70 {
		members = append(members, MemberDef{Name: fmt.Sprintf("M%02d", i), Type: "int", Member: "int64", Required: i == 69})
	}
	s, err := New(Definition{Service: "wide", Version: "1",
		Actions: []ActionDef{{Name: "Wide", Input: "WideRequest", Output: "WideRequest"}},
		Objects: []ObjectDef{{Name: "WideRequest", Members: members}},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		body string
		code api.Code
	}{
		{`{"M69":1,"M00":2,"M68":3}`, ""},
		{`{"M00":1,"M68":3}`, api.MissingParameter},
		{`{"M69":1,"M68":3,"M68":4}`, api.InvalidParameter},
		{`{"M69":1,"M70":3}`, api.UnknownParameter},
	}
	for _, tt := range tests {
		_, err := s.Validate("Wide", []byte(tt.body))
		if apiCode(err) != tt.code {
			t.Errorf("%s: got %v, want code %q", tt.body, err, tt.code)
		}
	}
}
