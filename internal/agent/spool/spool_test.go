package spool

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func open(t *testing.T, dir string, opts ...Option) *Spool {
	t.Helper()
	s, err := Open(dir, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func appendN(t *testing.T, s *Spool, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if err := s.Append(fmt.Appendf(nil, "rec-%05d", i), 2); err != nil {
			t.Fatal(err)
		}
	}
}

// drain peeks and acks everything, returning the payloads in order.
func drain(t *testing.T, s *Spool, batch int) []string {
	t.Helper()
	var out []string
	for {
		recs, err := s.Peek(batch, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			return out
		}
		for _, r := range recs {
			out = append(out, string(r.Data))
		}
		if err := s.Ack(recs[len(recs)-1].End); err != nil {
			t.Fatal(err)
		}
	}
}

func want(from, n int) []string {
	var out []string
	for i := from; i < from+n; i++ {
		out = append(out, fmt.Sprintf("rec-%05d", i))
	}
	return out
}

func segments(t *testing.T, dir string) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	slices.Sort(m)
	return m
}

func TestOrderAcrossSegments(t *testing.T) {
	for _, batch := range []int{1, 7, 0} {
		t.Run(fmt.Sprint("batch", batch), func(t *testing.T) {
			dir := t.TempDir()
			s := open(t, dir, WithMaxBytes(1<<20), WithSegmentBytes(200))
			appendN(t, s, 0, 100)
			if len(segments(t, dir)) < 5 {
				t.Fatalf("expected several segments, got %d", len(segments(t, dir)))
			}
			if st := s.Stats(); st.Records != 100 || st.Items != 200 {
				t.Fatalf("stats %+v", st)
			}
			if got := drain(t, s, batch); !slices.Equal(got, want(0, 100)) {
				t.Fatalf("got %v", got)
			}
			if st := s.Stats(); st.Records != 0 || st.Bytes != 0 {
				t.Fatalf("stats after drain %+v", st)
			}
			if n := len(segments(t, dir)); n != 1 {
				t.Errorf("%d segments left after drain, want only the active one", n)
			}
		})
	}
}

func TestReopenKeepsUnacked(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, WithSegmentBytes(300))
	appendN(t, s, 0, 30)
	recs, err := s.Peek(10, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Ack(recs[9].End); err != nil {
		t.Fatal(err)
	}
	// Peeked but not acked: must come back after a restart.
	if _, err := s.Peek(5, 0); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = open(t, dir, WithSegmentBytes(300))
	appendN(t, s, 30, 5)
	if got := drain(t, s, 4); !slices.Equal(got, want(10, 25)) {
		t.Fatalf("after reopen got %v", got)
	}
	s.Close()
	s = open(t, dir)
	if got := drain(t, s, 0); len(got) != 0 {
		t.Fatalf("acked records came back: %v", got)
	}
}

func TestTornTail(t *testing.T) {
	for _, tc := range []struct {
		name string
		tear func(path string, size int64) error
	}{
		{"half header", func(p string, _ int64) error { return appendBytes(p, []byte{5, 0}) }},
		{"half payload", func(p string, _ int64) error {
			return appendBytes(p, []byte{100, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 'x', 'y'})
		}},
		{"bad crc", func(p string, _ int64) error {
			return appendBytes(p, []byte{2, 0, 0, 0, 1, 0, 0, 0, 9, 9, 9, 9, 'x', 'y'})
		}},
		{"flipped byte in last record", func(p string, size int64) error {
			f, err := os.OpenFile(p, os.O_RDWR, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.WriteAt([]byte{'#'}, size-1)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := open(t, dir)
			appendN(t, s, 0, 10)
			s.Close()
			segs := segments(t, dir)
			last := segs[len(segs)-1]
			fi, _ := os.Stat(last)
			if err := tc.tear(last, fi.Size()); err != nil {
				t.Fatal(err)
			}
			s = open(t, dir)
			n := 10
			if tc.name == "flipped byte in last record" {
				n = 9 // the damaged record is the torn tail
			}
			appendN(t, s, 100, 2) // appends land after the truncation point
			got := drain(t, s, 3)
			if w := append(want(0, n), want(100, 2)...); !slices.Equal(got, w) {
				t.Fatalf("got %v, want %v", got, w)
			}
		})
	}
}

func appendBytes(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.Write(b)
	return err
}

func TestBoundDropsOldest(t *testing.T) {
	dir := t.TempDir()
	// 64 KiB bound, 16 KiB segments; records of 1 KiB + header.
	s := open(t, dir, WithMaxBytes(64<<10), WithSegmentBytes(16<<10))
	payload := make([]byte, 1024)
	for i := range 200 {
		copy(payload, fmt.Sprintf("rec-%05d", i))
		if err := s.Append(payload, 3); err != nil {
			t.Fatal(err)
		}
	}
	st := s.Stats()
	if st.Bytes > 64<<10 {
		t.Fatalf("spool holds %d bytes, bound 64 KiB", st.Bytes)
	}
	kept := st.Records
	if kept < 40 || st.Dropped != uint64(3*(200-kept)) {
		t.Fatalf("stats %+v: want the dropped count to be 3 × %d dropped records", st, 200-kept)
	}
	recs, err := s.Peek(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The newest survive, in order.
	for i, r := range recs {
		if w := fmt.Sprintf("rec-%05d", 200-kept+i); string(r.Data[:9]) != w {
			t.Fatalf("record %d = %q, want %q", i, r.Data[:9], w)
		}
	}
	// The dropped count survives a restart and clears when acknowledged.
	s.Close()
	s = open(t, dir, WithMaxBytes(64<<10), WithSegmentBytes(16<<10))
	if d := s.Dropped(); d != st.Dropped {
		t.Fatalf("dropped after reopen = %d, want %d", d, st.Dropped)
	}
	if err := s.AckDropped(10); err != nil {
		t.Fatal(err)
	}
	if d := s.Dropped(); d != st.Dropped-10 {
		t.Fatalf("dropped after AckDropped(10) = %d", d)
	}
	if err := s.Append(make([]byte, 20<<10), 1); err == nil {
		t.Error("a record over a quarter of the bound was accepted")
	}
}

func TestAckAfterDrop(t *testing.T) {
	s := open(t, t.TempDir(), WithMaxBytes(64<<10), WithSegmentBytes(16<<10))
	payload := make([]byte, 1024)
	if err := s.Append(payload, 1); err != nil {
		t.Fatal(err)
	}
	recs, _ := s.Peek(1, 0)
	for range 200 { // the peeked record is dropped meanwhile
		if err := s.Append(payload, 1); err != nil {
			t.Fatal(err)
		}
	}
	before := s.Stats()
	if err := s.Ack(recs[0].End); err != nil {
		t.Fatal(err)
	}
	if after := s.Stats(); after != before {
		t.Fatalf("a stale ack changed the spool: %+v → %+v", before, after)
	}
}

func TestLocked(t *testing.T) {
	dir := t.TempDir()
	open(t, dir)
	if _, err := Open(dir); err == nil {
		t.Fatal("a second Open of the same directory succeeded")
	}
}

func TestNotify(t *testing.T) {
	s := open(t, t.TempDir())
	appendN(t, s, 0, 3)
	select {
	case <-s.Notify():
	default:
		t.Fatal("no notification after Append")
	}
}

func BenchmarkAppend(b *testing.B) {
	s, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	payload := make([]byte, 2048)
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		if err := s.Append(payload, 5); err != nil {
			b.Fatal(err)
		}
		recs, _ := s.Peek(1, 0)
		s.Ack(recs[0].End)
	}
}
