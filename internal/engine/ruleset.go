package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// maxRuleFileSize bounds a single rule or hash file; ClamAV's biggest hash
// databases are well below it.
const maxRuleFileSize = 512 << 20

// Source is a tree of rule files: vigil's built-in pack or a user directory.
type Source struct {
	// Name prefixes the file names in problems: the directory for DirSource,
	// "builtin" for the embedded pack.
	Name string
	FS   fs.FS
	dir  string // set by DirSource: file names are then real paths
}

// DirSource is a user directory of .yar/.yara and hash files, read recursively.
func DirSource(dir string) Source {
	return Source{Name: dir, FS: os.DirFS(dir), dir: dir}
}

// FSSource is a read-only tree such as the embedded built-in pack.
func FSSource(name string, fsys fs.FS) Source {
	return Source{Name: name, FS: fsys}
}

// fileName is how a file of the source is shown in problems and findings.
func (s Source) fileName(rel string) string {
	if s.dir != "" {
		return filepath.Join(s.dir, filepath.FromSlash(rel))
	}
	return s.Name + ":" + rel
}

// RuleSet is one compiled generation of the detectors. It is immutable: a
// reload builds a new one and swaps it in, so scans in flight finish with the
// set they started with.
type RuleSet struct {
	version     string
	fingerprint string
	detectors   []Detector
	problems    []Problem
	files       int
}

// Version identifies the set: a digest of the detector names and versions and
// of every rule file's name and content. It is part of the scan-cache key.
func (rs *RuleSet) Version() string { return rs.version }

// Detectors returns the detectors in the order they run.
func (rs *RuleSet) Detectors() []Detector { return rs.detectors }

// Problems returns the errors and warnings of the load that built this set.
func (rs *RuleSet) Problems() []Problem { return rs.problems }

// Files returns how many rule files the set was built from.
func (rs *RuleSet) Files() int { return rs.files }

type sourceFile struct {
	kind int // index into kinds
	name string
	data []byte
}

