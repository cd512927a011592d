package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/vigil-sec/vigil/internal/store"
)

// List enumerates every tag of every repository of r as store images
// (Namespace, Name, Tag, Digest, and where cheaply known ImageID, OSName,
// Size, ImageCreateTime; IsLatest is left to MarkLatest). prev is what an
// earlier sync stored: an image whose digest is unchanged keeps its
// metadata without a config fetch. Any failure other than a repository or
// tag vanishing during the listing fails the whole listing, so that a
// partial listing never reconciles (deletes) images.
//
// The catalog API (/v2/_catalog, paginated) is used for every registry
// type; for RegistryType "harbor", when the catalog is refused (Harbor
// serves it to system administrators only) or absent, Harbor's project API
// (/api/v2.0) is used instead.
func (c *Client) List(ctx context.Context, r store.Registry, password string, prev []store.RegistryImage) ([]store.RegistryImage, error) {
	e, err := ParseEndpoint(r.URL, r.Insecure)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.o.listTimeout)
	defer cancel()
	imgs, err := c.listCatalog(ctx, e, r, password, prev)
	if err != nil && r.Type == "harbor" && catalogRefused(err) {
		c.o.logger.DebugContext(ctx, "registry catalog refused; using the Harbor API", "registry", r.Name, "err", err)
		return c.listHarbor(ctx, e, r, password)
	}
	return imgs, err
}

// catalogRefused reports whether the catalog call failed because the
// registry does not offer it to this user.
func catalogRefused(err error) bool {
	var terr *transport.Error
	if !errors.As(err, &terr) {
		return false
	}
	switch terr.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound, http.StatusMethodNotAllowed:
		return true
	}
	for _, d := range terr.Errors {
		switch d.Code {
		case transport.UnauthorizedErrorCode, transport.DeniedErrorCode, transport.UnsupportedErrorCode:
			return true
		}
	}
	return false
}

func imageKey(ns, name, tag string) string { return ns + "\x00" + name + "\x00" + tag }

// notFound reports whether err says a repository or manifest does not exist
// (deleted while listing).
func notFound(err error) bool {
	var terr *transport.Error
	if !errors.As(err, &terr) {
		return false
	}
	if terr.StatusCode == http.StatusNotFound {
		return true
	}
	for _, d := range terr.Errors {
		switch d.Code {
		case transport.NameUnknownErrorCode, transport.ManifestUnknownErrorCode:
			return true
		}
	}
	return false
}

