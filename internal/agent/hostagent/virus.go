package hostagent

import (
	"cmp"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vigil-sec/vigil/internal/agent/container"
	"github.com/vigil-sec/vigil/internal/agent/fswatch"
	"github.com/vigil-sec/vigil/internal/agent/netisolate"
	"github.com/vigil-sec/vigil/internal/agent/proc"
	"github.com/vigil-sec/vigil/internal/agent/quarantine"
	"github.com/vigil-sec/vigil/internal/agent/spool"
	"github.com/vigil-sec/vigil/internal/agent/transport"
	"github.com/vigil-sec/vigil/internal/agentapi/wire"
	"github.com/vigil-sec/vigil/internal/engine"
)

// The container-file pipeline (tcss runtime trojan files, issue 5): a
// fanotify watcher on every container root filesystem mounted on the host
// (re-discovered every RediscoverInterval), each file written or executed
// there judged by the engine, and a flagged one reported as a VirusEvent
// with its process, the process's parent and an ancestor, the container's
// metadata and the node's facts; and the commands acting on containers:
// network isolation, file quarantine, one-click scans.

// VirusSpoolDir is the spool of container-file events, in the data directory.
const VirusSpoolDir = "spool-virus"

// DefaultRediscoverInterval is how often new container root filesystems are looked for.
const DefaultRediscoverInterval = 5 * time.Second

// defaultScanPaths are what SCAN_PATH_DEFAULT walks in a container: where
// binaries and dropped files live.
var defaultScanPaths = []string{"/bin", "/sbin", "/usr/bin", "/usr/sbin", "/usr/local", "/lib", "/usr/lib", "/tmp", "/var/tmp", "/dev/shm", "/root", "/home", "/opt", "/etc", "/var/www", "/app"}

// skippedRoots are never walked by a scan (pseudo filesystems of the container).
var skippedRoots = []string{"/proc", "/sys", "/dev"}

// repeatWindow: a file reported again (same container, path and md5) within
// it is not spooled again (an executed binary would otherwise flood).
const repeatWindow = 10 * time.Second

type virusPipeline struct {
	log       *slog.Logger
	eng       *engine.Engine
	reader    *proc.Reader
	res       *container.Resolver
	node      container.Node
	sp        *spool.Spool
	q         *quarantine.Quarantine
	iso       *netisolate.Isolator
	client    *transport.Client
	procRoot  string
	interval  time.Duration
	mountinfo string

	mu      sync.Mutex
	roots   map[string]fswatch.RootFS // mount point → rootfs
	recent  map[string]time.Time      // container|path|md5 → last spooled
	scans   map[int64]context.CancelFunc
	verdict map[fileKey][]engine.Finding // one-click scans: each shared file read once
	wg      sync.WaitGroup
}

// fileKey identifies a file's content across containers sharing an image
// layer: overlayfs reports the lower file's inode but its own device, so the
// device is left out.
type fileKey struct {
	ino, size int64
	mtime     int64
}

func newVirusPipeline(cfg Config, log *slog.Logger, eng *engine.Engine, reader *proc.Reader, client *transport.Client) (*virusPipeline, error) {
	sock := func(p, def string) string {
		switch p {
		case "":
			return def
		case "-":
			return ""
		}
		return p
	}
	q, err := quarantine.OpenInDataDir(cfg.DataDir, quarantine.WithLogger(log))
	if err != nil {
		return nil, fmt.Errorf("quarantine: %w", err)
	}
	sp, err := spool.Open(filepath.Join(cfg.DataDir, VirusSpoolDir))
	if err != nil {
		q.Close()
		return nil, fmt.Errorf("virus spool: %w", err)
	}
	v := &virusPipeline{
		log: log, eng: eng, reader: reader, client: client, sp: sp, q: q,
		res: container.New(container.WithLogger(log),
			container.WithContainerdSocket(sock(cfg.ContainerdSocket, container.DefaultContainerdSocket)),
			container.WithDockerSocket(sock(cfg.DockerSocket, container.DefaultDockerSocket))),
		node:      container.DescribeNode(container.WithCluster(cfg.ClusterID, cfg.ClusterName)),
		iso:       netisolate.New(netisolate.WithLogger(log)),
		procRoot:  proc.DefaultProcRoot,
		interval:  cmp.Or(cfg.RediscoverInterval, DefaultRediscoverInterval),
		mountinfo: cmp.Or(cfg.Mountinfo, "/proc/self/mountinfo"),
		roots:     map[string]fswatch.RootFS{},
		recent:    map[string]time.Time{},
		scans:     map[int64]context.CancelFunc{},
		verdict:   map[fileKey][]engine.Finding{},
	}
	return v, nil
}

