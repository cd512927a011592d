package hashlist

import (
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vigil-sec/vigil/internal/engine"
)

func loadTestdata(t *testing.T) (*Detector, []engine.Problem) {
	t.Helper()
	paths, _ := filepath.Glob("testdata/*")
	var files []engine.RuleFile
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, engine.RuleFile{Name: p, Data: data})
	}
	d, problems, err := Kind().Build(context.Background(), files)
	if err != nil || d == nil {
		t.Fatalf("Build = %v, %v", d, err)
	}
	return d.(*Detector), problems
}

func TestMalformedLinesAreReportedAndSkipped(t *testing.T) {
	d, problems := loadTestdata(t)
	want := []struct {
		file     string
		line     int
		contains string
	}{
		{"bad.sha256", 3, "want 32 (MD5), 40 (SHA1) or 64 (SHA256)"},
		{"bad.sha256", 4, "has 60 characters"},
		{"bad.sha256", 5, "a 32-digit hash (MD5) in a file of SHA256 digests"},
		{"bad.sha256", 6, "not hexadecimal"},
		{"sized.hdb", 4, `size "abc"`},
		{"sized.hdb", 5, "got 2 field(s)"},
	}
	if len(problems) != len(want) {
		t.Errorf("got %d problems, want %d: %v", len(problems), len(want), problems)
	}
	for _, w := range want {
		if !slices.ContainsFunc(problems, func(p engine.Problem) bool {
			return filepath.Base(p.File) == w.file && p.Line == w.line && p.Severity == engine.SeverityError && strings.Contains(p.Message, w.contains)
		}) {
			t.Errorf("no problem %s:%d containing %q in %v", w.file, w.line, w.contains, problems)
		}
	}
	if n := d.db.Len(); n != 7 {
		t.Errorf("loaded %d entries, want the 7 valid lines", n)
	}
}

func hashes(data string) engine.Hashes {
	return engine.Hashes{
		Have:   engine.HashMD5 | engine.HashSHA1 | engine.HashSHA256,
		MD5:    md5.Sum([]byte(data)),
		SHA1:   sha1.Sum([]byte(data)),
		SHA256: sha256.Sum256([]byte(data)),
	}
}

func TestDetect(t *testing.T) {
	d, _ := loadTestdata(t)
	tests := []struct {
		name  string
		data  string
		size  int64 // 0: len(data)
		want  []string
		rules []string
	}{
		{name: "plain sha256 with name", data: "vigil-sample-one", want: []string{"Linux.Trojan.SampleOne"}, rules: []string{"bad.sha256:2"}},
		{name: "plain md5 without name", data: "vigil-sample-five", want: []string{"Hash.plain"}},
		{name: "hdb with matching size", data: "vigil-sample-two", want: []string{"Unix.Trojan.SampleTwo-1"}, rules: []string{"sized.hdb:2"}},
		{name: "hdb entry for another size", data: "vigil-sample-two", size: 17, want: nil},
		{name: "hsb sha1 sized", data: "vigil-sample-three", want: []string{"Unix.Coinminer.SampleThree-2"}},
		{name: "sha256 in a plain list and a * entry", data: "vigil-sample-four", want: []string{"Linux.Miner.SampleFour", "Unix.Coinminer.AnySize-3"}},
		{name: "clean", data: "clean", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			size := tt.size
			if size == 0 {
				size = int64(len(tt.data))
			}
			obj := &engine.Object{Info: engine.FileInfo{Path: "/x", Size: size}, Hashes: hashes(tt.data)}
			fs, err := d.Detect(context.Background(), obj)
			if err != nil {
				t.Fatal(err)
			}
			var names, rules []string
			for _, f := range fs {
				names = append(names, f.VirusName)
				rules = append(rules, f.Rule)
				if f.Platform != engine.PlatformThreatIntel || f.Risk != engine.RiskHigh || !slices.Contains(f.Tags, Tag) {
					t.Errorf("finding %+v", f)
				}
			}
			slices.Sort(names)
			if !slices.Equal(names, tt.want) {
				t.Errorf("virus names %q, want %q", names, tt.want)
			}
			if tt.rules != nil && !slices.Equal(rules, tt.rules) {
				t.Errorf("rules %q, want %q", rules, tt.rules)
			}
		})
	}
}

func TestCategoryFromClamAVName(t *testing.T) {
	e := entry{name: "Unix.Coinminer.Xmrig-1", kind: engine.HashSHA256, file: "x.hsb", line: 3}
	if f := e.finding(e.virusName()); f.Category != "Coinminer" || f.Rule != "x.hsb:3" {
		t.Fatalf("finding %+v", f)
	}
}

// The size filter: only digests that can match a file of that size are asked
// for, so most files are never hashed.
func TestRequireUsesSizes(t *testing.T) {
	db, problems := Load([]engine.RuleFile{{Name: "a.hdb", Data: []byte(
		"c33e42bfb16096415dae242310f1186d:16:A\n" +
			"b2c3753a6596808c6687ec18daf8b1dd3f996714:18:B\n")}})
	if len(problems) != 0 {
		t.Fatal(problems)
	}
	d := NewDetector(db)
	for size, want := range map[int64]engine.HashKinds{16: engine.HashMD5, 18: engine.HashSHA1, 17: 0, -1: engine.HashMD5 | engine.HashSHA1} {
		if got := d.Require(&engine.FileInfo{Size: size}); got.Hashes != want || got.Content || got.Head {
			t.Errorf("Require(size %d) = %+v, want hashes %b only", size, got, want)
		}
	}
	plain, _ := Load([]engine.RuleFile{{Name: "b.sha256", Data: []byte(strings.Repeat("a", 64) + "\n")}})
	if got := NewDetector(plain).Require(&engine.FileInfo{Size: 12345}); got.Hashes != engine.HashSHA256 {
		t.Errorf("plain list: Require = %+v, want SHA256 for every size", got)
	}
}

func TestEmptyFilesBuildNoDetector(t *testing.T) {
	d, problems, err := Kind().Build(context.Background(), []engine.RuleFile{{Name: "empty.hdb"}, {Name: "comments.sha256", Data: []byte("# nothing\n\n")}})
	if d != nil || len(problems) != 0 || err != nil {
		t.Fatalf("Build = %v, %v, %v", d, problems, err)
	}
}

func TestOverlongLine(t *testing.T) {
	data := []byte(strings.Repeat("a", 64) + "\n" + strings.Repeat("b", maxLine+10) + "\n")
	db, problems := Load([]engine.RuleFile{{Name: "long.sha256", Data: data}})
	if db.Len() != 1 || len(problems) != 1 || problems[0].Line != 2 {
		t.Fatalf("entries %d, problems %v", db.Len(), problems)
	}
}