func (c *Client) listCatalog(ctx context.Context, e Endpoint, r store.Registry, password string, prev []store.RegistryImage) ([]store.RegistryImage, error) {
	reg, err := e.registryName()
	if err != nil {
		return nil, classErr(ErrBadURL, err, "%q", r.URL)
	}
	puller, err := remote.NewPuller(c.remoteOptions(ctx, e, r, password)...)
	if err != nil {
		return nil, err
	}
	cat, err := puller.Catalogger(ctx, reg)
	if err != nil {
		return nil, c.listErr(ctx, e, err, "catalog")
	}
	var repos []string
	for cat.HasNext() {
		page, err := cat.Next(ctx)
		if err != nil {
			return nil, c.listErr(ctx, e, err, "catalog")
		}
		repos = append(repos, page.Repos...)
	}
	sort.Strings(repos)

	known := make(map[string]store.RegistryImage, len(prev))
	for _, p := range prev {
		known[imageKey(p.Namespace, p.Name, p.Tag)] = p
	}
	l := &catalogLister{c: c, e: e, reg: reg, puller: puller, known: known}
	l.budget.Store(int64(c.o.maxConfigFetch))

	results := make([][]store.RegistryImage, len(repos))
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for range min(c.o.concurrency, max(len(repos), 1)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(repos) || ctx.Err() != nil {
					return
				}
				imgs, err := l.repo(ctx, repos[i])
				if err != nil {
					cancel(err)
					return
				}
				results[i] = imgs
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	var out []store.RegistryImage
	for _, r := range results {
		out = append(out, r...)
	}
	return out, nil
}

func (c *Client) listErr(ctx context.Context, e Endpoint, err error, what string) error {
	return fmt.Errorf("%s: %w", what, classify(ctx, e, err))
}

type catalogLister struct {
	c      *Client
	e      Endpoint
	reg    name.Registry
	puller *remote.Puller
	known  map[string]store.RegistryImage
	budget atomic.Int64 // config fetches left
}

func (l *catalogLister) repo(ctx context.Context, repoPath string) ([]store.RegistryImage, error) {
	repo := l.reg.Repo(repoPath)
	tags, err := l.puller.List(ctx, repo)
	if err != nil {
		if notFound(err) {
			return nil, nil
		}
		return nil, l.c.listErr(ctx, l.e, err, "tags of "+repoPath)
	}
	sort.Strings(tags)
	ns, nm := SplitRepository(repoPath)
	out := make([]store.RegistryImage, 0, len(tags))
	for _, tag := range tags {
		img := store.RegistryImage{Namespace: ns, Name: nm, Tag: tag}
		ref := repo.Tag(tag)
		desc, err := l.puller.Head(ctx, ref)
		if err != nil {
			if notFound(err) {
				continue
			}
			return nil, l.c.listErr(ctx, l.e, err, "manifest of "+repoPath+":"+tag)
		}
		img.Digest = desc.Digest.String()
		if p, ok := l.known[imageKey(ns, nm, tag)]; ok && p.Digest == img.Digest && (p.ImageID != "" || !p.ImageCreateTime.IsZero()) {
			img.ImageID, img.OSName, img.Size, img.ImageCreateTime = p.ImageID, p.OSName, p.Size, p.ImageCreateTime
		} else if l.budget.Add(-1) >= 0 {
			l.fillConfig(ctx, ref, &img)
		}
		out = append(out, img)
	}
	return out, nil
}

// fillConfig learns ImageID, OS, creation time and size from the image's
// config; for an index, from its linux/amd64 image (or its first). A
// failure leaves the fields empty: the scan fills them later.
func (l *catalogLister) fillConfig(ctx context.Context, ref name.Reference, img *store.RegistryImage) {
	desc, err := l.puller.Get(ctx, ref)
	if err != nil {
		l.c.o.logger.DebugContext(ctx, "registry: manifest fetch failed", "ref", ref.String(), "err", err)
		return
	}
	var im v1.Image
	switch {
	case desc.MediaType.IsIndex():
		idx, err := desc.ImageIndex()
		if err != nil {
			return
		}
		m, err := idx.IndexManifest()
		if err != nil || len(m.Manifests) == 0 {
			return
		}
		pick := m.Manifests[0]
		for _, d := range m.Manifests {
			if d.Platform != nil && d.Platform.OS == "linux" && d.Platform.Architecture == "amd64" {
				pick = d
				break
			}
		}
		if !pick.MediaType.IsImage() {
			return
		}
		im, err = idx.Image(pick.Digest)
		if err != nil {
			return
		}
	case desc.MediaType.IsImage() || desc.MediaType == types.MediaType(""):
		im, err = desc.Image()
		if err != nil {
			return
		}
	default:
		return // an artifact that is not an image
	}
	cfgName, err := im.ConfigName()
	if err == nil {
		img.ImageID = cfgName.String()
	}
	if cf, err := im.ConfigFile(); err == nil {
		img.OSName = cf.OS
		img.ImageCreateTime = cf.Created.Time
	}
	if m, err := im.Manifest(); err == nil {
		size := m.Config.Size
		for _, layer := range m.Layers {
			size += layer.Size
		}
		img.Size = size
	}
}

// Harbor's project API, as much of it as listing needs.
type harborProject struct {
	Name string `json:"name"`
}

type harborRepo struct {
	Name string `json:"name"` // "project/repo[/sub]"
}

type harborArtifact struct {
	Digest     string `json:"digest"`
	Size       int64  `json:"size"`
	MediaType  string `json:"manifest_media_type"`
	ExtraAttrs struct {
		OS      string `json:"os"`
		Created string `json:"created"`
	} `json:"extra_attrs"`
	Tags []struct {
		Name string `json:"name"`
	} `json:"tags"`
}

// listHarbor lists through Harbor's API: projects → repositories →
// artifacts with their tags, which carry digest, size, OS and creation time,
// so no manifest or config is fetched.
func (c *Client) listHarbor(ctx context.Context, e Endpoint, r store.Registry, password string) ([]store.RegistryImage, error) {
	base := e.Scheme + "://" + e.Host + "/api/v2.0"
	hc := &http.Client{Transport: c.transport(e)}
	var projects []harborProject
	if err := harborPages(ctx, c, hc, e, r, password, base+"/projects", &projects); err != nil {
		return nil, err
	}
	var out []store.RegistryImage
	for _, p := range projects {
		var repos []harborRepo
		if err := harborPages(ctx, c, hc, e, r, password, base+"/projects/"+url.PathEscape(p.Name)+"/repositories", &repos); err != nil {
			return nil, err
		}
		for _, repo := range repos {
			inProject := strings.TrimPrefix(repo.Name, p.Name+"/")
			// Harbor wants a repository name containing '/' encoded twice.
			enc := url.PathEscape(strings.ReplaceAll(inProject, "/", "%2F"))
			var arts []harborArtifact
			if err := harborPages(ctx, c, hc, e, r, password,
				base+"/projects/"+url.PathEscape(p.Name)+"/repositories/"+enc+"/artifacts?with_tag=true", &arts); err != nil {
				return nil, err
			}
			ns, nm := SplitRepository(repo.Name)
			for _, a := range arts {
				created, _ := time.Parse(time.RFC3339Nano, a.ExtraAttrs.Created)
				for _, t := range a.Tags {
					out = append(out, store.RegistryImage{
						Namespace: ns, Name: nm, Tag: t.Name, Digest: a.Digest,
						OSName: a.ExtraAttrs.OS, Size: a.Size, ImageCreateTime: created,
					})
					if len(out) > c.o.maxHarborImages {
						return nil, fmt.Errorf("harbor %s: more than %d tags", e.Host, c.o.maxHarborImages)
					}
				}
			}
		}
	}
	return out, nil
}

// harborPages GETs every page of a Harbor list endpoint (page, page_size;
// the last page is the first shorter than page_size) into *dst.
func harborPages[T any](ctx context.Context, c *Client, hc *http.Client, e Endpoint, r store.Registry, password, endpoint string, dst *[]T) error {
	sep := "?"
	if strings.Contains(endpoint, "?") {
		sep = "&"
	}
	for page := 1; ; page++ {
		u := endpoint + sep + "page=" + strconv.Itoa(page) + "&page_size=" + strconv.Itoa(c.o.harborPageSize)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Accept", "application/json")
		if r.Username != "" || password != "" {
			req.SetBasicAuth(r.Username, password)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return fmt.Errorf("harbor API: %w", classify(ctx, e, err))
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("harbor API %s: %w", u, classify(ctx, e, err))
		}
		switch {
		case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
			return classErr(ErrUnauthorized, nil, "Harbor at %s refused %s (HTTP %d)", e.Host, req.URL.Path, resp.StatusCode)
		case resp.StatusCode != http.StatusOK:
			return classErr(ErrNotRegistry, nil, "Harbor API at %s answers HTTP %d for %s", e.Host, resp.StatusCode, req.URL.Path)
		}
		var items []T
		if err := json.Unmarshal(body, &items); err != nil {
			return classErr(ErrNotRegistry, err, "Harbor API at %s answers %s with something other than a JSON list", e.Host, req.URL.Path)
		}
		*dst = append(*dst, items...)
		if len(items) < c.o.harborPageSize || page > 100000 {
			return nil
		}
	}
}

// MarkLatest sets IsLatest on one image per repository: the tag "latest"
// when the repository has it (what a pull without a tag gets), else the
// image created most recently (ties and unknown creation times: the tag
// sorting last, which for date or version tags is usually the newest). It
// is what OnlyShowLatest selects and what a full sync with NeedScan scans.
func MarkLatest(imgs []store.RegistryImage) {
	best := make(map[string]int)
	better := func(a, b store.RegistryImage) bool { // a newer than b
		if (a.Tag == "latest") != (b.Tag == "latest") {
			return a.Tag == "latest"
		}
		if !a.ImageCreateTime.Equal(b.ImageCreateTime) {
			return a.ImageCreateTime.After(b.ImageCreateTime)
		}
		return a.Tag > b.Tag
	}
	for i := range imgs {
		imgs[i].IsLatest = false
		k := imgs[i].Namespace + "\x00" + imgs[i].Name
		if j, ok := best[k]; !ok || better(imgs[i], imgs[j]) {
			best[k] = i
		}
	}
	for _, i := range best {
		imgs[i].IsLatest = true
	}
}
