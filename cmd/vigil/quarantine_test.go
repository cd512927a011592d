package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-sec/vigil/internal/agent/quarantine"
)

func TestQuarantineCommands(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (restores the owner)")
	}
	data := t.TempDir()
	if _, err := run(t, "quarantine", "list", "--data", data); err == nil || !strings.Contains(err.Error(), "no quarantine") {
		t.Fatalf("list without a quarantine: %v", err)
	}
	q, err := quarantine.OpenInDataDir(data)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var ids []string
	for _, name := range []string{"a", "b"} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("sample "+name), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, 0o751); err != nil {
			t.Fatal(err)
		}
		s, err := q.Isolate(context.Background(), p, quarantine.Meta{})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, s.ID)
	}
	q.Close()

	out, err := run(t, "quarantine", "list", "--data", data)
	if err != nil || !strings.Contains(out, ids[0]) || !strings.Contains(out, filepath.Join(dir, "b")) || !strings.Contains(out, "-rwxr-x--x") {
		t.Fatalf("list: %v\n%s", err, out)
	}
	if out, err := run(t, "quarantine", "list", "--data", data, "--format", "json"); err != nil || !strings.Contains(out, `"sha256"`) {
		t.Fatalf("list json: %v\n%s", err, out)
	}
	if out, err := run(t, "quarantine", "restore", ids[0], "--data", data); err != nil || !strings.Contains(out, "restored") {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "a")); err != nil || string(b) != "sample a" {
		t.Fatalf("restored file: %q %v", b, err)
	}
	if st, _ := os.Stat(filepath.Join(dir, "a")); st.Mode().Perm() != 0o751 {
		t.Fatalf("restored mode %v", st.Mode())
	}
	if _, err := run(t, "quarantine", "delete", ids[1], "--data", data); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, "quarantine", "restore", ids[1], "--data", data); err == nil {
		t.Fatal("restore of a deleted sample succeeded")
	}
	if out, err := run(t, "quarantine", "list", "--data", data); err != nil || strings.Count(out, "\n") != 1 {
		t.Fatalf("list after: %v\n%s", err, out)
	}
}
