package registry

import (
	"fmt"
	"strings"

	"github.com/vigil-sec/vigil/internal/secrets"
	"github.com/vigil-sec/vigil/internal/store"
)

// PasswordAAD is the associated data binding a registry password's
// ciphertext to its registry: the account and the registry name (unique in
// the account). A ciphertext copied onto another registry does not decrypt;
// renaming a registry re-seals its password.
func PasswordAAD(accountID int64, registryName string) []byte {
	return fmt.Appendf(nil, "registry:%d:%s", accountID, registryName)
}

// SealPassword encrypts a registry password for r (r.AccountID, r.Name). An
// empty password stays empty (anonymous registries).
func SealPassword(box *secrets.Box, r store.Registry, password string) ([]byte, error) {
	if password == "" {
		return nil, nil
	}
	if box == nil {
		return nil, fmt.Errorf("registry %q: no key to encrypt the password", r.Name)
	}
	return box.Seal([]byte(password), PasswordAAD(r.AccountID, r.Name))
}

// OpenPassword decrypts r.PasswordEnc.
func OpenPassword(box *secrets.Box, r store.Registry) (string, error) {
	if len(r.PasswordEnc) == 0 {
		return "", nil
	}
	if box == nil {
		return "", fmt.Errorf("registry %q: no key to decrypt the password", r.Name)
	}
	p, err := box.Open(r.PasswordEnc, PasswordAAD(r.AccountID, r.Name))
	if err != nil {
		return "", fmt.Errorf("registry %q: decrypt password: %w", r.Name, err)
	}
	return string(p), nil
}

// SplitRepository splits a repository path the way tcss shows it: the first
// path segment is the namespace when the repository has a '/', else the
// namespace is empty ("library/nginx" → "library", "nginx"; "a/b/c" → "a",
// "b/c"; "nginx" → "", "nginx").
func SplitRepository(repo string) (namespace, name string) {
	if ns, rest, ok := strings.Cut(repo, "/"); ok {
		return ns, rest
	}
	return "", repo
}

// Repository joins namespace and name back into a repository path.
func Repository(namespace, name string) string {
	if namespace == "" {
		return name
	}
	return namespace + "/" + name
}

// Ref is the image's reference: "host[:port]/namespace/name:tag".
func Ref(r store.Registry, img store.RegistryImage) string {
	host := r.URL
	if e, err := ParseEndpoint(r.URL, r.Insecure); err == nil {
		host = e.Host
	}
	ref := host + "/" + Repository(img.Namespace, img.Name)
	if img.Tag != "" {
		return ref + ":" + img.Tag
	}
	if img.Digest != "" {
		return ref + "@" + img.Digest
	}
	return ref + ":latest"
}

// TargetFor is what a scanner needs to pull img: its reference, whether
// plain HTTP may be used (the URL says http://, or a loopback host: pass
// ggcr's name.Insecure then) and whether TLS verification is skipped. The
// credentials are r.Username and the password from OpenPassword.
func TargetFor(r store.Registry, img store.RegistryImage, password string) (ref string, plainHTTP, insecure bool) {
	_ = password // the credentials travel separately; kept in the signature for the scan runner's call site
	e, err := ParseEndpoint(r.URL, r.Insecure)
	if err != nil {
		return Ref(r, img), false, r.Insecure
	}
	return Ref(r, img), e.PlainHTTP, e.Insecure
}
