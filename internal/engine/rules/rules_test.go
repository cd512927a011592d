package rules_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	"github.com/Velocidex/go-yara"
	"github.com/VirusTotal/gyp"

	"github.com/vigil-sec/vigil/internal/engine/rules"
)

var (
	update   = flag.Bool("update", false, "rewrite the ELF samples in testdata/positive and testdata/negative from testdata/elfsrc")
	fpBudget = flag.Duration("fp-budget", 8*time.Minute, "time budget of TestNoFalsePositivesOnSystem")
	fpRoots  = flag.String("fp-roots", "/usr,/bin,/lib,/etc", "comma-separated directories TestNoFalsePositivesOnSystem walks")
)

const (
	scanTimeout = 30 * time.Second
	// maxSystemFile matches the engine's default maximum file size.
	maxSystemFile = 64 << 20
	// maxSample keeps committed samples small and obviously inert.
	maxSample = 64 << 10
)

// compiledPack is the pack compiled with libyara plus each rule's metadata.
type compiledPack struct {
	rules *yara.Rules
	meta  map[string]map[string]any // rule name -> meta key -> value
}

// sourceFiles returns the pack's file names inside rules.FS, sorted.
func sourceFiles(t testing.TB) []string {
	t.Helper()
	entries, err := fs.ReadDir(rules.FS, rules.Dir)
	if err != nil {
		t.Fatalf("read embedded pack: %v", err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, path.Join(rules.Dir, e.Name()))
	}
	if len(names) == 0 {
		t.Fatal("embedded pack is empty")
	}
	return names
}

func readSource(t testing.TB, name string) string {
	t.Helper()
	b, err := fs.ReadFile(rules.FS, name)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return string(b)
}

// compile compiles every pack file into one rule set, each file in its own
// namespace as the engine loads them.
func compile(t testing.TB) *compiledPack {
	t.Helper()
	c, err := yara.NewCompiler()
	if err != nil {
		t.Fatalf("new compiler: %v", err)
	}
	defer c.Destroy()
	for _, name := range sourceFiles(t) {
		if err := c.AddString(readSource(t, name), path.Base(name)); err != nil {
			t.Fatalf("compile %s: %v (%v)", name, err, c.Errors)
		}
	}
	if len(c.Warnings) > 0 {
		t.Errorf("compiler warnings (slow or ambiguous rules): %v", c.Warnings)
	}
	rs, err := c.GetRules()
	if err != nil {
		t.Fatalf("get rules: %v", err)
	}
	t.Cleanup(rs.Destroy)
	p := &compiledPack{rules: rs, meta: map[string]map[string]any{}}
	for _, r := range rs.GetRules() {
		m := map[string]any{}
		for _, kv := range r.Metas() {
			if _, dup := m[kv.Identifier]; dup {
				t.Errorf("rule %s: meta key %q repeated", r.Identifier(), kv.Identifier)
			}
			m[kv.Identifier] = kv.Value
		}
		if _, dup := p.meta[r.Identifier()]; dup {
			t.Errorf("rule name %s used twice in the pack", r.Identifier())
		}
		p.meta[r.Identifier()] = m
	}
	return p
}

// match returns the names of the rules that match buf, sorted.
func (p *compiledPack) match(t testing.TB, buf []byte) []string {
	t.Helper()
	var m yara.MatchRules
	if err := p.rules.ScanMem(buf, 0, scanTimeout, &m); err != nil {
		t.Fatalf("scan: %v", err)
	}
	names := make([]string, 0, len(m))
	for _, r := range m {
		names = append(names, r.Rule)
	}
	sort.Strings(names)
	return names
}

func TestPackParsesWithGyp(t *testing.T) {
	// The engine validates rule files with gyp before compiling them; a pack
	// rule gyp cannot parse would be rejected at load time.
	for _, name := range sourceFiles(t) {
		t.Run(path.Base(name), func(t *testing.T) {
			rs, err := gyp.ParseString(readSource(t, name))
			if err != nil {
				t.Fatalf("gyp: %v", err)
			}
			if len(rs.Rules) == 0 {
				t.Fatal("file holds no rule")
			}
			if len(rs.Imports) > 0 {
				t.Errorf("imports %v: the built-in pack uses no modules", rs.Imports)
			}
		})
	}
}

