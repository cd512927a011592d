package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"golang.org/x/sys/unix"
)

// SkipReason says why a file was not judged.
type SkipReason string

// Reasons for skipping a file.
const (
	NotSkipped      SkipReason = ""
	SkipNotRegular  SkipReason = "not_regular" // FIFO, socket, device, symlink or directory
	SkipTooLarge    SkipReason = "too_large"   // above the size limit
	SkipAllowlisted SkipReason = "allowlisted" // path matches the allowlist
)

// Result is the outcome of scanning one file.
type Result struct {
	Info     FileInfo
	Type     FileType // "" when the file did not have to be read
	Findings []Finding
	Skipped  SkipReason
	Cached   bool // judged from the scan cache, nothing read
	// Allowlisted counts findings dropped because the file's hash is allowlisted.
	Allowlisted int
	BytesRead   int64
	// Err is why the file could not be (fully) scanned. Findings made before
	// the error are still reported. ScanFile and Scan also return it.
	Err error
}

// ScanFile judges the local file at path. A symlink is not followed (the
// result is skipped as not regular); resolve it first if that is what you mean.
func (e *Engine) ScanFile(ctx context.Context, path string) (*Result, error) {
	info, err := lstat(path)
	if err != nil {
		return &Result{Info: info, Err: err}, err
	}
	res := e.scanLocal(ctx, e.rules.Load(), info)
	return res, res.Err
}

// Scan judges a file given as a stream, as a layer walker provides it. info.Size
// is the number of bytes r yields (-1 when unknown); r is read at most once and
// not beyond the size limit unless the oversize file must be hashed. The scan
// cache is used only when info carries a device and inode.
func (e *Engine) Scan(ctx context.Context, info FileInfo, r io.Reader) (*Result, error) {
	res := e.scanStream(ctx, e.rules.Load(), info, r)
	return res, res.Err
}

// needs returns what each detector of rs needs from the file, and their union.
func (rs *RuleSet) needs(info *FileInfo) ([]Need, Need) {
	per := make([]Need, len(rs.detectors))
	var all Need
	for i, d := range rs.detectors {
		per[i] = requirement(d, info)
		all = all.union(per[i])
	}
	return per, all
}

// precheck decides the skips that need no I/O.
func (e *Engine) precheck(info *FileInfo) SkipReason {
	if !info.Mode.IsRegular() {
		return SkipNotRegular
	}
	if e.cfg.allow.MatchPath(info.Path) {
		return SkipAllowlisted
	}
	return NotSkipped
}

// oversizeSkip reports whether a file of size is skipped for its size given
// what the detectors need: above the limit only hashing is ever done.
func (e *Engine) oversizeSkip(size int64, total Need) bool {
	return size > e.cfg.maxSize && !(e.cfg.hashOversize && total.Hashes != 0)
}

// quickJudge settles what needs no I/O: skips, cache hits, files no detector
// wants anything from. It returns nil when the file must be read.
func (e *Engine) quickJudge(rs *RuleSet, info FileInfo) *Result {
	res := &Result{Info: info}
	if res.Skipped = e.precheck(&info); res.Skipped != NotSkipped {
		return res
	}
	if e.cacheLookup(rs, res) {
		return res
	}
	_, total := rs.needs(&info)
	if total.IsZero() {
		e.cacheStore(rs, res)
		return res
	}
	if e.oversizeSkip(info.Size, total) {
		res.Skipped = SkipTooLarge
		return res
	}
	return nil
}

func (e *Engine) scanLocal(ctx context.Context, rs *RuleSet, info FileInfo) *Result {
	if res := e.quickJudge(rs, info); res != nil {
		return res
	}
	return e.readAndJudge(ctx, rs, info)
}

