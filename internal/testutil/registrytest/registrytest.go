// Package registrytest runs a real Docker distribution registry (Debian's
// docker-registry, distribution 2.8) on loopback for tests: plain, with
// htpasswd basic auth, or sending push notifications to a URL.
//
// Each call starts its own registry process on a free port with its own
// storage directory, so test packages run in parallel without sharing state.
// Where the binary is missing the test is skipped, except under CI (CI or
// VIGIL_REQUIRE_SERVICES set), where a missing service fails the test: a
// test that cannot run must not pass silently there.
package registrytest

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Binary is the registry executable looked up in PATH.
const Binary = "docker-registry"

// Options configure a registry.
type Options struct {
	// Users enables htpasswd basic auth with these user → password pairs.
	Users map[string]string
	// NotifyURL, when set, makes the registry post its push/pull event
	// envelopes there, with NotifyHeaders added to each request.
	NotifyURL     string
	NotifyHeaders map[string]string
}

// Registry is a running registry.
type Registry struct {
	// Host is "127.0.0.1:PORT", the registry part of image references.
	Host string
	// Dir holds the configuration, storage and log.
	Dir string

	stop func()
}

// Required reports whether missing services must fail tests (under CI).
func Required() bool {
	return os.Getenv("CI") != "" || os.Getenv("VIGIL_REQUIRE_SERVICES") != ""
}

// Start runs a registry for the test's lifetime.
func Start(t testing.TB, o Options) *Registry {
	t.Helper()
	bin, err := exec.LookPath(Binary)
	if err != nil {
		if Required() {
			t.Fatalf("%s not found (apt-get install docker-registry; scripts/test does): %v", Binary, err)
		}
		t.Skipf("%s not installed: skipping the real-registry test (apt-get install docker-registry)", Binary)
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	r := &Registry{Host: fmt.Sprintf("127.0.0.1:%d", port), Dir: t.TempDir()}
	r.start(t, bin, o)
	return r
}

// Restart stops the registry and starts it again on the same address and
// storage with new options: e.g. to add notifications to a URL that names
// the registry's id in vigil, known only once vigil has checked it.
func (r *Registry) Restart(t testing.TB, o Options) {
	t.Helper()
	r.stop()
	bin, err := exec.LookPath(Binary)
	if err != nil {
		t.Fatal(err)
	}
	r.start(t, bin, o)
}

func (r *Registry) start(t testing.TB, bin string, o Options) {
	t.Helper()
	dir, host := r.Dir, r.Host
	cfg := fmt.Sprintf("version: 0.1\nlog: {level: warn}\nstorage: {filesystem: {rootdirectory: %s}, delete: {enabled: true}}\nhttp: {addr: %q}\n",
		filepath.Join(dir, "data"), host)
	if len(o.Users) > 0 {
		var htpasswd bytes.Buffer
		for u, p := range o.Users {
			h, err := bcrypt.GenerateFromPassword([]byte(p), bcrypt.MinCost)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&htpasswd, "%s:%s\n", u, h)
		}
		pw := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(pw, htpasswd.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg += fmt.Sprintf("auth: {htpasswd: {realm: vigil-test, path: %s}}\n", pw)
	}
	if o.NotifyURL != "" {
		var headers strings.Builder
		for k, v := range o.NotifyHeaders {
			fmt.Fprintf(&headers, "          %s: [%q]\n", k, v)
		}
		cfg += fmt.Sprintf("notifications:\n  endpoints:\n    - name: vigil\n      url: %q\n      timeout: 2s\n      threshold: 3\n      backoff: 1s\n", o.NotifyURL)
		if headers.Len() > 0 {
			cfg += "      headers:\n" + headers.String()
		}
	}
	cfgPath := filepath.Join(dir, "config.yml")
	os.RemoveAll(filepath.Join(dir, "registry.log"))
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "registry.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	var once sync.Once
	r.stop = func() {
		once.Do(func() {
			cmd.Process.Kill()
			<-exited
			logf.Close()
			if t.Failed() {
				if b, err := os.ReadFile(logf.Name()); err == nil && len(b) > 0 {
					t.Logf("registry log:\n%s", tail(b, 4000))
				}
			}
		})
	}
	t.Cleanup(r.stop)
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get("http://" + host + "/v2/")
		if err == nil {
			resp.Body.Close()
			break
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(logf.Name())
			t.Fatalf("%s exited at start:\n%s", Binary, tail(b, 4000))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer on %s within 15s: %v", Binary, host, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
