// Package spool is the agent's durable on-disk FIFO of event batches: what
// the agent detected but the server has not acknowledged yet. It survives
// crashes and server outages, delivers at least once, and is bounded.
//
// # Layout
//
// A directory holds segment files (%016x.seg, sequence numbers counting up),
// a head file and a lock file. A segment is a sequence of records:
//
//	length  uint32 LE   payload bytes
//	items   uint32 LE   events in the payload (counted when dropped)
//	crc     uint32 LE   CRC-32C of items and payload
//	payload [length]byte
//
// Append writes a record at the end of the newest segment and fsyncs it
// before returning, so an appended batch survives a crash of the agent or of
// the machine. A new segment starts when the current one would pass the
// segment size; creating one fsyncs the directory.
//
// The head file names the oldest unacknowledged record (segment, offset)
// and the count of dropped events not yet reported; it is replaced
// atomically (write, fsync, rename). Ack moves the head past records the
// server acknowledged and deletes segments left behind; a crash between the
// server's answer and Ack means those records are sent again (the server
// ingests idempotently).
//
// On Open, every segment is scanned: a torn tail (short or failing its CRC —
// the agent died mid-write) of the newest segment is truncated; a bad record
// in an older segment (corruption on disk) ends that segment.
//
// When an Append would pass the size bound, the oldest records are dropped —
// a whole segment at a time — and their items added to the dropped count,
// which the uploader reports to the server and then clears with AckDropped.
package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

const (
	headerSize = 12
	headFile   = "head"
	lockFile   = "LOCK"
	segExt     = ".seg"
	// maxRecord bounds one record so a corrupt length never allocates much.
	maxRecord = 64 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrTooLarge is returned by Append for a record larger than a quarter of
// the spool's bound.
var ErrTooLarge = errors.New("spool: record too large")

// ErrClosed is returned after Close.
var ErrClosed = errors.New("spool: closed")

// Option configures Open.
type Option func(*options)

type options struct {
	maxBytes     int64
	segmentBytes int64
	noSync       bool
}

// WithMaxBytes bounds the spool's size on disk (default 64 MiB, at least 64 KiB).
func WithMaxBytes(n int64) Option { return func(o *options) { o.maxBytes = max(n, 64<<10) } }

// WithSegmentBytes sets the size at which a new segment starts (default
// min(4 MiB, max/8)); it is capped at a quarter of the bound, so that
// dropping the oldest segment always makes room.
func WithSegmentBytes(n int64) Option { return func(o *options) { o.segmentBytes = n } }

// WithNoSync skips fsync (tests and benchmarks only: a machine crash may
// lose appended records).
func WithNoSync() Option { return func(o *options) { o.noSync = true } }

type entry struct {
	off   int64 // of the header
	size  int64 // header + payload
	items uint32
}

type segment struct {
	seq     uint64
	size    int64
	entries []entry // unacknowledged records only
}

// Position identifies a record's end: acknowledging it acknowledges every
// record before it.
type Position struct {
	Seq uint64
	Off int64
}

func (p Position) before(q Position) bool {
	return p.Seq < q.Seq || p.Seq == q.Seq && p.Off < q.Off
}

// Record is a record handed out by Peek.
type Record struct {
	Data  []byte
	Items int
	End   Position
}

// Spool is a durable FIFO. It is safe for concurrent use: typically one
// goroutine appends and one (the uploader) peeks and acks.
type Spool struct {
	dir  string
	opts options
	lock *os.File

	mu       sync.Mutex
	segs     []*segment // oldest first; the last is the active one
	active   *os.File
	head     Position
	dropped  uint64
	bytes    int64 // of unacknowledged records
	records  int
	items    int64
	closed   bool
	notifyCh chan struct{}
}

// Open opens (creating if needed) the spool in dir, recovering from a crash.
func Open(dir string, opts ...Option) (*Spool, error) {
	o := options{maxBytes: 64 << 20}
	for _, opt := range opts {
		opt(&o)
	}
	if o.segmentBytes <= 0 {
		o.segmentBytes = min(4<<20, o.maxBytes/8)
	}
	o.segmentBytes = min(o.segmentBytes, o.maxBytes/4)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, fmt.Errorf("spool: %s is in use by another process: %w", dir, err)
	}
	s := &Spool{dir: dir, opts: o, lock: lock, notifyCh: make(chan struct{}, 1)}
	if err := s.recover(); err != nil {
		s.closeFiles()
		return nil, err
	}
	return s, nil
}

func (s *Spool) segPath(seq uint64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%016x%s", seq, segExt))
}

