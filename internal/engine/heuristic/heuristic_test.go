package heuristic

import (
	"context"
	"slices"
	"testing"

	"github.com/vigil-sec/vigil/internal/engine"
)

func TestDetect(t *testing.T) {
	d := New()
	tests := []struct {
		path string
		typ  engine.FileType
		want []string
	}{
		{"/dev/shm/kworker", engine.TypeELF, []string{"Linux.Suspicious.ShmExecutable"}},
		{"/run/shm/x/y.so", engine.TypeELF, []string{"Linux.Suspicious.ShmExecutable"}},
		{"/proc/4242/root/dev/shm/.x", engine.TypeELF, []string{"Linux.Suspicious.ShmExecutable"}},
		{"/dev/shm/sem.pulse", engine.TypeUnknown, nil},
		{"/dev/shm/notes.sh", engine.TypeScript, nil},
		{"/dev/shmfoo/x", engine.TypeELF, nil},
		{"/tmp/.kthreadd", engine.TypeELF, []string{"Linux.Suspicious.HiddenTmpElf"}},
		{"/var/tmp/.x", engine.TypeELF, []string{"Linux.Suspicious.HiddenTmpElf"}},
		{"/tmp/.X11-unix/xmr", engine.TypeELF, []string{"Linux.Suspicious.HiddenTmpElf"}},
		{"/tmp/.ICE-unix/a/b", engine.TypeELF, []string{"Linux.Suspicious.HiddenTmpElf"}},
		{"/tmp/go-build123/b001/exe/main", engine.TypeELF, nil},
		{"/tmp/a.out", engine.TypeELF, nil},
		{"/tmp/.hidden-notes", engine.TypeText, nil},
		{"/tmp/.mount_app/usr/bin/app", engine.TypeELF, nil},
		{"/home/u/cat.jpg", engine.TypeELF, []string{"Linux.Suspicious.MagicMismatch"}},
		{"/srv/upload/INVOICE.PDF", engine.TypePE, []string{"Win.Suspicious.MagicMismatch"}},
		{"/srv/readme.txt", engine.TypeMachO, []string{"MacOS.Suspicious.MagicMismatch"}},
		{"/srv/cat.jpg", engine.TypeImage, nil},
		{"/usr/lib/libfoo.so.1", engine.TypeELF, nil},
		{"/usr/bin/ls", engine.TypeELF, nil},
		{"/dev/shm/img.png", engine.TypeELF, []string{"Linux.Suspicious.ShmExecutable", "Linux.Suspicious.MagicMismatch"}},
	}
	for _, tt := range tests {
		obj := &engine.Object{Info: engine.FileInfo{Path: tt.path}, Type: tt.typ}
		fs, err := d.Detect(context.Background(), obj)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, f := range fs {
			names = append(names, f.VirusName)
			if f.Platform != engine.PlatformBehavior || f.Detector != Name || f.Category != Category ||
				f.Description.ZH == "" || f.Description.EN == "" || f.Solution.ZH == "" || f.Rule == "" {
				t.Errorf("%s: incomplete finding %+v", tt.path, f)
			}
		}
		if !slices.Equal(names, tt.want) {
			t.Errorf("%s (%s): %q, want %q", tt.path, tt.typ, names, tt.want)
		}
		// A rule can only fire on files it asked to see.
		if len(tt.want) > 0 && !d.Require(&obj.Info).Head {
			t.Errorf("%s: fires but Require did not ask for the head", tt.path)
		}
	}
}

func TestRequireNothingForOrdinaryFiles(t *testing.T) {
	d := New()
	for _, p := range []string{"/usr/bin/ls", "/etc/passwd", "/tmp/go-build1/a.o", "/var/lib/dpkg/status"} {
		if n := d.Require(&engine.FileInfo{Path: p}); !n.IsZero() {
			t.Errorf("Require(%s) = %+v, want nothing", p, n)
		}
	}
}

func TestRulesAreDocumented(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range Rules() {
		if r.Name == "" || seen[r.Name] || r.Description.ZH == "" || r.Description.EN == "" || len(r.Tags) == 0 {
			t.Errorf("rule %+v: needs a unique name, both descriptions and tags", r)
		}
		seen[r.Name] = true
	}
}
