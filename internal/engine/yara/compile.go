package yara

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	libyara "github.com/Velocidex/go-yara"
	"github.com/VirusTotal/gyp"
	"github.com/VirusTotal/gyp/ast"
	gyperror "github.com/VirusTotal/gyp/error"

	"github.com/vigil-sec/vigil/internal/engine"
)

// Modules compiled into the vendored libyara.
var supportedModules = []string{"dotnet", "elf", "math", "pe", "time"}

// peSignatureFields exist in this build's pe module but are never filled (no
// OpenSSL), so conditions on them never hold.
var peSignatureFields = map[string]bool{"signatures": true, "is_signed": true, "number_of_signatures": true}

type compiled struct {
	rules         *libyara.Rules
	templates     map[ruleKey]*engine.Finding
	usesExternals bool
	digest        string
}

// validation is what gyp learnt about one file.
type validation struct {
	problems      []engine.Problem
	ok            bool // may be compiled
	gypError      *engine.Problem
	usesExternals bool
}

// validate parses one file with gyp and checks what libyara would reject or
// silently mishandle in this build.
func validate(f engine.RuleFile) validation {
	var v validation
	rs, err := parse(f.Data)
	if err != nil {
		p := engine.Problem{File: f.Name, Message: err.Error()}
		if ge, ok := err.(gyperror.Error); ok {
			p.Line, p.Message = ge.Line, ge.Message
		}
		v.gypError = &p
		v.ok = true // libyara decides: gyp lags behind the newest YARA syntax
		v.usesExternals = mentionsExternal(f.Data)
		return v
	}
	v.ok = true
	for _, imp := range rs.Imports {
		if !slices.Contains(supportedModules, imp) {
			v.ok = false
			msg := fmt.Sprintf("module %q is not available in this build (available: %s)", imp, strings.Join(supportedModules, ", "))
			if imp == "hash" {
				msg += "; match file hashes with a hash list (.sha256, .hdb …) instead"
			}
			v.problems = append(v.problems, engine.Problem{File: f.Name, Line: importLine(f.Data, imp), Message: msg})
		}
	}
	for _, inc := range rs.Includes {
		v.ok = false
		v.problems = append(v.problems, engine.Problem{File: f.Name, Line: lineOf(f.Data, "include"),
			Message: fmt.Sprintf("include %q is not supported: put every rule file in the rules directory itself", inc)})
	}
	for _, r := range rs.Rules {
		if r.Condition == nil {
			continue
		}
		ast.DepthFirstSearch(r.Condition, visitor(func(n ast.Node) {
			switch n := n.(type) {
			case *ast.MemberAccess:
				if id, ok := n.Container.(*ast.Identifier); ok && id.Identifier == "pe" && peSignatureFields[n.Member] {
					v.problems = append(v.problems, engine.Problem{File: f.Name, Line: r.LineNo, Severity: engine.SeverityWarning,
						Message: fmt.Sprintf("rule %s: pe.%s is never set in this build (no OpenSSL), so this condition never holds", r.Identifier, n.Member)})
				}
			case *ast.Identifier:
				if slices.Contains(externals, n.Identifier) {
					v.usesExternals = true
				}
			}
		}))
		v.problems = append(v.problems, checkMeta(f.Name, r)...)
	}
	return v
}

type visitor func(ast.Node)

func (v visitor) PreOrderVisit(n ast.Node) { v(n) }

// parse runs gyp, turning any panic of the parser into an error.
func parse(data []byte) (rs *ast.RuleSet, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("parser failure: %v", r)
		}
	}()
	return gyp.Parse(bytes.NewReader(data))
}