func (s *Spool) recover() error {
	s.head, s.dropped = s.readHead()
	names, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	var seqs []uint64
	for _, e := range names {
		name, ok := strings.CutSuffix(e.Name(), segExt)
		if !ok {
			continue
		}
		seq, err := strconv.ParseUint(name, 16, 64)
		if err != nil {
			continue
		}
		seqs = append(seqs, seq)
	}
	slices.Sort(seqs)
	for i, seq := range seqs {
		if seq < s.head.Seq {
			// Acknowledged (or dropped) before a crash kept us from deleting it.
			if err := os.Remove(s.segPath(seq)); err != nil {
				return fmt.Errorf("spool: %w", err)
			}
			continue
		}
		seg, err := s.scan(seq, i == len(seqs)-1)
		if err != nil {
			return err
		}
		s.segs = append(s.segs, seg)
	}
	if len(s.segs) == 0 {
		seq := max(s.head.Seq, 1)
		return s.newSegment(seq)
	}
	last := s.segs[len(s.segs)-1]
	f, err := os.OpenFile(s.segPath(last.seq), os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	s.active = f
	if s.head.Seq < s.segs[0].seq {
		s.head = Position{Seq: s.segs[0].seq}
	}
	return nil
}

// scan reads a segment's records, truncating a torn tail of the last one.
func (s *Spool) scan(seq uint64, last bool) (*segment, error) {
	path := s.segPath(seq)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	seg := &segment{seq: seq}
	off := int64(0)
	for {
		rest := data[off:]
		if len(rest) < headerSize {
			break
		}
		n := binary.LittleEndian.Uint32(rest[0:4])
		if n > maxRecord || int64(len(rest)) < headerSize+int64(n) {
			break
		}
		sum := crc32.Update(crc32.Checksum(rest[4:8], castagnoli), castagnoli, rest[headerSize:headerSize+n])
		if sum != binary.LittleEndian.Uint32(rest[8:12]) {
			break
		}
		size := headerSize + int64(n)
		if seq > s.head.Seq || off >= s.head.Off {
			e := entry{off: off, size: size, items: binary.LittleEndian.Uint32(rest[4:8])}
			seg.entries = append(seg.entries, e)
			s.bytes += size
			s.records++
			s.items += int64(e.items)
		}
		off += size
	}
	seg.size = off
	if off < int64(len(data)) && last {
		if err := os.Truncate(path, off); err != nil {
			return nil, fmt.Errorf("spool: truncating the torn tail of %s: %w", path, err)
		}
	}
	return seg, nil
}

func (s *Spool) newSegment(seq uint64) error {
	f, err := os.OpenFile(s.segPath(seq), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if err := s.syncDir(); err != nil {
		f.Close()
		return err
	}
	if s.active != nil {
		s.active.Close()
	}
	s.active = f
	s.segs = append(s.segs, &segment{seq: seq})
	return nil
}

func (s *Spool) syncDir() error {
	if s.opts.noSync {
		return nil
	}
	d, err := os.Open(s.dir)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("spool: syncing %s: %w", s.dir, err)
	}
	return nil
}

// head file: seq, off, dropped (uint64 LE each), CRC-32C of the 24 bytes.
func (s *Spool) readHead() (Position, uint64) {
	b, err := os.ReadFile(filepath.Join(s.dir, headFile))
	if err != nil || len(b) != 28 || crc32.Checksum(b[:24], castagnoli) != binary.LittleEndian.Uint32(b[24:]) {
		// Missing or damaged: start at the oldest segment (records may be
		// sent again, never lost).
		return Position{}, 0
	}
	return Position{Seq: binary.LittleEndian.Uint64(b[0:]), Off: int64(binary.LittleEndian.Uint64(b[8:]))},
		binary.LittleEndian.Uint64(b[16:])
}

func (s *Spool) writeHead() error {
	var b [28]byte
	binary.LittleEndian.PutUint64(b[0:], s.head.Seq)
	binary.LittleEndian.PutUint64(b[8:], uint64(s.head.Off))
	binary.LittleEndian.PutUint64(b[16:], s.dropped)
	binary.LittleEndian.PutUint32(b[24:], crc32.Checksum(b[:24], castagnoli))
	tmp := filepath.Join(s.dir, headFile+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	_, err = f.Write(b[:])
	if err == nil && !s.opts.noSync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("spool: writing head: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, headFile)); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	return nil
}

// Append adds a record holding items events and makes it durable.
func (s *Spool) Append(data []byte, items int) error {
	size := headerSize + int64(len(data))
	if size > s.opts.maxBytes/4 || len(data) > maxRecord {
		return fmt.Errorf("%w: %d bytes (bound %d)", ErrTooLarge, len(data), s.opts.maxBytes)
	}
	rec := make([]byte, size)
	binary.LittleEndian.PutUint32(rec[0:], uint32(len(data)))
	binary.LittleEndian.PutUint32(rec[4:], uint32(items))
	copy(rec[headerSize:], data)
	binary.LittleEndian.PutUint32(rec[8:], crc32.Update(crc32.Checksum(rec[4:8], castagnoli), castagnoli, data))

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	for s.bytes+size > s.opts.maxBytes {
		if err := s.dropOldest(); err != nil {
			return err
		}
	}
	act := s.segs[len(s.segs)-1]
	if act.size > 0 && act.size+size > s.opts.segmentBytes {
		if !s.opts.noSync {
			if err := s.active.Sync(); err != nil {
				return fmt.Errorf("spool: %w", err)
			}
		}
		if err := s.newSegment(act.seq + 1); err != nil {
			return err
		}
		act = s.segs[len(s.segs)-1]
	}
	if _, err := s.active.WriteAt(rec, act.size); err != nil {
		// Cut a partial write so the next record starts on a boundary.
		_ = s.active.Truncate(act.size)
		return fmt.Errorf("spool: %w", err)
	}
	if !s.opts.noSync {
		if err := s.active.Sync(); err != nil {
			return fmt.Errorf("spool: %w", err)
		}
	}
	act.entries = append(act.entries, entry{off: act.size, size: size, items: uint32(items)})
	act.size += size
	s.bytes += size
	s.records++
	s.items += int64(items)
	select {
	case s.notifyCh <- struct{}{}:
	default:
	}
	return nil
}

// dropOldest discards the oldest segment's unacknowledged records (the whole
// segment, or what is left of the active one) and counts their items.
func (s *Spool) dropOldest() error {
	seg := s.segs[0]
	if len(seg.entries) == 0 && len(s.segs) == 1 {
		return errors.New("spool: internal error: nothing to drop")
	}
	for _, e := range seg.entries {
		s.dropped += uint64(e.items)
	}
	return s.advance(Position{Seq: seg.seq, Off: seg.size})
}

// advance moves the head to p (past every record ending at or before it),
// persists it and deletes segments left behind. Callers hold mu.
func (s *Spool) advance(p Position) error {
	var dead []uint64
	for len(s.segs) > 0 {
		seg := s.segs[0]
		if seg.seq > p.Seq {
			break
		}
		for len(seg.entries) > 0 && (seg.seq < p.Seq || seg.entries[0].off+seg.entries[0].size <= p.Off) {
			e := seg.entries[0]
			seg.entries = seg.entries[1:]
			s.bytes -= e.size
			s.records--
			s.items -= int64(e.items)
		}
		if len(seg.entries) > 0 || len(s.segs) == 1 {
			break
		}
		dead = append(dead, seg.seq)
		s.segs = s.segs[1:]
	}
	first := s.segs[0]
	s.head = Position{Seq: first.seq, Off: first.size}
	if len(first.entries) > 0 {
		s.head.Off = first.entries[0].off
	}
	if err := s.writeHead(); err != nil {
		return err
	}
	for _, seq := range dead {
		// A failed delete is harmless: Open deletes segments behind the head.
		_ = os.Remove(s.segPath(seq))
	}
	return nil
}

// Peek returns the oldest unacknowledged records, in order: at most
// maxRecords (0: no limit) and about maxBytes of payload (0: no limit; at
// least one record is returned). They stay in the spool until Ack.
func (s *Spool) Peek(maxRecords int, maxBytes int64) ([]Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	var out []Record
	var total int64
	for _, seg := range s.segs {
		if len(seg.entries) == 0 {
			continue
		}
		f := s.active
		if seg != s.segs[len(s.segs)-1] {
			var err error
			if f, err = os.Open(s.segPath(seg.seq)); err != nil {
				return nil, fmt.Errorf("spool: %w", err)
			}
		}
		for _, e := range seg.entries {
			if maxRecords > 0 && len(out) >= maxRecords || maxBytes > 0 && len(out) > 0 && total+e.size > maxBytes {
				break
			}
			buf := make([]byte, e.size)
			if _, err := f.ReadAt(buf, e.off); err != nil && !errors.Is(err, io.EOF) {
				if f != s.active {
					f.Close()
				}
				return nil, fmt.Errorf("spool: reading %s: %w", s.segPath(seg.seq), err)
			}
			out = append(out, Record{Data: buf[headerSize:], Items: int(e.items), End: Position{Seq: seg.seq, Off: e.off + e.size}})
			total += e.size
		}
		if f != s.active {
			f.Close()
		}
		if maxRecords > 0 && len(out) >= maxRecords || maxBytes > 0 && total >= maxBytes {
			break
		}
	}
	return out, nil
}

// Ack removes every record up to and including the one ending at end (from
// Peek). Records dropped meanwhile are skipped; acking twice is harmless.
func (s *Spool) Ack(end Position) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if !s.head.before(end) {
		return nil
	}
	return s.advance(end)
}

// Dropped returns the number of events dropped (bound reached) and not yet
// acknowledged as reported.
func (s *Spool) Dropped() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped
}

// AckDropped subtracts n reported drops from the count.
func (s *Spool) AckDropped(n uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if n == 0 {
		return nil
	}
	s.dropped -= min(n, s.dropped)
	return s.writeHead()
}

// Stats describe what is waiting.
type Stats struct {
	Records int
	Items   int64
	Bytes   int64
	Dropped uint64
}

// Stats returns the spool's current content.
func (s *Spool) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Records: s.records, Items: s.items, Bytes: s.bytes, Dropped: s.dropped}
}

// Notify returns a channel that receives after an Append (coalesced: one
// pending signal at most).
func (s *Spool) Notify() <-chan struct{} { return s.notifyCh }

// Close closes the files; the spool keeps everything unacknowledged.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.closeFiles()
}

func (s *Spool) closeFiles() error {
	var errs []error
	if s.active != nil {
		errs = append(errs, s.active.Close())
	}
	errs = append(errs, s.lock.Close()) // releases the flock
	return errors.Join(errs...)
}
