package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/vigil-sec/vigil/internal/engine"
	"github.com/vigil-sec/vigil/internal/engine/standard"
)

func newRulesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rules",
		Short: "Work with detection rules",
	}
	cmd.AddCommand(newRulesCheckCmd())
	return cmd
}

func newRulesCheckCmd() *cobra.Command {
	var builtin bool
	cmd := &cobra.Command{
		Use:   "check [--builtin] [DIR...]",
		Short: "Validate and compile rule directories, reporting every problem",
		Long: `Validate and compile every .yar/.yara rule and hash list (.md5 .sha1 .sha256
.hdb .hsb) under the given directories, as "vigil scan path --rules" would
load them, and print every problem as file:line: message.

Exit status: 0 when everything loads (warnings allowed), 1 on any error.`,
		RunE: func(cmd *cobra.Command, dirs []string) error {
			if len(dirs) == 0 && !builtin {
				return exitError{statusError, "rules check: give a rule directory, or --builtin"}
			}
			return runRulesCheck(cmd.Context(), cmd.OutOrStdout(), builtin, dirs)
		},
	}
	cmd.Flags().BoolVar(&builtin, "builtin", false, "also check vigil's built-in rule pack")
	return cmd
}

func runRulesCheck(ctx context.Context, stdout io.Writer, builtin bool, dirs []string) error {
	var problems []engine.Problem
	var valid []string
	for _, dir := range dirs {
		if err := checkDir(dir); err != nil {
			problems = append(problems, engine.Problem{File: dir, Message: err.Error()})
			continue
		}
		valid = append(valid, dir)
	}
	opts, err := standard.Options(standard.Config{NoBuiltin: !builtin, RuleDirs: valid})
	if err != nil {
		return exitError{statusError, err.Error()}
	}
	eng, err := engine.New(ctx, opts...)
	if err != nil {
		return exitError{statusError, err.Error()}
	}
	problems = append(problems, eng.Problems()...)
	errs, warns := 0, 0
	for _, p := range problems {
		fmt.Fprintln(stdout, p)
		if p.Severity == engine.SeverityError {
			errs++
		} else {
			warns++
		}
	}
	rs := eng.RuleSet()
	fmt.Fprintf(stdout, "%d rule file(s) checked: %d error(s), %d warning(s); rules version %s\n", rs.Files(), errs, warns, rs.Version())
	if errs > 0 {
		return exitError{code: 1}
	}
	return nil
}
