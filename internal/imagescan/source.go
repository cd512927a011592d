package imagescan

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"path"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// ScanRemote pulls the image t names and scans it. An index yields the
// platform of WithPlatform (default linux/amd64), or every platform with
// WithAllPlatforms: the first report is the default platform's (or the
// first one's), the others are in its Platforms.
func (s *Scanner) ScanRemote(ctx context.Context, t Target) (*Report, error) {
	var nameOpts []name.Option
	if t.PlainHTTP {
		nameOpts = append(nameOpts, name.Insecure)
	}
	ref, err := name.ParseReference(t.Ref, nameOpts...)
	if err != nil {
		return nil, fmt.Errorf("image reference %q: %w", t.Ref, err)
	}
	rt := s.cfg.transport
	if rt == nil {
		rt = http.DefaultTransport.(*http.Transport).Clone()
	}
	if t.Insecure {
		if ht, ok := rt.(*http.Transport); ok {
			ht = ht.Clone()
			if ht.TLSClientConfig == nil {
				ht.TLSClientConfig = &tls.Config{}
			}
			ht.TLSClientConfig.InsecureSkipVerify = true //nolint:gosec // the user asked for it (--insecure)
			rt = ht
		}
	}
	var auth authn.Authenticator = authn.Anonymous
	if t.Username != "" || t.Password != "" {
		auth = &authn.Basic{Username: t.Username, Password: t.Password}
	}
	puller, err := remote.NewPuller(remote.WithContext(ctx), remote.WithAuth(auth), remote.WithTransport(rt),
		remote.WithRetryBackoff(s.cfg.retry), remote.WithUserAgent(s.cfg.userAgent))
	if err != nil {
		return nil, err
	}
	desc, err := puller.Get(ctx, ref)
	if err != nil {
		return nil, fmt.Errorf("%s: manifest: %w", t.Ref, classify(err))
	}
	var srcs []*imageSource
	switch {
	case desc.MediaType.IsIndex():
		im, err := v1.ParseIndexManifest(bytes.NewReader(desc.Manifest))
		if err != nil {
			return nil, fmt.Errorf("%s: index: %w", t.Ref, err)
		}
		chosen, err := s.pickManifests(im)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", t.Ref, err)
		}
		for _, d := range chosen {
			cd, err := puller.Get(ctx, ref.Context().Digest(d.Digest.String()))
			if err != nil {
				return nil, fmt.Errorf("%s: manifest %s: %w", t.Ref, d.Digest, classify(err))
			}
			src, err := remoteSource(puller, ref, cd)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", t.Ref, err)
			}
			src.indexDigest = desc.Digest.String()
			srcs = append(srcs, src)
		}
	default:
		src, err := remoteSource(puller, ref, desc)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", t.Ref, err)
		}
		srcs = append(srcs, src)
	}
	for _, src := range srcs {
		src.reference = t.Ref
	}
	return s.scanSources(ctx, srcs)
}

func (s *Scanner) scanSources(ctx context.Context, srcs []*imageSource) (*Report, error) {
	memo := &sync.Map{}
	var first *Report
	for _, src := range srcs {
		rep, err := s.scanImage(ctx, src, memo)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", src.reference, err)
		}
		if first == nil {
			first = rep
		} else {
			first.Platforms = append(first.Platforms, rep)
		}
	}
	return first, nil
}

// pickManifests chooses the platform images of an index.
func (s *Scanner) pickManifests(im *v1.IndexManifest) ([]v1.Descriptor, error) {
	want, err := v1.ParsePlatform(s.cfg.platform)
	if err != nil {
		return nil, fmt.Errorf("platform %q: %w", s.cfg.platform, err)
	}
	var images []v1.Descriptor
	var seen []string
	for _, d := range im.Manifests {
		if !d.MediaType.IsImage() {
			continue // nested indexes, artifacts
		}
		if d.Platform != nil && d.Platform.OS == "unknown" { // buildx attestations
			continue
		}
		images = append(images, d)
		if d.Platform != nil {
			seen = append(seen, d.Platform.String())
		}
	}
	if len(images) == 0 {
		return nil, fmt.Errorf("%w: the index lists no image manifest", ErrNoPlatform)
	}
	match := -1
	for i, d := range images {
		if d.Platform != nil && d.Platform.Satisfies(*want) {
			match = i
			break
		}
	}
	if !s.cfg.allPlatforms {
		if match < 0 {
			if len(images) == 1 && images[0].Platform == nil {
				return images, nil
			}
			return nil, fmt.Errorf("%w %s (the index has %s)", ErrNoPlatform, want, strings.Join(seen, ", "))
		}
		return images[match : match+1], nil
	}
	if match > 0 { // the default platform's report comes first
		images[0], images[match] = images[match], images[0]
	}
	return images, nil
}

