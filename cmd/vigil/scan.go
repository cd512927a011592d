package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/vigil-sec/vigil/internal/engine"
	"github.com/vigil-sec/vigil/internal/engine/standard"
)

// Exit statuses of the scan commands, as clamscan's.
const (
	statusClean    = 0
	statusFindings = 1
	statusError    = 2
)

func newScanCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "scan",
		Short: "Scan files for malware",
	}
	cmd.AddCommand(newScanPathCmd(), newScanImageCmd())
	return cmd
}

type scanPathOptions struct {
	rules        []string
	format       string
	maxSize      string
	workers      int
	quiet        bool
	cacheFile    string
	noBuiltin    bool
	allow        []string
	timeout      time.Duration
	hashOversize bool
	oneFS        bool
}

func newScanPathCmd() *cobra.Command {
	var o scanPathOptions
	cmd := &cobra.Command{
		Use:   "path [flags] PATH...",
		Short: "Scan files and directory trees",
		Long: `Scan files and directory trees with vigil's detectors: the built-in YARA
rule pack, YARA rules and hash lists from --rules directories, and the file
heuristics. Directories are walked recursively without following symlinks;
FIFOs, sockets and devices are skipped.

Exit status: 0 no findings, 1 findings, 2 an error (a file or rule that could
not be read, or bad usage) and no findings.

With --format json, stdout carries one JSON object per line: each finding
({"type":"finding","path":…,"virus_name":…,"risk_level":…,"tags":…,"md5":…,
"sha256":…,"size":…,"file_type":…,"detector":…,"rule":…}) and, last, a summary
({"type":"summary","files_scanned":…,"skipped":…,"errors":…,"bytes":…,
"findings":…,"duration_ms":…}).`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runScanPath(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), o, args)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.rules, "rules", nil, "directory of .yar/.yara rules and hash lists (.md5 .sha1 .sha256 .hdb .hsb); repeatable")
	f.StringVar(&o.format, "format", "table", "output format: table or json")
	f.StringVar(&o.maxSize, "max-size", "64M", "skip files larger than this (bytes, or with a K, M, G suffix)")
	f.IntVar(&o.workers, "workers", 0, "files scanned in parallel (default: number of CPUs)")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "no progress bar")
	f.StringVar(&o.cacheFile, "cache", "", "persistent scan cache: unchanged files are not read again (compiled rules go to FILE.rules)")
	f.BoolVar(&o.noBuiltin, "no-builtin", false, "do not load vigil's built-in rule pack")
	f.StringArrayVar(&o.allow, "allow", nil, "allowlist entry: sha256:HEX, md5:HEX or path:GLOB; repeatable")
	f.DurationVar(&o.timeout, "timeout", engine.DefaultFileTimeout, "time limit per file")
	f.BoolVar(&o.hashOversize, "hash-oversize", false, "hash files above --max-size for the hash lists instead of skipping them")
	f.BoolVar(&o.oneFS, "one-file-system", false, "do not cross into other file systems")
	return cmd
}

