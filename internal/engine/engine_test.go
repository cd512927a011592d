package engine_test

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigil-sec/vigil/internal/engine"
	"github.com/vigil-sec/vigil/internal/engine/hashlist"
	"github.com/vigil-sec/vigil/internal/engine/heuristic"
	"github.com/vigil-sec/vigil/internal/engine/yara"
)

const (
	marker       = "VIGIL-ENGINE-TEST-" + "MARKER" // split so this source file is no sample
	markerVirus  = "Linux.Test.Marker"
	hashListed   = "vigil hash-listed sample\n" // its SHA256 is in testdata/rules/intel.sha256
	hashedVirus  = "Linux.Test.HashListed"
	fixtureRules = "testdata/rules"
)

// later is a clock one hour ahead, so files written by a test count as old
// enough to cache (see WithRacyWindow).
func later() time.Time { return time.Now().Add(time.Hour) }

func newEngine(t *testing.T, opts ...engine.Option) *engine.Engine {
	t.Helper()
	base := []engine.Option{
		engine.WithDetector(heuristic.New()),
		engine.WithKind(yara.Kind()),
		engine.WithKind(hashlist.Kind()),
		engine.WithConcurrency(2),
		engine.WithClock(later),
	}
	e, err := engine.New(context.Background(), append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func fixtures() engine.Option { return engine.WithRules(engine.DirSource(fixtureRules)) }

func write(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func virusNames(fs []engine.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.VirusName)
	}
	slices.Sort(out)
	return out
}

// scanTree runs ScanTree and indexes the results by path.
func scanTree(t *testing.T, e *engine.Engine, roots ...string) (map[string]*engine.Result, engine.Stats) {
	t.Helper()
	results := map[string]*engine.Result{}
	st, err := e.ScanTree(context.Background(), roots, func(r *engine.Result) {
		if _, dup := results[r.Info.Path]; dup {
			t.Errorf("%s reported twice", r.Info.Path)
		}
		results[r.Info.Path] = r
	})
	if err != nil {
		t.Fatalf("ScanTree: %v", err)
	}
	return results, st
}

func TestScanFileFindings(t *testing.T) {
	e := newEngine(t, fixtures())
	dir := t.TempDir()
	big := strings.Repeat("x", 1<<20) + marker // mapped, not read into a buffer
	tests := []struct {
		name, content string
		want          []string
		fileType      engine.FileType
	}{
		{"small.txt", "hello " + marker, []string{markerVirus}, engine.TypeText},
		{"big.bin", big, []string{markerVirus}, engine.TypeText},
		{"listed", hashListed, []string{hashedVirus}, engine.TypeText},
		{"clean.txt", "nothing here", nil, ""},
		{"empty", "", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := write(t, filepath.Join(dir, tt.name), tt.content)
			res, err := e.ScanFile(context.Background(), p)
			if err != nil {
				t.Fatal(err)
			}
			if got := virusNames(res.Findings); !slices.Equal(got, tt.want) {
				t.Fatalf("findings %q, want %q", got, tt.want)
			}
			for _, f := range res.Findings {
				md5sum := md5.Sum([]byte(tt.content))
				shasum := sha256.Sum256([]byte(tt.content))
				if f.Path != p || f.Size != int64(len(tt.content)) || f.MD5 != hex.EncodeToString(md5sum[:]) ||
					f.SHA256 != hex.EncodeToString(shasum[:]) || f.FileType != tt.fileType {
					t.Errorf("finding %+v", f)
				}
			}
			if res.BytesRead != int64(len(tt.content)) {
				t.Errorf("read %d bytes, want %d", res.BytesRead, len(tt.content))
			}
		})
	}
}