var (
	virusNameRE = regexp.MustCompile(`^[A-Z][A-Za-z0-9]*(\.[A-Z][A-Za-z0-9]*){2}$`)
	tagsRE      = regexp.MustCompile(`^[a-z0-9_]+(,[a-z0-9_]+)*$`)
	stepRE      = regexp.MustCompile(`^[1-9]\. \S`)
	riskLevels  = []string{"RISK_CRITICAL", "RISK_HIGH", "RISK_MEDIUM", "RISK_LOW", "RISK_NOTICE"}
	categories  = []string{"Miner", "HackTool", "Webshell", "ReverseShell", "Botnet", "Dropper", "Backdoor", "TestFile"}
	requiredKey = []string{
		rules.MetaVirusName, rules.MetaTags, rules.MetaRiskLevel, rules.MetaCategory,
		rules.MetaDescZH, rules.MetaDescEN, rules.MetaSolutionZH, rules.MetaSolutionEN,
	}
)

func TestRuleMeta(t *testing.T) {
	p := compile(t)
	known := append(slices.Clone(requiredKey), rules.MetaReference)
	for name, meta := range p.meta {
		t.Run(name, func(t *testing.T) {
			str := map[string]string{}
			for k, v := range meta {
				if !slices.Contains(known, k) {
					t.Errorf("unknown meta key %q", k)
					continue
				}
				s, ok := v.(string)
				if !ok {
					t.Errorf("meta %s = %#v: want a string", k, v)
					continue
				}
				if strings.TrimSpace(s) != s || s == "" {
					t.Errorf("meta %s = %q: empty or padded with spaces", k, s)
				}
				str[k] = s
			}
			for _, k := range requiredKey {
				if _, ok := str[k]; !ok {
					t.Errorf("meta %s missing", k)
				}
			}
			if v := str[rules.MetaVirusName]; !virusNameRE.MatchString(v) {
				t.Errorf("virus_name %q: want Platform.Type.Family", v)
			}
			if v := str[rules.MetaTags]; !tagsRE.MatchString(v) {
				t.Errorf("tags %q: want comma-separated lowercase words", v)
			}
			if v := str[rules.MetaRiskLevel]; !slices.Contains(riskLevels, v) {
				t.Errorf("risk_level %q: want one of %v", v, riskLevels)
			}
			if v := str[rules.MetaCategory]; !slices.Contains(categories, v) {
				t.Errorf("category %q: want one of %v", v, categories)
			}
			for _, k := range []string{rules.MetaDescZH, rules.MetaSolutionZH} {
				if !containsHan(str[k]) {
					t.Errorf("%s %q has no Chinese text", k, str[k])
				}
			}
			for _, k := range []string{rules.MetaDescEN, rules.MetaSolutionEN} {
				if containsHan(str[k]) {
					t.Errorf("%s %q contains Chinese text", k, str[k])
				}
			}
			for _, k := range []string{rules.MetaDescZH, rules.MetaDescEN} {
				if strings.Contains(str[k], "\n") || len([]rune(str[k])) > 400 {
					t.Errorf("%s: want one paragraph of at most 400 characters, got %d", k, len([]rune(str[k])))
				}
			}
			for _, k := range []string{rules.MetaSolutionZH, rules.MetaSolutionEN} {
				for i, step := range strings.Split(str[k], "\n") {
					if !stepRE.MatchString(step) || !strings.HasPrefix(step, strconv.Itoa(i+1)+".") {
						t.Errorf("%s step %d %q: want \"%d. …\"", k, i+1, step, i+1)
					}
				}
			}
			if v, ok := str[rules.MetaReference]; ok && !strings.HasPrefix(v, "https://") {
				t.Errorf("reference %q: want an https URL", v)
			}
			if tags := strings.Split(str[rules.MetaTags], ","); hasDuplicates(tags) {
				t.Errorf("tags %q repeat a tag", str[rules.MetaTags])
			}
		})
	}
}

