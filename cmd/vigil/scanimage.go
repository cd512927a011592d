package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-sec/vigil/internal/engine"
	"github.com/vigil-sec/vigil/internal/engine/standard"
	"github.com/vigil-sec/vigil/internal/imagescan"
)

type scanImageOptions struct {
	insecure      bool
	plainHTTP     bool
	username      string
	password      string
	passwordStdin bool
	format        string
	allPlatforms  bool
	platform      string
	showHidden    bool
	rules         []string
	noBuiltin     bool
	tarball       string
	cacheDir      string
	noCache       bool
	maxSize       string
	quiet         bool
}

func newScanImageCmd() *cobra.Command {
	var o scanImageOptions
	cmd := &cobra.Command{
		Use:   "image [flags] REF | --tarball FILE",
		Short: "Scan a container image from a registry or an image archive",
		Long: `Scan a container image for malware without pulling it to disk: each layer is
streamed from the registry, decompressed and judged file by file with the same
detectors as 'vigil scan path'. Files deleted or overwritten by a later layer
are not reported unless --show-hidden is given. An index yields linux/amd64
(--platform) or, with --all-platforms, every platform.

--tarball scans 'docker save' output or an OCI image layout packed in a tar.

Layer results are cached in --cache-dir (default: the user cache directory), so
a rescan with unchanged rules costs only the manifest fetches and a layer
shared with an image scanned before is not read again.

Exit status: 0 no findings, 1 findings, 2 an error and no findings.

With --format json, stdout carries one JSON object per line: each finding
({"type":"finding","image":…,"platform":…,"path":…,"layer_digest":…,
"hidden":…,"virus_name":…,"risk_level":…,…}) and one summary per platform
({"type":"summary","image":…,"digest":…,"platform":…,"layers":…,
"cached_layers":…,"files_scanned":…,"bytes":…,"findings":…,"errors":…,
"duration_ms":…,"rules_version":…}).`,
		Args: func(cmd *cobra.Command, args []string) error {
			if o.tarball != "" {
				return cobra.NoArgs(cmd, args)
			}
			return cobra.ExactArgs(1)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			ref := ""
			if len(args) == 1 {
				ref = args[0]
			}
			return runScanImage(cmd.Context(), cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr(), o, ref)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.insecure, "insecure", false, "do not verify the registry's TLS certificate")
	f.BoolVar(&o.plainHTTP, "plain-http", false, "talk plain HTTP to the registry (loopback registries always may)")
	f.StringVar(&o.username, "username", "", "registry user name")
	f.StringVar(&o.password, "password", "", "registry password (prefer --password-stdin)")
	f.BoolVar(&o.passwordStdin, "password-stdin", false, "read the registry password from stdin")
	f.StringVar(&o.format, "format", "table", "output format: table or json")
	f.BoolVar(&o.allPlatforms, "all-platforms", false, "scan every platform of a multi-platform image")
	f.StringVar(&o.platform, "platform", imagescan.DefaultPlatform, "platform to pick from a multi-platform image")
	f.BoolVar(&o.showHidden, "show-hidden", false, "also report files deleted or overwritten by a later layer")
	f.StringArrayVar(&o.rules, "rules", nil, "directory of .yar/.yara rules and hash lists; repeatable")
	f.BoolVar(&o.noBuiltin, "no-builtin", false, "do not load vigil's built-in rule pack")
	f.StringVar(&o.tarball, "tarball", "", "scan this image archive (docker save, OCI layout tar) instead of a registry image")
	f.StringVar(&o.cacheDir, "cache-dir", "", "layer cache directory (default: USER_CACHE_DIR/vigil/layers)")
	f.BoolVar(&o.noCache, "no-cache", false, "do not use the layer cache")
	f.StringVar(&o.maxSize, "max-size", "64M", "skip files larger than this (bytes, or with a K, M, G suffix)")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "no progress bar")
	return cmd
}

