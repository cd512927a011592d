package yara

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/engine"
)

func ruleFiles(t *testing.T, paths ...string) []engine.RuleFile {
	t.Helper()
	var files []engine.RuleFile
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, engine.RuleFile{Name: p, Data: data})
	}
	return files
}

func build(t *testing.T, paths ...string) (*detector, []engine.Problem) {
	t.Helper()
	d, problems, err := Kind().Build(context.Background(), ruleFiles(t, paths...))
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if d == nil {
		return nil, problems
	}
	return d.(*detector), problems
}

func object(path string, data []byte) *engine.Object {
	return &engine.Object{
		Info: engine.FileInfo{Path: path, Size: int64(len(data))},
		Type: engine.DetectFileType(path, data),
		Head: data[:min(len(data), engine.HeadSize)],
		Data: data,
	}
}

func TestAccepts(t *testing.T) {
	k := Kind()
	for name, want := range map[string]bool{"a.yar": true, "b.YARA": true, "c.yara": true, "d.txt": false, "e.hdb": false, "yar": false} {
		if got := k.Accepts(name); got != want {
			t.Errorf("Accepts(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestDetectUsesMeta(t *testing.T) {
	d, problems := build(t, "testdata/good.yar")
	if len(problems) != 0 {
		t.Fatalf("unexpected problems: %v", problems)
	}
	tests := []struct {
		name    string
		path    string
		data    string
		want    []string // virus names
		check   func(t *testing.T, f engine.Finding)
		noMatch bool
	}{
		{
			name: "full meta",
			path: "/tmp/x", data: "junk stratum+tcp://vigil-test-pool junk",
			want: []string{"Linux.Miner.TestMiner"},
			check: func(t *testing.T, f engine.Finding) {
				if f.Risk != engine.RiskHigh || f.Category != "Miner" || f.Rule != "Test_Miner" ||
					f.Description.ZH != "测试挖矿样本" || f.Description.EN != "Test miner sample" ||
					f.Solution.ZH != "删除" || f.Solution.EN != "Delete it" || f.Reference != "https://example.com/miner" ||
					f.Platform != engine.PlatformCloudEngine || f.Detector != Name {
					t.Errorf("finding = %+v", f)
				}
				if !slices.Equal(f.Tags, []string{"miner", "xmrig", "linux"}) {
					t.Errorf("tags = %q, want meta tags then rule tags", f.Tags)
				}
			},
		},
		{
			name: "defaults for a user rule",
			path: "/tmp/y", data: "VIGIL-PLAIN-MARKER",
			want: []string{"YARA.Plain_User_Rule"},
			check: func(t *testing.T, f engine.Finding) {
				if f.Risk != DefaultRisk || f.Category != DefaultCategory ||
					f.Description.EN != "a third-party rule with only a description" ||
					f.Description.ZH != "" || f.Solution != engine.GenericSolution() || len(f.Tags) != 0 || f.Tags == nil {
					t.Errorf("finding = %+v", f)
				}
			},
		},
		{
			name: "private rule is not reported, its user is",
			path: "/tmp/z", data: "VIGIL-PRIVATE-MARKER",
			want: []string{"Test.Private.Uses"},
			check: func(t *testing.T, f engine.Finding) {
				if f.Risk != engine.RiskNotice {
					t.Errorf("risk %v, want RISK_NOTICE from \"notice\"", f.Risk)
				}
			},
		},
		{name: "externals: right extension and type", path: "/var/www/a.php", data: "<?php VIGIL-EXT-MARKER", want: []string{"Php.Webshell.TestExt"}},
		{name: "externals: wrong extension", path: "/var/www/a.txt", data: "<?php VIGIL-EXT-MARKER", want: nil},
		{name: "clean", path: "/tmp/clean", data: "nothing to see", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs, err := d.Detect(context.Background(), object(tt.path, []byte(tt.data)))
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, f := range fs {
				names = append(names, f.VirusName)
			}
			if !slices.Equal(names, tt.want) {
				t.Fatalf("virus names = %q, want %q", names, tt.want)
			}
			if tt.check != nil {
				tt.check(t, fs[0])
			}
		})
	}
}

func TestModules(t *testing.T) {
	d, problems := build(t, "testdata/elf.yar")
	if len(problems) != 0 {
		t.Fatalf("unexpected problems: %v", problems)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := d.Detect(context.Background(), object(self, data))
	if err != nil || len(fs) != 1 || fs[0].VirusName != "Linux.Test.ElfModule" || fs[0].Risk != engine.RiskLow {
		t.Fatalf("Detect(test binary) = %+v, %v", fs, err)
	}
}

// Every broken file is reported with its line, and the good file among them
// still loads.
func TestBuildReportsEveryProblem(t *testing.T) {
	paths, _ := filepath.Glob("testdata/bad/*.yar")
	d, problems := build(t, paths...)
	type want struct {
		file     string
		line     int
		severity engine.Severity
		contains string
	}
	wants := []want{
		{"syntax.yar", 6, engine.SeverityError, "syntax error"},
		{"hash_module.yar", 1, engine.SeverityError, `module "hash" is not available`},
		{"include.yar", 1, engine.SeverityError, "include"},
		{"undefined.yar", 4, engine.SeverityError, "undefined identifier"},
		{"dup.yar", 2, engine.SeverityError, "duplicated identifier"},
		{"warnings.yar", 3, engine.SeverityWarning, "pe.number_of_signatures is never set"},
		{"warnings.yar", 3, engine.SeverityWarning, "risk_level SEVERE"},
	}
	for _, w := range wants {
		found := false
		for _, p := range problems {
			if filepath.Base(p.File) == w.file && p.Line == w.line && p.Severity == w.severity && strings.Contains(p.Message, w.contains) {
				found = true
			}
		}
		if !found {
			t.Errorf("no %s problem %s:%d containing %q in:\n%s", w.severity, w.file, w.line, w.contains, fmtProblems(problems))
		}
	}
	for _, p := range problems {
		if base := filepath.Base(p.File); base == "ok.yar" {
			t.Errorf("problem reported for the good file: %v", p)
		}
	}
	if d == nil {
		t.Fatal("no detector: the good files should still load")
	}
	fs, err := d.Detect(context.Background(), object("/x", []byte("VIGIL-STILL-LOADS")))
	if err != nil || len(fs) != 1 || fs[0].VirusName != "Test.Ok.StillLoads" {
		t.Fatalf("Detect = %+v, %v", fs, err)
	}
}

func fmtProblems(ps []engine.Problem) string {
	var b strings.Builder
	for _, p := range ps {
		b.WriteString("  " + p.String() + "\n")
	}
	return b.String()
}

func TestNoFilesNoDetector(t *testing.T) {
	d, problems, err := Kind().Build(context.Background(), nil)
	if d != nil || problems != nil || err != nil {
		t.Fatalf("Build(nil) = %v, %v, %v", d, problems, err)
	}
}

func TestVersionFollowsContent(t *testing.T) {
	a, _ := build(t, "testdata/good.yar")
	b, _ := build(t, "testdata/good.yar")
	c, _ := build(t, "testdata/good.yar", "testdata/elf.yar")
	if a.Version() != b.Version() || a.Version() == c.Version() {
		t.Fatalf("versions %s %s %s: want equal for equal rules, different otherwise", a.Version(), b.Version(), c.Version())
	}
}

func TestOversizeObjectIsNotScanned(t *testing.T) {
	d, _ := build(t, "testdata/good.yar")
	obj := object("/x", []byte("VIGIL-PLAIN-MARKER"))
	obj.Data = nil
	if fs, err := d.Detect(context.Background(), obj); fs != nil || err != nil {
		t.Fatalf("Detect without data = %v, %v", fs, err)
	}
}

func TestConcurrentDetect(t *testing.T) {
	d, _ := build(t, "testdata/good.yar")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				data := "VIGIL-PLAIN-MARKER"
				want := 1
				if i%2 == 0 {
					data, want = "clean", 0
				}
				fs, err := d.Detect(context.Background(), object("/x", []byte(data)))
				if err != nil || len(fs) != want {
					t.Errorf("Detect = %v, %v", fs, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// A rule that loops over every byte of a big buffer hits the per-file
// deadline and reports a timeout instead of running on.
func TestTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	slow := []engine.RuleFile{{Name: "slow.yar", Data: []byte(`
rule Slow {
    condition:
        for all i in (0..filesize-1) : ( uint32(i) != 0x11223344 and uint16(i) != 0x5566 )
}`)}}
	det, _, err := Kind().Build(context.Background(), slow)
	if err != nil || det == nil {
		t.Fatal(err)
	}
	data := make([]byte, 256<<20)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	_, err = det.Detect(ctx, object("/big", data))
	if err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("Detect = %v, want a timeout", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("timeout took %v", el)
	}
}