// checkMeta warns about meta values vigil cannot use.
func checkMeta(file string, r *ast.Rule) []engine.Problem {
	var ps []engine.Problem
	for _, m := range r.Meta {
		switch m.Key {
		case MetaRiskLevel:
			s, ok := m.Value.(string)
			if _, err := engine.ParseRiskLevel(s); !ok || err != nil {
				ps = append(ps, engine.Problem{File: file, Line: r.LineNo, Severity: engine.SeverityWarning,
					Message: fmt.Sprintf("rule %s: risk_level %v is not one of RISK_CRITICAL … RISK_NOTICE; %s is used", r.Identifier, m.Value, DefaultRisk)})
			}
		case MetaVirusName, MetaTags, MetaCategory, MetaDescZH, MetaDescEN, MetaSolutionZH, MetaSolutionEN, MetaReference:
			if _, ok := m.Value.(string); !ok {
				ps = append(ps, engine.Problem{File: file, Line: r.LineNo, Severity: engine.SeverityWarning,
					Message: fmt.Sprintf("rule %s: meta %s should be a string", r.Identifier, m.Key)})
			}
		}
	}
	return ps
}

// compile validates every file, then compiles the valid ones together. A file
// libyara rejects is dropped and the rest compiled again, so one bad file never
// hides the others.
func compile(ctx context.Context, files []engine.RuleFile) (*compiled, []engine.Problem, error) {
	var problems []engine.Problem
	var candidates []engine.RuleFile
	gypErrors := map[string]*engine.Problem{}
	usesExternals := false
	for _, f := range files {
		v := validate(f)
		problems = append(problems, v.problems...)
		if !v.ok {
			continue
		}
		if v.gypError != nil {
			gypErrors[f.Name] = v.gypError
		}
		usesExternals = usesExternals || v.usesExternals
		candidates = append(candidates, f)
	}
	for {
		if err := ctx.Err(); err != nil {
			return nil, problems, err
		}
		if len(candidates) == 0 {
			return nil, problems, nil
		}
		c, bad, msgs, err := compileOnce(candidates, usesExternals)
		if err != nil {
			return nil, problems, err
		}
		if bad < 0 {
			for _, f := range candidates {
				if p := gypErrors[f.Name]; p != nil {
					problems = append(problems, engine.Problem{File: p.File, Line: p.Line, Severity: engine.SeverityWarning,
						Message: "gyp could not parse this file (" + p.Message + ") but libyara compiled it; rule metadata was not checked"})
				}
			}
			for _, m := range msgs {
				problems = append(problems, engine.Problem{File: candidates[m.file].Name, Line: m.line, Severity: engine.SeverityWarning, Message: m.text})
			}
			c.digest = digest(candidates)
			if c.templates, err = templates(c.rules); err != nil {
				return nil, problems, err
			}
			return c, problems, nil
		}
		f := candidates[bad]
		if p := gypErrors[f.Name]; p != nil && len(msgs) == 0 {
			problems = append(problems, *p)
		}
		for _, m := range msgs {
			problems = append(problems, engine.Problem{File: f.Name, Line: m.line, Message: m.text})
		}
		candidates = slices.Delete(candidates, bad, bad+1)
	}
}

type compilerMessage struct {
	file int
	line int
	text string
}

// compileOnce compiles files into one rule set. When a file fails, it returns
// its index and errors (bad >= 0); libyara's compiler is unusable after an
// error, so the caller retries without that file. On success bad is -1 and the
// messages are the warnings.
func compileOnce(files []engine.RuleFile, withExternals bool) (_ *compiled, bad int, _ []compilerMessage, _ error) {
	comp, err := libyara.NewCompiler()
	if err != nil {
		return nil, -1, nil, fmt.Errorf("create YARA compiler: %w", err)
	}
	defer comp.Destroy()
	comp.DisableIncludes()
	if withExternals {
		for _, name := range externals {
			if err := comp.DefineVariable(name, ""); err != nil {
				return nil, -1, nil, fmt.Errorf("define external %s: %w", name, err)
			}
		}
	}
	var warnings []compilerMessage
	for i, f := range files {
		before := len(comp.Warnings)
		err := comp.AddString(string(f.Data), f.Name)
		for _, w := range comp.Warnings[before:] {
			warnings = append(warnings, compilerMessage{file: i, line: w.Line, text: w.Text})
		}
		if err != nil {
			var msgs []compilerMessage
			for _, e := range comp.Errors {
				msgs = append(msgs, compilerMessage{file: i, line: e.Line, text: e.Text})
			}
			if len(msgs) == 0 {
				msgs = append(msgs, compilerMessage{file: i, text: err.Error()})
			}
			return nil, i, msgs, nil
		}
	}
	rules, err := comp.GetRules()
	if err != nil {
		return nil, -1, nil, fmt.Errorf("YARA rules: %w", err)
	}
	return &compiled{rules: rules, usesExternals: withExternals}, -1, warnings, nil
}

