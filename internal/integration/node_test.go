package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/api"
	"github.com/vigil-sec/vigil/internal/api/cwp"
	"github.com/vigil-sec/vigil/internal/api/tcss"
	"github.com/vigil-sec/vigil/internal/app"
)

// nodeSDKVersion is the tencentcloud-sdk-nodejs version pinned in node/package.json.
const nodeSDKVersion = "4.1.313"

// nodeOutput is what node/interop.js prints.
type nodeOutput struct {
	SDKVersion string                 `json:"sdkVersion"`
	Calls      map[string]nodeOutcome `json:"calls"`
}

// nodeOutcome is one call: the SDK's resolved Response, or what it threw.
type nodeOutcome struct {
	Response json.RawMessage `json:"response"`
	Error    *nodeError      `json:"error"`
}

type nodeError struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"requestId"`
	HTTPCode  int    `json:"httpCode"`
}

// TestNodeSDK drives the server with the official Node.js SDK, which signs
// differently from the Go SDK: host without its port, and the service taken
// from the endpoint's first label ("127"). It covers the generated product
// clients, CommonClient, TC3 over GET and the legacy HmacSHA1/HmacSHA256
// signatures, in both languages.
func TestNodeSDK(t *testing.T) {
	node, npm := nodeTools(t)
	dir, err := filepath.Abs("node")
	if err != nil {
		t.Fatal(err)
	}
	lockDir(t, dir) // npm ci empties node_modules: one run of this test at a time per checkout
	npmCI(t, npm, dir)

	ts := startServer(t)
	a := ts.newAccount(app.DefaultAccount)
	f := seed(t, ts.App.Store, a.ID, "node-web", "10.0.0.9")
	const missingID = "987654321"
	out := runInterop(t, node, dir, map[string]string{
		"VIGIL_ENDPOINT":       ts.Addr,
		"VIGIL_SECRET_ID":      a.roID, // every call is a Describe*: the read-only key suffices
		"VIGIL_SECRET_KEY":     a.roKey,
		"VIGIL_VIRUS_EVENT_ID": idStr(f.virusEventID),
		"VIGIL_IMAGE_ID":       idStr(f.imageID),
		"VIGIL_REGISTRY":       f.registry,
		"VIGIL_MISSING_ID":     missingID,
	})
	if out.SDKVersion != nodeSDKVersion {
		t.Errorf("Node SDK %s, want %s (node/package.json and nodeSDKVersion disagree)", out.SDKVersion, nodeSDKVersion)
	}

	eventIDs := func(r cwp.DescribeRiskProcessEventsResponse) []int64 {
		var ids []int64
		for _, e := range r.List {
			ids = append(ids, api.Value(e.EventId))
		}
		return ids
	}
	imagePaths := func(r tcss.DescribeAssetImageRegistryVirusListResponse) []string {
		var paths []string
		for _, v := range r.List {
			paths = append(paths, api.Value(v.Path))
		}
		return paths
	}
	// fscanOnly checks the answer to the Filters VirusName=Linux.Scanner.Fscan (exact) in English.
	fscanOnly := func(t *testing.T, o nodeOutcome) {
		r := nodeResponse[cwp.DescribeRiskProcessEventsResponse](t, o)
		if api.Value(r.TotalCount) != 1 || !slices.Equal(eventIDs(r), []int64{f.eventIDs[0]}) {
			t.Fatalf("TotalCount=%d ids=%v, want 1 [%d]", api.Value(r.TotalCount), eventIDs(r), f.eventIDs[0])
		}
		e := r.List[0]
		checkFields(t, map[string][2]string{
			"HostName":        {api.Value(e.HostName), "node-web"},
			"HostIp":          {api.Value(e.HostIp), "10.0.0.9"},
			"VirusName":       {api.Value(e.VirusName), fscanThreat.Name},
			"FilePath":        {api.Value(e.FilePath), "/dev/shm/dev"},
			"StartTime":       {api.Value(e.StartTime), "2026-11-01 08:00:00"},
			"ThreatDesc":      {api.Value(e.ThreatDesc), fscanThreat.Desc.EN},
			"SuggestSolution": {api.Value(e.SuggestSolution), fscanThreat.Solution.EN},
		})
		if api.Value(e.ProcessId) != 21595 {
			t.Errorf("ProcessId = %d, want 21595", api.Value(e.ProcessId))
		}
	}
	// virusDetail checks DescribeVirusDetail of the seeded event, texts in lang.
	virusDetail := func(lang api.Language) func(*testing.T, nodeOutcome) {
		return func(t *testing.T, o nodeOutcome) {
			r := nodeResponse[tcss.DescribeVirusDetailResponse](t, o)
			checkFields(t, map[string][2]string{
				"HostName":      {api.Value(r.HostName), "node-web"},
				"HostIP":        {api.Value(r.HostIP), "10.0.0.9"},
				"VirusName":     {api.Value(r.VirusName), minerThreat.Name},
				"ContainerName": {api.Value(r.ContainerName), "/web-node-web"},
				"FilePath":      {api.Value(r.FilePath), "/home/virus/specimen_1"},
				"ProcessChan":   {api.Value(r.ProcessChan), "git(433802)|node(280016)|containerd-shim-runc-v2(176637)"},
				"HarmDescribe":  {api.Value(r.HarmDescribe), lang.Pick(minerThreat.Desc.EN, minerThreat.Desc.ZH)},
				"SuggestScheme": {api.Value(r.SuggestScheme), lang.Pick(minerThreat.Solution.EN, minerThreat.Solution.ZH)},
			})
			if api.Value(r.Size) != 332155 {
				t.Errorf("Size = %d, want 332155", api.Value(r.Size))
			}
		}
	}
	notFound := func(lang api.Language) func(*testing.T, nodeOutcome) {
		return func(t *testing.T, o nodeOutcome) {
			e := o.Error
			if e == nil {
				t.Fatalf("succeeded: %s", o.Response)
			}
			if e.Code != string(api.ResourceNotFound) || e.RequestID == "" || !strings.Contains(e.Message, missingID) {
				t.Fatalf("error %+v, want code ResourceNotFound with a RequestId and a message naming %s", *e, missingID)
			}
			if wantZH := lang == api.Chinese; wantZH != hasHan(e.Message) {
				t.Errorf("message %q is not in %s", e.Message, lang)
			}
		}
	}

	checks := map[string]func(*testing.T, nodeOutcome){
		"riskEventsFilteredEN": fscanOnly,
		"riskEventsAllZH": func(t *testing.T, o nodeOutcome) {
			r := nodeResponse[cwp.DescribeRiskProcessEventsResponse](t, o)
			if api.Value(r.TotalCount) != 3 || !slices.Equal(eventIDs(r), f.eventIDs) {
				t.Fatalf("TotalCount=%d ids=%v, want 3 %v (StartTime ASC)", api.Value(r.TotalCount), eventIDs(r), f.eventIDs)
			}
			if got := api.Value(r.List[0].ThreatDesc); got != fscanThreat.Desc.ZH {
				t.Errorf("ThreatDesc = %q, want the zh-CN text", got)
			}
		},
		"virusDetailEN":         virusDetail(api.English),
		"virusDetailZH":         virusDetail(api.Chinese),
		"virusDetailNoLanguage": virusDetail(api.Chinese), // zh-CN is the protocol's default
		"virusDetailGET":        virusDetail(api.English),
		"imageVirusesByID": func(t *testing.T, o nodeOutcome) {
			r := nodeResponse[tcss.DescribeAssetImageRegistryVirusListResponse](t, o)
			if want := []string{"bin/webshell.php", "usr/local/bin/xmrig"}; api.Value(r.TotalCount) != 2 || !slices.Equal(imagePaths(r), want) {
				t.Fatalf("TotalCount=%d paths=%v, want 2 %v", api.Value(r.TotalCount), imagePaths(r), want)
			}
			v := r.List[0]
			checkFields(t, map[string][2]string{
				"VirusName": {api.Value(v.VirusName), "Php.Webshell.Generic"},
				"RiskLevel": {api.Value(v.RiskLevel), "4"},
				"Category":  {api.Value(v.Category), "Webshell"},
				"FileMd5":   {api.Value(v.FileMd5), "d292d5fbd3837a6af51234daa7a40000"},
			})
		},
		"imageVirusesByInfoFiltered": func(t *testing.T, o nodeOutcome) {
			r := nodeResponse[tcss.DescribeAssetImageRegistryVirusListResponse](t, o)
			if want := []string{"bin/webshell.php"}; api.Value(r.TotalCount) != 1 || !slices.Equal(imagePaths(r), want) {
				t.Fatalf("TotalCount=%d paths=%v, want 1 %v", api.Value(r.TotalCount), imagePaths(r), want)
			}
		},
		"missingVirusEvent": notFound(api.English),
		"commonRiskEvents": func(t *testing.T, o nodeOutcome) {
			r := nodeResponse[cwp.DescribeRiskProcessEventsResponse](t, o)
			if api.Value(r.TotalCount) != 1 || !slices.Equal(eventIDs(r), []int64{f.eventIDs[0]}) {
				t.Fatalf("TotalCount=%d ids=%v, want 1 [%d]", api.Value(r.TotalCount), eventIDs(r), f.eventIDs[0])
			}
			if got := api.Value(r.List[0].ThreatDesc); got != fscanThreat.Desc.EN {
				t.Errorf("ThreatDesc = %q, want the en-US text", got)
			}
		},
		"commonImageViruses": func(t *testing.T, o nodeOutcome) {
			r := nodeResponse[tcss.DescribeAssetImageRegistryVirusListResponse](t, o)
			if want := []string{"usr/local/bin/xmrig"}; api.Value(r.TotalCount) != 1 || !slices.Equal(imagePaths(r), want) {
				t.Fatalf("TotalCount=%d paths=%v, want 1 %v", api.Value(r.TotalCount), imagePaths(r), want)
			}
		},
		"commonMissingVirusEvent":    notFound(api.Chinese),
		"riskEventsLegacyHmacSHA256": fscanOnly,
		"imageVirusesLegacyHmacSHA1": func(t *testing.T, o nodeOutcome) {
			r := nodeResponse[tcss.DescribeAssetImageRegistryVirusListResponse](t, o)
			if want := []string{"bin/webshell.php"}; api.Value(r.TotalCount) != 2 || !slices.Equal(imagePaths(r), want) {
				t.Fatalf("TotalCount=%d paths=%v, want 2 %v (Limit 1)", api.Value(r.TotalCount), imagePaths(r), want)
			}
		},
	}
	for name := range out.Calls {
		if checks[name] == nil {
			t.Errorf("interop.js made call %q that this test does not check", name)
		}
	}
	for name, check := range checks {
		t.Run(name, func(t *testing.T) {
			o, ok := out.Calls[name]
			if !ok {
				t.Fatal("interop.js did not make this call")
			}
			check(t, o)
		})
	}
}

// nodeTools finds node and npm, or skips.
func nodeTools(t *testing.T) (node, npm string) {
	t.Helper()
	if os.Getenv("VIGIL_SKIP_NODE") == "1" {
		t.Skip("VIGIL_SKIP_NODE=1: Node.js SDK interop test skipped")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not found in PATH: Node.js SDK interop test skipped (install Node.js >= 18, or set VIGIL_SKIP_NODE=1)")
	}
	npm, err = exec.LookPath("npm")
	if err != nil {
		t.Skip("npm not found in PATH: Node.js SDK interop test skipped (install npm, or set VIGIL_SKIP_NODE=1)")
	}
	return node, npm
}

// lockDir holds an exclusive flock on dir until the test ends, so that
// concurrent `go test` runs in one checkout do not wipe each other's
// node_modules mid-run.
func lockDir(t *testing.T, dir string) {
	t.Helper()
	d, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := syscall.Flock(int(d.Fd()), syscall.LOCK_EX); err != nil {
		d.Close()
		t.Fatalf("lock %s: %v", dir, err)
	}
	if waited := time.Since(start); waited > time.Second {
		t.Logf("waited %v for another run of this test", waited.Round(time.Millisecond))
	}
	t.Cleanup(func() { d.Close() }) // closing releases the lock
}

// npmCI installs the locked SDK into dir/node_modules. --prefer-offline makes
// a warm npm cache enough, with no registry round trip.
func npmCI(t *testing.T, npm, dir string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error")
	cmd.Dir = dir
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
	}
	t.Logf("npm ci: %v", time.Since(start).Round(time.Millisecond))
}

// runInterop runs interop.js with env added to a proxy-free environment and
// decodes what it prints.
func runInterop(t *testing.T, node, dir string, env map[string]string) nodeOutput {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "interop.js")
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch strings.ToLower(name) {
		case "http_proxy", "https_proxy", "all_proxy": // the SDK would send 127.0.0.1 calls through it
			continue
		}
		cmd.Env = append(cmd.Env, kv)
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node interop.js: %v\nstderr:\n%s", err, stderr.Bytes())
	}
	var out nodeOutput
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("interop.js output: %v\n%s\nstderr:\n%s", err, stdout.Bytes(), stderr.Bytes())
	}
	return out
}

// nodeResponse decodes a successful call's Response, failing on an error.
func nodeResponse[T any](t *testing.T, o nodeOutcome) T {
	t.Helper()
	var r T
	if o.Error != nil {
		t.Fatalf("call failed: %+v", *o.Error)
	}
	if err := json.Unmarshal(o.Response, &r); err != nil {
		t.Fatalf("decode %s: %v", o.Response, err)
	}
	var common struct{ RequestId string }
	json.Unmarshal(o.Response, &common)
	if common.RequestId == "" {
		t.Errorf("Response has no RequestId: %s", o.Response)
	}
	return r
}

// checkFields reports every field whose {got, want} differ.
func checkFields(t *testing.T, fields map[string][2]string) {
	t.Helper()
	for name, gw := range fields {
		if gw[0] != gw[1] {
			t.Errorf("%s = %q, want %q", name, gw[0], gw[1])
		}
	}
}

// hasHan reports whether s contains a Chinese character.
func hasHan(s string) bool {
	for _, r := range s {
		if r >= 0x4e00 && r <= 0x9fff {
			return true
		}
	}
	return false
}
