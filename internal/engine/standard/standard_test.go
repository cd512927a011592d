package standard

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vigil-sec/vigil/internal/engine"
)

// eicar is assembled at run time so this file is not itself a sample.
func eicar() string {
	return `X5O!P%@AP[4\PZX54(P^)7CC)7}$` + "EICAR-STANDARD-ANTIVIRUS" + `-TEST-FILE!$H+H*`
}

func newEngine(t *testing.T, cfg Config) *engine.Engine {
	t.Helper()
	opts, err := Options(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.New(context.Background(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestBuiltinPackLoadsCleanly(t *testing.T) {
	e := newEngine(t, Config{})
	if ps := e.Problems(); len(ps) != 0 {
		t.Fatalf("built-in pack problems: %v", ps)
	}
	var names []string
	for _, d := range e.RuleSet().Detectors() {
		names = append(names, d.Name())
	}
	if !slices.Equal(names, []string{"heuristic", "yara"}) {
		t.Fatalf("detectors %q: want the heuristics and YARA (no hash list without rule dirs)", names)
	}
	p := filepath.Join(t.TempDir(), "eicar.com")
	os.WriteFile(p, []byte(eicar()), 0o644)
	res, err := e.ScanFile(context.Background(), p)
	if err != nil || len(res.Findings) != 1 {
		t.Fatalf("EICAR: %+v, %v", res, err)
	}
	f := res.Findings[0]
	if f.Detector != "yara" || f.Platform != engine.PlatformCloudEngine || f.Description.ZH == "" || f.Description.EN == "" ||
		f.Solution.ZH == "" || f.Solution.EN == "" || f.Category == "" || len(f.Tags) == 0 || !strings.Contains(f.VirusName, ".") {
		t.Fatalf("EICAR finding lacks pack metadata: %+v", f)
	}
}

func TestRuleDirsAndNoBuiltin(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "mine.yar"), []byte(`rule Mine { strings: $a = "VIGIL-STANDARD-TEST" condition: $a }`), 0o644)
	os.WriteFile(filepath.Join(dir, "intel.md5"), []byte(strings.Repeat("0", 32)+"\n"), 0o644)
	e := newEngine(t, Config{NoBuiltin: true, RuleDirs: []string{dir}})
	if ps := e.Problems(); len(ps) != 0 {
		t.Fatal(ps)
	}
	var names []string
	for _, d := range e.RuleSet().Detectors() {
		names = append(names, d.Name())
	}
	if !slices.Equal(names, []string{"heuristic", "yara", "hashlist"}) {
		t.Fatalf("detectors %q", names)
	}
	p := filepath.Join(t.TempDir(), "x")
	os.WriteFile(p, []byte(eicar()+" VIGIL-STANDARD-TEST"), 0o644)
	res, _ := e.ScanFile(context.Background(), p)
	if len(res.Findings) != 1 || res.Findings[0].VirusName != "YARA.Mine" {
		t.Fatalf("without the built-in pack only the user rule fires: %+v", res.Findings)
	}
	if with := newEngine(t, Config{RuleDirs: []string{dir}}); with.RuleSet().Version() == e.RuleSet().Version() {
		t.Fatal("the built-in pack does not change the rule-set version")
	}
}
