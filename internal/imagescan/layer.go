package imagescan

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/vigil-sec/vigil/internal/engine"
)

// Sentinel errors; the errors returned wrap one of them (errors.Is) and the
// cause.
var (
	ErrUnauthorized     = errors.New("registry refused access")
	ErrNotFound         = errors.New("image not found")
	ErrUnsupported      = errors.New("unsupported media type")
	ErrNoPlatform       = errors.New("no image for the platform")
	ErrLayerTooLarge    = errors.New("layer exceeds the uncompressed size limit")
	ErrCompressionRatio = errors.New("layer exceeds the decompression ratio limit")
	ErrIdleTimeout      = errors.New("layer download stalled")
	ErrCorruptLayer     = errors.New("corrupt or truncated layer")
	ErrDigestMismatch   = errors.New("layer digest mismatch")
)

const (
	whiteoutPrefix = ".wh."
	opaqueMarker   = ".wh..wh..opq"
)

// cleanPath turns a tar entry name into an in-image path without a leading
// slash. "..", "." and absolute names are resolved against the image root,
// so no name can point outside it; "" means the root itself.
func cleanPath(name string) string {
	return strings.TrimPrefix(path.Clean("/"+name), "/")
}

// pathHash is the compact fingerprint kept in LayerResult.Paths.
func pathHash(p string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(p))
	return h.Sum64()
}

// layerStream is one layer's blob to read.
type layerStream struct {
	index  int
	digest string
	size   int64
	open   func(ctx context.Context) (io.ReadCloser, error)
	// verifyDecompressed, if set, is the digest of the uncompressed tar
	// (docker save archives, whose layer files carry no digest of their own).
	verifyDecompressed v1.Hash
}

// layerOutcome is the result of reading one layer.
type layerOutcome struct {
	res      *LayerResult
	errs     []FileError
	skipped  int64
	duration time.Duration
}

// scanLayer streams one layer through the engine.
func (s *Scanner) scanLayer(ctx context.Context, ls layerStream, report func(done int64)) (*layerOutcome, error) {
	start := time.Now()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	rc, err := ls.open(ctx)
	if err != nil {
		return nil, classify(err)
	}
	defer rc.Close()

	cr := &countingReader{r: rc}
	cr.touch()
	stopWatch := s.watchIdle(ctx, cr, cancel)
	defer stopWatch()

	var progressDone sync.WaitGroup
	progressCtx, stopProgress := context.WithCancel(ctx)
	progressDone.Add(1)
	go func() { // report compressed progress a few times a second
		defer progressDone.Done()
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-progressCtx.Done():
				return
			case <-t.C:
				report(cr.n.Load())
			}
		}
	}()
	defer func() { stopProgress(); progressDone.Wait() }()

	out, err := s.readLayer(ctx, cancel, cr, ls.verifyDecompressed)
	if err != nil {
		if cause := context.Cause(ctx); cause != nil && ctx.Err() != nil && errors.Is(cause, ErrIdleTimeout) {
			err = cause
		}
		return nil, classify(err)
	}
	report(cr.n.Load())
	out.duration = time.Since(start)
	return out, nil
}

// readLayer decompresses and walks the tar stream; on success the whole
// blob has been read, so its digest was verified.
func (s *Scanner) readLayer(ctx context.Context, cancel context.CancelCauseFunc, cr *countingReader, diffID v1.Hash) (_ *layerOutcome, err error) {
	br := bufio.NewReaderSize(cr, 64<<10)
	magic, _ := br.Peek(4)
	var dec io.Reader
	var closeDec func()
	switch {
	case len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%w: gzip: %w", ErrCorruptLayer, err)
		}
		dec, closeDec = zr, func() { _ = zr.Close() }
	case bytes.Equal(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		// The window bound keeps a hostile frame from making the decoder
		// allocate gigabytes.
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(128<<20), zstd.WithDecoderMaxMemory(uint64(s.cfg.maxLayerBytes)))
		if err != nil {
			return nil, fmt.Errorf("%w: zstd: %w", ErrCorruptLayer, err)
		}
		dec, closeDec = zr, zr.Close
	default:
		dec, closeDec = br, func() {}
	}
	defer closeDec()

	lim := &bombGuard{r: dec, compressed: cr, max: s.cfg.maxLayerBytes, ratio: s.cfg.maxRatio, grace: s.cfg.ratioGrace}
	var tarStream io.Reader = lim
	if diffID.Hex != "" {
		rc, err := verifying(lim, diffID)
		if err != nil {
			return nil, err
		}
		tarStream = rc
	}
	ra := newReadahead(ctx, tarStream)
	defer func() {
		if err != nil { // unblock the readahead goroutine's network read
			cancel(err)
		}
		ra.Close()
	}()

	out, err := s.walkTar(ctx, ra)
	if err != nil {
		return nil, err
	}
	// Drain what follows the end-of-archive marker, then the compressed
	// stream itself: its digest is only checked at EOF.
	if _, err = io.Copy(io.Discard, ra); err != nil {
		return nil, err
	}
	if _, err = io.Copy(io.Discard, br); err != nil {
		return nil, err
	}
	out.res.Bytes = lim.n
	return out, nil
}

