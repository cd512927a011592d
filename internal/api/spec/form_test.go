package spec

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/vigil-sec/vigil/internal/api"
)

func TestFormToJSON(t *testing.T) {
	tests := []struct {
		name   string
		action string
		form   string // a query string
		want   string
	}{
		{"empty", "Do", "", `{}`},
		{"one string", "Do", "Name=x", `{"Name":"x"}`},
		{"every type, in definition order",
			"Do",
			"Image.Nested.ImageName=j&Image.Force=true&Image.ImageName=i&Image.Count=0&Filters.1.ExactMatch=false&Filters.1.Values.0=w&Filters.1.Name=m" +
				"&Filters.0.Values.1=v2&Filters.0.Values.0=v1&Filters.0.Name=HostId&Ids.0=1&Deltas.0=-9223372036854775808&Flags.0=False&Ratios.0=-2.5E-3" +
				"&Tags.1=b&Tags.0=a&When=2024-01-01+00%3A00%3A00&Ratio=1.5e3&Flag=True&Unsigned=18446744073709551615&Signed=-5&Name=x&Old=o",
			`{"Name":"x","Signed":-5,"Unsigned":18446744073709551615,"Flag":true,"Ratio":1.5e3,"When":"2024-01-01 00:00:00",` +
				`"Tags":["a","b"],"Ids":[1],"Deltas":[-9223372036854775808],"Flags":[false],"Ratios":[-2.5E-3],` +
				`"Filters":[{"Name":"HostId","Values":["v1","v2"]},{"Name":"m","Values":["w"],"ExactMatch":false}],` +
				`"Image":{"ImageName":"i","Force":"true","Count":0,"Nested":{"ImageName":"j"}},"Old":"o"}`},
		{"indices are numbers, not text",
			"Do", "Tags.10=k&Tags.9=j&Tags.8=i&Tags.7=h&Tags.6=g&Tags.5=f&Tags.4=e&Tags.3=d&Tags.2=c&Tags.1=b&Tags.0=a",
			`{"Tags":["a","b","c","d","e","f","g","h","i","j","k"]}`},
		{"strings verbatim", "Do", "Name=" + url.QueryEscape("a\"b\\c<d>&é\n\x01") + "&Tags.0=", `{"Name":"a\"b\\c\u003cd\u003e\u0026é\n\u0001","Tags":[""]}`},
		{"integers normalized", "Do", "Signed=-0&Unsigned=007", `{"Signed":0,"Unsigned":7}`},
		{"booleans in any case", "Do", "Flags.0=true&Flags.1=TRUE&Flags.2=False&Flags.3=false", `{"Flags":[true,true,false,false]}`},
		{"empty action", "Empty", "", `{}`},
	}
	s := demoSchema(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			form, err := url.ParseQuery(tt.form)
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.FormToJSON(tt.action, form)
			if err != nil {
				t.Fatalf("FormToJSON: %v", err)
			}
			if string(got) != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
			if _, err := s.Validate(tt.action, got); err != nil && apiCode(err) != api.MissingParameter {
				t.Errorf("the result does not validate: %v", err)
			}
		})
	}
}

