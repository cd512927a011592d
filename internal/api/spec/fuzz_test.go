package spec_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/url"
	"testing"

	"github.com/vigil-sec/vigil/internal/api"
	"github.com/vigil-sec/vigil/internal/api/spec"
	"github.com/vigil-sec/vigil/internal/api/tcss"
)

// target is one action of one service; fuzz inputs pick one by number.
type target struct {
	schema *spec.Schema
	action spec.Action
}

func targets(t testing.TB) []target {
	var all []target
	for _, svc := range services(t) {
		for _, a := range svc.ordered {
			all = append(all, target{svc.schema, a})
		}
	}
	return all
}

func pick(all []target, n uint16) target { return all[int(n)%len(all)] }

func indexOf(all []target, action string) uint16 {
	for i, tg := range all {
		if tg.action.Name == action {
			return uint16(i)
		}
	}
	panic("no action " + action)
}

// FuzzValidate: Validate never panics, reports only *api.Error, and what it
// accepts is JSON that decodes strictly into the typed request. Accepting is
// stable: the returned body validates to itself, and so does the typed
// request re-encoded.
func FuzzValidate(f *testing.F) {
	all := targets(f)
	seeds := []struct {
		action string
		body   string
	}{
		{"DescribeRiskProcessEvents", benchBody},
		{"DescribeRiskProcessEvents", `{"Filters":[{"Name":"HostId","Values":["a",1]}]}`},
		{"DescribeRiskProcessEvents", `{"Limit":1e2,"Offset":-1}`},
		{"DescribeMalwareWhiteList", `{"Limit":"10","Offset":"0"}`},
		{"DeleteMalwareWhiteList", `{"Ids":["2",1,"-1"]}`},
		{"DescribeAssetImageRegistryVirusList", `{"ImageInfo":{"InstanceName":"i","Namespace":"n","ImageName":"m","ImageTag":"t","Force":true},"Id":1}`},
		{"DescribeAssetImageRegistryVirusList", `{"ImageInfo":{"Force":false,"Nope":null}}`},
		{"CreateAssetImageRegistryScanTask", `{"All":true,"Images":[{"Force":"x"}],"Id":[1,2]}`},
		{"DescribeVirusList", `{"Filters":[{"Name":"TimeRange","Values":["a","b"],"ExactMatch":true}],"Limit":18446744073709551615}`},
		{"ExportTasks", ``},
		{"ExportTasks", `{"TaskId":"\u0041\ud800"}`},
		{"ExportTasks", `[{}]`},
		{"ExportTasks", `{"TaskId":"x","TaskId":null}`},
	}
	for _, s := range seeds {
		f.Add(indexOf(all, s.action), []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, n uint16, body []byte) {
		tg := pick(all, n)
		out, err := tg.schema.Validate(tg.action.Name, body)
		if err != nil {
			var e *api.Error
			if !errors.As(err, &e) {
				t.Fatalf("error is not an *api.Error: %v", err)
			}
			return
		}
		req, err := decodeStrict(tg.action, out)
		if err != nil {
			t.Fatalf("accepted body does not decode: %v\n%q", err, out)
		}
		again, err := tg.schema.Validate(tg.action.Name, out)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("the accepted body does not validate to itself: %v\n%q\n%q", err, out, again)
		}
		reencoded, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tg.schema.Validate(tg.action.Name, reencoded); err != nil {
			t.Fatalf("the typed request re-encoded does not validate: %v\n%s", err, reencoded)
		}
	})
}