// checkManifest rejects manifests that are not container images.
func checkManifest(mt types.MediaType, m *v1.Manifest) error {
	switch {
	case mt.IsSchema1():
		return fmt.Errorf("%w: Docker schema 1 manifest %s (push the image again with a current client)", ErrUnsupported, mt)
	case !mt.IsImage() && mt != "":
		return fmt.Errorf("%w: manifest of type %q", ErrUnsupported, mt)
	}
	if c := m.Config.MediaType; c != types.DockerConfigJSON && c != types.OCIConfigJSON && c != "" {
		return fmt.Errorf("%w: not a container image (config of type %q)", ErrUnsupported, c)
	}
	for _, l := range m.Layers {
		switch l.MediaType {
		case types.DockerLayer, types.DockerUncompressedLayer, types.OCILayer, types.OCILayerZStd,
			types.OCIUncompressedLayer, types.OCIRestrictedLayer, types.OCIUncompressedRestrictedLayer,
			types.DockerForeignLayer:
		default:
			return fmt.Errorf("%w: layer %s of type %q", ErrUnsupported, l.Digest, l.MediaType)
		}
	}
	return nil
}

func remoteSource(puller *remote.Puller, ref name.Reference, desc *remote.Descriptor) (*imageSource, error) {
	if !desc.MediaType.IsImage() {
		return nil, fmt.Errorf("%w: manifest of type %q", ErrUnsupported, desc.MediaType)
	}
	m, err := v1.ParseManifest(bytes.NewReader(desc.Manifest))
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	if err := checkManifest(desc.MediaType, m); err != nil {
		return nil, err
	}
	img, err := desc.Image()
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", classify(err))
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", m.Config.Digest, classify(err))
	}
	src := &imageSource{digest: desc.Digest.String(), imageID: m.Config.Digest.String(),
		os: cfg.OS, arch: cfg.Architecture, created: cfg.Created.Time}
	repo := ref.Context()
	for i, l := range m.Layers {
		dig := repo.Digest(l.Digest.String())
		src.layers = append(src.layers, layerStream{index: i, digest: l.Digest.String(), size: l.Size,
			open: func(ctx context.Context) (io.ReadCloser, error) {
				// The layer is bound to ctx, so the idle watchdog can abort
				// its download.
				layer, err := puller.Layer(ctx, dig)
				if err != nil {
					return nil, err
				}
				return layer.Compressed()
			}})
	}
	return src, nil
}

// ScanTarball scans an image archive: `docker save` output (manifest.json)
// or an OCI image layout packed in a tar (index.json, blobs/). The archive is
// read in place: blobs are located by offset and streamed, nothing is
// extracted. Layer digests are verified while reading (for `docker save`
// archives against the config's diff IDs, which are then the cache keys).
func (s *Scanner) ScanTarball(ctx context.Context, file string) (*Report, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ar, err := indexArchive(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	var srcs []*imageSource
	switch {
	case ar.has("manifest.json"):
		srcs, err = ar.dockerSources()
	case ar.has("index.json"):
		srcs, err = s.layoutSources(ar)
	default:
		err = fmt.Errorf("%w: neither a docker save archive (manifest.json) nor an OCI layout (index.json)", ErrUnsupported)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	for _, src := range srcs {
		src.reference = file
	}
	return s.scanSources(ctx, srcs)
}

type entry struct{ off, size int64 }

// archive is a tar file whose regular entries are located by offset.
type archive struct {
	f       *os.File
	entries map[string]entry
}

func indexArchive(f *os.File) (*archive, error) {
	ar := &archive{f: f, entries: map[string]entry{}}
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return ar, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrCorruptLayer, err)
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		// tar.Reader reads headers block by block and skips data by seeking,
		// so after Next the file offset is where the entry's data begins.
		off, err := f.Seek(0, io.SeekCurrent)
		if err != nil {
			return nil, err
		}
		ar.entries[cleanPath(hdr.Name)] = entry{off: off, size: hdr.Size}
	}
}

func (a *archive) has(name string) bool { _, ok := a.entries[name]; return ok }

func (a *archive) open(name string) (*io.SectionReader, error) {
	e, ok := a.entries[cleanPath(name)]
	if !ok {
		return nil, fmt.Errorf("%w: archive has no %s", ErrCorruptLayer, name)
	}
	return io.NewSectionReader(a.f, e.off, e.size), nil
}

func (a *archive) read(name string, limit int64) ([]byte, error) {
	r, err := a.open(name)
	if err != nil {
		return nil, err
	}
	if r.Size() > limit {
		return nil, fmt.Errorf("%w: %s is %d bytes", ErrUnsupported, name, r.Size())
	}
	return io.ReadAll(r)
}

const maxMetadata = 16 << 20 // manifests, configs, index.json