func containsHan(s string) bool {
	for _, r := range s {
		if unicode.Is(unicode.Han, r) {
			return true
		}
	}
	return false
}

func hasDuplicates(s []string) bool {
	seen := map[string]bool{}
	for _, v := range s {
		if seen[v] {
			return true
		}
		seen[v] = true
	}
	return false
}

// sample is one file under testdata/positive or testdata/negative. Its name
// is RULE[.VARIANT].EXT: the rule it exercises comes before the first dot.
type sample struct {
	file string
	rule string
}

func samples(t testing.TB, kind string) []sample {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join("testdata", kind))
	if err != nil {
		t.Fatalf("read samples: %v", err)
	}
	var out []sample
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		rule, _, ok := strings.Cut(e.Name(), ".")
		if !ok {
			t.Errorf("sample %s/%s: want RULE[.VARIANT].EXT", kind, e.Name())
			continue
		}
		out = append(out, sample{file: filepath.Join("testdata", kind, e.Name()), rule: rule})
	}
	return out
}

func readSample(t testing.TB, s sample) []byte {
	t.Helper()
	b, err := os.ReadFile(s.file)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > maxSample {
		t.Errorf("%s is %d bytes: samples stay under %d", s.file, len(b), maxSample)
	}
	return b
}

func TestPositiveSamples(t *testing.T) {
	p := compile(t)
	for _, s := range samples(t, "positive") {
		t.Run(filepath.Base(s.file), func(t *testing.T) {
			if _, ok := p.meta[s.rule]; !ok {
				t.Fatalf("sample names rule %s, which the pack does not have", s.rule)
			}
			got := p.match(t, readSample(t, s))
			if want := []string{s.rule}; !slices.Equal(got, want) {
				t.Errorf("matched %v, want exactly %v", got, want)
			}
		})
	}
}

func TestNegativeSamples(t *testing.T) {
	p := compile(t)
	for _, s := range samples(t, "negative") {
		t.Run(filepath.Base(s.file), func(t *testing.T) {
			if _, ok := p.meta[s.rule]; !ok {
				t.Fatalf("sample names rule %s, which the pack does not have", s.rule)
			}
			if got := p.match(t, readSample(t, s)); len(got) > 0 {
				t.Errorf("near miss for %s matched %v, want nothing", s.rule, got)
			}
		})
	}
}

func TestEveryRuleHasSamples(t *testing.T) {
	p := compile(t)
	for _, kind := range []string{"positive", "negative"} {
		have := map[string]bool{}
		for _, s := range samples(t, kind) {
			have[s.rule] = true
		}
		for name := range p.meta {
			if !have[name] {
				t.Errorf("rule %s has no %s sample under testdata/%s", name, kind, kind)
			}
		}
	}
}

func TestPackDoesNotMatchItself(t *testing.T) {
	// The vigil executable embeds the pack's source verbatim, and users copy
	// .yar files around: neither may be reported by the pack itself.
	p := compile(t)
	var all bytes.Buffer
	for _, name := range sourceFiles(t) {
		src := readSource(t, name)
		all.WriteString(src)
		if got := p.match(t, []byte(src)); len(got) > 0 {
			t.Errorf("%s matches %v", name, got)
		}
	}
	if got := p.match(t, all.Bytes()); len(got) > 0 {
		t.Errorf("the concatenated pack matches %v", got)
	}
	if got := p.match(t, buildELF(all.Bytes())); len(got) > 0 {
		t.Errorf("an ELF embedding the pack matches %v", got)
	}
}

