package engine

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"runtime/debug"
)

// hashSet computes several digests in one pass over a stream.
type hashSet struct {
	kinds  HashKinds
	md5    hash.Hash
	sha1   hash.Hash
	sha256 hash.Hash
	w      io.Writer
}

func newHashSet(kinds HashKinds) *hashSet {
	h := &hashSet{kinds: kinds}
	var ws []io.Writer
	if kinds&HashMD5 != 0 {
		h.md5 = md5.New()
		ws = append(ws, h.md5)
	}
	if kinds&HashSHA1 != 0 {
		h.sha1 = sha1.New()
		ws = append(ws, h.sha1)
	}
	if kinds&HashSHA256 != 0 {
		h.sha256 = sha256.New()
		ws = append(ws, h.sha256)
	}
	h.w = io.MultiWriter(ws...)
	return h
}

func (h *hashSet) Write(p []byte) (int, error) { return h.w.Write(p) }

// into stores the digests in dst.
func (h *hashSet) into(dst *Hashes) {
	if h.md5 != nil {
		h.md5.Sum(dst.MD5[:0])
	}
	if h.sha1 != nil {
		h.sha1.Sum(dst.SHA1[:0])
	}
	if h.sha256 != nil {
		h.sha256.Sum(dst.SHA256[:0])
	}
	dst.Have |= h.kinds
}

// merge copies the digests o has into h.
func (h *Hashes) merge(o *Hashes) {
	if o.Have&HashMD5 != 0 {
		h.MD5 = o.MD5
	}
	if o.Have&HashSHA1 != 0 {
		h.SHA1 = o.SHA1
	}
	if o.Have&HashSHA256 != 0 {
		h.SHA256 = o.SHA256
	}
	h.Have |= o.Have
}

// hashData adds the digests in want that dst lacks, computed over data.
func hashData(dst *Hashes, want HashKinds, data []byte) {
	missing := want &^ dst.Have
	if missing&HashMD5 != 0 {
		dst.MD5 = md5.Sum(data)
	}
	if missing&HashSHA1 != 0 {
		dst.SHA1 = sha1.Sum(data)
	}
	if missing&HashSHA256 != 0 {
		dst.SHA256 = sha256.Sum256(data)
	}
	dst.Have |= missing
}

// guard runs fn with memory faults turned into panics and recovers them as
// ErrChanged: reading a mapping whose file was truncated raises SIGBUS, which
// must cost one file, not the process. Any other panic (a detector bug on a
// hostile file) becomes an error too, for the same reason.
func guard(what string, fn func() error) (err error) {
	old := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(old)
		if r := recover(); r != nil {
			if fault, ok := r.(interface{ Addr() uintptr }); ok {
				err = fmt.Errorf("%w: %s: memory fault at %#x (file truncated?)", ErrChanged, what, fault.Addr())
				return
			}
			err = fmt.Errorf("%s: panic: %v", what, r)
		}
	}()
	return fn()
}