func (v *virusPipeline) close() {
	v.res.Close()
	v.sp.Close()
	v.q.Close()
}

func (v *virusPipeline) rootFor(root string) (fswatch.RootFS, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	r, ok := v.roots[root]
	return r, ok
}

// discover adds the container root filesystems mounted now and forgets those gone.
func (v *virusPipeline) discover(w *fswatch.Watcher) {
	rfs, err := fswatch.DiscoverFile(v.mountinfo)
	if err != nil {
		v.log.Warn("container root filesystems: reading mounts", "err", err)
		return
	}
	seen := map[string]bool{}
	for _, r := range rfs {
		seen[r.MountPoint] = true
		v.mu.Lock()
		_, known := v.roots[r.MountPoint]
		v.mu.Unlock()
		if known {
			continue
		}
		if err := w.AddMount(r.MountPoint); err != nil {
			v.log.Debug("watching a container root filesystem", "mount", r.MountPoint, "err", err)
			continue
		}
		v.mu.Lock()
		v.roots[r.MountPoint] = r
		v.mu.Unlock()
		v.log.Debug("watching a container root filesystem", "mount", r.MountPoint, "container", r.ContainerID)
	}
	v.mu.Lock()
	var gone []string
	for mp := range v.roots {
		if !seen[mp] {
			gone = append(gone, mp)
			delete(v.roots, mp)
		}
	}
	v.mu.Unlock()
	for _, mp := range gone {
		_ = w.RemoveMount(mp)
	}
}

// runWatch watches container files until ctx ends. Without fanotify (or
// inotify) it logs why and waits: the rest of the agent keeps working.
func (v *virusPipeline) runWatch(ctx context.Context, ignore ...string) error {
	w, err := fswatch.New(fswatch.WithLogger(v.log), fswatch.WithIgnorePaths(ignore...))
	if err != nil {
		v.log.Warn("container file watching unavailable", "err", err)
		<-ctx.Done()
		return nil
	}
	defer w.Close()
	v.log.Info("watching container files", "mode", w.Mode().String())
	v.discover(w)
	go func() {
		t := time.NewTicker(v.interval)
		defer t.Stop()
		var last fswatch.Stats
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				v.discover(w)
				if st := w.Stats(); st.Events != last.Events || st.Rescans != last.Rescans {
					logWatchStats(v.log, slog.LevelDebug, "container file watcher", st)
					last = st
				}
			}
		}
	}()
	err = w.Run(ctx, v.handle)
	logWatchStats(v.log, slog.LevelInfo, "container file watcher stopped", w.Stats())
	return err
}

// logWatchStats logs how the watcher kept up (shed notifications are
// recovered by rescans).
func logWatchStats(log *slog.Logger, level slog.Level, msg string, st fswatch.Stats) {
	log.Log(context.Background(), level, msg, "events", st.Events, "delivered", st.Delivered, "coalesced", st.Coalesced,
		"ignored", st.Ignored, "overflows", st.Overflows, "dropped", st.Dropped, "rescans", st.Rescans,
		"rescanned", st.Rescanned, "skipped", st.Skipped, "too_large", st.TooLarge)
}