// FuzzFormToJSON: FormToJSON never panics, reports only *api.Error, and what
// it builds validates (unless a required member is missing, which it leaves
// to Validate) and decodes into the typed request.
func FuzzFormToJSON(f *testing.F) {
	all := targets(f)
	seeds := []struct {
		action string
		query  string
	}{
		{"DescribeRiskProcessEvents", "Limit=10&Offset=0&Filters.0.Name=HostId&Filters.0.Values.0=a&Filters.0.Values.1=b&Filters.1.Name=Status&Filters.1.Values.0=0&Filters.1.ExactMatch=True"},
		{"DescribeRiskProcessEvents", "Filters.1.Name=x&Limit=1.5"},
		{"DeleteVirusWhiteListRule", "RuleIdSet.0=1&RuleIdSet.1=2"},
		{"ModifyVirusFileStatus", "EventIdSet.0=12afdwasfdasfds&Status=EVENT_ADD_WHITE&Remark=%E5%8A%A0%E7%99%BD"},
		{"DescribeAssetImageRegistryVirusList", "ImageInfo.InstanceName=i&ImageInfo.Namespace=n&ImageInfo.ImageName=m&ImageInfo.ImageTag=t&ImageInfo.Force=true&Id=7"},
		{"DescribeAssetImageRegistryVirusList", "ImageInfo=x&ImageInfo.Force.0=1"},
		{"DeleteMalwareWhiteList", "Ids.0=-1&Ids.2=3"},
		{"ExportTasks", "TaskId=a&TaskId=b"},
	}
	for _, s := range seeds {
		f.Add(indexOf(all, s.action), s.query)
	}
	f.Fuzz(func(t *testing.T, n uint16, query string) {
		tg := pick(all, n)
		form, _ := url.ParseQuery(query) // keep what parses, as a server would reject the rest anyway
		body, err := tg.schema.FormToJSON(tg.action.Name, form)
		if err != nil {
			var e *api.Error
			if !errors.As(err, &e) {
				t.Fatalf("error is not an *api.Error: %v", err)
			}
			return
		}
		if !json.Valid(body) {
			t.Fatalf("FormToJSON built invalid JSON: %q", body)
		}
		out, err := tg.schema.Validate(tg.action.Name, body)
		if err != nil {
			var e *api.Error
			if !errors.As(err, &e) || e.Code != api.MissingParameter {
				t.Fatalf("FormToJSON output does not validate: %v\n%s", err, body)
			}
			return
		}
		if _, err := decodeStrict(tg.action, out); err != nil {
			t.Fatalf("FormToJSON output does not decode: %v\n%s", err, out)
		}
	})
}

// benchBody is a typical DescribeRiskProcessEvents request: three filters.
const benchBody = `{"Filters":[{"Name":"HostId","Values":["a5b2bbbc-b89c-40b2-a0a9-f24aed7f1234"]},` +
	`{"Name":"Status","Values":["0","1"],"ExactMatch":true},{"Name":"BeginTime","Values":["2023-09-16 18:28:00"]}],` +
	`"Limit":20,"Offset":0,"Order":"DESC","By":"DetectTime"}`

func BenchmarkValidate(b *testing.B) {
	s, action := services(b)[0].schema, "DescribeRiskProcessEvents"
	body := []byte(benchBody)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Validate(action, body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkValidateAndDecode is the whole cost of a JSON request before the
// handler: validation plus decoding into the typed request.
func BenchmarkValidateAndDecode(b *testing.B) {
	svc := services(b)[0]
	a := svc.actions["DescribeRiskProcessEvents"]
	body := []byte(benchBody)
	b.ReportAllocs()
	for b.Loop() {
		out, err := svc.schema.Validate(a.Name, body)
		if err != nil {
			b.Fatal(err)
		}
		if err := json.Unmarshal(out, a.NewRequest()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkValidateLenient measures the rewriting path (ImageInfo.Force given as a boolean).
func BenchmarkValidateLenient(b *testing.B) {
	s := tcss.Schema()
	body := []byte(`{"ImageInfo":{"InstanceName":"ins-1","Namespace":"ns","ImageName":"img","ImageTag":"tag","Force":true},"Limit":10,"Offset":0}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Validate(tcss.ActionDescribeAssetImageRegistryVirusList, body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFormToJSON(b *testing.B) {
	s := services(b)[0].schema
	form, err := url.ParseQuery("Limit=20&Offset=0&Order=DESC&By=DetectTime&Filters.0.Name=HostId&Filters.0.Values.0=a5b2bbbc" +
		"&Filters.1.Name=Status&Filters.1.Values.0=0&Filters.1.Values.1=1&Filters.1.ExactMatch=true&Filters.2.Name=BeginTime&Filters.2.Values.0=2023-09-16+18%3A28%3A00")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.FormToJSON("DescribeRiskProcessEvents", form); err != nil {
			b.Fatal(err)
		}
	}
}