// readAndJudge opens and reads the file for the detectors.
func (e *Engine) readAndJudge(ctx context.Context, rs *RuleSet, info FileInfo) *Result {
	res := &Result{Info: info}
	needs, total := rs.needs(&info)
	if err := e.acquire(ctx); err != nil {
		res.Err = err
		return res
	}
	defer e.release()

	fd, st, err := openRegular(info.Path, &info)
	if err != nil {
		if errors.Is(err, ErrNotRegular) {
			res.Skipped = SkipNotRegular
			return res
		}
		res.Err = err
		return res
	}
	defer unix.Close(fd)
	fresh := statInfo(info.Path, &st)
	if fresh.Size != info.Size { // changed since the lstat: what detectors need may differ
		needs, total = rs.needs(&fresh)
	}
	info = fresh
	res.Info = info
	if e.oversizeSkip(info.Size, total) {
		res.Skipped = SkipTooLarge
		return res
	}
	ctx, cancel := context.WithTimeout(ctx, e.cfg.fileTimeout)
	defer cancel()

	obj := &Object{Info: info}
	var c content
	defer c.release(e)
	switch {
	case info.Size > e.cfg.maxSize: // hash-only
		err = hashOnly(ctx, &fdReader{fd: fd}, obj, total.Hashes)
		res.BytesRead = info.Size
	case total.Content || total.Hashes != 0:
		c, err = e.loadFile(fd, info.Size)
		if err == nil {
			obj.Data = c.data
			res.BytesRead = int64(len(c.data))
			err = guard("read head", func() error {
				obj.Head = append([]byte(nil), c.data[:min(len(c.data), HeadSize)]...)
				return nil
			})
		}
	default: // head only
		head := make([]byte, min(info.Size, HeadSize))
		var n int
		n, err = preadFull(fd, head)
		obj.Head = head[:n]
		res.BytesRead = int64(n)
	}
	if err != nil {
		res.Err = err
		return res
	}
	obj.Type = DetectFileType(info.Path, obj.Head)
	res.Type = obj.Type
	res.Findings, res.Err = e.judge(ctx, rs, obj, needs, total)
	hashErr := complete(ctx, obj, res.Findings, func() (io.Reader, bool) { return &fdReader{fd: fd}, true })
	res.Err = errors.Join(res.Err, hashErr)

	var after unix.Stat_t
	if err := unix.Fstat(fd, &after); err != nil || !sameStat(&st, &after) {
		res.Err = errors.Join(res.Err, ErrChanged)
	}
	if res.Err == nil {
		e.cacheStore(rs, res)
	}
	e.applyAllowlist(res)
	return res
}

func (e *Engine) scanStream(ctx context.Context, rs *RuleSet, info FileInfo, r io.Reader) *Result {
	if res := e.quickJudge(rs, info); res != nil {
		return res
	}
	res := &Result{Info: info}
	needs, total := rs.needs(&info)
	if err := e.acquire(ctx); err != nil {
		res.Err = err
		return res
	}
	defer e.release()
	ctx, cancel := context.WithTimeout(ctx, e.cfg.fileTimeout)
	defer cancel()

	obj := &Object{Info: info}
	var c content
	defer c.release(e)
	var err error
	switch {
	case info.Size > e.cfg.maxSize: // hash-only
		err = hashOnly(ctx, r, obj, total.Hashes)
		res.BytesRead = info.Size
	case info.Size >= 0:
		if c, err = e.anonBuffer(info.Size); err == nil {
			var n int
			n, err = io.ReadFull(r, c.data)
			res.BytesRead = int64(n)
			if err == io.ErrUnexpectedEOF || err == io.EOF && info.Size > 0 {
				err = fmt.Errorf("stream ended after %d of %d bytes", n, info.Size)
			}
			obj.Data = c.data
		}
	default: // unknown size: read up to the limit
		var data []byte
		data, err = io.ReadAll(io.LimitReader(r, e.cfg.maxSize+1))
		res.BytesRead = int64(len(data))
		if err == nil && int64(len(data)) > e.cfg.maxSize {
			if !(e.cfg.hashOversize && total.Hashes != 0) {
				res.Skipped = SkipTooLarge
				return res
			}
			err = hashOnly(ctx, io.MultiReader(bytes.NewReader(data), r), obj, total.Hashes)
			res.BytesRead = obj.Info.Size
			data = nil
		}
		obj.Data = data
	}
	if err != nil {
		res.Err = err
		return res
	}
	if obj.Data != nil {
		obj.Info.Size = int64(len(obj.Data))
		obj.Head = append([]byte(nil), obj.Data[:min(len(obj.Data), HeadSize)]...)
	}
	res.Info.Size = obj.Info.Size
	obj.Type = DetectFileType(info.Path, obj.Head)
	res.Type = obj.Type
	res.Findings, res.Err = e.judge(ctx, rs, obj, needs, total)
	// A stream cannot be read twice: its digests come from the buffered
	// content, or from the hash-only pass of an oversize stream.
	res.Err = errors.Join(res.Err, complete(ctx, obj, res.Findings, func() (io.Reader, bool) { return nil, false }))
	if res.Err == nil {
		e.cacheStore(rs, res)
	}
	e.applyAllowlist(res)
	return res
}

