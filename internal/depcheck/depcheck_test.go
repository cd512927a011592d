// Package depcheck enforces the direction of imports between vigil's
// packages, so the layering stays what the layout says.
package depcheck

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/vigil-sec/vigil"

// allowed maps a package pattern (a path below the module; "x/..." = x and
// everything under it) to the vigil packages it may import. A package matched
// by no rule may import nothing of vigil, except under cmd/.
var allowed = map[string][]string{
	"internal/api":                {},
	"internal/api/spec":           {"internal/api"},
	"internal/api/cwp":            {"internal/api", "internal/api/spec"},
	"internal/api/tcss":           {"internal/api", "internal/api/spec"},
	"internal/cmd/apigen":         {"internal/api/spec"},
	"internal/config":             {},
	"internal/secrets":            {},
	"internal/version":            {},
	"internal/server":             {"internal/api"},
	"internal/store":              {},
	"internal/store/storetest":    {"internal/store"},
	"internal/store/sqlite":       {"internal/store", "internal/store/storetest", "internal/store/internal/..."},
	"internal/store/postgres":     {"internal/store", "internal/store/storetest", "internal/store/internal/...", "internal/testutil/pgtest"},
	"internal/store/backend":      {"internal/store", "internal/store/sqlite", "internal/store/postgres"},
	"internal/store/internal/...": {"internal/store", "internal/store/internal/..."},
	"internal/agentapi":           {"internal/store", "internal/agentapi/wire"},
	"internal/agentapi/wire":      {},
	"internal/agent/spool":        {},
	"internal/agent/transport":    {"internal/agent/spool", "internal/agentapi/wire"},
	"internal/agent/proc":         {},
	"internal/agent/fswatch":      {},
	"internal/agent/container":    {},
	"internal/agent/quarantine":   {},
	"internal/agent/netisolate":   {},
	"internal/agent/procjudge":    {"internal/agent/proc", "internal/engine/...", "internal/store"},
	"internal/agent/monitor":      {"internal/agent/proc", "internal/agent/procjudge", "internal/agentapi/wire", "internal/engine/...", "internal/store"},
	"internal/agent/hostagent": {"internal/agent/monitor", "internal/agent/proc", "internal/agent/procjudge", "internal/agent/spool",
		"internal/agent/transport", "internal/agentapi/wire", "internal/engine/...", "internal/store",
		"internal/agent/container", "internal/agent/fswatch", "internal/agent/netisolate", "internal/agent/quarantine"},
	"internal/app": {"internal/agent/hostagent", "internal/agent/monitor", "internal/agent/transport", "internal/agentapi", "internal/agentapi/wire", "internal/api/...", "internal/config", "internal/secrets", "internal/server", "internal/service/...",
		"internal/store", "internal/store/backend", "internal/engine/...", "internal/version", "internal/testutil/...",
		"internal/registry", "internal/regscan", "internal/export", "internal/imagescan", "internal/agent/procjudge"},
	"internal/engine/...":          {"internal/engine/..."},
	"internal/service/...":         {"internal/api/...", "internal/server", "internal/store", "internal/secrets", "internal/engine", "internal/service/...", "internal/export"},
	"internal/export":              {"internal/store"},
	"internal/regscan":             {"internal/store", "internal/imagescan", "internal/engine", "internal/secrets", "internal/registry"},
	"internal/depcheck":            {},
	"internal/imagescan":           {"internal/engine/...", "internal/store"},
	"internal/imagescan/imagetest": {},
	"internal/registry":            {"internal/store", "internal/secrets"},
	"internal/testutil/...":        {"..."},
	"bench/...":                    {"..."},
	"internal/integration/...":     {"..."},
}

func matches(pattern, pkg string) bool {
	if pattern == "..." {
		return true
	}
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return pkg == base || strings.HasPrefix(pkg, base+"/")
	}
	return pkg == pattern
}

// rule returns the most specific rule for pkg.
func rule(pkg string) (allow []string, found bool) {
	best := -1
	for pat, a := range allowed {
		if matches(pat, pkg) && len(pat) > best {
			best, allow, found = len(pat), a, true
		}
	}
	return allow, found
}

// TestImportDirection checks the imports of non-test code (tests may reach
// further, e.g. an external test package importing generated code).
func TestImportDirection(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}\t{{join .Imports \" \"}}", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for line := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
		pkgPath, imports, _ := strings.Cut(line, "\t")
		rel, ok := strings.CutPrefix(pkgPath, module+"/")
		if !ok || strings.HasPrefix(rel, "cmd/") {
			continue
		}
		allow, found := rule(rel)
		for _, imp := range strings.Fields(imports) {
			irel, ok := strings.CutPrefix(imp, module+"/")
			if !ok || irel == rel {
				continue
			}
			permitted := false
			for _, a := range allow {
				if matches(a, irel) {
					permitted = true
				}
			}
			if !permitted {
				if !found {
					t.Errorf("%s has no rule in depcheck and imports %s: add a rule", rel, irel)
				} else {
					t.Errorf("%s must not import %s", rel, irel)
				}
			}
		}
	}
}