func runScanPath(ctx context.Context, stdout, stderr io.Writer, o scanPathOptions, paths []string) error {
	if o.format != "table" && o.format != "json" {
		return exitError{statusError, fmt.Sprintf("--format %q: want table or json", o.format)}
	}
	maxSize, err := parseSize(o.maxSize)
	if err != nil {
		return exitError{statusError, "--max-size: " + err.Error()}
	}
	for _, dir := range o.rules {
		if err := checkDir(dir); err != nil {
			return exitError{statusError, "--rules: " + err.Error()}
		}
	}
	allow, err := engine.ParseAllowlist(o.allow)
	if err != nil {
		return exitError{statusError, "--allow: " + err.Error()}
	}
	opts, err := standard.Options(standard.Config{NoBuiltin: o.noBuiltin, RuleDirs: o.rules})
	if err != nil {
		return exitError{statusError, err.Error()}
	}
	opts = append(opts,
		engine.WithMaxSize(maxSize),
		engine.WithConcurrency(o.workers),
		engine.WithFileTimeout(o.timeout),
		engine.WithHashOversize(o.hashOversize),
		engine.WithAllowlist(allow),
	)
	status := statusClean
	var cache *engine.Cache
	if o.cacheFile != "" {
		cache = engine.NewCache(0)
		if err := cache.Load(o.cacheFile); err != nil {
			fmt.Fprintf(stderr, "vigil: %v (starting with an empty cache)\n", err)
		}
		// The compiled rules are kept beside the cache: a pass that finds
		// every file unchanged should not spend its time compiling YARA.
		opts = append(opts, engine.WithCache(cache), engine.WithRuleSnapshot(o.cacheFile+".rules"))
	}
	eng, err := engine.New(ctx, opts...)
	if err != nil {
		return exitError{statusError, err.Error()}
	}
	problems := eng.Problems()
	for _, p := range problems {
		fmt.Fprintln(stderr, "vigil: rules:", p)
	}
	if engine.HasErrors(problems) {
		status = statusError
	}

	out := newScanOutput(stdout, o.format)
	bar := newProgress(stderr, o.quiet)
	var discoveredFiles, discoveredBytes atomic.Int64
	var treeOpts []engine.TreeOption
	treeOpts = append(treeOpts, engine.WithOneFileSystem(o.oneFS))
	if bar != nil {
		treeOpts = append(treeOpts, engine.OnDiscover(func(fi engine.FileInfo) {
			discoveredFiles.Add(1)
			discoveredBytes.Add(fi.Size)
		}))
	}
	var done int64
	stats, err := eng.ScanTree(ctx, paths, func(res *engine.Result) {
		if bar != nil && res.Info.Ino != 0 && res.Skipped != engine.SkipNotRegular { // a discovered file is done
			done++
			bar.ChangeMax64(max(discoveredBytes.Load(), 1))
			bar.Describe(fmt.Sprintf("%d/%d files", done, discoveredFiles.Load()))
			_ = bar.Add64(res.Info.Size)
		}
		if res.Err != nil {
			if bar != nil {
				_ = bar.Clear()
			}
			fmt.Fprintf(stderr, "vigil: %s: %s\n", res.Info.Path, describeFileError(res.Err))
		}
		for i := range res.Findings {
			out.finding(&res.Findings[i])
		}
	}, treeOpts...)
	if bar != nil {
		_ = bar.Finish()
		fmt.Fprintln(stderr)
	}
	if cache != nil && cache.Dirty() {
		if err := cache.Save(o.cacheFile); err != nil {
			fmt.Fprintln(stderr, "vigil:", err)
			status = statusError
		}
	}
	if errors.Is(err, context.Canceled) {
		out.summary(stats, eng.RuleSet())
		return exitError{statusError, "scan interrupted"}
	}
	if err != nil {
		fmt.Fprintln(stderr, "vigil:", err)
		status = statusError
	}
	if err := out.summary(stats, eng.RuleSet()); err != nil {
		return err
	}
	switch {
	case stats.Findings > 0:
		status = statusFindings
	case stats.Errors > 0:
		status = statusError
	}
	if status != statusClean {
		return exitError{code: status}
	}
	return nil
}

// describeFileError drops the path a *fs.PathError repeats.
func describeFileError(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) && err == error(pe) {
		return pe.Op + ": " + pe.Err.Error()
	}
	return err.Error()
}

func checkDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s: not a directory", dir)
	}
	return nil
}

// newProgress returns a byte-based progress bar on stderr, or nil when stderr
// is not a terminal or quiet is set.
func newProgress(stderr io.Writer, quiet bool) *progressbar.ProgressBar {
	f, ok := stderr.(*os.File)
	if quiet || !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return progressbar.NewOptions64(1,
		progressbar.OptionSetWriter(stderr),
		progressbar.OptionSetDescription("scanning"),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetWidth(30),
		progressbar.OptionUseIECUnits(true),
	)
}

// scanOutput writes findings and the summary in the chosen format.
type scanOutput struct {
	w        io.Writer
	json     bool
	enc      *json.Encoder
	findings []engine.Finding // table: printed sorted at the end
}