// handle judges one file written or run in a container.
func (v *virusPipeline) handle(ctx context.Context, ev fswatch.Event) {
	if ev.File == nil || !ev.Stat.Mode.IsRegular() {
		return
	}
	info := engine.FileInfo{Path: ev.ContainerPath, Size: ev.Stat.Size, Mode: ev.Stat.Mode, ModTime: ev.Stat.Mtime,
		ChangeTime: ev.Stat.Ctime, Dev: ev.Stat.Dev, Ino: ev.Stat.Ino}
	res, err := v.eng.Scan(ctx, info, io.NewSectionReader(ev.File, 0, ev.Stat.Size))
	if err != nil && (res == nil || len(res.Findings) == 0) {
		v.log.Debug("scanning a container file", "path", ev.Path, "err", err)
		return
	}
	if len(res.Findings) == 0 {
		return
	}
	var containerID string
	if r, ok := v.rootFor(ev.Root); ok {
		containerID = r.ContainerID
	}
	var p *proc.Process
	if ev.PID > 0 {
		if p, err = v.reader.Read(ev.PID); err != nil {
			v.log.Debug("reading the process of a container file", "pid", ev.PID, "err", err)
			p = nil
		}
	}
	if containerID == "" && p != nil {
		containerID = p.ContainerID
	}
	sum := res.Findings[0].MD5
	if sum == "" {
		sum = md5Of(ev.File, ev.Stat.Size)
	}
	key := containerID + "|" + ev.ContainerPath + "|" + sum
	now := time.Now()
	v.mu.Lock()
	if t, ok := v.recent[key]; ok && now.Sub(t) < repeatWindow {
		v.mu.Unlock()
		return
	}
	if len(v.recent) > 10_000 {
		clear(v.recent)
	}
	v.recent[key] = now
	v.mu.Unlock()

	e := v.event(ctx, containerID, res.Findings[0], sum, ev.ContainerPath, ev.Stat.Size, ev.Stat.Mode, ev.Stat.Mtime, atimeOf(ev.File), 2, 0)
	if p != nil {
		v.fillProcess(&e, p)
	}
	if err := transport.SpoolVirusEvents(v.sp, e); err != nil {
		v.log.Error("spooling a container file event", "err", err)
		return
	}
	v.log.Info("trojan file in a container", "container", containerID, "path", ev.ContainerPath, "virus", e.VirusName, "pid", ev.PID, "kind", ev.Kind.String())
}

// event builds a VirusEvent of a finding in a container.
func (v *virusPipeline) event(ctx context.Context, containerID string, f engine.Finding, sum, cpath string, size int64, mode fs.FileMode, mtime, atime time.Time, source int, task int64) wire.VirusEvent {
	e := wire.VirusEvent{
		ContainerID: containerID, FilePath: cpath, FileMD5: sum, FileSize: size, FileAuthority: mode.String(),
		FileModifyTime: mtime, FileAccessTime: atime, VirusName: f.VirusName, RiskLevel: f.Risk.String(),
		CheckPlatform: []string{string(f.Platform)}, SourceType: source, TaskID: task, DetectTime: time.Now(),
		ClusterID: v.node.ClusterID, ClusterName: v.node.ClusterName, NodeID: v.node.ID, NodeName: v.node.HostName,
		Tags: f.Tags, DescZH: f.Description.ZH, DescEN: f.Description.EN, SolutionZH: f.Solution.ZH, SolutionEN: f.Solution.EN,
		Reference: f.Reference,
	}
	if containerID == "" || v.res == nil {
		return e
	}
	c, err := v.res.Resolve(ctx, containerID)
	if err != nil {
		v.log.Debug("container metadata", "container", containerID, "err", err)
		return e
	}
	e.ContainerID = c.ID
	e.ContainerName, e.ContainerStatus, e.ImageID, e.ImageName = c.Name, string(c.Status), c.ImageID, c.Image
	e.Labels, e.PodName, e.PodIP, e.Namespace, e.WorkloadType = c.Labels, c.PodName, c.PodIP, c.PodNamespace, c.WorkloadType
	return e
}

