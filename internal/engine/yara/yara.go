// Package yara is the YARA detector of the engine, on libyara 4.5.4 as vendored
// (and linked statically) by github.com/Velocidex/go-yara.
//
// Every rule file is validated with the pure-Go gyp parser before libyara sees
// it, so syntax errors, unavailable modules (this build has pe, elf, math, time
// and dotnet; no hash, no cuckoo, no magic) and include directives are
// reported per file as "file:line: message" while the other files still load.
// libyara then compiles each file into its own namespace (named after the
// file), so rule names only need to be unique within a file.
//
// Rule metadata becomes the finding (see the meta keys below); rules without it
// get defaults: virus name "YARA.<rule>", RISK_MEDIUM, generic texts.
//
// Rules may use four external string variables, set for every scanned file:
// filename (base name), filepath (full path), extension (lower case, without
// the dot) and filetype (the engine's FileType, e.g. "ELF", "PHP").
package yara

import (
	"bytes"
	"context"
	"fmt"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	libyara "github.com/Velocidex/go-yara"

	"github.com/vigil-sec/vigil/internal/engine"
)

// Name is the detector name in findings.
const Name = "yara"

// version is the version of this package's code that judges files; bump it
// when a change could alter verdicts, so scan caches are invalidated.
const version = "libyara-4.5.4+vigil.1"

// Meta keys read from rules (the pack interface).
const (
	MetaVirusName  = "virus_name"
	MetaTags       = "tags"
	MetaRiskLevel  = "risk_level"
	MetaCategory   = "category"
	MetaDescZH     = "desc_zh"
	MetaDescEN     = "desc_en"
	MetaSolutionZH = "solution_zh"
	MetaSolutionEN = "solution_en"
	MetaReference  = "reference"
	metaDesc       = "description" // common in third-party rules: English fallback
)

// Defaults for rules without metadata.
const (
	DefaultRisk     = engine.RiskMedium
	DefaultCategory = "Malware"
)

// externals are the variables defined for every scan.
var externals = []string{"filename", "filepath", "extension", "filetype"}

// Option configures the YARA kind.
type Option func(*kind)

// WithFastMode sets libyara's fast mode (on by default): each string is
// reported once per file, which is all a verdict needs.
func WithFastMode(on bool) Option { return func(k *kind) { k.fast = on } }

type kind struct {
	fast bool
}

// Kind returns the YARA detector kind, to register with engine.WithKind. It
// takes .yar and .yara files.
func Kind(opts ...Option) engine.Kind {
	k := &kind{fast: true}
	for _, o := range opts {
		o(k)
	}
	return k
}

func (k *kind) Name() string    { return Name }
func (k *kind) Version() string { return version }

func (k *kind) Accepts(name string) bool {
	switch strings.ToLower(path.Ext(name)) {
	case ".yar", ".yara":
		return true
	}
	return false
}

// Build validates and compiles files. It returns a nil detector when no file
// holds a usable rule.
func (k *kind) Build(ctx context.Context, files []engine.RuleFile) (engine.Detector, []engine.Problem, error) {
	c, problems, err := compile(ctx, files)
	if err != nil || c == nil {
		return nil, problems, err
	}
	d := &detector{
		rules:     c.rules,
		templates: c.templates,
		externals: c.usesExternals,
		fast:      k.fast,
		version:   version + "/" + c.digest,
	}
	return d, problems, nil
}

type detector struct {
	rules     *libyara.Rules
	templates map[ruleKey]*engine.Finding
	externals bool
	fast      bool
	version   string
	scanners  sync.Pool // *libyara.Scanner: a scanner is not safe for concurrent use
}

type ruleKey struct{ namespace, identifier string }

func (d *detector) Name() string    { return Name }
func (d *detector) Version() string { return d.version }

// Require: YARA reads every file whole.
func (d *detector) Require(*engine.FileInfo) engine.Need {
	return engine.Need{Content: true, Head: true}
}

// matches collects the rules that matched during one scan.
type matches struct{ keys []ruleKey }

func (m *matches) RuleMatching(_ *libyara.ScanContext, r *libyara.Rule) (bool, error) {
	m.keys = append(m.keys, ruleKey{r.Namespace(), r.Identifier()})
	return false, nil
}