// buildELF returns a minimal, valid x86-64 Linux executable whose code only
// calls exit(0), followed by data. It gives binary samples a real ELF header
// and program header without carrying any real program.
func buildELF(data []byte) []byte {
	const (
		base      = 0x400000
		ehdrSize  = 64
		phdrSize  = 56
		codeStart = ehdrSize + phdrSize
	)
	code := []byte{
		0xb8, 0x3c, 0x00, 0x00, 0x00, // mov eax, 60 (exit)
		0x31, 0xff, // xor edi, edi
		0x0f, 0x05, // syscall
	}
	total := uint64(codeStart + len(code) + len(data))
	var b bytes.Buffer
	le := binary.LittleEndian
	b.Write([]byte{0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	binary.Write(&b, le, uint16(2))                // e_type: EXEC
	binary.Write(&b, le, uint16(0x3e))             // e_machine: x86-64
	binary.Write(&b, le, uint32(1))                // e_version
	binary.Write(&b, le, uint64(base+codeStart))   // e_entry
	binary.Write(&b, le, uint64(ehdrSize))         // e_phoff
	binary.Write(&b, le, uint64(0))                // e_shoff
	binary.Write(&b, le, uint32(0))                // e_flags
	binary.Write(&b, le, uint16(ehdrSize))         // e_ehsize
	binary.Write(&b, le, uint16(phdrSize))         // e_phentsize
	binary.Write(&b, le, uint16(1))                // e_phnum
	binary.Write(&b, le, [3]uint16{})              // e_shentsize, e_shnum, e_shstrndx
	binary.Write(&b, le, uint32(1))                // p_type: LOAD
	binary.Write(&b, le, uint32(5))                // p_flags: R+X
	binary.Write(&b, le, [3]uint64{0, base, base}) // p_offset, p_vaddr, p_paddr
	binary.Write(&b, le, [3]uint64{total, total, 0x1000})
	b.Write(code)
	b.Write(data)
	return b.Bytes()
}

// elfData turns an ELF sample source into the bytes appended after the code:
// each line is one NUL-terminated string. Blank lines and lines starting with
// "#" are skipped; a line in double quotes is unquoted with Go syntax; a line
// starting with "xor(0xNN) " is stored XOR-encoded with that key, as Mirai
// keeps its configuration table.
func elfData(src []byte) ([]byte, error) {
	var out bytes.Buffer
	for i, line := range strings.Split(string(src), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		var key byte
		if rest, ok := strings.CutPrefix(line, "xor("); ok {
			k, text, ok := strings.Cut(rest, ") ")
			v, err := strconv.ParseUint(k, 0, 8)
			if !ok || err != nil || v == 0 {
				return nil, fmt.Errorf("line %d: want xor(0xNN) TEXT", i+1)
			}
			key, line = byte(v), text
		}
		if strings.HasPrefix(line, `"`) {
			s, err := strconv.Unquote(line)
			if err != nil {
				return nil, fmt.Errorf("line %d: %v", i+1, err)
			}
			line = s
		}
		for _, c := range []byte(line) {
			out.WriteByte(c ^ key)
		}
		out.WriteByte(0)
	}
	return out.Bytes(), nil
}

func TestELFSamplesUpToDate(t *testing.T) {
	for _, kind := range []string{"positive", "negative"} {
		srcs, err := filepath.Glob(filepath.Join("testdata", "elfsrc", kind, "*.txt"))
		if err != nil {
			t.Fatal(err)
		}
		for _, src := range srcs {
			want := filepath.Join("testdata", kind, strings.TrimSuffix(filepath.Base(src), ".txt")+".elf")
			t.Run(kind+"/"+filepath.Base(want), func(t *testing.T) {
				b, err := os.ReadFile(src)
				if err != nil {
					t.Fatal(err)
				}
				data, err := elfData(b)
				if err != nil {
					t.Fatalf("%s: %v", src, err)
				}
				elf := buildELF(data)
				if *update {
					if err := os.WriteFile(want, elf, 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				got, err := os.ReadFile(want)
				if err != nil {
					t.Fatalf("%v (run go test -run TestELFSamplesUpToDate -update)", err)
				}
				if !bytes.Equal(got, elf) {
					t.Errorf("%s is stale: run go test -run TestELFSamplesUpToDate -update", want)
				}
			})
		}
	}
}

func TestELFData(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []byte
		err  bool
	}{
		{name: "plain", src: "ab\n# note\n\ncd\n", want: []byte("ab\x00cd\x00")},
		{name: "quoted", src: `"a\tb"`, want: []byte("a\tb\x00")},
		{name: "xor", src: "xor(0x22) AB", want: []byte{'A' ^ 0x22, 'B' ^ 0x22, 0}},
		{name: "xor zero key", src: "xor(0x00) AB", err: true},
		{name: "xor bad key", src: "xor(0x1ff) AB", err: true},
		{name: "xor no text", src: "xor(0x22)", err: true},
		{name: "bad quote", src: `"abc`, err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := elfData([]byte(tt.src))
			if (err != nil) != tt.err {
				t.Fatalf("err = %v, want error %v", err, tt.err)
			}
			if !tt.err && !bytes.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNoFalsePositivesOnSystem(t *testing.T) {
	if testing.Short() {
		t.Skip("walks the whole system; skipped with -short")
	}
	p := compile(t)
	roots := systemRoots(t, strings.Split(*fpRoots, ","))
	if len(roots) == 0 {
		t.Skip("none of the roots exists")
	}

	const workers = 2
	deadline := time.Now().Add(*fpBudget)
	type file struct {
		name string
		size int64
	}
	files := make(chan file, 256)
	var (
		mu       sync.Mutex
		hits     []string
		scanned  int
		bytesIn  int64
		failures int
	)
	var wg sync.WaitGroup
	for range workers {
		s, err := yara.NewScanner(p.rules)
		if err != nil {
			t.Fatalf("new scanner: %v", err)
		}
		defer s.Destroy()
		s.SetTimeout(scanTimeout)
		wg.Go(func() {
			for f := range files {
				var m yara.MatchRules
				err := s.SetCallback(&m).ScanFile(f.name)
				mu.Lock()
				if err != nil {
					// Files that vanish or cannot be read are not findings.
					failures++
				} else {
					scanned++
					bytesIn += f.size
					for _, r := range m {
						hits = append(hits, fmt.Sprintf("%s: %s", f.name, r.Rule))
					}
				}
				mu.Unlock()
			}
		})
	}

	start := time.Now()
	budgetExceeded := false
	for _, root := range roots {
		err := filepath.WalkDir(root, func(name string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil // unreadable directory: skip it, keep walking
			}
			if time.Now().After(deadline) {
				budgetExceeded = true
				return filepath.SkipAll
			}
			if !d.Type().IsRegular() {
				return nil
			}
			fi, err := d.Info()
			if err != nil || fi.Size() > maxSystemFile || fi.Size() == 0 {
				return nil
			}
			files <- file{name: name, size: fi.Size()}
			return nil
		})
		if err != nil && !errors.Is(err, filepath.SkipAll) {
			t.Errorf("walk %s: %v", root, err)
		}
		if budgetExceeded {
			break
		}
	}
	close(files)
	wg.Wait()

	elapsed := time.Since(start)
	t.Logf("scanned %d files, %.0f MiB in %v (%.0f MiB/s) under %v; %d unreadable",
		scanned, float64(bytesIn)/(1<<20), elapsed.Round(time.Millisecond),
		float64(bytesIn)/(1<<20)/elapsed.Seconds(), roots, failures)
	if budgetExceeded {
		t.Logf("time budget %v exhausted: the walk stopped early (raise -fp-budget to cover everything)", *fpBudget)
	}
	sort.Strings(hits)
	for _, h := range hits {
		t.Errorf("false positive: %s", h)
	}
}

// systemRoots resolves symlinked roots (/bin and /lib point into /usr on
// merged-/usr systems) and drops roots inside another, so no file is scanned
// twice.
func systemRoots(t *testing.T, roots []string) []string {
	t.Helper()
	var resolved []string
	for _, r := range roots {
		r = strings.TrimSpace(r)
		if r == "" {
			continue
		}
		real, err := filepath.EvalSymlinks(r)
		if err != nil {
			t.Logf("skip %s: %v", r, err)
			continue
		}
		resolved = append(resolved, filepath.Clean(real))
	}
	sort.Strings(resolved)
	var out []string
	for _, r := range resolved {
		if len(out) > 0 {
			last := out[len(out)-1]
			if r == last || strings.HasPrefix(r, last+string(filepath.Separator)) {
				continue
			}
		}
		out = append(out, r)
	}
	return out
}