func newScanOutput(w io.Writer, format string) *scanOutput {
	o := &scanOutput{w: w, json: format == "json"}
	if o.json {
		o.enc = json.NewEncoder(w)
		o.enc.SetEscapeHTML(false)
	}
	return o
}

// jsonFinding is one line of --format json.
type jsonFinding struct {
	Type          string               `json:"type"`
	Path          string               `json:"path"`
	VirusName     string               `json:"virus_name"`
	RiskLevel     engine.RiskLevel     `json:"risk_level"`
	Tags          []string             `json:"tags"`
	MD5           string               `json:"md5"`
	SHA256        string               `json:"sha256"`
	Size          int64                `json:"size"`
	FileType      engine.FileType      `json:"file_type"`
	Detector      string               `json:"detector"`
	Rule          string               `json:"rule"`
	Category      string               `json:"category"`
	CheckPlatform engine.CheckPlatform `json:"check_platform"`
}

type jsonSummary struct {
	Type          string `json:"type"`
	FilesScanned  int    `json:"files_scanned"`
	Cached        int    `json:"cached"`
	Skipped       int    `json:"skipped"`
	Errors        int    `json:"errors"`
	Bytes         int64  `json:"bytes"`
	Findings      int    `json:"findings"`
	InfectedFiles int    `json:"infected_files"`
	DurationMS    int64  `json:"duration_ms"`
	RulesVersion  string `json:"rules_version"`
}

func (o *scanOutput) finding(f *engine.Finding) {
	if !o.json {
		o.findings = append(o.findings, *f)
		return
	}
	tags := f.Tags
	if tags == nil {
		tags = []string{}
	}
	_ = o.enc.Encode(jsonFinding{
		Type: "finding", Path: f.Path, VirusName: f.VirusName, RiskLevel: f.Risk, Tags: tags,
		MD5: f.MD5, SHA256: f.SHA256, Size: f.Size, FileType: f.FileType, Detector: f.Detector,
		Rule: f.Rule, Category: f.Category, CheckPlatform: f.Platform,
	})
}

func (o *scanOutput) summary(st engine.Stats, rs *engine.RuleSet) error {
	if o.json {
		return o.enc.Encode(jsonSummary{
			Type: "summary", FilesScanned: st.Files, Cached: st.Cached, Skipped: st.Skipped, Errors: st.Errors,
			Bytes: st.Bytes, Findings: st.Findings, InfectedFiles: st.Infected,
			DurationMS: st.Duration.Milliseconds(), RulesVersion: rs.Version(),
		})
	}
	sort.SliceStable(o.findings, func(i, j int) bool { return o.findings[i].Path < o.findings[j].Path })
	if len(o.findings) > 0 {
		tw := tabwriter.NewWriter(o.w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "PATH\tVIRUS NAME\tRISK\tTYPE\tDETECTOR\tRULE")
		for _, f := range o.findings {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", f.Path, f.VirusName, f.Risk, f.FileType, f.Detector, f.Rule)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintln(o.w)
	}
	_, err := fmt.Fprintf(o.w, `----------- SCAN SUMMARY -----------
Files scanned: %d (from cache: %d)
Skipped:       %d (too large: %d)
Errors:        %d
Data read:     %s
Findings:      %d in %d file(s)
Rules version: %s
Time:          %s
`, st.Files, st.Cached, st.Skipped, st.TooLarge, st.Errors, formatBytes(st.Bytes), st.Findings, st.Infected,
		rs.Version(), st.Duration.Round(time.Millisecond))
	return err
}

// parseSize reads a byte count with an optional binary suffix: 1048576, 512K,
// 64M, 64MiB, 2G.
func parseSize(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "IB"), "B")
	mult := int64(1)
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'K':
			mult, t = 1<<10, t[:n-1]
		case 'M':
			mult, t = 1<<20, t[:n-1]
		case 'G':
			mult, t = 1<<30, t[:n-1]
		case 'T':
			mult, t = 1<<40, t[:n-1]
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(t), 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("%q is not a positive size (e.g. 1048576, 512K, 64M, 2G)", s)
	}
	return n * mult, nil
}

func formatBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.2f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