func (d *detector) Detect(ctx context.Context, obj *engine.Object) ([]engine.Finding, error) {
	if obj.Data == nil {
		return nil, nil
	}
	s, ok := d.scanners.Get().(*libyara.Scanner)
	if !ok {
		var err error
		if s, err = libyara.NewScanner(d.rules); err != nil {
			return nil, err
		}
	}
	defer d.scanners.Put(s)

	timeout := time.Duration(0) // libyara: 0 means no limit
	if dl, ok := ctx.Deadline(); ok {
		left := time.Until(dl)
		if left <= 0 {
			return nil, context.DeadlineExceeded
		}
		timeout = (left + time.Second - 1).Truncate(time.Second) // libyara counts whole seconds
	}
	s.SetTimeout(timeout)
	if d.externals {
		if err := defineExternals(s, obj); err != nil {
			return nil, err
		}
	}
	var flags libyara.ScanFlags
	if d.fast {
		flags = libyara.ScanFlagsFastMode
	}
	var m matches
	s.SetFlags(flags).SetCallback(&m)
	err := s.ScanMem(obj.Data)
	findings := make([]engine.Finding, 0, len(m.keys))
	for _, k := range m.keys {
		if t := d.templates[k]; t != nil {
			f := *t
			f.Tags = slices.Clone(t.Tags)
			findings = append(findings, f)
		}
	}
	if err != nil {
		return findings, describeScanError(err, timeout)
	}
	return findings, nil
}

func defineExternals(s *libyara.Scanner, obj *engine.Object) error {
	base := path.Base(obj.Info.Path)
	vals := []string{base, obj.Info.Path, strings.TrimPrefix(strings.ToLower(path.Ext(base)), "."), string(obj.Type)}
	for i, name := range externals {
		if err := s.DefineVariable(name, vals[i]); err != nil {
			return err
		}
	}
	return nil
}

type scanError struct {
	msg string
	err error
}

func (e *scanError) Error() string { return e.msg }
func (e *scanError) Unwrap() error { return e.err }

func describeScanError(err error, timeout time.Duration) error {
	if ye, ok := err.(libyara.Error); ok {
		switch ye.Error() {
		case "scan timeout":
			return &scanError{msg: "scan timed out after " + timeout.String(), err: context.DeadlineExceeded}
		case "could not map file":
			// libyara caught a SIGBUS reading the mapping: the file shrank.
			return &scanError{msg: "file truncated during scan", err: engine.ErrChanged}
		}
	}
	return err
}

// Snapshot saves a detector's compiled rules (engine.WithRuleSnapshot):
// a flags byte, the 16-character rules digest, then libyara's compiled form.
func (k *kind) Snapshot(d engine.Detector) ([]byte, error) {
	det, ok := d.(*detector)
	if !ok {
		return nil, fmt.Errorf("not a YARA detector: %T", d)
	}
	digest := strings.TrimPrefix(det.version, version+"/")
	if len(digest) != digestLen {
		return nil, fmt.Errorf("unexpected detector version %q", det.version)
	}
	var buf bytes.Buffer
	var flags byte
	if det.externals {
		flags |= snapshotExternals
	}
	buf.WriteByte(flags)
	buf.WriteString(digest)
	if err := det.rules.Write(&buf); err != nil {
		return nil, fmt.Errorf("save compiled rules: %w", err)
	}
	return buf.Bytes(), nil
}

// Restore loads what Snapshot saved.
func (k *kind) Restore(data []byte) (engine.Detector, error) {
	if len(data) < 1+digestLen {
		return nil, fmt.Errorf("compiled rules snapshot too short")
	}
	flags, digest := data[0], string(data[1:1+digestLen])
	rules, err := libyara.ReadRules(bytes.NewReader(data[1+digestLen:]))
	if err != nil {
		return nil, fmt.Errorf("load compiled rules: %w", err)
	}
	t, err := templates(rules)
	if err != nil {
		return nil, err
	}
	return &detector{
		rules:     rules,
		templates: t,
		externals: flags&snapshotExternals != 0,
		fast:      k.fast,
		version:   version + "/" + digest,
	}, nil
}

const snapshotExternals = 1 << 0
