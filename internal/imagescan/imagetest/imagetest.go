// Package imagetest builds container images for tests of the image scanner
// and of what runs it: layers of chosen tar entries (planted samples,
// whiteouts, links, hostile names), single images and multi-platform
// indexes, ready to push to an in-memory or a real registry.
//
// The samples are assembled at run time from pieces, so this package's
// source (and any binary linking it) does not itself match the rules.
package imagetest

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/compression"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// EICAR returns the 68-byte EICAR test file (EICAR.Test.File, RISK_NOTICE).
func EICAR() []byte {
	return []byte(`X5O!P%@AP[4\PZX54(P^)7CC)7}$` + "EICAR-STANDARD-ANTIVIRUS" + `-TEST-FILE!$H+H*`)
}

// MinerLauncher returns an inert miner launcher script, the engine's
// Miner_Launcher_Script sample (Linux.Miner.*, RISK_HIGH).
func MinerLauncher() []byte {
	return []byte("#!/bin/sh\n# test sample: a miner launcher as dropped by crypto-jacking campaigns (inert).\n" +
		"cd /var/tmp/.cache || exit 0\nchmod +x ./kworker\n" +
		"nohup ./kworker -o stratum" + "+tcp://pool.example.invalid:3333 \\\n" +
		"    -u 4EXAMPLEWALLETADDRESSNOTREAL -p x -a rx" + "/0 \\\n" +
		"    --donate" + "-level 1 --cpu-max" + "-threads-hint 80 -B >/dev/null 2>&1 &\n")
}

// MinerRule is the rule MinerLauncher matches.
const MinerRule = "Miner_Launcher_Script"

// EICARRule is the rule EICAR matches.
const EICARRule = "EICAR_Test_File"

// Entry is one tar entry of a layer.
type Entry struct {
	Name     string // written as is: may be "../x", "/abs", ".wh.x"
	Content  []byte
	Type     byte // tar type flag; 0 means a regular file
	Linkname string
	Mode     int64 // 0 means 0644 (0755 for directories)
	Size     int64 // header size when not len(Content) (hostile headers); 0 means len(Content)
}

// File is a regular file entry.
func File(name string, content []byte) Entry { return Entry{Name: name, Content: content} }

// Dir is a directory entry.
func Dir(name string) Entry { return Entry{Name: name, Type: tar.TypeDir} }

// Symlink is a symbolic link entry.
func Symlink(name, target string) Entry {
	return Entry{Name: name, Type: tar.TypeSymlink, Linkname: target}
}

// Hardlink is a hard link entry to an earlier entry of the same layer.
func Hardlink(name, target string) Entry {
	return Entry{Name: name, Type: tar.TypeLink, Linkname: target}
}

// Whiteout deletes p from the layers below.
func Whiteout(p string) Entry {
	dir, base := path.Split(p)
	return File(dir+".wh."+base, nil)
}

// Opaque hides everything the layers below have under dir.
func Opaque(dir string) Entry { return File(strings.TrimSuffix(dir, "/")+"/.wh..wh..opq", nil) }

var epoch = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

