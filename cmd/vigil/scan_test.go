package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/engine"
)

// The end-to-end tests build the real binary once and run it, to check
// exit statuses, stdout and stderr as a user (or CI script) sees them.
var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func vigilBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "vigil-e2e-bin")
		if err != nil {
			buildErr = err
			return
		}
		os.Chmod(dir, 0o755) // the unreadable-file test runs it as nobody
		binPath = filepath.Join(dir, "vigil")
		cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", binPath, ".")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = errors.New("go build: " + err.Error() + "\n" + string(out))
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

type scanRun struct {
	stdout, stderr string
	code           int
}

func vigil(t *testing.T, cred *syscall.Credential, args ...string) scanRun {
	t.Helper()
	cmd := exec.Command(vigilBinary(t), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return scanRun{stdout.String(), stderr.String(), code}
}

// eicar is the EICAR test string, assembled at run time so this source file
// is not itself a test-virus sample.
func eicar() string {
	return `X5O!P%@AP[4\PZX54(P^)7CC)7}$` + "EICAR-STANDARD-ANTIVIRUS" + `-TEST-FILE!$H+H*`
}

// publicDir returns a fresh directory every user can enter.
func publicDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "vigil-e2e")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func writeFile(t *testing.T, path, content string, perm os.FileMode) {
	t.Helper()
	os.MkdirAll(filepath.Dir(path), 0o755)
	if err := os.WriteFile(path, []byte(content), perm); err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, perm)
}

func decodeLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var objs []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("stdout line %q is not JSON: %v", sc.Text(), err)
		}
		objs = append(objs, m)
	}
	return objs
}

func TestScanPathJSON(t *testing.T) {
	dir := publicDir(t)
	infected := filepath.Join(dir, "sub", "eicar.com")
	writeFile(t, infected, eicar(), 0o644)
	writeFile(t, filepath.Join(dir, "clean.txt"), "hello", 0o644)
	r := vigil(t, nil, "scan", "path", "--format", "json", "--workers", "2", dir)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1 (findings); stderr: %s", r.code, r.stderr)
	}
	objs := decodeLines(t, r.stdout)
	if len(objs) < 2 {
		t.Fatalf("stdout: %s", r.stdout)
	}
	f := objs[0]
	sum := sha256.Sum256([]byte(eicar()))
	for _, key := range []string{"path", "virus_name", "risk_level", "tags", "md5", "sha256", "size", "file_type", "detector", "rule"} {
		if _, ok := f[key]; !ok {
			t.Errorf("finding lacks %q: %v", key, f)
		}
	}
	if f["type"] != "finding" || f["path"] != infected || f["sha256"] != hex.EncodeToString(sum[:]) ||
		f["size"] != float64(len(eicar())) || f["detector"] != "yara" || !strings.HasPrefix(f["risk_level"].(string), "RISK_") {
		t.Errorf("finding %v", f)
	}
	s := objs[len(objs)-1]
	if s["type"] != "summary" || s["files_scanned"] != float64(2) || s["findings"] != float64(1) || s["errors"] != float64(0) {
		t.Errorf("summary %v", s)
	}
	for _, key := range []string{"files_scanned", "skipped", "errors", "bytes", "findings", "duration_ms"} {
		if _, ok := s[key]; !ok {
			t.Errorf("summary lacks %q: %v", key, s)
		}
	}
}

func TestScanPathExitStatuses(t *testing.T) {
	clean := publicDir(t)
	writeFile(t, filepath.Join(clean, "a.txt"), "nothing", 0o644)
	if err := syscall.Mkfifo(filepath.Join(clean, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	badRules := publicDir(t)
	writeFile(t, filepath.Join(badRules, "broken.yar"), "rule Broken {\n  condition:\n    true and\n}\n", 0o644)
	writeFile(t, filepath.Join(badRules, "feed.sha256"), "nothex\n", 0o644)

	tests := []struct {
		name       string
		args       []string
		code       int
		stdout     string
		stderr     []string
		notStderr  string
		jsonFinal  bool
		finalCheck func(map[string]any) bool
	}{
		{name: "clean tree with a FIFO", args: []string{"scan", "path", clean}, code: 0, stdout: "Findings:      0"},
		{name: "missing path", args: []string{"scan", "path", "--format", "json", filepath.Join(clean, "missing")}, code: 2,
			stderr: []string{"missing: lstat"}, jsonFinal: true, finalCheck: func(s map[string]any) bool { return s["errors"] == float64(1) }},
		{name: "bad format", args: []string{"scan", "path", "--format", "xml", clean}, code: 2, stderr: []string{"--format"}},
		{name: "bad max size", args: []string{"scan", "path", "--max-size", "lots", clean}, code: 2, stderr: []string{"--max-size"}},
		{name: "missing rules dir", args: []string{"scan", "path", "--rules", "/nonexistent/rules", clean}, code: 2, stderr: []string{"--rules"}},
		{name: "no paths", args: []string{"scan", "path"}, code: 2},
		{name: "broken rules: reported, scan still runs", args: []string{"scan", "path", "--rules", badRules, clean}, code: 2,
			stderr: []string{"broken.yar:4: syntax error", "feed.sha256:1: hash \"nothex\""}, stdout: "Files scanned: 1"},
		{name: "bad allowlist", args: []string{"scan", "path", "--allow", "sha256:12", clean}, code: 2, stderr: []string{"--allow"}},
		{name: "rules check: errors", args: []string{"rules", "check", badRules}, code: 1,
			stdout: "2 error(s)"},
		{name: "rules check: builtin pack is clean", args: []string{"rules", "check", "--builtin"}, code: 0, stdout: "0 error(s)"},
		{name: "rules check: empty dir", args: []string{"rules", "check", publicDir(t)}, code: 0, stdout: "warning: no rule files"},
		{name: "rules check: missing dir", args: []string{"rules", "check", "/nonexistent/rules"}, code: 1, stdout: "/nonexistent/rules"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := vigil(t, nil, tt.args...)
			if r.code != tt.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, tt.code, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stdout, tt.stdout) {
				t.Errorf("stdout lacks %q:\n%s", tt.stdout, r.stdout)
			}
			for _, s := range tt.stderr {
				if !strings.Contains(r.stderr, s) {
					t.Errorf("stderr lacks %q:\n%s", s, r.stderr)
				}
			}
			if tt.jsonFinal {
				objs := decodeLines(t, r.stdout)
				if len(objs) == 0 || !tt.finalCheck(objs[len(objs)-1]) {
					t.Errorf("summary: %s", r.stdout)
				}
			}
		})
	}
}

