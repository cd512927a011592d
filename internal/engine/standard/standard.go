// Package standard wires vigil's standard detector set: the file heuristics,
// YARA and hash lists, with the built-in rule pack and user rule directories.
// The scan command, the agents and the registry scanner all build their engine
// through it, so they judge files alike.
package standard

import (
	"fmt"
	"io/fs"

	"github.com/vigil-sec/vigil/internal/engine"
	"github.com/vigil-sec/vigil/internal/engine/hashlist"
	"github.com/vigil-sec/vigil/internal/engine/heuristic"
	"github.com/vigil-sec/vigil/internal/engine/rules"
	"github.com/vigil-sec/vigil/internal/engine/yara"
)

// BuiltinName names the embedded pack in problems ("builtin:miner.yar").
const BuiltinName = "builtin"

// Builtin returns vigil's embedded rule pack.
func Builtin() (engine.Source, error) {
	sub, err := fs.Sub(rules.FS, rules.Dir)
	if err != nil {
		return engine.Source{}, fmt.Errorf("built-in rule pack: %w", err)
	}
	return engine.FSSource(BuiltinName, sub), nil
}

// Config selects the rule sources.
type Config struct {
	NoBuiltin bool     // leave the embedded pack out
	RuleDirs  []string // user directories of .yar/.yara and hash files
}

// Options returns the engine options registering the standard detectors and
// the rule sources of cfg. Append further options (limits, cache, logger)
// after them.
func Options(cfg Config) ([]engine.Option, error) {
	opts := []engine.Option{
		engine.WithDetector(heuristic.New()),
		engine.WithKind(yara.Kind()),
		engine.WithKind(hashlist.Kind()),
	}
	if !cfg.NoBuiltin {
		src, err := Builtin()
		if err != nil {
			return nil, err
		}
		opts = append(opts, engine.WithRules(src))
	}
	for _, dir := range cfg.RuleDirs {
		opts = append(opts, engine.WithRules(engine.DirSource(dir)))
	}
	return opts, nil
}
