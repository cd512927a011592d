package fswalk

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

func collect(t *testing.T, roots []string, opts ...Option) ([]string, []Entry) {
	t.Helper()
	var mu sync.Mutex
	var paths []string
	var errs []Entry
	err := Walk(context.Background(), roots, func(e Entry) error {
		mu.Lock()
		defer mu.Unlock()
		if e.Err != nil {
			errs = append(errs, e)
		} else {
			paths = append(paths, e.Path)
		}
		return nil
	}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(paths)
	return paths, errs
}

func mkfile(t *testing.T, p string) {
	t.Helper()
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestWalk(t *testing.T) {
	root := t.TempDir()
	other := t.TempDir()
	mkfile(t, filepath.Join(other, "outside"))
	for _, p := range []string{"a", "d1/b", "d1/d2/c", "d1/d2/d3/d4/d"} {
		mkfile(t, filepath.Join(root, p))
	}
	os.Mkdir(filepath.Join(root, "emptydir"), 0o755)
	os.Symlink("..", filepath.Join(root, "d1", "up"))
	os.Symlink(other, filepath.Join(root, "out"))
	os.Symlink("loop", filepath.Join(root, "loop"))
	unix.Mkfifo(filepath.Join(root, "fifo"), 0o644)

	for _, workers := range []int{1, 2, 8} {
		// The same root twice is walked once.
		paths, errs := collect(t, []string{root, root}, WithWorkers(workers))
		var rel []string
		for _, p := range paths {
			r, _ := filepath.Rel(root, p)
			rel = append(rel, r)
		}
		want := []string{"a", "d1/b", "d1/d2/c", "d1/d2/d3/d4/d", "d1/up", "fifo", "loop", "out"}
		if !slices.Equal(rel, want) || len(errs) != 0 {
			t.Errorf("workers %d: %q (errors %v), want %q", workers, rel, errs, want)
		}
	}
}

func TestWalkEntryTypes(t *testing.T) {
	root := t.TempDir()
	mkfile(t, filepath.Join(root, "f"))
	os.Symlink("f", filepath.Join(root, "l"))
	unix.Mkfifo(filepath.Join(root, "p"), 0o644)
	err := Walk(context.Background(), []string{root}, func(e Entry) error {
		switch filepath.Base(e.Path) {
		case "f":
			if e.Type != 0 || e.Stat == nil || e.Stat.Size != 1 {
				t.Errorf("%s: type %v stat %+v", e.Path, e.Type, e.Stat)
			}
		case "l":
			if e.Type != os.ModeSymlink || e.Stat != nil {
				t.Errorf("%s: type %v stat %+v", e.Path, e.Type, e.Stat)
			}
		case "p":
			if e.Type != os.ModeNamedPipe || e.Stat != nil {
				t.Errorf("%s: type %v stat %+v", e.Path, e.Type, e.Stat)
			}
		default:
			t.Errorf("unexpected %s", e.Path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestWalkRootsThatAreNotDirectories(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "file")
	mkfile(t, f)
	paths, errs := collect(t, []string{f, filepath.Join(dir, "missing")})
	if !slices.Equal(paths, []string{f}) || len(errs) != 1 || !errors.Is(errs[0].Err, os.ErrNotExist) {
		t.Fatalf("paths %q errors %v", paths, errs)
	}
}

func TestWalkStops(t *testing.T) {
	root := t.TempDir()
	for i := range 100 {
		mkfile(t, filepath.Join(root, string(rune('a'+i%20)), string(rune('a'+i/20))))
	}
	stop := errors.New("stop")
	n := 0
	var mu sync.Mutex
	err := Walk(context.Background(), []string{root}, func(Entry) error {
		mu.Lock()
		defer mu.Unlock()
		n++
		return stop
	})
	if !errors.Is(err, stop) || n > 4 {
		t.Fatalf("err %v after %d entries", err, n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Walk(ctx, []string{root}, func(Entry) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled walk: %v", err)
	}
}

// /dev is devtmpfs with devpts mounted on /dev/pts: the walk of /dev must not
// enter it, while still reporting /dev's own entries.
func TestWalkSkipsPseudoFS(t *testing.T) {
	var st unix.Statfs_t
	if err := unix.Statfs("/dev/pts", &st); err != nil || st.Type != unix.DEVPTS_SUPER_MAGIC {
		t.Skip("no devpts on /dev/pts here")
	}
	paths, _ := collect(t, []string{"/dev"})
	if !slices.Contains(paths, "/dev/null") {
		t.Fatalf("/dev/null missing from %d entries", len(paths))
	}
	for _, p := range paths {
		if strings.HasPrefix(p, "/dev/pts/") {
			t.Fatalf("walked into devpts: %s", p)
		}
	}
	// Named explicitly, it is walked.
	if paths, _ := collect(t, []string{"/dev/pts"}); len(paths) == 0 {
		t.Fatal("explicit pseudo-fs root not walked")
	}
	// One file system: /dev/shm (tmpfs) is left out too.
	if err := os.WriteFile("/dev/shm/vigil-fswalk-test", nil, 0o600); err == nil {
		defer os.Remove("/dev/shm/vigil-fswalk-test")
		all, _ := collect(t, []string{"/dev"})
		one, _ := collect(t, []string{"/dev"}, WithOneFileSystem(true))
		if !slices.Contains(all, "/dev/shm/vigil-fswalk-test") || slices.Contains(one, "/dev/shm/vigil-fswalk-test") {
			t.Fatal("WithOneFileSystem not honoured")
		}
	}
}
