package engine

import (
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
)

// Allowlist suppresses findings on trusted files. Path patterns are checked
// before a file is opened (the file is skipped); hashes are checked once a
// file has findings, so an allowlist costs no hashing on clean files.
//
// Entries are "sha256:HEX", "md5:HEX" or "path:GLOB"; a bare 64- or 32-digit
// hex string is a SHA256 or MD5, anything else a path glob. In globs "*" and
// "?" stay within one path element, "**" spans elements and "[…]" is a
// character class: "/opt/app/**/*.jar", "/home/*/bin/tool".
// A nil *Allowlist allows nothing.
type Allowlist struct {
	sha256 map[string]bool
	md5    map[string]bool
	globs  []*regexp.Regexp
	raw    []string
}

// ParseAllowlist builds an allowlist from entries; it reports every invalid
// entry, numbered from 1.
func ParseAllowlist(entries []string) (*Allowlist, error) {
	a := &Allowlist{sha256: map[string]bool{}, md5: map[string]bool{}}
	var errs []string
	for i, raw := range entries {
		if err := a.add(strings.TrimSpace(raw)); err != nil {
			errs = append(errs, fmt.Sprintf("allowlist entry %d %q: %v", i+1, raw, err))
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return a, nil
}

func (a *Allowlist) add(entry string) error {
	kind, value, found := strings.Cut(entry, ":")
	if !found {
		kind, value = "", entry
	}
	switch kind {
	case "sha256", "md5":
		want := 64
		if kind == "md5" {
			want = 32
		}
		if err := checkHex(value, want); err != nil {
			return err
		}
		a.hashSet(kind)[strings.ToLower(value)] = true
	case "path":
		return a.addGlob(value)
	default:
		v := strings.ToLower(entry)
		switch {
		case len(v) == 64 && checkHex(v, 64) == nil:
			a.sha256[v] = true
		case len(v) == 32 && checkHex(v, 32) == nil:
			a.md5[v] = true
		default:
			return a.addGlob(entry)
		}
	}
	a.raw = append(a.raw, entry)
	return nil
}

func (a *Allowlist) hashSet(kind string) map[string]bool {
	if kind == "md5" {
		return a.md5
	}
	return a.sha256
}

func (a *Allowlist) addGlob(glob string) error {
	if glob == "" {
		return fmt.Errorf("empty path pattern")
	}
	re, err := globRegexp(glob)
	if err != nil {
		return err
	}
	a.globs = append(a.globs, re)
	a.raw = append(a.raw, "path:"+glob)
	return nil
}

func checkHex(s string, digits int) error {
	if len(s) != digits {
		return fmt.Errorf("want %d hex digits, got %d characters", digits, len(s))
	}
	if _, err := hex.DecodeString(s); err != nil {
		return fmt.Errorf("not hex")
	}
	return nil
}

// globRegexp translates a path glob into an anchored regular expression.
func globRegexp(glob string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(glob); i++ {
		c := glob[i]
		switch c {
		case '*':
			if i+1 < len(glob) && glob[i+1] == '*' {
				i++
				if i+1 < len(glob) && glob[i+1] == '/' { // "**/" also matches no directory
					i++
					b.WriteString("(?:.*/)?")
				} else {
					b.WriteString(".*")
				}
			} else {
				b.WriteString("[^/]*")
			}
		case '?':
			b.WriteString("[^/]")
		case '[':
			j := strings.IndexByte(glob[i+1:], ']')
			if j < 0 {
				return nil, fmt.Errorf("unterminated [ in pattern")
			}
			class := glob[i+1 : i+1+j]
			if strings.HasPrefix(class, "!") {
				class = "^" + class[1:]
			}
			b.WriteString("[" + strings.ReplaceAll(class, `\`, `\\`) + "]")
			i += j + 1
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}

// MatchPath reports whether p matches a path pattern.
func (a *Allowlist) MatchPath(p string) bool {
	if a == nil {
		return false
	}
	for _, re := range a.globs {
		if re.MatchString(p) {
			return true
		}
	}
	return false
}

// MatchHash reports whether either hex digest is allowlisted.
func (a *Allowlist) MatchHash(md5Hex, sha256Hex string) bool {
	if a == nil {
		return false
	}
	return a.md5[strings.ToLower(md5Hex)] && md5Hex != "" || a.sha256[strings.ToLower(sha256Hex)] && sha256Hex != ""
}

func (a *Allowlist) hasHashes() bool {
	return a != nil && (len(a.md5) > 0 || len(a.sha256) > 0)
}

// Entries returns the entries as given (normalised with their kind prefix for
// globs).
func (a *Allowlist) Entries() []string {
	if a == nil {
		return nil
	}
	return append([]string(nil), a.raw...)
}
