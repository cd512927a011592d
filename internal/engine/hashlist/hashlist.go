// Package hashlist is the hash-list detector of the engine: files whose digest
// is on a list of known-bad hashes (threat intelligence, CheckPlatform "5").
//
// Two families of files are read:
//   - plain lists .md5, .sha1, .sha256: one hex digest per line, optionally
//     followed by whitespace and a malware name ("sha256sum" output works);
//   - ClamAV hash signatures .hdb (MD5) and .hsb (SHA1 or SHA256), and their
//     unofficial .hdu/.hsu variants: "HASH:SIZE:NAME[:FLEVEL]", SIZE a byte
//     count or "*".
//
// Blank lines and lines starting with # are ignored. A malformed line is
// reported with its line number and skipped; the rest of the file loads.
//
// The detector asks the engine only for the digests that can match: a file
// whose size equals no sized ClamAV entry is not hashed at all (unless a plain
// list or a "*" entry of that digest exists).
package hashlist

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/vigil-sec/vigil/internal/engine"
)

// Name is the detector name in findings.
const Name = "hashlist"

// version of the matching code; bump when verdicts could change.
const version = "1"

// Tag is the tag of every hash-list finding.
const Tag = "hash_list"

const anySize = -1

// entry is one known-bad digest.
type entry struct {
	kind   engine.HashKinds
	digest [32]byte // first 16/20/32 bytes used
	size   int64    // anySize or the exact file size
	name   string
	file   string
	line   int
	next   int32 // index of the next entry with the same digest, -1 at the end
}

// DB is a set of known-bad digests with the file sizes they apply to.
type DB struct {
	entries []entry
	md5     map[[16]byte]int32
	sha1    map[[20]byte]int32
	sha256  map[[32]byte]int32
	anySize engine.HashKinds           // kinds with an entry valid for any size
	bySize  map[int64]engine.HashKinds // kinds with an entry of exactly this size
	sized   engine.HashKinds           // kinds with any sized entry
}

func newDB() *DB {
	return &DB{
		md5:    map[[16]byte]int32{},
		sha1:   map[[20]byte]int32{},
		sha256: map[[32]byte]int32{},
		bySize: map[int64]engine.HashKinds{},
	}
}

// Len returns the number of entries.
func (db *DB) Len() int { return len(db.entries) }

func (db *DB) add(e entry) {
	idx := int32(len(db.entries))
	e.next = -1
	switch e.kind {
	case engine.HashMD5:
		k := [16]byte(e.digest[:16])
		if prev, ok := db.md5[k]; ok {
			e.next = prev
		}
		db.md5[k] = idx
	case engine.HashSHA1:
		k := [20]byte(e.digest[:20])
		if prev, ok := db.sha1[k]; ok {
			e.next = prev
		}
		db.sha1[k] = idx
	case engine.HashSHA256:
		if prev, ok := db.sha256[e.digest]; ok {
			e.next = prev
		}
		db.sha256[e.digest] = idx
	}
	db.entries = append(db.entries, e)
	if e.size == anySize {
		db.anySize |= e.kind
	} else {
		db.bySize[e.size] |= e.kind
		db.sized |= e.kind
	}
}

// need returns the digests worth computing for a file of size (-1: unknown).
func (db *DB) need(size int64) engine.HashKinds {
	if size < 0 {
		return db.anySize | db.sized
	}
	return db.anySize | db.bySize[size]
}

// lookup calls fn for every entry matching the computed digests and size.
func (db *DB) lookup(h *engine.Hashes, size int64, fn func(*entry)) {
	walk := func(i int32, ok bool) {
		for ; ok && i >= 0; i = db.entries[i].next {
			e := &db.entries[i]
			if e.size == anySize || e.size == size {
				fn(e)
			}
		}
	}
	if h.Have&engine.HashMD5 != 0 {
		i, ok := db.md5[h.MD5]
		walk(i, ok)
	}
	if h.Have&engine.HashSHA1 != 0 {
		i, ok := db.sha1[h.SHA1]
		walk(i, ok)
	}
	if h.Have&engine.HashSHA256 != 0 {
		i, ok := db.sha256[h.SHA256]
		walk(i, ok)
	}
}

// Load parses hash files into a DB, reporting malformed lines.
func Load(files []engine.RuleFile) (*DB, []engine.Problem) {
	db := newDB()
	var problems []engine.Problem
	for _, f := range files {
		problems = append(problems, db.parse(f.Name, f.Data)...)
	}
	return db, problems
}

type kind struct{}

// Kind returns the hash-list detector kind, to register with engine.WithKind.
func Kind() engine.Kind { return kind{} }

func (kind) Name() string    { return Name }
func (kind) Version() string { return version }

func (kind) Accepts(name string) bool {
	_, _, ok := formatOf(name)
	return ok
}

// Build loads files; it returns no detector when they hold no entry.
func (kind) Build(_ context.Context, files []engine.RuleFile) (engine.Detector, []engine.Problem, error) {
	db, problems := Load(files)
	if db.Len() == 0 {
		return nil, problems, nil
	}
	return &Detector{db: db}, problems, nil
}

// Detector matches file digests against a DB.
type Detector struct {
	db *DB
}

// NewDetector returns a detector over db.
func NewDetector(db *DB) *Detector { return &Detector{db: db} }

func (d *Detector) Name() string { return Name }

// Version covers only the code: the rule-set version already hashes the files.
func (d *Detector) Version() string { return version }

// Require asks for the digests that could match a file of this size; no
// content, no head.
func (d *Detector) Require(info *engine.FileInfo) engine.Need {
	return engine.Need{Hashes: d.db.need(info.Size)}
}

// Detect reports one finding per distinct malware name whose digest matches.
func (d *Detector) Detect(_ context.Context, obj *engine.Object) ([]engine.Finding, error) {
	var findings []engine.Finding
	seen := map[string]bool{}
	d.db.lookup(&obj.Hashes, obj.Info.Size, func(e *entry) {
		name := e.virusName()
		if seen[name] {
			return
		}
		seen[name] = true
		findings = append(findings, e.finding(name))
	})
	return findings, nil
}

func (e *entry) virusName() string {
	if e.name != "" {
		return e.name
	}
	base := filepath.Base(e.file)
	return "Hash." + strings.TrimSuffix(base, filepath.Ext(base))
}

// finding builds the report for a match. ClamAV names look like
// Platform.Category.Family-ID; their middle part becomes the category.
func (e *entry) finding(name string) engine.Finding {
	category := "Malware"
	if parts := strings.Split(name, "."); len(parts) >= 3 && parts[1] != "" {
		category = parts[1]
	}
	alg := kindName(e.kind)
	list := filepath.Base(e.file)
	return engine.Finding{
		VirusName: name,
		Tags:      []string{Tag},
		Risk:      engine.RiskHigh,
		Category:  category,
		Description: engine.Text{
			ZH: fmt.Sprintf("文件的 %s 值命中威胁情报哈希库 %s 中的恶意样本 %s，该文件是已知的恶意文件，您的主机可能已经失陷。", alg, list, name),
			EN: fmt.Sprintf("The file's %s matches the known-malicious sample %s in the threat-intelligence hash list %s; the host may be compromised.", alg, name, list),
		},
		Solution: engine.GenericSolution(),
		Detector: Name,
		Platform: engine.PlatformThreatIntel,
		Rule:     fmt.Sprintf("%s:%d", list, e.line),
	}
}
