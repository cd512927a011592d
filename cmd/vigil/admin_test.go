package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// run executes the vigil command line in-process.
func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

func field(out, key string) string {
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, key+"="); ok {
			return v
		}
	}
	return ""
}

func TestAdminCommands(t *testing.T) {
	t.Setenv("VIGIL_MASTER_KEY", "")
	data := t.TempDir()
	if _, err := run(t, "keys", "list", "--data", filepath.Join(data, "missing")); err == nil || !strings.Contains(err.Error(), "vigil server") {
		t.Fatalf("missing data dir: %v", err)
	}
	// accounts create works on a fresh data directory too.
	out, err := run(t, "accounts", "create", "team-b", "--data", data)
	if err != nil {
		t.Fatal(err)
	}
	id, secret := field(out, "SecretId"), field(out, "SecretKey")
	if !strings.HasPrefix(id, "AKID") || len(secret) != 32 {
		t.Fatalf("accounts create output:\n%s", out)
	}
	if st, _ := os.Stat(filepath.Join(data, "master.key")); st == nil || st.Mode().Perm() != 0o600 {
		t.Fatal("master key not created 0600")
	}
	if _, err := run(t, "accounts", "create", "team-b", "--data", data); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("duplicate account: %v", err)
	}
	out, err = run(t, "keys", "create", "--account", "team-b", "--role", "readonly", "--description", "ci", "--data", data)
	if err != nil {
		t.Fatal(err)
	}
	roID := field(out, "SecretId")
	if field(out, "Role") != "readonly" {
		t.Fatalf("keys create:\n%s", out)
	}
	if _, err := run(t, "keys", "create", "--role", "root", "--account", "team-b", "--data", data); err == nil {
		t.Fatal("bad role accepted")
	}
	if _, err := run(t, "keys", "create", "--account", "nobody", "--data", data); err == nil || !strings.Contains(err.Error(), "no account") {
		t.Fatalf("unknown account: %v", err)
	}
	if _, err := run(t, "keys", "disable", roID, "--account", "team-b", "--data", data); err != nil {
		t.Fatal(err)
	}
	out, err = run(t, "keys", "list", "--account", "team-b", "--data", data)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, roID) || !strings.Contains(out, "disabled") || !strings.Contains(out, id) || strings.Contains(out, secret) {
		t.Fatalf("keys list (must show ids and status, never SecretKeys):\n%s", out)
	}
	// Keys of another account are not reachable through this one.
	if _, err := run(t, "keys", "disable", id, "--account", "default", "--data", data); err == nil {
		t.Fatal("disabled another account's key")
	}
	out, err = run(t, "accounts", "list", "--data", data)
	if err != nil || !strings.Contains(out, "team-b") {
		t.Fatalf("accounts list: %v\n%s", err, out)
	}
}

func TestVersionAndConfigErrors(t *testing.T) {
	out, err := run(t, "version")
	if err != nil || !strings.HasPrefix(out, "vigil ") {
		t.Fatalf("version: %v %q", err, out)
	}
	cfg := filepath.Join(t.TempDir(), "vigil.yaml")
	os.WriteFile(cfg, []byte("listen: 127.0.0.1:0\nlisten_port: 9\n"), 0o600)
	if _, err := run(t, "server", "--config", cfg); err == nil || !strings.Contains(err.Error(), "listen_port") {
		t.Fatalf("unknown config key: %v", err)
	}
	if _, err := run(t, "server", "--tls-cert", "x.pem", "--data", t.TempDir()); err == nil || !strings.Contains(err.Error(), "tls") {
		t.Fatalf("half TLS config: %v", err)
	}
}