// walkTar judges every regular file of the archive and records what the
// whiteout resolution needs.
func (s *Scanner) walkTar(ctx context.Context, r io.Reader) (*layerOutcome, error) {
	tr := tar.NewReader(r)
	res := &LayerResult{}
	out := &layerOutcome{res: res}
	paths := map[uint64]struct{}{}
	// findings by path, to hide an earlier entry of the same path within
	// the layer and to give hard links their target's verdict.
	byPath := map[string][]int{}
	var logical int64
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrCorruptLayer, err)
		}
		p := cleanPath(hdr.Name)
		if p == "" {
			continue
		}
		dir, base := path.Split(p)
		dir = strings.TrimSuffix(dir, "/")
		if base == opaqueMarker {
			res.Opaque = append(res.Opaque, dir)
			continue
		}
		if name, ok := strings.CutPrefix(base, whiteoutPrefix); ok {
			res.Whiteouts = append(res.Whiteouts, path.Join(dir, name))
			continue
		}
		paths[pathHash(p)] = struct{}{}
		for _, i := range byPath[p] { // this entry replaces an earlier one
			res.Findings[i].Hidden = true
		}
		delete(byPath, p)

		switch hdr.Typeflag {
		case tar.TypeReg, tar.TypeRegA, tar.TypeGNUSparse: //nolint:staticcheck // TypeRegA appears in old archives
		case tar.TypeLink:
			// A hard link has its target's content. The target must be an
			// earlier entry of this layer (that is how tar writes them); its
			// verdict is copied, nothing is read again. Targets outside the
			// layer are not followed.
			target := cleanPath(hdr.Linkname)
			for _, i := range byPath[target] {
				f := res.Findings[i]
				f.Path = p
				f.Tags = slices.Clone(f.Tags)
				byPath[p] = append(byPath[p], len(res.Findings))
				res.Findings = append(res.Findings, f)
			}
			continue
		default: // directories, symlinks, devices, FIFOs: no content to judge
			continue
		}
		if hdr.Size > s.cfg.maxLayerBytes {
			return nil, fmt.Errorf("%w: entry %q claims %d bytes", ErrLayerTooLarge, p, hdr.Size)
		}
		info := engine.FileInfo{Path: p, Size: hdr.Size, Mode: hdr.FileInfo().Mode(), ModTime: hdr.ModTime}
		// Sparse entries can expand far beyond what the blob holds; their
		// logical bytes count against the same per-layer budget.
		er := &budgetReader{r: tr, used: &logical, max: s.cfg.maxLayerBytes}
		r, err := s.eng.Scan(ctx, info, er)
		if er.err != nil {
			return nil, er.err
		}
		if r.Skipped != engine.NotSkipped {
			out.skipped++
		} else {
			res.Files++
		}
		if err != nil {
			// The stream's own failure (caught by er above) ends the layer; a
			// detector failing on one file does not.
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			out.errs = append(out.errs, FileError{Path: p, Err: err.Error()})
		}
		for _, f := range r.Findings {
			byPath[p] = append(byPath[p], len(res.Findings))
			res.Findings = append(res.Findings, Finding{Finding: f})
		}
	}
	res.Paths = make([]uint64, 0, len(paths))
	for h := range paths {
		res.Paths = append(res.Paths, h)
	}
	slices.Sort(res.Paths)
	slices.Sort(res.Whiteouts)
	slices.Sort(res.Opaque)
	return out, nil
}

// FileError is a file that could not be fully judged.
type FileError struct {
	Path        string `json:"path"`
	LayerDigest string `json:"layer_digest"`
	Err         string `json:"error"`
}