func runScanImage(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer, o scanImageOptions, ref string) error {
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
	if o.passwordStdin {
		if o.password != "" {
			return exitError{statusError, "--password and --password-stdin are exclusive"}
		}
		b, err := io.ReadAll(io.LimitReader(stdin, 1<<16))
		if err != nil {
			return exitError{statusError, "--password-stdin: " + err.Error()}
		}
		o.password = strings.TrimRight(string(b), "\r\n")
	}
	opts, err := standard.Options(standard.Config{NoBuiltin: o.noBuiltin, RuleDirs: o.rules})
	if err != nil {
		return exitError{statusError, err.Error()}
	}
	opts = append(opts, engine.WithMaxSize(maxSize))
	var scanOpts []imagescan.Option
	if !o.noCache {
		dir := o.cacheDir
		if dir == "" {
			base, err := os.UserCacheDir()
			if err != nil {
				return exitError{statusError, "layer cache: " + err.Error() + " (give --cache-dir or --no-cache)"}
			}
			dir = filepath.Join(base, "vigil", "layers")
		}
		cache, err := imagescan.NewDirCache(dir)
		if err != nil {
			return exitError{statusError, err.Error()}
		}
		// The compiled rules are kept beside the layers: a rescan served
		// from the cache should not spend its time compiling YARA.
		opts = append(opts, engine.WithRuleSnapshot(filepath.Join(dir, "rules.snapshot")))
		scanOpts = append(scanOpts, imagescan.WithLayerCache(cache))
	}
	eng, err := engine.New(ctx, opts...)
	if err != nil {
		return exitError{statusError, err.Error()}
	}
	status := statusClean
	problems := eng.Problems()
	for _, p := range problems {
		fmt.Fprintln(stderr, "vigil: rules:", p)
	}
	if engine.HasErrors(problems) {
		status = statusError
	}

	bar := newProgress(stderr, o.quiet)
	if bar != nil {
		done := map[string]int64{}
		total := map[string]int64{}
		scanOpts = append(scanOpts, imagescan.WithProgress(func(p imagescan.Progress) {
			done[p.Digest], total[p.Digest] = p.BytesDone, p.BytesTotal
			var d, t int64
			for k := range total {
				d, t = d+done[k], t+total[k]
			}
			bar.ChangeMax64(max(t, 1))
			_ = bar.Set64(d)
			bar.Describe(fmt.Sprintf("layer %d/%d", p.Layer+1, p.Layers))
		}))
	}
	scanOpts = append(scanOpts, imagescan.WithAllPlatforms(o.allPlatforms), imagescan.WithPlatform(o.platform),
		imagescan.WithHidden(o.showHidden))
	s := imagescan.New(eng, scanOpts...)

	start := time.Now()
	var rep *imagescan.Report
	if o.tarball != "" {
		rep, err = s.ScanTarball(ctx, o.tarball)
	} else {
		rep, err = s.ScanRemote(ctx, imagescan.Target{Ref: ref, Username: o.username, Password: o.password,
			Insecure: o.insecure, PlainHTTP: o.plainHTTP})
	}
	if bar != nil {
		_ = bar.Finish()
		fmt.Fprintln(stderr)
	}
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return exitError{statusError, "scan interrupted"}
		}
		return exitError{statusError, err.Error()}
	}
	elapsed := time.Since(start)
	findings := 0
	for _, r := range append([]*imagescan.Report{rep}, rep.Platforms...) {
		if err := writeImageReport(stdout, o.format, r, eng.RuleSet().Version(), elapsed); err != nil {
			return err
		}
		for _, fe := range r.Errors {
			fmt.Fprintf(stderr, "vigil: %s: %s\n", fe.Path, fe.Err)
			status = statusError
		}
		for _, f := range r.Findings {
			if !f.Hidden {
				findings++
			}
		}
	}
	if findings > 0 {
		status = statusFindings
	}
	if status != statusClean {
		return exitError{code: status}
	}
	return nil
}

type jsonImageFinding struct {
	Type        string `json:"type"`
	Image       string `json:"image"`
	Platform    string `json:"platform"`
	LayerDigest string `json:"layer_digest"`
	Hidden      bool   `json:"hidden"`
	engine.Finding
}

type jsonImageSummary struct {
	Type         string `json:"type"`
	Image        string `json:"image"`
	Digest       string `json:"digest"`
	Platform     string `json:"platform"`
	Layers       int    `json:"layers"`
	CachedLayers int    `json:"cached_layers"`
	FilesScanned int64  `json:"files_scanned"`
	Bytes        int64  `json:"bytes"`
	Findings     int    `json:"findings"`
	Errors       int    `json:"errors"`
	DurationMS   int64  `json:"duration_ms"`
	RulesVersion string `json:"rules_version"`
}

func writeImageReport(w io.Writer, format string, r *imagescan.Report, rulesVersion string, elapsed time.Duration) error {
	platform := r.OS + "/" + r.Architecture
	sum := jsonImageSummary{Type: "summary", Image: r.Reference, Digest: r.Digest, Platform: platform,
		Layers: len(r.Layers), Findings: len(r.Findings), Errors: len(r.Errors),
		DurationMS: elapsed.Milliseconds(), RulesVersion: rulesVersion}
	for _, l := range r.Layers {
		if l.Cached {
			sum.CachedLayers++
		}
		sum.FilesScanned += l.Files
		sum.Bytes += l.Bytes
	}
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		for _, f := range r.Findings {
			if f.Tags == nil {
				f.Tags = []string{}
			}
			if err := enc.Encode(jsonImageFinding{Type: "finding", Image: r.Reference, Platform: platform,
				LayerDigest: f.LayerDigest, Hidden: f.Hidden, Finding: f.Finding}); err != nil {
				return err
			}
		}
		return enc.Encode(sum)
	}
	if len(r.Findings) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "PATH\tVIRUS NAME\tRISK\tRULE\tLAYER\tHIDDEN")
		for _, f := range r.Findings {
			hidden := ""
			if f.Hidden {
				hidden = "yes"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", f.Path, f.VirusName, f.Risk, f.Rule, shortDigest(f.LayerDigest), hidden)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintln(w)
	}
	_, err := fmt.Fprintf(w, `----------- IMAGE SCAN SUMMARY -----------
Image:         %s
Digest:        %s
Platform:      %s
Layers:        %d (from cache: %d)
Files scanned: %d
Data read:     %s
Findings:      %d
Rules version: %s
Time:          %s
`, r.Reference, r.Digest, platform, sum.Layers, sum.CachedLayers, sum.FilesScanned, formatBytes(sum.Bytes),
		sum.Findings, rulesVersion, elapsed.Round(time.Millisecond))
	return err
}

func shortDigest(d string) string {
	if _, hex, ok := strings.Cut(d, ":"); ok && len(hex) > 12 {
		return hex[:12]
	}
	return d
}