// judge hashes what is needed, runs the detectors that want this file, and
// completes their findings.
func (e *Engine) judge(ctx context.Context, rs *RuleSet, obj *Object, needs []Need, total Need) ([]Finding, error) {
	if total.Hashes != 0 && obj.Data != nil {
		if err := guard("hash", func() error { hashData(&obj.Hashes, total.Hashes, obj.Data); return nil }); err != nil {
			return nil, err
		}
	}
	var findings []Finding
	var errs []error
	for i, d := range rs.detectors {
		if needs[i].IsZero() {
			continue
		}
		if err := ctx.Err(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", d.Name(), err))
			break
		}
		var fs []Finding
		err := guard(d.Name(), func() error {
			var err error
			fs, err = d.Detect(ctx, obj)
			return err
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", d.Name(), err))
		}
		for j := range fs {
			if fs[j].Detector == "" {
				fs[j].Detector = d.Name()
			}
		}
		findings = append(findings, fs...)
	}
	return findings, errors.Join(errs...)
}

// reportHashes are the digests every finding carries.
const reportHashes = HashMD5 | HashSHA256

// complete fills the fields the engine owns in findings, computing MD5 and
// SHA256 if the detectors did not need them: from the content when it was
// read, else through reread (a file judged from its head alone).
func complete(ctx context.Context, obj *Object, findings []Finding, reread func() (io.Reader, bool)) error {
	if len(findings) == 0 {
		return nil
	}
	var err error
	if obj.Hashes.Have&reportHashes != reportHashes {
		if obj.Data != nil {
			err = guard("hash", func() error { hashData(&obj.Hashes, reportHashes, obj.Data); return nil })
		} else if r, ok := reread(); ok {
			var h Hashes
			h, _, _, err = hashReader(ctx, r, reportHashes&^obj.Hashes.Have)
			obj.Hashes.merge(&h)
		}
	}
	for i := range findings {
		f := &findings[i]
		f.Path = obj.Info.Path
		f.FileType = obj.Type
		f.Size = obj.Info.Size
		f.MD5 = obj.Hashes.MD5Hex()
		f.SHA256 = obj.Hashes.SHA256Hex()
	}
	return err
}

// hashReader computes kinds over everything r yields; it also returns the
// byte count and the head.
func hashReader(ctx context.Context, r io.Reader, kinds HashKinds) (Hashes, int64, []byte, error) {
	var h Hashes
	hs := newHashSet(kinds)
	buf := make([]byte, 1<<20)
	var head []byte
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return h, n, head, err
		}
		m, err := r.Read(buf)
		if m > 0 {
			if head == nil {
				head = append([]byte(nil), buf[:min(m, HeadSize)]...)
			}
			hs.Write(buf[:m])
			n += int64(m)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return h, n, head, fmt.Errorf("read: %w", err)
		}
	}
	hs.into(&h)
	return h, n, head, nil
}

// hashOnly judges an oversize file by its digests alone: obj gets the
// digests, the head and the true size.
func hashOnly(ctx context.Context, r io.Reader, obj *Object, kinds HashKinds) error {
	h, n, head, err := hashReader(ctx, r, kinds|reportHashes)
	obj.Hashes, obj.Head, obj.Info.Size = h, head, n
	return err
}

// fdReader reads a file descriptor sequentially with pread.
type fdReader struct {
	fd  int
	off int64
}

func (r *fdReader) Read(p []byte) (int, error) {
	for {
		n, err := unix.Pread(r.fd, p, r.off)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, err
		}
		if n == 0 {
			return 0, io.EOF
		}
		r.off += int64(n)
		return n, nil
	}
}

func (e *Engine) acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case e.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (e *Engine) release() { <-e.slots }

func (e *Engine) getBuffer() *[]byte {
	if b, ok := e.bufs.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, smallFileSize)
	return &b
}

func (e *Engine) putBuffer(b *[]byte) { e.bufs.Put(b) }

func (e *Engine) cacheLookup(rs *RuleSet, res *Result) bool {
	if e.cfg.cache == nil {
		return false
	}
	ent, ok := e.cfg.cache.lookup(&res.Info, rs.version)
	if !ok {
		return false
	}
	res.Cached = true
	res.Type = ent.Type
	res.Findings = cloneFindings(ent.Findings)
	for i := range res.Findings {
		res.Findings[i].Path = res.Info.Path
	}
	e.applyAllowlist(res)
	return true
}

// cacheStore remembers a clean or dirty verdict, unless the file changed so
// recently that a later change could keep the same timestamps.
func (e *Engine) cacheStore(rs *RuleSet, res *Result) {
	if e.cfg.cache == nil {
		return
	}
	changed := res.Info.ChangeTime
	if changed.IsZero() {
		changed = res.Info.ModTime
	}
	if !changed.Before(e.cfg.now().Add(-e.cfg.racyWindow)) {
		return
	}
	e.cfg.cache.store(&res.Info, rs.version, res.Type, res.Findings)
}

// applyAllowlist drops the findings of a file whose hash is allowlisted.
func (e *Engine) applyAllowlist(res *Result) {
	if len(res.Findings) == 0 || !e.cfg.allow.hasHashes() {
		return
	}
	f := res.Findings[0]
	if e.cfg.allow.MatchHash(f.MD5, f.SHA256) {
		res.Allowlisted = len(res.Findings)
		res.Findings = nil
	}
}