func (a *archive) dockerSources() ([]*imageSource, error) {
	raw, err := a.read("manifest.json", maxMetadata)
	if err != nil {
		return nil, err
	}
	var ms []struct {
		Config string
		Layers []string
	}
	if err := json.Unmarshal(raw, &ms); err != nil {
		return nil, fmt.Errorf("manifest.json: %w", err)
	}
	var srcs []*imageSource
	for _, m := range ms {
		craw, err := a.read(m.Config, maxMetadata)
		if err != nil {
			return nil, err
		}
		cfg, err := v1.ParseConfigFile(bytes.NewReader(craw))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.Config, err)
		}
		if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
			return nil, fmt.Errorf("%w: %d layers but %d diff IDs", ErrCorruptLayer, len(m.Layers), len(cfg.RootFS.DiffIDs))
		}
		sum := sha256.Sum256(craw)
		src := &imageSource{imageID: "sha256:" + hex.EncodeToString(sum[:]), os: cfg.OS, arch: cfg.Architecture,
			created: cfg.Created.Time}
		for i, l := range m.Layers {
			r, err := a.open(l)
			if err != nil {
				return nil, err
			}
			diffID := cfg.RootFS.DiffIDs[i]
			src.layers = append(src.layers, layerStream{index: i, digest: diffID.String(), size: r.Size(),
				verifyDecompressed: diffID,
				open: func(context.Context) (io.ReadCloser, error) {
					return io.NopCloser(io.NewSectionReader(r, 0, r.Size())), nil
				}})
		}
		srcs = append(srcs, src)
	}
	if len(srcs) == 0 {
		return nil, fmt.Errorf("%w: manifest.json lists no image", ErrCorruptLayer)
	}
	return srcs[:1], nil
}

func blobPath(h v1.Hash) string { return path.Join("blobs", h.Algorithm, h.Hex) }

func (s *Scanner) layoutSources(a *archive) ([]*imageSource, error) {
	raw, err := a.read("index.json", maxMetadata)
	if err != nil {
		return nil, err
	}
	idx, err := v1.ParseIndexManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("index.json: %w", err)
	}
	// index.json may point at an image, or at an index of platforms
	// (docker save since 25 does the latter).
	var indexDigest string
	for depth := 0; len(idx.Manifests) == 1 && idx.Manifests[0].MediaType.IsIndex() && depth < 4; depth++ {
		d := idx.Manifests[0]
		raw, err := a.readBlob(d)
		if err != nil {
			return nil, err
		}
		if idx, err = v1.ParseIndexManifest(bytes.NewReader(raw)); err != nil {
			return nil, fmt.Errorf("index %s: %w", d.Digest, err)
		}
		indexDigest = d.Digest.String()
	}
	chosen, err := s.pickManifests(idx)
	if err != nil {
		return nil, err
	}
	var srcs []*imageSource
	for _, d := range chosen {
		mraw, err := a.readBlob(d)
		if err != nil {
			return nil, err
		}
		m, err := v1.ParseManifest(bytes.NewReader(mraw))
		if err != nil {
			return nil, fmt.Errorf("manifest %s: %w", d.Digest, err)
		}
		if err := checkManifest(d.MediaType, m); err != nil {
			return nil, err
		}
		craw, err := a.readBlob(m.Config)
		if err != nil {
			return nil, err
		}
		cfg, err := v1.ParseConfigFile(bytes.NewReader(craw))
		if err != nil {
			return nil, fmt.Errorf("config %s: %w", m.Config.Digest, err)
		}
		src := &imageSource{digest: d.Digest.String(), indexDigest: indexDigest, imageID: m.Config.Digest.String(),
			os: cfg.OS, arch: cfg.Architecture, created: cfg.Created.Time}
		for i, l := range m.Layers {
			r, err := a.open(blobPath(l.Digest))
			if err != nil {
				return nil, err
			}
			src.layers = append(src.layers, layerStream{index: i, digest: l.Digest.String(), size: r.Size(),
				open: func(context.Context) (io.ReadCloser, error) {
					return verifying(io.NewSectionReader(r, 0, r.Size()), l.Digest)
				}})
		}
		srcs = append(srcs, src)
	}
	return srcs, nil
}

// readBlob reads a small blob and checks its digest.
func (a *archive) readBlob(d v1.Descriptor) ([]byte, error) {
	raw, err := a.read(blobPath(d.Digest), maxMetadata)
	if err != nil {
		return nil, err
	}
	h, _, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	if h != d.Digest {
		return nil, fmt.Errorf("%w: blob %s has digest %s", ErrDigestMismatch, d.Digest, h)
	}
	return raw, nil
}

// verifyReader fails at EOF when the content does not hash to want.
type verifyReader struct {
	r    io.Reader
	h    hash.Hash
	want v1.Hash
}

func verifying(r io.Reader, want v1.Hash) (io.ReadCloser, error) {
	if want.Algorithm != "sha256" {
		return nil, fmt.Errorf("%w: digest algorithm %q", ErrUnsupported, want.Algorithm)
	}
	return io.NopCloser(&verifyReader{r: r, h: sha256.New(), want: want}), nil
}

func (v *verifyReader) Read(p []byte) (int, error) {
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	if errors.Is(err, io.EOF) {
		if got := hex.EncodeToString(v.h.Sum(nil)); got != v.want.Hex {
			return n, fmt.Errorf("%w: got sha256:%s, want %s", ErrDigestMismatch, got, v.want)
		}
	}
	return n, err
}
