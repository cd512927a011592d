package config

import (
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func TestAgentValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Agent)
		want string // substring of the error; "" = valid
	}{
		{"defaults with a server", func(a *Agent) {}, ""},
		{"no server", func(a *Agent) { a.Server = "" }, "server"},
		{"not a URL", func(a *Agent) { a.Server = "vigil:9750" }, "server"},
		{"short sweep", func(a *Agent) { a.SweepInterval = time.Second }, "sweep_interval"},
		{"negative cpu", func(a *Agent) { a.ScanCPU = -1 }, "scan_cpu"},
		{"no cap", func(a *Agent) { a.ScanCPU = 0 }, ""},
		{"tiny scan size", func(a *Agent) { a.MaxScanSize = 10 }, "max_scan_size"},
		{"ca and insecure", func(a *Agent) { a.CAFile, a.InsecureSkipVerify = "ca.pem", true }, "exclude"},
		{"log level", func(a *Agent) { a.LogLevel = "loud" }, "log_level"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := DefaultAgent()
			a.Server = "https://vigil.example:9750"
			tc.mod(&a)
			err := a.Validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestAgentFlags: the agent's settings load from flags, environment and
// defaults; a bare boolean flag means true.
func TestAgentFlags(t *testing.T) {
	a := DefaultAgent()
	fs := pflag.NewFlagSet("agent", pflag.ContinueOnError)
	AddFlags(fs, &a)
	if err := fs.Parse([]string{"--server", "https://s:1", "--insecure-skip-verify", "--scan-cpu", "0.25", "--rules", "/a,/b"}); err != nil {
		t.Fatal(err)
	}
	if err := Load(&a, fs, []string{"VIGIL_TOKEN=vgt_x", "VIGIL_SWEEP_INTERVAL=5m"}); err != nil {
		t.Fatal(err)
	}
	if a.Server != "https://s:1" || !a.InsecureSkipVerify || a.ScanCPU != 0.25 || a.Token != "vgt_x" ||
		a.SweepInterval != 5*time.Minute || len(a.Rules) != 2 || a.Data != "/var/lib/vigil-agent" {
		t.Errorf("loaded %+v", a)
	}
}