// Tar returns the uncompressed tar of entries.
func Tar(entries ...Entry) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.Name, Typeflag: e.Type, Linkname: e.Linkname, Mode: e.Mode, ModTime: epoch,
			Size: int64(len(e.Content)), Format: tar.FormatPAX}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Typeflag != tar.TypeReg {
			h.Size = 0
		}
		if h.Mode == 0 {
			h.Mode = 0o644
			if h.Typeflag == tar.TypeDir {
				h.Mode = 0o755
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("%s: %w", e.Name, err)
		}
		if _, err := tw.Write(e.Content); err != nil {
			return nil, fmt.Errorf("%s: %w", e.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Compression of built layers.
type Compression string

// Layer compressions.
const (
	Gzip Compression = "gzip"
	Zstd Compression = "zstd"
	None Compression = "none"
)

// Layer builds a layer of entries.
func Layer(c Compression, entries ...Entry) (v1.Layer, error) {
	b, err := Tar(entries...)
	if err != nil {
		return nil, err
	}
	return LayerFromTar(c, b)
}

// LayerFromTar builds a layer from an uncompressed tar.
func LayerFromTar(c Compression, b []byte) (v1.Layer, error) {
	open := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	switch c {
	case Zstd:
		return tarball.LayerFromOpener(open, tarball.WithCompression(compression.ZStd),
			tarball.WithMediaType(types.OCILayerZStd))
	case None:
		return uncompressed{b: b}, nil
	}
	return tarball.LayerFromOpener(open)
}

// Build stacks layers (bottom first) into a linux/amd64 image; each layer
// is a list of entries, gzip-compressed.
func Build(layers ...[]Entry) (v1.Image, error) {
	ls := make([]v1.Layer, 0, len(layers))
	for i, es := range layers {
		l, err := Layer(Gzip, es...)
		if err != nil {
			return nil, fmt.Errorf("layer %d: %w", i, err)
		}
		ls = append(ls, l)
	}
	return FromLayers("linux/amd64", ls...)
}

// FromLayers stacks prepared layers into an image of platform ("os/arch").
func FromLayers(platform string, layers ...v1.Layer) (v1.Image, error) {
	p, err := v1.ParsePlatform(platform)
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		return nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture, cfg.Variant = p.OS, p.Architecture, p.Variant
	cfg.Created = v1.Time{Time: epoch}
	return mutate.ConfigFile(img, cfg)
}

// MultiPlatform makes an index of images, each annotated with its platform.
func MultiPlatform(imgs ...v1.Image) (v1.ImageIndex, error) {
	var adds []mutate.IndexAddendum
	for _, img := range imgs {
		cfg, err := img.ConfigFile()
		if err != nil {
			return nil, err
		}
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{
			Platform: &v1.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant}}})
	}
	return mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...), nil
}

// Standard is the reference test image:
//
//	layer 0: usr/bin/kworker (miner, survives), etc/hosts, opt/old.sh (miner, deleted in layer 2),
//	         srv/app/x.sh (miner, hidden by layer 2's opaque srv/app), var/lib/a.com (EICAR, overwritten in layer 1)
//	layer 1: var/lib/a.com (clean), tmp/eicar.com (EICAR, survives)
//	layer 2: opt/.wh.old.sh, srv/app/.wh..wh..opq, srv/app/new.txt
//
// The final image has two findings (usr/bin/kworker, tmp/eicar.com); three
// are hidden.
func Standard() (v1.Image, error) {
	return Build(
		[]Entry{Dir("usr/"), Dir("usr/bin/"), File("usr/bin/kworker", MinerLauncher()),
			File("etc/hosts", []byte("127.0.0.1 localhost\n")), File("opt/old.sh", MinerLauncher()),
			File("srv/app/x.sh", MinerLauncher()), File("var/lib/a.com", EICAR())},
		[]Entry{File("var/lib/a.com", []byte("clean now\n")), File("tmp/eicar.com", EICAR())},
		[]Entry{Whiteout("opt/old.sh"), Opaque("srv/app"), File("srv/app/new.txt", []byte("hello\n"))},
	)
}

// StandardVisible and StandardHidden are the paths of Standard's findings.
var (
	StandardVisible = []string{"tmp/eicar.com", "usr/bin/kworker"}
	StandardHidden  = []string{"opt/old.sh", "srv/app/x.sh", "var/lib/a.com"}
)

// uncompressed is a layer stored as a plain tar.
type uncompressed struct{ b []byte }

func (u uncompressed) Digest() (v1.Hash, error) {
	h, _, err := v1.SHA256(bytes.NewReader(u.b))
	return h, err
}
func (u uncompressed) DiffID() (v1.Hash, error) { return u.Digest() }
func (u uncompressed) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(u.b)), nil
}
func (u uncompressed) Uncompressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(u.b)), nil
}
func (u uncompressed) Size() (int64, error)                { return int64(len(u.b)), nil }
func (u uncompressed) MediaType() (types.MediaType, error) { return types.OCIUncompressedLayer, nil }
