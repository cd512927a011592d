package engine

import (
	"strings"
	"testing"
)

func TestAllowlistPaths(t *testing.T) {
	a, err := ParseAllowlist([]string{"path:/opt/app/**/*.jar", "/home/*/bin/tool", "/srv/[ab]?.bin", "/data/**"})
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]bool{
		"/opt/app/x.jar":           true,
		"/opt/app/lib/deep/y.jar":  true,
		"/opt/app/lib/y.war":       false,
		"/home/alice/bin/tool":     true,
		"/home/alice/sub/bin/tool": false,
		"/srv/a1.bin":              true,
		"/srv/c1.bin":              false,
		"/srv/a12.bin":             false,
		"/data/x/y/z":              true,
		"/database":                false,
	} {
		if got := a.MatchPath(p); got != want {
			t.Errorf("MatchPath(%q) = %v, want %v", p, got, want)
		}
	}
}

func TestAllowlistHashes(t *testing.T) {
	sha := strings.Repeat("ab", 32)
	md5 := strings.Repeat("CD", 16)
	a, err := ParseAllowlist([]string{"sha256:" + sha, md5})
	if err != nil {
		t.Fatal(err)
	}
	if !a.MatchHash("", sha) || !a.MatchHash(strings.ToLower(md5), "") || a.MatchHash("", "") || a.MatchHash(strings.Repeat("0", 32), strings.Repeat("0", 64)) {
		t.Fatal("hash matching wrong")
	}
	if a.MatchPath(sha) {
		t.Fatal("a bare hash must not become a path pattern")
	}
	var none *Allowlist
	if none.MatchPath("/x") || none.MatchHash("a", "b") {
		t.Fatal("nil allowlist allows")
	}
}

func TestAllowlistErrors(t *testing.T) {
	_, err := ParseAllowlist([]string{"sha256:1234", "md5:zz" + strings.Repeat("0", 30), "path:", "path:/x/[ab", "/ok/*"})
	if err == nil {
		t.Fatal("accepted bad entries")
	}
	for _, want := range []string{"entry 1", "entry 2", "entry 3", "entry 4", "want 64 hex digits", "not hex", "unterminated ["} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "entry 5") {
		t.Errorf("good entry reported: %v", err)
	}
}