// fillProcess adds the process, its parent and an ancestor (the grandparent).
func (v *virusPipeline) fillProcess(e *wire.VirusEvent, p *proc.Process) {
	e.Process = wire.VirusProcess{PID: int64(p.PID), Name: p.Name, Path: p.Exe, MD5: p.MD5, Argv: p.Cmdline, Chain: p.Chain, User: p.User, Group: p.Group}
	rel := func(pid int) wire.VirusProcess {
		q, err := v.reader.Read(pid)
		if err != nil {
			return wire.VirusProcess{}
		}
		return wire.VirusProcess{PID: int64(q.PID), Name: q.Name, Path: q.Exe, Argv: q.Cmdline, User: q.User, Group: q.Group}
	}
	if len(p.Ancestors) > 0 {
		e.Parent = rel(p.Ancestors[0].PID)
	}
	if len(p.Ancestors) > 1 {
		e.Ancestor = rel(p.Ancestors[1].PID)
	}
}

func md5Of(f *os.File, size int64) string {
	h := md5.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, size)); err != nil {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))
}

func atimeOf(f *os.File) time.Time {
	fi, err := f.Stat()
	if err != nil {
		return time.Time{}
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return time.Unix(st.Atim.Sec, st.Atim.Nsec)
	}
	return time.Time{}
}

// Commands.

func ok(v any) wire.CommandResult {
	b, _ := json.Marshal(v)
	return wire.CommandResult{OK: true, Result: b}
}

// handle runs a container command; handled false: not one of them.
func (v *virusPipeline) command(ctx context.Context, cmd wire.Command) (wire.CommandResult, bool) {
	switch cmd.Kind {
	case wire.CommandIsolateContainer, wire.CommandRestoreContainer:
		var p wire.ContainerPayload
		if err := json.Unmarshal(cmd.Payload, &p); err != nil {
			return wire.CommandResult{Error: "malformed payload: " + err.Error()}, true
		}
		return ok(v.isolate(ctx, p.ContainerID, cmd.Kind == wire.CommandIsolateContainer)), true
	case wire.CommandQuarantineFile, wire.CommandRestoreFile:
		var p wire.FilePayload
		if err := json.Unmarshal(cmd.Payload, &p); err != nil {
			return wire.CommandResult{Error: "malformed payload: " + err.Error()}, true
		}
		var r wire.FileResult
		if cmd.Kind == wire.CommandQuarantineFile {
			r = v.quarantineFile(ctx, p)
		} else {
			r = v.restoreFile(ctx, p)
		}
		v.log.Info("container file command", "kind", cmd.Kind, "event_id", p.EventID, "container", p.ContainerID, "path", p.Path, "ok", r.OK, "sub_status", r.SubStatus, "detail", r.Detail)
		return ok(r), true
	case wire.CommandScanContainers:
		var p wire.ScanPayload
		if err := json.Unmarshal(cmd.Payload, &p); err != nil {
			return wire.CommandResult{Error: "malformed payload: " + err.Error()}, true
		}
		v.startScan(ctx, p)
		return ok(struct{}{}), true
	case wire.CommandStopScan:
		var p wire.StopScanPayload
		if err := json.Unmarshal(cmd.Payload, &p); err != nil {
			return wire.CommandResult{Error: "malformed payload: " + err.Error()}, true
		}
		v.mu.Lock()
		if cancel, ok := v.scans[p.TaskID]; ok && len(p.ContainerIDs) == 0 {
			cancel()
		}
		v.mu.Unlock()
		return ok(struct{}{}), true
	}
	return wire.CommandResult{}, false
}

// initPID is the host pid of the container's init process, 0 when it does not run.
func (v *virusPipeline) initPID(ctx context.Context, id string) int {
	if v.res == nil || id == "" {
		return 0
	}
	c, err := v.res.Resolve(ctx, id)
	if err != nil || c.Exited || c.PID <= 0 {
		return 0
	}
	return c.PID
}

