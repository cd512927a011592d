package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func TestLoadPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "vigil.yaml")
	os.WriteFile(file, []byte("listen: 0.0.0.0:1000\nrate_limit: 5\ndata: /from/file\nshutdown_timeout: 3s\n"), 0o600)

	cfg := DefaultServer()
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	AddFlags(fs, &cfg)
	if err := fs.Parse([]string{"--config", file, "--data", "/from/flag"}); err != nil {
		t.Fatal(err)
	}
	env := []string{"VIGIL_RATE_LIMIT=7", "VIGIL_DATA=/from/env", "VIGIL_LOG_FORMAT=json"}
	if err := Load(&cfg, fs, env); err != nil {
		t.Fatal(err)
	}
	want := DefaultServer()
	want.Listen = "0.0.0.0:1000" // file
	want.RateLimit = 7           // env beats file
	want.Data = "/from/flag"     // flag beats env
	want.LogFormat = "json"
	want.ShutdownTimeout = 3 * time.Second
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("got %+v\nwant %+v", cfg, want)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, yaml string
		env        []string
		want       string
	}{
		{"unknown key", "listen: x\nlisten_addr: y\n", nil, "listen_addr"},
		{"wrong type", "rate_limit: fast\n", nil, "line 1"},
		{"bad env", "", []string{"VIGIL_RATE_LIMIT=fast"}, "VIGIL_RATE_LIMIT"},
		{"bad duration", "", []string{"VIGIL_SHUTDOWN_TIMEOUT=soon"}, "VIGIL_SHUTDOWN_TIMEOUT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(dir, tt.name+".yaml")
			os.WriteFile(file, []byte(tt.yaml), 0o600)
			cfg := DefaultServer()
			err := Load(&cfg, nil, append(tt.env, "VIGIL_CONFIG="+file))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want mention of %q", err, tt.want)
			}
		})
	}
	if err := Load(new(Server), nil, []string{"VIGIL_CONFIG=" + filepath.Join(dir, "missing.yaml")}); err == nil {
		t.Fatal("missing config file accepted")
	}
}

func TestValidate(t *testing.T) {
	for name, mut := range map[string]func(*Server){
		"tls half":                  func(s *Server) { s.TLSCert = "c.pem" },
		"negative rate":             func(s *Server) { s.RateLimit = -1 },
		"bad db":                    func(s *Server) { s.Database = "mysql://x" },
		"bad level":                 func(s *Server) { s.LogLevel = "loud" },
		"bad zone":                  func(s *Server) { s.TimeZone = "Mars/Olympus" },
		"sub-second virus schedule": func(s *Server) { s.VirusScanSchedule = time.Millisecond },
		"bad virus paths":           func(s *Server) { s.VirusScanPaths = "some" },
		"no virus timeout":          func(s *Server) { s.VirusScanTimeout = 0 },
	} {
		s := DefaultServer()
		mut(&s)
		if s.Validate() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
