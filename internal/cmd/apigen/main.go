// Command apigen generates the Go types, schema and action table of one API
// service from its official .api.json description (see
// ../shared/api/README.md for the format):
//
//	go run ./internal/cmd/apigen -spec ../shared/api/zh-CN/cwp-2018-02-28.api.json -pkg cwp -out internal/api/cwp
//
// It writes types_gen.go, schema_gen.go and actions_gen.go into -out. The
// output depends only on the description, so regenerating is byte-identical.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
)

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "apigen:", err)
		os.Exit(1)
	}
}

func run(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("apigen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	specPath := fs.String("spec", "", "path of the `.api.json` description (required)")
	pkg := fs.String("pkg", "", "Go package name of the output (required)")
	out := fs.String("out", ".", "output `directory`")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *specPath == "" || *pkg == "" || fs.NArg() > 0 {
		fs.Usage()
		return errors.New("-spec and -pkg are required, and nothing else")
	}
	desc, err := readDescription(*specPath)
	if err != nil {
		return err
	}
	files, err := generate(desc, filepath.Base(*specPath), *pkg)
	if err != nil {
		return fmt.Errorf("%s: %w", *specPath, err)
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if err := writeIfChanged(filepath.Join(*out, name), files[name]); err != nil {
			return err
		}
	}
	return nil
}

// writeIfChanged leaves an up-to-date file alone, so regenerating does not
// touch modification times (and build caches).
func writeIfChanged(path string, data []byte) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	return os.WriteFile(path, data, 0o644)
}
