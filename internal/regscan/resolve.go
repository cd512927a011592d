package regscan

import (
	"context"
	"fmt"
	"strings"

	"github.com/vigil-sec/vigil/internal/imagescan"
	"github.com/vigil-sec/vigil/internal/store"
)

// TargetFunc builds an image reference and transport flags for a stored
// image (internal/registry's TargetFor has this shape).
type TargetFunc func(r store.Registry, img store.RegistryImage, password string) (ref string, plainHTTP, insecure bool)

// PasswordFunc decrypts a registry's stored password (internal/registry
// knows the sealing scheme); "" for anonymous access.
type PasswordFunc func(r store.Registry) (string, error)

// NewResolver returns the production Resolver: the image's registry from st,
// its password through password, the reference through target (nil:
// DefaultTarget).
func NewResolver(st store.Registries, password PasswordFunc, target TargetFunc) Resolver {
	if target == nil {
		target = DefaultTarget
	}
	return &storeResolver{st: st, password: password, target: target}
}

type storeResolver struct {
	st       store.Registries
	password PasswordFunc
	target   TargetFunc
}

func (s *storeResolver) Resolve(ctx context.Context, accountID int64, img store.RegistryImage) (imagescan.Target, error) {
	reg, err := s.st.GetRegistry(ctx, accountID, img.RegistryID)
	if err != nil {
		return imagescan.Target{}, fmt.Errorf("registry %d: %w", img.RegistryID, err)
	}
	var pw string
	if s.password != nil && len(reg.PasswordEnc) > 0 {
		if pw, err = s.password(reg); err != nil {
			return imagescan.Target{}, fmt.Errorf("registry %q credentials: %w", reg.Name, err)
		}
	}
	ref, plain, insecure := s.target(reg, img, pw)
	return imagescan.Target{Ref: ref, Username: reg.Username, Password: pw, PlainHTTP: plain, Insecure: insecure}, nil
}

// DefaultTarget is the minimal reference builder used until
// internal/registry's TargetFor is wired: host of the registry URL,
// namespace/name, the manifest digest when known (so the scanned image is the
// one listed) or the tag; http:// URLs are plain HTTP.
func DefaultTarget(r store.Registry, img store.RegistryImage, _ string) (ref string, plainHTTP, insecure bool) {
	host := r.URL
	switch {
	case strings.HasPrefix(host, "http://"):
		host, plainHTTP = strings.TrimPrefix(host, "http://"), true
	case strings.HasPrefix(host, "https://"):
		host = strings.TrimPrefix(host, "https://")
	}
	host = strings.TrimRight(host, "/")
	repo := img.Name
	if img.Namespace != "" {
		repo = img.Namespace + "/" + img.Name
	}
	ref = host + "/" + repo
	if img.Digest != "" {
		ref += "@" + img.Digest
	} else {
		ref += ":" + img.Tag
	}
	return ref, plainHTTP, r.Insecure
}