// An unreadable file is an error for that file (exit 2), the rest is
// scanned. Root reads everything, so as root the scan runs as nobody.
func TestScanPathUnreadable(t *testing.T) {
	dir := publicDir(t)
	writeFile(t, filepath.Join(dir, "secret"), "x", 0o000)
	writeFile(t, filepath.Join(dir, "open.txt"), eicar(), 0o644)
	os.Mkdir(filepath.Join(dir, "closed"), 0o000)
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		cred = &syscall.Credential{Uid: 65534, Gid: 65534}
	}
	r := vigil(t, cred, "scan", "path", "--format", "json", dir)
	if r.code != 1 {
		t.Errorf("exit %d, want 1: the readable EICAR file is still found; stderr: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "secret: open") || !strings.Contains(r.stderr, "permission denied") || !strings.Contains(r.stderr, "closed: open") {
		t.Errorf("stderr: %s", r.stderr)
	}
	objs := decodeLines(t, r.stdout)
	if s := objs[len(objs)-1]; s["errors"] != float64(2) || s["findings"] != float64(1) {
		t.Errorf("summary %v", s)
	}

	os.Remove(filepath.Join(dir, "open.txt"))
	if r := vigil(t, cred, "scan", "path", "-q", dir); r.code != 2 {
		t.Errorf("errors without findings: exit %d, want 2", r.code)
	}
}

func TestScanPathCache(t *testing.T) {
	dir := publicDir(t)
	for i := range 30 {
		writeFile(t, filepath.Join(dir, "d", string(rune('a'+i))), strings.Repeat("data ", 1000*i), 0o644)
	}
	writeFile(t, filepath.Join(dir, "eicar.txt"), eicar(), 0o644)
	cacheFile := filepath.Join(publicDir(t), "cache", "scan.cache")
	// Results of files changed within the racy window are not cached; let
	// the tree age past it.
	time.Sleep(engine.DefaultRacyWindow + 100*time.Millisecond)
	first := vigil(t, nil, "scan", "path", "--format", "json", "--cache", cacheFile, dir)
	second := vigil(t, nil, "scan", "path", "--format", "json", "--cache", cacheFile, dir)
	for _, r := range []scanRun{first, second} {
		if r.code != 1 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
	}
	a, b := decodeLines(t, first.stdout), decodeLines(t, second.stdout)
	sa, sb := a[len(a)-1], b[len(b)-1]
	if sa["cached"] != float64(0) || sb["cached"] != float64(31) || sb["bytes"] != float64(0) || sb["findings"] != float64(1) {
		t.Errorf("summaries %v / %v", sa, sb)
	}
	if !slices.EqualFunc(a[:len(a)-1], b[:len(b)-1], func(x, y map[string]any) bool { return x["sha256"] == y["sha256"] && x["path"] == y["path"] }) {
		t.Errorf("findings differ between passes:\n%s\n%s", first.stdout, second.stdout)
	}
	if _, err := os.Stat(cacheFile); err != nil {
		t.Errorf("cache file not written: %v", err)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"1048576": 1 << 20, "512K": 512 << 10, "64M": 64 << 20, "64MiB": 64 << 20, "64mb": 64 << 20, "2G": 2 << 30, " 1 ": 1} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "0", "-1", "lots", "1X", "M", "99999999999T"} {
		if _, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q) accepted", bad)
		}
	}
}