func (v *virusPipeline) isolate(ctx context.Context, id string, isolate bool) wire.ContainerNetResult {
	failed := netisolate.StatusIsolateFailed
	if !isolate {
		failed = netisolate.StatusRestoreFailed
	}
	pid := v.initPID(ctx, id)
	if pid == 0 {
		return wire.ContainerNetResult{Status: string(failed), Reason: string(netisolate.ReasonContainerNotFound), Detail: "container " + id + " is not running"}
	}
	var st netisolate.State
	var err error
	if isolate {
		st, err = v.iso.Isolate(ctx, pid)
	} else {
		st, err = v.iso.Restore(ctx, pid)
	}
	v.log.Info("container network command", "container", id, "isolate", isolate, "status", st.Status, "reason", st.Reason, "err", err)
	return wire.ContainerNetResult{Status: string(st.Status), Reason: string(st.Reason), Detail: st.Detail}
}

const labelEventID = "event_id"

// sampleOf finds the quarantined sample of an event.
func (v *virusPipeline) sampleOf(eventID int64, state quarantine.State) (quarantine.Sample, bool) {
	ss, err := v.q.List()
	if err != nil {
		return quarantine.Sample{}, false
	}
	id := strconv.FormatInt(eventID, 10)
	for _, s := range slices.Backward(ss) {
		if s.Labels[labelEventID] == id && s.State == state {
			return s, true
		}
	}
	return quarantine.Sample{}, false
}

func fileResult(s quarantine.Sample) wire.FileResult {
	return wire.FileResult{OK: true, SampleID: s.ID, MD5: s.MD5, SHA256: s.SHA256, Size: s.Size, HostPath: s.Path}
}

func (v *virusPipeline) quarantineFile(ctx context.Context, p wire.FilePayload) wire.FileResult {
	if s, done := v.sampleOf(p.EventID, quarantine.StateIsolated); done {
		return fileResult(s) // a redelivered command
	}
	pid := v.initPID(ctx, p.ContainerID)
	if pid == 0 {
		return wire.FileResult{SubStatus: "CONTAINER_NOT_FOUND_DEAL_ISOLATE", Detail: "container " + p.ContainerID + " is not running"}
	}
	if !path.IsAbs(p.Path) {
		return wire.FileResult{SubStatus: "FILE_NOT_FOUND", Detail: "not an absolute path"}
	}
	hostPath := filepath.Join(v.procRoot, strconv.Itoa(pid), "root") + path.Clean(p.Path)
	s, err := v.q.Isolate(ctx, hostPath, quarantine.Meta{KillProcesses: p.Kill, Labels: map[string]string{
		labelEventID: strconv.FormatInt(p.EventID, 10), "container_id": p.ContainerID, "container_path": p.Path, "md5": p.MD5,
	}})
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return wire.FileResult{SubStatus: "FILE_NOT_FOUND", Detail: err.Error()}
	case err != nil:
		return wire.FileResult{SubStatus: "FILE_ABNORMAL_DEAL_ISOLATE", Detail: err.Error()}
	}
	if p.MD5 != "" && !strings.EqualFold(s.MD5, p.MD5) {
		// Another file took the path since the event: not ours to remove.
		if _, err := v.q.Restore(ctx, s.ID, quarantine.RestoreOptions{}); err != nil {
			v.log.Error("putting back a file quarantined by mistake", "sample", s.ID, "path", hostPath, "err", err)
		}
		return wire.FileResult{SubStatus: "FILE_NOT_FOUND", Detail: "the file at " + p.Path + " is no longer the one of the event (md5 " + s.MD5 + ")"}
	}
	return fileResult(s)
}