func TestFormToJSONRejects(t *testing.T) {
	deep := "Image" + strings.Repeat(".Nested", 40) + ".ImageName=x"
	tests := []struct {
		name  string
		form  string
		code  api.Code
		param string
		text  string
	}{
		{"unknown", "Nope=1", api.UnknownParameter, "Nope", ""},
		{"common parameter left in", "Action=Do&Name=x", api.UnknownParameter, "Action", ""},
		{"case-sensitive", "name=x", api.UnknownParameter, "name", ""},
		{"unknown in element", "Filters.0.Nope=1", api.UnknownParameter, "Filters.0.Nope", ""},
		{"unknown in object", "Image.Nested.Nope=1", api.UnknownParameter, "Image.Nested.Nope", ""},
		{"member of a scalar", "Name.Length=1", api.UnknownParameter, "Name.Length", ""},
		{"empty segment", "Image..ImageName=1", api.UnknownParameter, "Image..ImageName", ""},
		{"given twice", "Name=a&Name=b", api.InvalidParameter, "Name", "more than once"},

		{"list as a scalar", "Filters=x", api.InvalidParameter, "Filters", "is a list"},
		{"object as a scalar", "Image=x", api.InvalidParameter, "Image", "is an object"},
		{"element object as a scalar", "Filters.0=x", api.InvalidParameter, "Filters.0", "is an object"},
		{"nested list as a scalar", "Filters.0.Values=x", api.InvalidParameter, "Filters.0.Values", "is a list"},
		{"index not a number", "Tags.x=a", api.InvalidParameter, "Tags.x", "`Tags.0`"},
		{"index with leading zero", "Tags.00=a", api.InvalidParameter, "Tags.00", "`Tags.0`"},
		{"negative index", "Tags.-1=a", api.InvalidParameter, "Tags.-1", ""},
		{"signed index", "Tags.%2B0=a", api.InvalidParameter, "Tags.+0", ""},
		{"empty index", "Tags.=a", api.InvalidParameter, "Tags.", ""},
		{"huge index", "Tags.99999999999999999999=a", api.InvalidParameter, "Tags.99999999999999999999", ""},
		{"gap at start", "Tags.1=a", api.InvalidParameter, "Tags.0", "without gaps"},
		{"gap inside", "Tags.0=a&Tags.2=c", api.InvalidParameter, "Tags.1", "without gaps"},
		{"gap in elements", "Filters.1.Name=n&Filters.1.Values.0=v", api.InvalidParameter, "Filters.0", "without gaps"},
		{"gap in nested list", "Filters.0.Name=n&Filters.0.Values.3=v", api.InvalidParameter, "Filters.0.Values.0", "without gaps"},
		{"index out of range", "Tags.0=a&Tags.5=f", api.InvalidParameter, "Tags.1", "without gaps"},

		{"word for int", "Signed=abc", api.InvalidParameter, "Signed", "an integer"},
		{"fraction for int", "Signed=1.5", api.InvalidParameter, "Signed", "an integer"},
		{"exponent for int", "Unsigned=1e2", api.InvalidParameter, "Unsigned", "integer"},
		{"plus sign", "Signed=%2B5", api.InvalidParameter, "Signed", "an integer"},
		{"empty int", "Signed=", api.InvalidParameter, "Signed", "an integer"},
		{"padded int", "Signed=+1", api.InvalidParameter, "Signed", "an integer"},
		{"int64 too big", "Signed=9223372036854775808", api.InvalidParameterValue, "Signed", "64-bit signed"},
		{"uint64 negative", "Unsigned=-1", api.InvalidParameterValue, "Unsigned", "negative"},
		{"uint64 too big", "Ids.0=18446744073709551616", api.InvalidParameterValue, "Ids.0", "64-bit unsigned"},
		{"yes for bool", "Flag=yes", api.InvalidParameter, "Flag", "a boolean"},
		{"1 for bool", "Flags.0=1", api.InvalidParameter, "Flags.0", "a boolean"},
		{"NaN", "Ratio=NaN", api.InvalidParameter, "Ratio", "a number"},
		{"Inf", "Ratio=Inf", api.InvalidParameter, "Ratio", "a number"},
		{"hex float", "Ratio=0x1p3", api.InvalidParameter, "Ratio", "a number"},
		{"dangling point", "Ratio=1.", api.InvalidParameter, "Ratio", "a number"},
		{"padded float", "Ratio=+1", api.InvalidParameter, "Ratio", "a number"},
		{"float too big", "Ratios.0=1e400", api.InvalidParameterValue, "Ratios.0", "64-bit float"},

		{"too deep", deep, api.InvalidParameter, "", "nested more than"},
	}
	s := demoSchema(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			form, err := url.ParseQuery(tt.form)
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.FormToJSON("Do", form)
			if err == nil {
				t.Fatalf("FormToJSON accepted %s, returning %s", tt.form, got)
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
		})
	}
}

func TestFormToJSONUnknownAction(t *testing.T) {
	_, err := demoSchema(t).FormToJSON("Nope", url.Values{})
	if apiCode(err) != api.InvalidAction {
		t.Errorf("got %v, want InvalidAction", err)
	}
}

// TestFormToJSONErrorsAreDeterministic: with several bad parameters, the
// reported one must not depend on map iteration order.
func TestFormToJSONErrorsAreDeterministic(t *testing.T) {
	s := demoSchema(t)
	form := url.Values{}
	for i := range 20 {
		form.Set(fmt.Sprintf("Nope%02d", i), "x")
	}
	for range 20 {
		_, err := s.FormToJSON("Do", form)
		if err == nil || !strings.Contains(err.Error(), "`Nope00`") {
			t.Fatalf("got %v, want the first bad name in sorted order", err)
		}
	}
}
