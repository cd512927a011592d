// Package config loads vigil's settings from, in rising precedence: built-in
// defaults, a YAML file (unknown keys are an error), VIGIL_* environment
// variables and command-line flags. Every setting has one name, used as the
// YAML key, the flag (with - for _) and the environment variable
// (VIGIL_ + upper case).
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"
)

// Server is the configuration of `vigil server`.
type Server struct {
	Listen    string  `yaml:"listen" help:"address to listen on"`
	Data      string  `yaml:"data" help:"data directory (SQLite database, master key, generated admin key)"`
	Database  string  `yaml:"database" help:"PostgreSQL URL (postgres://…); empty = SQLite in the data directory"`
	TLSCert   string  `yaml:"tls_cert" help:"TLS certificate file (PEM); with tls_key, serve HTTPS"`
	TLSKey    string  `yaml:"tls_key" help:"TLS private key file (PEM)"`
	RateLimit float64 `yaml:"rate_limit" help:"API requests/s per account and action (0 = unlimited)"`
	MasterKey string  `yaml:"master_key_file" help:"file holding the master key that encrypts secrets at rest (default DATA/master.key; VIGIL_MASTER_KEY overrides)"`
	TimeZone  string  `yaml:"time_zone" help:"time zone of cwp time strings (\"2006-01-02 15:04:05\"), e.g. Asia/Shanghai; default the server's local zone"`
	LogLevel  string  `yaml:"log_level" help:"debug, info, warn or error"`
	LogFormat string  `yaml:"log_format" help:"text or json"`

	ShutdownTimeout time.Duration `yaml:"shutdown_timeout" help:"how long graceful shutdown waits for in-flight calls"`

	PublicURL   string        `yaml:"public_url" help:"base URL clients reach this server at, for download links (default http(s)://LISTEN)"`
	Rules       []string      `yaml:"rules" help:"extra YARA rule and hash-list directories for the engine, comma-separated (reloaded when they change)"`
	NoBuiltin   bool          `yaml:"no_builtin_rules" help:"do not load vigil's embedded rule pack"`
	ScanWorkers int           `yaml:"scan_workers" help:"images scanned at once by this server"`
	ExportTTL   time.Duration `yaml:"export_ttl" help:"how long export download links stay valid"`
	LocalAgent  bool          `yaml:"local_agent" help:"also run a host agent for this machine inside the server, enrolled into the default account"`

	VirusScanSchedule time.Duration `yaml:"virus_scan_schedule" help:"interval of the scheduled container trojan scan of every account with online agents, e.g. 24h (0 = off)"`
	VirusScanPaths    string        `yaml:"virus_scan_paths" help:"what the scheduled container scan walks: default (binary and drop directories) or all"`
	VirusScanTimeout  time.Duration `yaml:"virus_scan_timeout" help:"how long a scheduled container scan may run before it times out"`
}

// DefaultServer returns the defaults of `vigil server`.
func DefaultServer() Server {
	return Server{
		Listen:           "127.0.0.1:9750",
		Data:             "./vigil-data",
		RateLimit:        20,
		LogLevel:         "info",
		LogFormat:        "text",
		ShutdownTimeout:  15 * time.Second,
		ScanWorkers:      2,
		ExportTTL:        time.Hour,
		VirusScanPaths:   "default",
		VirusScanTimeout: 6 * time.Hour,
	}
}