func (v *virusPipeline) restoreFile(ctx context.Context, p wire.FilePayload) wire.FileResult {
	s, found := v.sampleOf(p.EventID, quarantine.StateIsolated)
	if !found {
		return wire.FileResult{SubStatus: "BACKUP_FILE_NOT_FOUND", Detail: "no quarantined sample of this event on the host"}
	}
	// The container may have restarted: restore under its current root.
	pid := v.initPID(ctx, p.ContainerID)
	if pid == 0 {
		return wire.FileResult{SubStatus: "CONTAINER_NOT_FOUND_DEAL_RECOVER", Detail: "container " + p.ContainerID + " is not running"}
	}
	to := filepath.Join(v.procRoot, strconv.Itoa(pid), "root") + path.Clean(s.RootPath)
	r, err := v.q.Restore(ctx, s.ID, quarantine.RestoreOptions{Path: to})
	if err != nil {
		return wire.FileResult{SubStatus: "FILE_ABNORMAL_DEAL_RECOVER", Detail: err.Error()}
	}
	return fileResult(r)
}

// One-click scans.

func (v *virusPipeline) startScan(ctx context.Context, p wire.ScanPayload) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, running := v.scans[p.TaskID]; running {
		return
	}
	// ctx is the command loop's: it lives as long as the agent, so a scan
	// ends with the agent, at its deadline, or on stop_scan.
	sctx, cancel := context.WithCancel(ctx)
	if !p.Deadline.IsZero() {
		sctx, cancel = context.WithDeadline(ctx, p.Deadline)
	}
	v.scans[p.TaskID] = cancel
	if len(v.scans) == 1 {
		clear(v.verdict) // verdicts last one task at most: the rules may have changed since
	}
	v.wg.Add(1)
	go func() {
		defer v.wg.Done()
		defer func() {
			v.mu.Lock()
			delete(v.scans, p.TaskID)
			v.mu.Unlock()
			cancel()
		}()
		v.scan(sctx, ctx, p)
	}()
}

// scan runs a one-click scan task and reports it; parent is the agent's
// context (reports still go out when the task's own context ended).
func (v *virusPipeline) scan(ctx, parent context.Context, p wire.ScanPayload) {
	report := func(rep wire.ScanProgress) {
		rep.TaskID = p.TaskID
		if err := v.client.SendScanProgress(parent, rep); err != nil {
			v.log.Warn("scan progress not reported", "task", p.TaskID, "err", err)
		}
	}
	all, err := v.res.List(ctx)
	if err != nil {
		report(wire.ScanProgress{Done: true, Progress: 100, Error: "listing containers: " + err.Error()})
		return
	}
	var cs []container.Info
	for _, c := range all {
		if c.PID > 0 && (len(p.ContainerIDs) == 0 || slices.Contains(p.ContainerIDs, c.ID)) {
			cs = append(cs, c)
		}
	}
	prog := make([]wire.ContainerScanProgress, len(cs))
	for i, c := range cs {
		prog[i] = wire.ContainerScanProgress{ContainerID: c.ID}
	}
	report(wire.ScanProgress{Containers: slices.Clone(prog)})
	v.log.Info("one-click scan", "task", p.TaskID, "containers", len(cs), "path_mode", p.PathMode, "scheduled", p.Scheduled)
	var stats scanStats
	defer func() {
		// Files × containers against files read: what sharing an image saves.
		v.log.Info("one-click scan finished", "task", p.TaskID, "containers", len(cs), "files", stats.files,
			"files_read", stats.read, "bytes_read", stats.bytes, "findings", stats.found)
	}()
	for i, c := range cs {
		n, err := v.scanContainer(ctx, c, p, &stats)
		stats.found += n
		prog[i].RiskCount, prog[i].Progress, prog[i].Done = int64(n), 100, true
		if err != nil {
			prog[i].Error = err.Error()
		}
		v.waitUploaded(parent, 10*time.Second)
		report(wire.ScanProgress{Progress: int64((i + 1) * 100 / len(cs)), Done: i == len(cs)-1, Containers: []wire.ContainerScanProgress{prog[i]}})
	}
	if len(cs) == 0 {
		report(wire.ScanProgress{Progress: 100, Done: true})
	}
}