// loadRuleSet reads every source, hands each file to the first kind that
// accepts it, and builds the detectors, restoring them from cfg's snapshot
// file when it was written for the same rule-set version. Unreadable files and
// sources become problems; an error is returned only when a kind cannot build
// at all or ctx ends.
func loadRuleSet(ctx context.Context, cfg *config) (*RuleSet, error) {
	kinds := cfg.kinds
	var problems []Problem
	perKind := make([][]RuleFile, len(kinds))
	fp := fingerprint(kinds, cfg.sources)
	h := sha256.New()
	for _, d := range cfg.detectors {
		fmt.Fprintf(h, "detector %q %q\n", d.Name(), d.Version())
	}
	for _, k := range kinds {
		fmt.Fprintf(h, "kind %q %q\n", k.Name(), k.Version())
	}
	files := 0
	for _, src := range cfg.sources {
		found, ps := readSource(src, kinds)
		problems = append(problems, ps...)
		if len(found) == 0 && len(ps) == 0 {
			problems = append(problems, Problem{File: src.Name, Severity: SeverityWarning, Message: "no rule files (" + acceptedHint(kinds) + ")"})
		}
		for _, f := range found {
			sum := sha256.Sum256(f.data)
			fmt.Fprintf(h, "file %q %x\n", f.name, sum)
			perKind[f.kind] = append(perKind[f.kind], RuleFile{Name: f.name, Data: f.data})
			files++
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rs := &RuleSet{fingerprint: fp, files: files, version: hex.EncodeToString(h.Sum(nil))[:32]}
	rs.detectors = append(rs.detectors, cfg.detectors...)

	snap := readSnapshot(cfg.snapshot, rs.version, cfg.logger)
	fresh := &snapshot{Version: rs.version}
	restoredAll := snap != nil
	for i, k := range kinds {
		if d, ps, ok := snap.restore(k, cfg.logger); ok {
			problems = append(problems, ps...)
			if d != nil {
				rs.detectors = append(rs.detectors, d)
			}
			fresh.Kinds = append(fresh.Kinds, *snap.kind(k))
			continue
		}
		if _, ok := k.(Snapshotter); ok {
			restoredAll = false
		}
		d, ps, err := k.Build(ctx, perKind[i])
		problems = append(problems, ps...)
		if err != nil {
			return nil, fmt.Errorf("build %s detector: %w", k.Name(), err)
		}
		if d != nil {
			rs.detectors = append(rs.detectors, d)
		}
		fresh.add(k, d, ps, cfg.logger)
	}
	if cfg.snapshot != "" && !restoredAll {
		if err := fresh.write(cfg.snapshot); err != nil {
			cfg.logger.Warn("cannot save compiled rules", "path", cfg.snapshot, "error", err)
		}
	}
	rs.problems = problems
	return rs, nil
}

func acceptedHint(kinds []Kind) string {
	probe := []string{".yar", ".yara", ".md5", ".sha1", ".sha256", ".hdb", ".hsb"}
	var exts []string
	for _, e := range probe {
		for _, k := range kinds {
			if k.Accepts("x" + e) {
				exts = append(exts, e)
				break
			}
		}
	}
	if len(exts) == 0 {
		return "no detector takes rule files"
	}
	return "looked for " + strings.Join(exts, " ")
}

// walkRuleFiles calls fn for every file of src that some kind accepts, in
// lexical order. Hidden files and directories (editor swap files, .git) are
// skipped.
func walkRuleFiles(src Source, kinds []Kind, fn func(rel string, kind int, d fs.DirEntry) error) error {
	return fs.WalkDir(src.FS, ".", func(rel string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		base := path.Base(rel)
		if rel != "." && strings.HasPrefix(base, ".") {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		for i, k := range kinds {
			if k.Accepts(base) {
				return fn(rel, i, d)
			}
		}
		return nil
	})
}

func readSource(src Source, kinds []Kind) ([]sourceFile, []Problem) {
	var files []sourceFile
	var problems []Problem
	err := walkRuleFiles(src, kinds, func(rel string, kind int, d fs.DirEntry) error {
		name := src.fileName(rel)
		data, err := readRuleFile(src.FS, rel)
		if err != nil {
			problems = append(problems, Problem{File: name, Message: err.Error()})
			return nil
		}
		files = append(files, sourceFile{kind: kind, name: name, data: data})
		return nil
	})
	if err != nil {
		problems = append(problems, Problem{File: src.Name, Message: describeFSError(err)})
	}
	return files, problems
}

func readRuleFile(fsys fs.FS, rel string) ([]byte, error) {
	info, err := fs.Stat(fsys, rel)
	if err != nil {
		return nil, errors.New(describeFSError(err))
	}
	if !info.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	if info.Size() > maxRuleFileSize {
		return nil, fmt.Errorf("file is %d bytes, more than the %d allowed for a rule file", info.Size(), maxRuleFileSize)
	}
	data, err := fs.ReadFile(fsys, rel)
	if err != nil {
		return nil, errors.New(describeFSError(err))
	}
	return data, nil
}

// describeFSError drops the path fs.PathError repeats (problems carry it).
func describeFSError(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Op + ": " + pe.Err.Error()
	}
	return err.Error()
}

// fingerprint summarises the rule files' names, sizes and times, so a reloader
// can notice a change without reading every file.
func fingerprint(kinds []Kind, sources []Source) string {
	h := sha256.New()
	for _, src := range sources {
		fmt.Fprintf(h, "source %q\n", src.Name)
		err := walkRuleFiles(src, kinds, func(rel string, _ int, d fs.DirEntry) error {
			info, err := fs.Stat(src.FS, rel) // follows a symlinked rule file
			if err != nil {
				fmt.Fprintf(h, "%q error %v\n", rel, err)
				return nil
			}
			var ino, ctime int64
			if st, ok := info.Sys().(*syscall.Stat_t); ok {
				ino, ctime = int64(st.Ino), st.Ctim.Nano()
			}
			fmt.Fprintf(h, "%q %d %d %d %d\n", rel, info.Size(), info.ModTime().UnixNano(), ino, ctime)
			return nil
		})
		if err != nil {
			fmt.Fprintf(h, "walk error %v\n", err)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// sortProblems orders problems by file and line, for stable reports.
func sortProblems(ps []Problem) {
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].File != ps[j].File {
			return ps[i].File < ps[j].File
		}
		return ps[i].Line < ps[j].Line
	})
}