func digest(files []engine.RuleFile) string {
	h := sha256.New()
	for _, f := range files {
		sum := sha256.Sum256(f.Data)
		fmt.Fprintf(h, "%q %x\n", f.Name, sum)
	}
	return hex.EncodeToString(h.Sum(nil))[:digestLen]
}

// digestLen is the length of the rules digest in a detector's version.
const digestLen = 16

// templates turns every rule's metadata into the finding it produces.
func templates(rules *libyara.Rules) (map[ruleKey]*engine.Finding, error) {
	out := map[ruleKey]*engine.Finding{}
	for _, r := range rules.GetRules() {
		if r.IsPrivate() {
			continue
		}
		out[ruleKey{r.Namespace(), r.Identifier()}] = template(r.Identifier(), r.Tags(), r.Metas())
	}
	return out, nil
}

func template(identifier string, ruleTags []string, metas []libyara.Meta) *engine.Finding {
	meta := map[string]string{}
	for _, m := range metas {
		if s, ok := m.Value.(string); ok {
			if _, dup := meta[m.Identifier]; !dup {
				meta[m.Identifier] = s
			}
		}
	}
	f := &engine.Finding{
		VirusName: meta[MetaVirusName],
		Risk:      DefaultRisk,
		Category:  meta[MetaCategory],
		Description: engine.Text{
			ZH: meta[MetaDescZH],
			EN: firstNonEmpty(meta[MetaDescEN], meta[metaDesc]),
		},
		Solution:  engine.Text{ZH: meta[MetaSolutionZH], EN: meta[MetaSolutionEN]},
		Reference: meta[MetaReference],
		Detector:  Name,
		Platform:  engine.PlatformCloudEngine,
		Rule:      identifier,
	}
	if f.VirusName == "" {
		f.VirusName = "YARA." + identifier
	}
	if r, err := engine.ParseRiskLevel(meta[MetaRiskLevel]); err == nil {
		f.Risk = r
	}
	if f.Category == "" {
		f.Category = DefaultCategory
	}
	if f.Description.ZH == "" && f.Description.EN == "" {
		f.Description = engine.GenericDescription()
	}
	if f.Solution.ZH == "" && f.Solution.EN == "" {
		f.Solution = engine.GenericSolution()
	}
	f.Tags = []string{}
	seen := map[string]bool{}
	for _, t := range append(strings.Split(meta[MetaTags], ","), ruleTags...) {
		t = strings.TrimSpace(t)
		if t != "" && !seen[t] {
			seen[t] = true
			f.Tags = append(f.Tags, t)
		}
	}
	return f
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// mentionsExternal is the fallback for files gyp cannot parse.
func mentionsExternal(data []byte) bool {
	for _, name := range externals {
		if bytes.Contains(data, []byte(name)) {
			return true
		}
	}
	return false
}

// importLine finds the line of `import "name"`, for the problem report.
func importLine(data []byte, module string) int {
	return lineOf(data, `"`+module+`"`)
}

// lineOf returns the 1-based line of the first occurrence of s, or 0.
func lineOf(data []byte, s string) int {
	i := bytes.Index(data, []byte(s))
	if i < 0 {
		return 0
	}
	return bytes.Count(data[:i], []byte("\n")) + 1
}