// waitUploaded waits (bounded) until the spooled events have been uploaded,
// so a task reported finished shows its findings.
func (v *virusPipeline) waitUploaded(ctx context.Context, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for v.sp.Stats().Items > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
}

// scanRoots are the in-container directories a task walks.
func scanRoots(p wire.ScanPayload) (include, exclude []string) {
	switch {
	case p.PathMode == "SCAN_PATH_DEFAULT":
		return defaultScanPaths, skippedRoots
	case p.PathMode == "SCAN_PATH_USER_DEFINE" && !p.Exclude && len(p.Paths) > 0:
		return p.Paths, skippedRoots
	case p.PathMode == "SCAN_PATH_USER_DEFINE":
		return []string{"/"}, append(slices.Clone(skippedRoots), p.Paths...)
	}
	return []string{"/"}, skippedRoots
}

func under(p string, dirs []string) bool {
	for _, d := range dirs {
		d = path.Clean("/" + d)
		if p == d || strings.HasPrefix(p, d+"/") || d == "/" {
			return true
		}
	}
	return false
}

// scanStats count a scan task's work.
type scanStats struct {
	files, read, bytes int64 // regular files met, files the engine read, their bytes
	found              int
}

// scanContainer walks one container's root through /proc/PID/root and
// spools its findings; it returns how many.
func (v *virusPipeline) scanContainer(ctx context.Context, c container.Info, p wire.ScanPayload, stats *scanStats) (int, error) {
	root := filepath.Join(v.procRoot, strconv.Itoa(c.PID), "root")
	include, exclude := scanRoots(p)
	source := 0 // one-click
	if p.Scheduled {
		source = 1
	}
	found := 0
	var batch []wire.VirusEvent
	for _, inc := range include {
		start := root + path.Clean("/"+inc)
		err := filepath.WalkDir(start, func(hp string, d fs.DirEntry, err error) error {
			if ctxErr := ctx.Err(); ctxErr != nil {
				return ctxErr
			}
			cp := "/" + strings.TrimPrefix(strings.TrimPrefix(hp, root), "/")
			if err != nil {
				return nil // unreadable: skip
			}
			if d.IsDir() {
				if cp != "/" && under(cp, exclude) {
					return filepath.SkipDir
				}
				return nil
			}
			if !d.Type().IsRegular() || under(cp, exclude) {
				return nil
			}
			fi, err := d.Info()
			if err != nil {
				return nil
			}
			stats.files++
			st, _ := fi.Sys().(*syscall.Stat_t)
			var k fileKey
			if st != nil {
				k = fileKey{ino: int64(st.Ino), size: fi.Size(), mtime: fi.ModTime().UnixNano()}
			}
			v.mu.Lock()
			finds, seen := v.verdict[k]
			v.mu.Unlock()
			if !seen || st == nil {
				res, err := v.eng.ScanFile(ctx, hp)
				stats.read++
				stats.bytes += fi.Size()
				if res == nil {
					_ = err
					return nil
				}
				finds = res.Findings
				if st != nil && res.Err == nil {
					v.mu.Lock()
					if len(v.verdict) > 200_000 {
						clear(v.verdict)
					}
					v.verdict[k] = finds
					v.mu.Unlock()
				}
			}
			if len(finds) == 0 {
				return nil
			}
			var atime time.Time
			if st != nil {
				atime = time.Unix(st.Atim.Sec, st.Atim.Nsec)
			}
			e := v.event(ctx, c.ID, finds[0], finds[0].MD5, cp, fi.Size(), fi.Mode(), fi.ModTime(), atime, source, p.TaskID)
			batch = append(batch, e)
			found++
			if len(batch) >= 100 {
				if err := transport.SpoolVirusEvents(v.sp, batch...); err != nil {
					return err
				}
				batch = batch[:0]
			}
			return nil
		})
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			_ = transport.SpoolVirusEvents(v.sp, batch...)
			return found, fmt.Errorf("scanning %s: %w", c.ID, err)
		}
	}
	return found, transport.SpoolVirusEvents(v.sp, batch...)
}