// The bad-input tree: special files, symlink loops and escapes, a huge sparse
// file. Nothing may block, be followed, or be read needlessly.
func TestScanTreeBadInput(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	write(t, filepath.Join(outside, "evil.txt"), marker)
	infected := write(t, filepath.Join(root, "a", "infected.txt"), marker)
	write(t, filepath.Join(root, "a", "clean.txt"), "clean")
	if err := unix.Mkfifo(filepath.Join(root, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	devNodes := os.Geteuid() == 0
	if devNodes {
		if err := unix.Mknod(filepath.Join(root, "null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
			t.Fatal(err)
		}
		if err := unix.Mknod(filepath.Join(root, "loop0"), unix.S_IFBLK|0o600, int(unix.Mkdev(7, 0))); err != nil {
			t.Fatal(err)
		}
	}
	ln, err := net.Listen("unix", filepath.Join(root, "sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for link, target := range map[string]string{
		"loop1":      "loop2",
		"loop2":      "loop1",
		"self":       "self",
		"up":         "..",
		"a/parent":   "../..",
		"escape-dir": outside,
		"escape.txt": filepath.Join(outside, "evil.txt"),
		"dangling":   "/nonexistent/x",
	} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	sparse := filepath.Join(root, "sparse.img")
	f, err := os.Create(sparse)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(10 << 30); err != nil { // 10 GiB, no blocks
		t.Fatal(err)
	}
	f.Close()

	e := newEngine(t, fixtures())
	start := time.Now()
	results, st := scanTree(t, e, root)
	if el := time.Since(start); el > 10*time.Second {
		t.Fatalf("scan took %v", el)
	}
	if got := virusNames(results[infected].Findings); !slices.Equal(got, []string{markerVirus}) {
		t.Errorf("infected file: %q", got)
	}
	for p, r := range results {
		if strings.HasPrefix(p, outside) {
			t.Errorf("walked outside the root: %s", p)
		}
		if len(r.Findings) > 0 && p != infected {
			t.Errorf("unexpected findings on %s: %v", p, virusNames(r.Findings))
		}
	}
	special := []string{"fifo", "sock", "loop1", "loop2", "self", "up", "a/parent", "escape-dir", "escape.txt", "dangling"}
	if devNodes {
		special = append(special, "null", "loop0")
	}
	for _, name := range special {
		r := results[filepath.Join(root, name)]
		if r == nil || r.Skipped != engine.SkipNotRegular || r.BytesRead != 0 || r.Err != nil {
			t.Errorf("%s: %+v, want skipped as not regular", name, r)
		}
	}
	if r := results[sparse]; r == nil || r.Skipped != engine.SkipTooLarge || r.BytesRead != 0 {
		t.Errorf("sparse file: %+v, want skipped as too large without reading", r)
	}
	if st.Files != 2 || st.Infected != 1 || st.Errors != 0 || st.Skipped != len(special)+1 || st.TooLarge != 1 {
		t.Errorf("stats %+v", st)
	}
}

// An explicitly named symlink is resolved; inside a tree it is not.
func TestSymlinkRoots(t *testing.T) {
	dir := t.TempDir()
	target := write(t, filepath.Join(dir, "real", "x.txt"), marker)
	linkDir := filepath.Join(dir, "linkdir")
	linkFile := filepath.Join(dir, "linkfile")
	os.Symlink(filepath.Join(dir, "real"), linkDir)
	os.Symlink(target, linkFile)
	e := newEngine(t, fixtures())
	results, st := scanTree(t, e, linkDir, linkFile)
	if st.Infected != 2 {
		t.Fatalf("stats %+v, results %v", st, results)
	}
	if r := results[filepath.Join(linkDir, "x.txt")]; r == nil || len(r.Findings) != 1 {
		t.Errorf("file under a symlinked root: %+v", r)
	}
	if r := results[target]; r == nil || len(r.Findings) != 1 {
		t.Errorf("symlinked file root resolves to its target: %v", results)
	}
	// ScanFile itself never follows.
	res, err := e.ScanFile(context.Background(), linkFile)
	if err != nil || res.Skipped != engine.SkipNotRegular {
		t.Errorf("ScanFile(symlink) = %+v, %v", res, err)
	}
}

func TestMissingRoot(t *testing.T) {
	e := newEngine(t, fixtures())
	results, st := scanTree(t, e, "/nonexistent/vigil")
	if r := results["/nonexistent/vigil"]; r == nil || !errors.Is(r.Err, fs.ErrNotExist) || st.Errors != 1 {
		t.Fatalf("results %v, stats %+v", results, st)
	}
}

// A file deleted between the walk and the scan is an error for that file
// only.
func TestFileDeletedMidScan(t *testing.T) {
	root := t.TempDir()
	doomed := write(t, filepath.Join(root, "doomed.txt"), marker)
	kept := write(t, filepath.Join(root, "kept.txt"), marker)
	e := newEngine(t, fixtures())
	results := map[string]*engine.Result{}
	st, err := e.ScanTree(context.Background(), []string{root}, func(r *engine.Result) { results[r.Info.Path] = r },
		engine.OnDiscover(func(fi engine.FileInfo) {
			if fi.Path == doomed {
				os.Remove(doomed)
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	if r := results[doomed]; r == nil || !errors.Is(r.Err, fs.ErrNotExist) {
		t.Errorf("deleted file: %+v", r)
	}
	if r := results[kept]; r == nil || len(r.Findings) != 1 {
		t.Errorf("kept file: %+v", r)
	}
	if st.Errors != 1 || st.Infected != 1 {
		t.Errorf("stats %+v", st)
	}
}

// truncator is a detector that shrinks the file under scan to nothing, then
// reads the mapping: the read faults (SIGBUS), which must cost one file, not
// the process.
type truncator struct{ touched atomic.Int32 }

func (*truncator) Name() string    { return "truncator" }
func (*truncator) Version() string { return "1" }
func (d *truncator) Detect(_ context.Context, obj *engine.Object) ([]engine.Finding, error) {
	if !strings.HasSuffix(obj.Info.Path, ".shrink") {
		return nil, nil
	}
	d.touched.Add(1)
	if err := os.Truncate(obj.Info.Path, 0); err != nil {
		return nil, err
	}
	var sum byte
	for i := 0; i < len(obj.Data); i += 4096 {
		sum += obj.Data[i]
	}
	return nil, fmt.Errorf("read a truncated mapping without faulting (sum %d)", sum)
}

func TestFileTruncatedMidScan(t *testing.T) {
	dir := t.TempDir()
	content := strings.Repeat("y", 8<<20) + marker
	goProbe := write(t, filepath.Join(dir, "go.shrink"), content)
	tr := &truncator{}
	e := newEngine(t, fixtures(), engine.WithDetector(tr))
	res, err := e.ScanFile(context.Background(), goProbe)
	if tr.touched.Load() != 1 || !errors.Is(err, engine.ErrChanged) || !strings.Contains(err.Error(), "memory fault") {
		t.Fatalf("ScanFile = %+v, %v", res, err)
	}
	// The YARA detector runs after the truncator on the now-empty mapping:
	// libyara catches its own SIGBUS and reports the file as changed.
	if !strings.Contains(err.Error(), "yara: file truncated during scan") {
		t.Errorf("want libyara's fault reported too, got %v", err)
	}
	// The engine still works.
	ok := write(t, filepath.Join(dir, "ok.txt"), marker)
	if res, err := e.ScanFile(context.Background(), ok); err != nil || len(res.Findings) != 1 {
		t.Fatalf("after the fault: %+v, %v", res, err)
	}
}

// Faults in Go code while libyara has its own SIGBUS handler installed (it
// chains to Go's for faults that are not its own) must still become errors.
func TestConcurrentFaults(t *testing.T) {
	dir := t.TempDir()
	e := newEngine(t, fixtures(), engine.WithDetector(&truncator{}), engine.WithConcurrency(4))
	content := strings.Repeat("y", 4<<20)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				name := filepath.Join(dir, fmt.Sprintf("%d-%d", g, i))
				shrink := g%2 == 0
				if shrink {
					name += ".shrink"
				}
				write(t, name, content)
				_, err := e.ScanFile(context.Background(), name)
				if shrink && !errors.Is(err, engine.ErrChanged) || !shrink && err != nil {
					t.Errorf("%s: %v", name, err)
				}
				os.Remove(name)
			}
		}()
	}
	wg.Wait()
}

// A file changed while its detectors run is reported changed and not cached.
func TestFileChangedMidScan(t *testing.T) {
	dir := t.TempDir()
	p := write(t, filepath.Join(dir, "grow.txt"), "small")
	cache := engine.NewCache(0)
	grower := detectorFunc(func(obj *engine.Object) {
		f, _ := os.OpenFile(obj.Info.Path, os.O_APPEND|os.O_WRONLY, 0)
		f.WriteString("more")
		f.Close()
	})
	e := newEngine(t, fixtures(), engine.WithDetector(grower), engine.WithCache(cache))
	_, err := e.ScanFile(context.Background(), p)
	if !errors.Is(err, engine.ErrChanged) {
		t.Fatalf("err = %v, want ErrChanged", err)
	}
	if cache.Len() != 0 {
		t.Fatal("a changed file was cached")
	}
}

type detectorFunc func(*engine.Object)

func (detectorFunc) Name() string    { return "func" }
func (detectorFunc) Version() string { return "1" }
func (f detectorFunc) Detect(_ context.Context, obj *engine.Object) ([]engine.Finding, error) {
	f(obj)
	return nil, nil
}

func TestRuleProblems(t *testing.T) {
	t.Run("syntax error: file:line, the other files load", func(t *testing.T) {
		e := newEngine(t, engine.WithRules(engine.DirSource("testdata/badyara")))
		ps := e.Problems()
		if len(ps) != 1 || ps[0].File != filepath.Join("testdata/badyara", "broken.yar") || ps[0].Line != 6 || ps[0].Severity != engine.SeverityError {
			t.Fatalf("problems %v", ps)
		}
		res, _ := e.ScanFile(context.Background(), write(t, filepath.Join(t.TempDir(), "m"), marker))
		if len(res.Findings) != 1 {
			t.Fatalf("marker.yar beside the broken file should load: %+v", res)
		}
	})
	t.Run("malformed hash lines: line numbers, the rest loads", func(t *testing.T) {
		e := newEngine(t, engine.WithRules(engine.DirSource("testdata/badhash")))
		var lines []int
		for _, p := range e.Problems() {
			lines = append(lines, p.Line)
		}
		if !slices.Equal(lines, []int{3, 4}) {
			t.Fatalf("problems %v", e.Problems())
		}
		res, _ := e.ScanFile(context.Background(), write(t, filepath.Join(t.TempDir(), "h"), hashListed))
		if got := virusNames(res.Findings); !slices.Equal(got, []string{hashedVirus}) {
			t.Fatalf("findings %q", got)
		}
	})
	t.Run("empty directory: a warning, no rules", func(t *testing.T) {
		empty := t.TempDir()
		e := newEngine(t, engine.WithRules(engine.DirSource(empty)))
		ps := e.Problems()
		if len(ps) != 1 || ps[0].Severity != engine.SeverityWarning || !strings.Contains(ps[0].Message, "no rule files") {
			t.Fatalf("problems %v", ps)
		}
		res, err := e.ScanFile(context.Background(), write(t, filepath.Join(t.TempDir(), "m"), marker))
		if err != nil || len(res.Findings) != 0 {
			t.Fatalf("%+v %v", res, err)
		}
	})
	t.Run("missing directory", func(t *testing.T) {
		e := newEngine(t, engine.WithRules(engine.DirSource("/nonexistent/rules")))
		if ps := e.Problems(); len(ps) != 1 || ps[0].Severity != engine.SeverityError {
			t.Fatalf("problems %v", ps)
		}
	})
}

func TestDuplicateDetectorNames(t *testing.T) {
	_, err := engine.New(context.Background(), engine.WithKind(yara.Kind()), engine.WithKind(yara.Kind()))
	if err == nil {
		t.Fatal("two yara kinds accepted")
	}
}

func TestAllowlist(t *testing.T) {
	dir := t.TempDir()
	byHash := write(t, filepath.Join(dir, "trusted.txt"), marker+" v1")
	other := write(t, filepath.Join(dir, "other.txt"), marker+" v2")
	byPath := write(t, filepath.Join(dir, "vendor", "lib", "x.txt"), marker)
	sum := sha256.Sum256([]byte(marker + " v1"))
	allow, err := engine.ParseAllowlist([]string{"sha256:" + hex.EncodeToString(sum[:]), "path:" + dir + "/vendor/**"})
	if err != nil {
		t.Fatal(err)
	}
	e := newEngine(t, fixtures(), engine.WithAllowlist(allow))
	results, st := scanTree(t, e, dir)
	if r := results[byHash]; len(r.Findings) != 0 || r.Allowlisted != 1 {
		t.Errorf("hash-allowlisted: %+v", r)
	}
	if r := results[other]; len(r.Findings) != 1 {
		t.Errorf("same rule, other hash: %+v", r)
	}
	if r := results[byPath]; r.Skipped != engine.SkipAllowlisted || r.BytesRead != 0 {
		t.Errorf("path-allowlisted: %+v", r)
	}
	if st.Findings != 1 || st.Allowlist != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestCache(t *testing.T) {
	dir := t.TempDir()
	infected := write(t, filepath.Join(dir, "infected.txt"), marker)
	clean := write(t, filepath.Join(dir, "clean.txt"), "clean")
	cache := engine.NewCache(0)
	e := newEngine(t, fixtures(), engine.WithCache(cache))

	first, st := scanTree(t, e, dir)
	if st.Cached != 0 || st.Bytes == 0 || cache.Len() != 2 {
		t.Fatalf("first pass: %+v, cache %d", st, cache.Len())
	}
	second, st := scanTree(t, e, dir)
	if st.Cached != 2 || st.Bytes != 0 || st.Findings != 1 {
		t.Fatalf("second pass: %+v", st)
	}
	if !slices.EqualFunc(first[infected].Findings, second[infected].Findings, func(a, b engine.Finding) bool {
		return a.VirusName == b.VirusName && a.SHA256 == b.SHA256 && a.Path == b.Path
	}) {
		t.Errorf("cached findings differ: %+v vs %+v", first[infected].Findings, second[infected].Findings)
	}

	// Touching a file (new mtime and ctime) makes it a miss.
	now := time.Now()
	if err := os.Chtimes(clean, now, now); err != nil {
		t.Fatal(err)
	}
	third, st := scanTree(t, e, dir)
	if third[clean].Cached || !third[infected].Cached || st.Cached != 1 {
		t.Fatalf("after touch: clean cached=%v infected cached=%v", third[clean].Cached, third[infected].Cached)
	}
	// Rewriting it with a finding is seen.
	write(t, clean, marker+" now")
	res, _ := e.ScanFile(context.Background(), clean)
	if res.Cached || len(res.Findings) != 1 {
		t.Fatalf("rewritten file: %+v", res)
	}
}

// A file whose change time is within the racy window is not cached: a second
// write in the same timestamp tick would otherwise go unnoticed.
func TestCacheRacyWindow(t *testing.T) {
	dir := t.TempDir()
	p := write(t, filepath.Join(dir, "fresh.txt"), "x")
	cache := engine.NewCache(0)
	e := newEngine(t, fixtures(), engine.WithCache(cache), engine.WithClock(time.Now))
	if _, err := e.ScanFile(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	if cache.Len() != 0 {
		t.Fatal("a file changed just now was cached")
	}
}

func TestCacheDependsOnRules(t *testing.T) {
	rules := t.TempDir()
	copyFile(t, filepath.Join(fixtureRules, "marker.yar"), filepath.Join(rules, "marker.yar"))
	dir := t.TempDir()
	p := write(t, filepath.Join(dir, "x.txt"), "VIGIL-SECOND-RULE")
	cache := engine.NewCache(0)
	e := newEngine(t, engine.WithRules(engine.DirSource(rules)), engine.WithCache(cache))
	if res, _ := e.ScanFile(context.Background(), p); len(res.Findings) != 0 {
		t.Fatal(res.Findings)
	}
	v1 := e.RuleSet().Version()
	write(t, filepath.Join(rules, "second.yar"), `rule Second { strings: $a = "VIGIL-SECOND-RULE" condition: $a }`)
	if status, ps, err := e.Reload(context.Background()); status != engine.ReloadApplied || err != nil || len(ps) != 0 {
		t.Fatalf("Reload = %v, %v, %v", status, ps, err)
	}
	if e.RuleSet().Version() == v1 {
		t.Fatal("version unchanged after a rule change")
	}
	res, _ := e.ScanFile(context.Background(), p)
	if res.Cached || len(res.Findings) != 1 || res.Findings[0].VirusName != "YARA.Second" {
		t.Fatalf("after new rules: %+v", res)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	write(t, to, string(data))
}

func TestCachePersistence(t *testing.T) {
	dir := t.TempDir()
	for i := range 20 {
		write(t, filepath.Join(dir, "f", string(rune('a'+i))), strings.Repeat("z", i*100))
	}
	write(t, filepath.Join(dir, "f", "bad"), marker)
	cacheFile := filepath.Join(t.TempDir(), "state", "scan.cache")

	c1 := engine.NewCache(0)
	if err := c1.Load(cacheFile); err != nil {
		t.Fatalf("missing cache file: %v", err)
	}
	_, st := scanTree(t, newEngine(t, fixtures(), engine.WithCache(c1)), dir)
	if st.Cached != 0 {
		t.Fatal(st)
	}
	if err := c1.Save(cacheFile); err != nil {
		t.Fatal(err)
	}

	c2 := engine.NewCache(0)
	if err := c2.Load(cacheFile); err != nil {
		t.Fatal(err)
	}
	_, st = scanTree(t, newEngine(t, fixtures(), engine.WithCache(c2)), dir)
	if st.Cached != 21 || st.Bytes != 0 || st.Findings != 1 {
		t.Fatalf("second process: %+v", st)
	}

	os.WriteFile(cacheFile, []byte("garbage"), 0o600)
	if err := engine.NewCache(0).Load(cacheFile); err == nil {
		t.Fatal("corrupt cache accepted")
	}
}

func TestCacheBound(t *testing.T) {
	dir := t.TempDir()
	for i := range 50 {
		write(t, filepath.Join(dir, string(rune('A'+i))), "x")
	}
	cache := engine.NewCache(10)
	scanTree(t, newEngine(t, fixtures(), engine.WithCache(cache)), dir)
	if cache.Len() != 10 {
		t.Fatalf("cache holds %d entries, bound 10", cache.Len())
	}
}

func TestReload(t *testing.T) {
	rules := t.TempDir()
	copyFile(t, filepath.Join(fixtureRules, "marker.yar"), filepath.Join(rules, "marker.yar"))
	sample := write(t, filepath.Join(t.TempDir(), "s"), marker+" VIGIL-NEW-RULE")
	e := newEngine(t, engine.WithRules(engine.DirSource(rules)))
	ctx := context.Background()

	if status, _, _ := e.Reload(ctx); status != engine.ReloadUnchanged {
		t.Fatalf("no change: %v", status)
	}
	// A broken edit keeps the previous set, and says why.
	v1 := e.RuleSet().Version()
	write(t, filepath.Join(rules, "marker.yar"), "rule Broken { condition: }")
	status, ps, err := e.Reload(ctx)
	if status != engine.ReloadRejected || err != nil || len(ps) != 1 || ps[0].Line != 1 {
		t.Fatalf("broken: %v %v %v", status, ps, err)
	}
	if e.RuleSet().Version() != v1 {
		t.Fatal("broken rules replaced the active set")
	}
	if res, _ := e.ScanFile(ctx, sample); len(res.Findings) != 1 {
		t.Fatalf("old rules stopped working: %+v", res)
	}
	if status, _, _ := e.Reload(ctx); status != engine.ReloadUnchanged {
		t.Fatalf("the same broken files are rebuilt: %v", status)
	}
	// Fixed: applied.
	write(t, filepath.Join(rules, "marker.yar"), `rule New { meta: virus_name = "Linux.Test.New" strings: $a = "VIGIL-NEW-RULE" condition: $a }`)
	if status, ps, _ := e.Reload(ctx); status != engine.ReloadApplied || len(ps) != 0 {
		t.Fatalf("fixed: %v %v", status, ps)
	}
	if res, _ := e.ScanFile(ctx, sample); !slices.Equal(virusNames(res.Findings), []string{"Linux.Test.New"}) {
		t.Fatalf("new rules: %v", virusNames(res.Findings))
	}
}

func TestWatch(t *testing.T) {
	rules := t.TempDir()
	copyFile(t, filepath.Join(fixtureRules, "marker.yar"), filepath.Join(rules, "marker.yar"))
	e := newEngine(t, engine.WithRules(engine.DirSource(rules)))
	ctx, cancel := context.WithCancel(context.Background())
	events := make(chan engine.ReloadEvent, 4)
	done := make(chan error)
	go func() { done <- e.Watch(ctx, 20*time.Millisecond, func(ev engine.ReloadEvent) { events <- ev }) }()
	write(t, filepath.Join(rules, "more.yar"), `rule More { condition: false }`)
	select {
	case ev := <-events:
		if ev.Status != engine.ReloadApplied || ev.Version != e.RuleSet().Version() {
			t.Errorf("event %+v", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no reload")
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Watch returned %v", err)
	}
}

// failReader fails the test if anything reads it.
type failReader struct{ t *testing.T }

func (r failReader) Read([]byte) (int, error) {
	r.t.Error("stream was read")
	return 0, io.EOF
}

func TestScanStream(t *testing.T) {
	e := newEngine(t, fixtures(), engine.WithMaxSize(1<<20))
	ctx := context.Background()
	info := func(p string, size int64) engine.FileInfo {
		return engine.FileInfo{Path: p, Size: size, Mode: 0o755}
	}
	content := "#!/bin/sh\n" + marker
	res, err := e.Scan(ctx, info("/usr/bin/x", int64(len(content))), strings.NewReader(content))
	if err != nil || !slices.Equal(virusNames(res.Findings), []string{markerVirus}) || res.Type != engine.TypeScript {
		t.Fatalf("stream: %+v, %v", res, err)
	}
	big := strings.Repeat("q", 600<<10) + marker // above the pooled-buffer size
	if res, err := e.Scan(ctx, info("/big", int64(len(big))), strings.NewReader(big)); err != nil || len(res.Findings) != 1 {
		t.Fatalf("big stream: %+v, %v", res, err)
	}
	if res, err := e.Scan(ctx, info("/unknown", -1), strings.NewReader(content)); err != nil || len(res.Findings) != 1 || res.Info.Size != int64(len(content)) {
		t.Fatalf("unknown size: %+v, %v", res, err)
	}
	if res, err := e.Scan(ctx, info("/huge", 10<<30), failReader{t}); err != nil || res.Skipped != engine.SkipTooLarge {
		t.Fatalf("oversize: %+v, %v", res, err)
	}
	if res, err := e.Scan(ctx, info("/unknown-huge", -1), strings.NewReader(strings.Repeat("a", 2<<20))); err != nil || res.Skipped != engine.SkipTooLarge {
		t.Fatalf("oversize of unknown size: %+v, %v", res, err)
	}
	if _, err := e.Scan(ctx, info("/short", 100), strings.NewReader("only this")); err == nil || !strings.Contains(err.Error(), "stream ended after 9 of 100 bytes") {
		t.Fatalf("short stream: %v", err)
	}
	if res, err := e.Scan(ctx, engine.FileInfo{Path: "/dev/x", Mode: fs.ModeDevice}, failReader{t}); err != nil || res.Skipped != engine.SkipNotRegular {
		t.Fatalf("device: %+v, %v", res, err)
	}
}

// With only a sized ClamAV list loaded, a file of another size is not even
// opened; with --hash-oversize, a file above the limit is hashed, not read
// into memory.
func TestHashListSizeFilterAndOversize(t *testing.T) {
	dir := t.TempDir()
	sample := strings.Repeat("m", 3<<20) // 3 MiB
	sum := md5.Sum([]byte(sample))
	rules := t.TempDir()
	write(t, filepath.Join(rules, "db.hdb"), hex.EncodeToString(sum[:])+":3145728:Unix.Trojan.Big-1\n")
	hit := write(t, filepath.Join(dir, "big.bin"), sample)
	other := write(t, filepath.Join(dir, "other.bin"), sample+"!")

	onlyHashes := func(opts ...engine.Option) *engine.Engine {
		e, err := engine.New(context.Background(), append([]engine.Option{engine.WithKind(hashlist.Kind()), engine.WithRules(engine.DirSource(rules))}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	e := onlyHashes()
	res, _ := e.ScanFile(context.Background(), other)
	if res.BytesRead != 0 || len(res.Findings) != 0 {
		t.Errorf("size mismatch: %+v, want not read", res)
	}
	res, _ = e.ScanFile(context.Background(), hit)
	if got := virusNames(res.Findings); !slices.Equal(got, []string{"Unix.Trojan.Big-1"}) || res.Findings[0].MD5 != hex.EncodeToString(sum[:]) {
		t.Errorf("size match: %+v", res)
	}

	small := onlyHashes(engine.WithMaxSize(1 << 20))
	if res, _ := small.ScanFile(context.Background(), hit); res.Skipped != engine.SkipTooLarge {
		t.Errorf("oversize without hashing: %+v", res)
	}
	hashing := onlyHashes(engine.WithMaxSize(1<<20), engine.WithHashOversize(true))
	res, err := hashing.ScanFile(context.Background(), hit)
	if err != nil || len(res.Findings) != 1 || res.Findings[0].SHA256 == "" || res.Findings[0].Size != int64(len(sample)) {
		t.Errorf("oversize hashed: %+v, %v", res, err)
	}
	// No detector needs anything from a file of this size: judged without
	// reading it, whatever its size.
	if res, _ := hashing.ScanFile(context.Background(), other); res.Skipped != engine.NotSkipped || res.BytesRead != 0 || len(res.Findings) != 0 {
		t.Errorf("oversize, no list entry of its size: %+v", res)
	}
}

// concurrencyProbe records how many Detect calls overlap.
type concurrencyProbe struct {
	cur, peak atomic.Int32
}

func (*concurrencyProbe) Name() string    { return "probe" }
func (*concurrencyProbe) Version() string { return "1" }
func (p *concurrencyProbe) Detect(context.Context, *engine.Object) ([]engine.Finding, error) {
	n := p.cur.Add(1)
	for {
		peak := p.peak.Load()
		if n <= peak || p.peak.CompareAndSwap(peak, n) {
			break
		}
	}
	time.Sleep(2 * time.Millisecond)
	p.cur.Add(-1)
	return nil, nil
}

// Callers of ScanFile share the engine's slots: open files stay bounded.
func TestConcurrencyBound(t *testing.T) {
	dir := t.TempDir()
	probe := &concurrencyProbe{}
	e := newEngine(t, engine.WithDetector(probe), engine.WithConcurrency(3))
	var wg sync.WaitGroup
	for i := range 24 {
		p := write(t, filepath.Join(dir, string(rune('a'+i))), "x")
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.ScanFile(context.Background(), p)
		}()
	}
	wg.Wait()
	if peak := probe.peak.Load(); peak > 3 || peak < 2 {
		t.Fatalf("peak concurrency %d, bound 3", peak)
	}
}

func TestScanTreeCancel(t *testing.T) {
	dir := t.TempDir()
	for i := range 200 {
		write(t, filepath.Join(dir, string(rune('a'+i%26)), string(rune('a'+i/26))), "x")
	}
	e := newEngine(t, fixtures())
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	_, err := e.ScanTree(ctx, []string{dir}, func(*engine.Result) {
		n++
		if n == 5 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

func TestHeuristicThroughEngine(t *testing.T) {
	// An ELF named like a picture: the head is read for files the rule
	// applies to, and only those.
	exe, _ := os.Executable()
	data, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	disguised := filepath.Join(dir, "cat.jpg")
	os.WriteFile(disguised, data[:64<<10], 0o644)
	plain := filepath.Join(dir, "tool")
	os.WriteFile(plain, data[:64<<10], 0o755)
	e, err := engine.New(context.Background(), engine.WithDetector(heuristic.New()))
	if err != nil {
		t.Fatal(err)
	}
	res, _ := e.ScanFile(context.Background(), disguised)
	sum := md5.Sum(data[:64<<10])
	if got := virusNames(res.Findings); !slices.Equal(got, []string{"Linux.Suspicious.MagicMismatch"}) ||
		res.BytesRead != engine.HeadSize || res.Findings[0].MD5 != hex.EncodeToString(sum[:]) || res.Findings[0].SHA256 == "" {
		// The head was enough to judge; the digests are computed once there
		// is a finding to report.
		t.Errorf("disguised ELF: %+v", res)
	}
	if res, _ := e.ScanFile(context.Background(), plain); res.BytesRead != 0 || len(res.Findings) != 0 {
		t.Errorf("ordinary ELF: %+v", res)
	}
}

func TestStatsAdd(t *testing.T) {
	var st engine.Stats
	st.Add(&engine.Result{BytesRead: 10})
	st.Add(&engine.Result{Cached: true, Findings: []engine.Finding{{}, {}}})
	st.Add(&engine.Result{Skipped: engine.SkipTooLarge})
	st.Add(&engine.Result{Err: errors.New("x"), BytesRead: 3})
	st.Add(&engine.Result{Err: errors.New("x"), Findings: []engine.Finding{{}}})
	want := engine.Stats{Files: 3, Cached: 1, Skipped: 1, TooLarge: 1, Errors: 2, Bytes: 13, Findings: 3, Infected: 2}
	if st != want {
		t.Fatalf("stats %+v, want %+v", st, want)
	}
}

// The heuristics must raise nothing on a stock system. They read only the
// heads of the few files they apply to, so the whole of /usr, /bin, /lib and
// /etc is cheap to check on the machine running the tests.
func TestHeuristicsCleanOnThisSystem(t *testing.T) {
	if testing.Short() {
		t.Skip("walks /usr")
	}
	e, err := engine.New(context.Background(), engine.WithDetector(heuristic.New()), engine.WithConcurrency(2))
	if err != nil {
		t.Fatal(err)
	}
	st, err := e.ScanTree(context.Background(), []string{"/usr", "/bin", "/lib", "/etc"}, func(r *engine.Result) {
		for _, f := range r.Findings {
			t.Errorf("false positive: %s %s", f.Path, f.VirusName)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if st.Files < 1000 {
		t.Fatalf("only %d files scanned: %+v", st.Files, st)
	}
	t.Logf("%+v", st)
}

// countingKind counts how the engine obtains the YARA detector.
type countingKind struct {
	engine.Kind
	builds, restores int
}

func (k *countingKind) Build(ctx context.Context, files []engine.RuleFile) (engine.Detector, []engine.Problem, error) {
	k.builds++
	return k.Kind.Build(ctx, files)
}

func (k *countingKind) Snapshot(d engine.Detector) ([]byte, error) {
	return k.Kind.(engine.Snapshotter).Snapshot(d)
}

func (k *countingKind) Restore(data []byte) (engine.Detector, error) {
	k.restores++
	return k.Kind.(engine.Snapshotter).Restore(data)
}

func TestRuleSnapshot(t *testing.T) {
	rules := t.TempDir()
	copyFile(t, filepath.Join(fixtureRules, "marker.yar"), filepath.Join(rules, "marker.yar"))
	write(t, filepath.Join(rules, "warn.yar"), "import \"pe\"\nrule W { condition: pe.is_signed }\n")
	snap := filepath.Join(t.TempDir(), "state", "rules.snapshot")
	sample := write(t, filepath.Join(t.TempDir(), "s"), marker)

	open := func() (*engine.Engine, *countingKind) {
		k := &countingKind{Kind: yara.Kind()}
		e, err := engine.New(context.Background(), engine.WithKind(k), engine.WithRules(engine.DirSource(rules)), engine.WithRuleSnapshot(snap))
		if err != nil {
			t.Fatal(err)
		}
		res, err := e.ScanFile(context.Background(), sample)
		if err != nil || !slices.Equal(virusNames(res.Findings), []string{markerVirus}) {
			t.Fatalf("scan: %+v, %v", res, err)
		}
		return e, k
	}
	e1, k1 := open()
	if k1.builds != 1 || k1.restores != 0 {
		t.Fatalf("first engine: %d builds, %d restores", k1.builds, k1.restores)
	}
	e2, k2 := open()
	if k2.builds != 0 || k2.restores != 1 {
		t.Fatalf("second engine: %d builds, %d restores", k2.builds, k2.restores)
	}
	if e1.RuleSet().Version() != e2.RuleSet().Version() || len(e2.Problems()) != 1 || e2.Problems()[0].Severity != engine.SeverityWarning ||
		!slices.Equal(e1.Problems(), e2.Problems()) {
		t.Fatalf("restored problems %v, want %v", e2.Problems(), e1.Problems())
	}

	// Changed rules: a new build, and the snapshot follows.
	write(t, filepath.Join(rules, "more.yar"), "rule More { condition: false }")
	if _, k := open(); k.builds != 1 {
		t.Fatalf("after a rule change: %d builds", k.builds)
	}
	if _, k := open(); k.builds != 0 {
		t.Fatalf("snapshot not refreshed: %d builds", k.builds)
	}

	// A corrupt snapshot is ignored, not loaded.
	data, _ := os.ReadFile(snap)
	data[len(data)-10] ^= 0xff
	os.WriteFile(snap, data, 0o600)
	if _, k := open(); k.builds != 1 || k.restores != 0 {
		t.Fatalf("corrupt snapshot: %d builds, %d restores", k.builds, k.restores)
	}
	if fi, err := os.Stat(snap); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("snapshot file: %v %v", fi, err)
	}
}