// countingReader counts the compressed bytes and when they last arrived.
type countingReader struct {
	r    io.Reader
	n    atomic.Int64
	last atomic.Int64 // unix nanoseconds
}

func (c *countingReader) touch() { c.last.Store(time.Now().UnixNano()) }

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.n.Add(int64(n))
		c.touch()
	}
	return n, err
}

// watchIdle cancels ctx with ErrIdleTimeout when no compressed byte arrives
// for the idle timeout. Cancelling the request context aborts a blocked body
// read, which closing the body from another goroutine would not.
func (s *Scanner) watchIdle(ctx context.Context, cr *countingReader, cancel context.CancelCauseFunc) func() {
	d := s.cfg.idleTimeout
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(max(d/8, 10*time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				if time.Since(time.Unix(0, cr.last.Load())) > d {
					cancel(fmt.Errorf("%w: no data for %s after %d bytes", ErrIdleTimeout, d, cr.n.Load()))
					return
				}
			}
		}
	}()
	return func() { close(done) }
}

// bombGuard caps the decompressed output: total bytes and, past grace, the
// ratio to the compressed bytes read so far.
type bombGuard struct {
	r          io.Reader
	compressed *countingReader
	n          int64
	max        int64
	ratio      int64
	grace      int64
}

func (b *bombGuard) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n += int64(n)
	if b.n > b.max {
		return n, fmt.Errorf("%w: more than %d bytes", ErrLayerTooLarge, b.max)
	}
	if b.n > b.grace {
		if c := b.compressed.n.Load(); c > 0 && b.n/c > b.ratio {
			return n, fmt.Errorf("%w: %d bytes from %d compressed (limit %d:1)", ErrCompressionRatio, b.n, c, b.ratio)
		}
	}
	if err != nil && err != io.EOF && !strings.Contains(err.Error(), "error verifying") {
		err = fmt.Errorf("%w: %w", ErrCorruptLayer, err)
	}
	return n, err
}

// budgetReader counts an entry's logical bytes against the layer budget.
type budgetReader struct {
	r    io.Reader
	used *int64
	max  int64
	err  error
}

func (b *budgetReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	*b.used += int64(n)
	if *b.used > b.max {
		b.err = fmt.Errorf("%w: more than %d bytes of file content", ErrLayerTooLarge, b.max)
		return n, b.err
	}
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

// readahead decompresses ahead of the tar walk in its own goroutine, so
// decompression overlaps with the engine judging the previous file. It holds
// at most readaheadChunks chunks.
type readahead struct {
	ch     chan []byte
	free   chan []byte
	cur    []byte
	buf    []byte
	err    error
	errc   chan error
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newReadahead(ctx context.Context, r io.Reader) *readahead {
	ctx, cancel := context.WithCancel(ctx)
	ra := &readahead{ch: make(chan []byte, readaheadChunks), free: make(chan []byte, readaheadChunks+2),
		errc: make(chan error, 1), cancel: cancel}
	for range readaheadChunks + 2 {
		ra.free <- make([]byte, readaheadChunk)
	}
	ra.wg.Add(1)
	go func() {
		defer ra.wg.Done()
		defer close(ra.ch)
		for {
			var b []byte
			select {
			case b = <-ra.free:
			case <-ctx.Done():
				ra.errc <- ctx.Err()
				return
			}
			n, err := io.ReadFull(r, b)
			if n > 0 {
				select {
				case ra.ch <- b[:n]:
				case <-ctx.Done():
					ra.errc <- ctx.Err()
					return
				}
			}
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				ra.errc <- io.EOF
				return
			}
			if err != nil {
				ra.errc <- err
				return
			}
		}
	}()
	return ra
}

func (ra *readahead) Read(p []byte) (int, error) {
	for len(ra.cur) == 0 {
		if ra.err != nil {
			return 0, ra.err
		}
		if ra.buf != nil {
			ra.free <- ra.buf[:cap(ra.buf)]
			ra.buf = nil
		}
		b, ok := <-ra.ch
		if !ok {
			ra.err = <-ra.errc
			return 0, ra.err
		}
		ra.cur, ra.buf = b, b
	}
	n := copy(p, ra.cur)
	ra.cur = ra.cur[n:]
	return n, nil
}

func (ra *readahead) Close() {
	ra.cancel()
	for range ra.ch { //nolint:revive // drain so the goroutine can exit
	}
	ra.wg.Wait()
}