// Validate checks values that cannot be checked by type alone.
func (s *Server) Validate() error {
	var errs []error
	if s.Listen == "" {
		errs = append(errs, errors.New("listen is empty"))
	}
	if (s.TLSCert == "") != (s.TLSKey == "") {
		errs = append(errs, errors.New("tls_cert and tls_key must be set together"))
	}
	if s.ScanWorkers < 1 {
		errs = append(errs, errors.New("scan_workers must be >= 1"))
	}
	if s.ExportTTL < time.Minute {
		errs = append(errs, errors.New("export_ttl must be at least 1m"))
	}
	if s.PublicURL != "" && !strings.HasPrefix(s.PublicURL, "http://") && !strings.HasPrefix(s.PublicURL, "https://") {
		errs = append(errs, errors.New("public_url must start with http:// or https://"))
	}
	if s.VirusScanSchedule < 0 || (s.VirusScanSchedule > 0 && s.VirusScanSchedule < time.Second) {
		errs = append(errs, errors.New("virus_scan_schedule must be 0 (off) or at least 1s"))
	}
	if s.VirusScanPaths != "default" && s.VirusScanPaths != "all" {
		errs = append(errs, fmt.Errorf("virus_scan_paths %q: want default or all", s.VirusScanPaths))
	}
	if s.VirusScanTimeout < time.Second {
		errs = append(errs, errors.New("virus_scan_timeout must be at least 1s"))
	}
	if s.RateLimit < 0 {
		errs = append(errs, errors.New("rate_limit must be >= 0"))
	}
	if s.Database != "" && !strings.HasPrefix(s.Database, "postgres://") && !strings.HasPrefix(s.Database, "postgresql://") {
		errs = append(errs, errors.New("database must be a postgres:// URL (leave it empty for SQLite)"))
	}
	switch s.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log_level %q: want debug, info, warn or error", s.LogLevel))
	}
	switch s.LogFormat {
	case "text", "json":
	default:
		errs = append(errs, fmt.Errorf("log_format %q: want text or json", s.LogFormat))
	}
	if s.TimeZone != "" {
		if _, err := time.LoadLocation(s.TimeZone); err != nil {
			errs = append(errs, fmt.Errorf("time_zone: %w", err))
		}
	}
	return errors.Join(errs...)
}

// AddFlags declares one flag per field of cfg (a pointer to a struct), with
// cfg's current values as the shown defaults; with names, only those settings.
func AddFlags(fs *pflag.FlagSet, cfg any, names ...string) {
	forEachField(cfg, func(name string, f reflect.StructField, v reflect.Value) {
		if len(names) > 0 && !slices.Contains(names, name) {
			return
		}
		flag := strings.ReplaceAll(name, "_", "-")
		fs.String(flag, "", fmt.Sprintf("%s (env %s; default %v)", f.Tag.Get("help"), EnvName(name), show(v)))
		if v.Kind() == reflect.Bool {
			fs.Lookup(flag).NoOptDefVal = "true" // --local-agent alone means true
		}
	})
	fs.String("config", "", "YAML configuration file (env VIGIL_CONFIG)")
}

// EnvName is the environment variable of a setting.
func EnvName(name string) string { return "VIGIL_" + strings.ToUpper(name) }

// Load fills cfg (already holding defaults) from the YAML file named by
// --config or VIGIL_CONFIG, then the environment, then the flags that were set.
// environ is os.Environ-style "K=V" pairs.
func Load(cfg any, fs *pflag.FlagSet, environ []string) error {
	env := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	path := env["VIGIL_CONFIG"]
	if fs != nil {
		if f := fs.Lookup("config"); f != nil && f.Changed {
			path = f.Value.String()
		}
	}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("config file: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("config file %s: %w", path, err)
		}
	}
	var errs []error
	forEachField(cfg, func(name string, _ reflect.StructField, v reflect.Value) {
		if s, ok := env[EnvName(name)]; ok && s != "" {
			if err := set(v, s); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", EnvName(name), err))
			}
		}
		if fs != nil {
			if f := fs.Lookup(strings.ReplaceAll(name, "_", "-")); f != nil && f.Changed {
				if err := set(v, f.Value.String()); err != nil {
					errs = append(errs, fmt.Errorf("--%s: %w", f.Name, err))
				}
			}
		}
	})
	return errors.Join(errs...)
}

func forEachField(cfg any, fn func(name string, f reflect.StructField, v reflect.Value)) {
	rv := reflect.ValueOf(cfg).Elem()
	rt := rv.Type()
	for i := 0; i < rt.NumField(); i++ {
		f := rt.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		fn(name, f, rv.Field(i))
	}
}

var durationType = reflect.TypeOf(time.Duration(0))

func set(v reflect.Value, s string) error {
	switch {
	case v.Type() == durationType:
		d, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		v.SetInt(int64(d))
	case v.Kind() == reflect.String:
		v.SetString(s)
	case v.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return err
		}
		v.SetBool(b)
	case v.Kind() == reflect.Int || v.Kind() == reflect.Int64:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return err
		}
		v.SetInt(n)
	case v.Kind() == reflect.Float64:
		n, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return err
		}
		v.SetFloat(n)
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.String:
		var parts []string
		for p := range strings.SplitSeq(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				parts = append(parts, p)
			}
		}
		v.Set(reflect.ValueOf(parts))
	default:
		return fmt.Errorf("unsupported setting type %s", v.Type())
	}
	return nil
}

func show(v reflect.Value) string {
	if v.Kind() == reflect.String && v.String() == "" {
		return `""`
	}
	return fmt.Sprint(v.Interface())
}
