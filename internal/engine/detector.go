package engine

import (
	"context"
	"encoding/hex"
	"fmt"
	"io/fs"
	"time"
)

// FileInfo describes the file being judged. For a local file it comes from
// lstat; a layer walker fills it from the tar header (Dev and Ino stay zero,
// which also keeps such files out of the scan cache).
type FileInfo struct {
	Path       string      // the path reported in findings (in-image path for layers)
	Size       int64       // bytes; -1 when unknown
	Mode       fs.FileMode // type bits and permissions
	ModTime    time.Time
	ChangeTime time.Time // inode change time (ctime); zero when unknown
	Dev, Ino   uint64    // identity on the local machine; zero when not a local file
}

// HashKinds is a set of digests.
type HashKinds uint8

// Digests the engine can compute.
const (
	HashMD5 HashKinds = 1 << iota
	HashSHA1
	HashSHA256
)

// Hashes holds the digests computed so far for a file; Have says which are valid.
type Hashes struct {
	Have   HashKinds
	MD5    [16]byte
	SHA1   [20]byte
	SHA256 [32]byte
}

// MD5Hex returns the lower-case hex MD5, or "" when it was not computed.
func (h *Hashes) MD5Hex() string { return hexIf(h.Have&HashMD5 != 0, h.MD5[:]) }

// SHA1Hex returns the lower-case hex SHA1, or "" when it was not computed.
func (h *Hashes) SHA1Hex() string { return hexIf(h.Have&HashSHA1 != 0, h.SHA1[:]) }

// SHA256Hex returns the lower-case hex SHA256, or "" when it was not computed.
func (h *Hashes) SHA256Hex() string { return hexIf(h.Have&HashSHA256 != 0, h.SHA256[:]) }

func hexIf(ok bool, b []byte) string {
	if !ok {
		return ""
	}
	return hex.EncodeToString(b)
}

// Need is what a detector wants from a file before judging it. The engine reads
// a file only when some detector needs something from it, and computes only the
// digests asked for (plus MD5 and SHA256 once there is a finding to report).
type Need struct {
	Content bool      // the whole content (Object.Data)
	Head    bool      // the first HeadSize bytes and the file type
	Hashes  HashKinds // digests in Object.Hashes
}

// IsZero reports whether nothing is needed: the file need not be opened.
func (n Need) IsZero() bool { return !n.Content && !n.Head && n.Hashes == 0 }

func (n Need) union(o Need) Need {
	return Need{Content: n.Content || o.Content, Head: n.Head || o.Head, Hashes: n.Hashes | o.Hashes}
}

// Object is a file as presented to detectors.
type Object struct {
	Info FileInfo
	Type FileType // from DetectFileType; UNKNOWN when the head was not read
	Head []byte   // up to HeadSize leading bytes (always a copy in Go memory)
	// Data is the whole content, or nil when it was not read: the file is larger
	// than the size limit, or no detector asked for it. It may be backed by a
	// read-only mapping of the file: a detector reading it from Go is called
	// with fault-to-panic enabled, so a file truncated under it turns into a
	// scan error instead of a crash.
	Data   []byte
	Hashes Hashes
}

// Detector judges files. Implementations must be safe for concurrent use: the
// engine calls Detect from its workers in parallel.
type Detector interface {
	// Name identifies the detector in findings ("yara", "hashlist", "heuristic").
	Name() string
	// Version changes whenever the detector could judge a file differently
	// (new code or new rules); it is part of every scan-cache key.
	Version() string
	// Detect returns the findings for obj. The engine fills Path, FileType,
	// Size, MD5, SHA256 and, when empty, Detector; the detector sets the rest.
	Detect(ctx context.Context, obj *Object) ([]Finding, error)
}

// Requirer is implemented by detectors that can say, from the metadata alone,
// what they need from a file. A detector without it gets the whole content of
// every file.
type Requirer interface {
	Require(info *FileInfo) Need
}

// requirement returns what d needs from the file described by info.
func requirement(d Detector, info *FileInfo) Need {
	if r, ok := d.(Requirer); ok {
		return r.Require(info)
	}
	return Need{Content: true, Head: true}
}

// RuleFile is one rule source file, read whole.
type RuleFile struct {
	Name string // shown in problems and findings: "/etc/vigil/rules/x.yar", "builtin:miner.yar"
	Data []byte
}

// Kind builds a detector out of rule files: the YARA kind takes .yar files, the
// hash-list kind .hdb, .sha256 … files. Kinds are how detectors register with an
// engine (WithKind); the engine rebuilds them whenever the rule files change.
type Kind interface {
	// Name is the name of the detectors this kind builds.
	Name() string
	// Version is the version of the detector's code; it goes into the rule-set
	// version together with the rule contents.
	Version() string
	// Accepts reports whether a rule file with this name is for this kind.
	Accepts(name string) bool
	// Build compiles files into a detector. Problems in single files or lines
	// are reported, not returned as errors: the detector then holds everything
	// that did load. A non-nil error means no detector could be built at all.
	Build(ctx context.Context, files []RuleFile) (Detector, []Problem, error)
}

// Snapshotter is implemented by kinds whose detectors can be saved in a
// compiled form and restored faster than building them from source (see
// WithRuleSnapshot).
type Snapshotter interface {
	// Snapshot serialises a detector this kind built.
	Snapshot(d Detector) ([]byte, error)
	// Restore rebuilds the detector from Snapshot's output.
	Restore(data []byte) (Detector, error)
}

// Severity grades a Problem.
type Severity int

// Problem severities.
const (
	SeverityError   Severity = iota // the file or line was not loaded
	SeverityWarning                 // loaded, but probably not as intended
)

func (s Severity) String() string {
	if s == SeverityWarning {
		return "warning"
	}
	return "error"
}

// Problem is an error or warning about a rule file, with its line when known.
type Problem struct {
	File     string
	Line     int // 0 when the problem concerns the whole file
	Severity Severity
	Message  string
}

// String formats the problem as "file:line: message", with "warning: " before
// the message of warnings.
func (p Problem) String() string {
	loc := p.File
	if p.Line > 0 {
		loc = fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	if p.Severity == SeverityWarning {
		return loc + ": warning: " + p.Message
	}
	return loc + ": " + p.Message
}

// HasErrors reports whether any problem is an error (not just a warning).
func HasErrors(ps []Problem) bool {
	for _, p := range ps {
		if p.Severity == SeverityError {
			return true
		}
	}
	return false
}
