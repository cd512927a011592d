package procjudge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigil-sec/vigil/internal/agent/proc"
	"github.com/vigil-sec/vigil/internal/engine"
	"github.com/vigil-sec/vigil/internal/store"
)

// DefaultTmpExemptions are the paths under the temporary directories whose
// executables ExecFromTmp does not flag: Go's build directories, from which
// `go run` and `go test` execute their binaries.
var DefaultTmpExemptions = []string{"/tmp/go-build"}

// Option configures a Judge.
type Option func(*config)

type config struct {
	engine    *engine.Engine
	logger    *slog.Logger
	tmpExempt []string
	onRead    func(size int64)
}

// WithEngine judges executables with e too (nil: heuristics only). Give e a
// scan cache (engine.WithCache) so a binary unchanged since it was last judged
// is not read again.
func WithEngine(e *engine.Engine) Option { return func(c *config) { c.engine = e } }

// WithReadHook has f called with the executable's size each time the engine
// is about to read an executable (a scan-cache miss), before the first byte.
// The host agent uses it to make room in its resident set for the engine's
// buffer.
func WithReadHook(f func(size int64)) Option { return func(c *config) { c.onRead = f } }

// WithLogger sets where the judge logs (debug only).
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.logger = l
		}
	}
}

// WithTmpExemptions replaces DefaultTmpExemptions (path prefixes).
func WithTmpExemptions(prefixes ...string) Option {
	return func(c *config) { c.tmpExempt = append([]string(nil), prefixes...) }
}

// Judge judges processes. Safe for concurrent use.
type Judge struct {
	cfg   config
	proc  *proc.Reader
	h     heuristics
	rules map[string]*Rule
}

// New returns a judge reading extra facts (file descriptors, the
// executable's seals) through r's proc mount.
func New(r *proc.Reader, opts ...Option) *Judge {
	cfg := config{logger: slog.New(slog.DiscardHandler), tmpExempt: DefaultTmpExemptions}
	for _, o := range opts {
		o(&cfg)
	}
	return &Judge{cfg: cfg, proc: r, h: heuristics{tmpExempt: cfg.tmpExempt}, rules: rulesByName()}
}

// Detection is one judged risk process: the process, and what found it.
type Detection struct {
	// The process.
	PID, PPID   int
	StartTicks  uint64
	StartTime   time.Time
	Exe         string
	ExeDeleted  bool
	Cmdline     string
	Chain       string
	User, Group string
	ContainerID string
	ExeMD5      string
	ExeSHA256   string

	// The verdict.
	VirusName     string
	Rule          string // heuristic: the virus name; engine: the YARA rule or list entry
	Tags          []string
	Risk          engine.RiskLevel
	CheckPlatform engine.CheckPlatform
	Desc          engine.Text
	Solution      engine.Text
	Reference     string
	Detector      string // DetectorName for heuristics, else the engine's detector
	Reason        string // what matched, in English (logs, debugging)
}

// Key identifies the detection for deduplication: one event per process
// (pid and start time, which together never repeat within a boot) and rule.
func (d *Detection) Key() string {
	return strconv.FormatUint(d.StartTicks, 10) + ":" + strconv.Itoa(d.PID) + ":" + d.VirusName
}

// Threat is the catalog entry for the detection's virus name.
func (d *Detection) Threat() store.Threat {
	return store.Threat{
		Name:          d.VirusName,
		Tags:          append([]string(nil), d.Tags...),
		Desc:          store.Localized{ZH: d.Desc.ZH, EN: d.Desc.EN},
		Solution:      store.Localized{ZH: d.Solution.ZH, EN: d.Solution.EN},
		ReferenceLink: d.Reference,
	}
}

// Detection methods (RiskProcessEvent.FirstDetectionMethod).
const (
	MethodScan     = 0 // found by a sweep
	MethodRealTime = 1 // found on its exec event
)

// Event converts the detection to the store's event for host hostUUID,
// detected now by method.
func (d *Detection) Event(hostUUID string, method int, now time.Time) store.RiskProcessEvent {
	return store.RiskProcessEvent{
		HostUUID:             hostUUID,
		PID:                  int64(d.PID),
		PPID:                 int64(d.PPID),
		ProcessStartTime:     d.StartTime,
		ExePath:              d.Exe,
		CmdLine:              d.Cmdline,
		ExeMD5:               d.ExeMD5,
		ExeSHA256:            d.ExeSHA256,
		User:                 d.User,
		Group:                d.Group,
		ContainerID:          d.ContainerID,
		VirusName:            d.VirusName,
		RuleName:             d.Rule,
		CheckPlatform:        []string{string(d.CheckPlatform)},
		HandleStatus:         store.HandlePending,
		FirstDetectionMethod: method,
		FirstDetectTime:      now,
		DetectTime:           now,
	}
}

// Facts collects what the heuristics need beyond p: whether a deleted
// executable was replaced, memfd seals, and whether a shell's stdio is a TCP
// socket (looked at only for shells, the only processes the rule concerns).
func (j *Judge) Facts(p *proc.Process) Facts {
	f := Facts{
		PID: p.PID, PPID: p.PPID, Name: p.Name, Kernel: p.Kernel, Zombie: p.Zombie,
		Exe: p.Exe, ExeDeleted: p.ExeDeleted, Argv: p.Argv,
	}
	if p.Kernel || p.Zombie {
		return f
	}
	pidDir := path.Join(j.proc.ProcRoot(), strconv.Itoa(p.PID))
	if strings.HasPrefix(p.Exe, "/memfd:") {
		f.ExeMemfd = true
		f.ExeSealed = memfdSealed(path.Join(pidDir, "exe"))
	} else if p.ExeDeleted {
		// Seen from the process's root, so a container's files are looked up
		// in the container.
		var st unix.Stat_t
		if err := unix.Stat(path.Join(pidDir, "root", p.Exe), &st); err == nil &&
			(st.Dev != p.ExeID.Dev || st.Ino != p.ExeID.Ino) {
			f.ExeReplaced = true
		}
	}
	name := programName(&f)
	if shells[name] || shells[p.Name] {
		f.StdioTCP = stdioTCP(pidDir)
	}
	return f
}

// memfdSealed reports whether the memory file behind exe is sealed against
// writes.
func memfdSealed(exe string) bool {
	fd, err := unix.Open(exe, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	seals, err := unix.FcntlInt(uintptr(fd), unix.F_GET_SEALS, 0)
	return err == nil && seals&unix.F_SEAL_WRITE != 0
}

// stdioTCP reports whether fd 0 or 1 of the process in pidDir is a TCP
// socket: its inode appears in the process's network namespace's tcp tables.
// Unix sockets and vsock (supervisors, session managers) do not count.
func stdioTCP(pidDir string) bool {
	inodes := map[string]bool{}
	for _, fd := range []string{"0", "1"} {
		l, err := os.Readlink(path.Join(pidDir, "fd", fd))
		if err != nil {
			continue
		}
		if ino, ok := strings.CutPrefix(l, "socket:["); ok {
			inodes[strings.TrimSuffix(ino, "]")] = true
		}
	}
	if len(inodes) == 0 {
		return false
	}
	for _, table := range []string{"tcp", "tcp6"} {
		data, err := os.ReadFile(path.Join(pidDir, "net", table))
		if err != nil {
			continue
		}
		for line := range strings.SplitSeq(string(data), "\n") {
			f := strings.Fields(line)
			// sl local rem st tx:rx tr:when retrnsmt uid timeout inode …
			if len(f) > 9 && inodes[f[9]] {
				return true
			}
		}
	}
	return false
}

// Judge returns the detections on p: its heuristics, then the engine's
// findings on its executable. A process that vanished while it was judged
// still gets the detections made from what was read.
func (j *Judge) Judge(ctx context.Context, p *proc.Process) ([]Detection, error) {
	f := j.Facts(p)
	var out []Detection
	for _, h := range j.h.check(&f) {
		r := j.rules[h.VirusName]
		d := j.base(p)
		d.VirusName, d.Rule, d.Tags, d.Risk = r.VirusName, r.VirusName, append([]string(nil), r.Tags...), r.Risk
		d.CheckPlatform, d.Desc, d.Solution, d.Reference = engine.PlatformBehavior, r.Desc, r.Solution, r.Reference
		d.Detector, d.Reason = DetectorName, h.Reason
		out = append(out, d)
	}
	findings, err := j.scanExe(ctx, p)
	for _, fd := range findings {
		d := j.base(p)
		d.VirusName, d.Rule, d.Tags, d.Risk = fd.VirusName, fd.Rule, append([]string(nil), fd.Tags...), fd.Risk
		d.CheckPlatform, d.Desc, d.Solution, d.Reference = fd.Platform, fd.Description, fd.Solution, fd.Reference
		if d.Reference == "" {
			d.Reference = ReferenceLink
		}
		d.Detector, d.Reason = fd.Detector, "engine: "+fd.Detector+" "+fd.Rule
		if d.ExeMD5 == "" {
			d.ExeMD5, d.ExeSHA256 = fd.MD5, fd.SHA256
		}
		out = append(out, d)
	}
	return out, err
}

func (j *Judge) base(p *proc.Process) Detection {
	return Detection{
		PID: p.PID, PPID: p.PPID, StartTicks: p.StartTicks, StartTime: p.StartTime,
		Exe: p.Exe, ExeDeleted: p.ExeDeleted, Cmdline: p.Cmdline, Chain: p.Chain,
		User: p.User, Group: p.Group, ContainerID: p.ContainerID,
		ExeMD5: p.MD5, ExeSHA256: p.SHA256,
	}
}

// scanExe runs the engine on the executable through /proc/PID/exe, which
// opens it in containers and after deletion alike. The engine's scan cache is
// keyed by the executable's path and identity (device, inode, size, mtime,
// ctime), so an unchanged binary is judged without being read.
func (j *Judge) scanExe(ctx context.Context, p *proc.Process) ([]engine.Finding, error) {
	if j.cfg.engine == nil || p.Exe == "" || p.ExeID == (proc.FileID{}) || p.ExeID.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, nil
	}
	id := p.ExeID
	info := engine.FileInfo{
		Path:       p.Exe,
		Size:       id.Size,
		Mode:       fs.FileMode(id.Mode & 0o777),
		ModTime:    time.Unix(0, id.MTime),
		ChangeTime: time.Unix(0, id.CTime),
		Dev:        id.Dev,
		Ino:        id.Ino,
	}
	r := &exeReader{path: path.Join(j.proc.ProcRoot(), strconv.Itoa(p.PID), "exe"), id: id, onRead: j.cfg.onRead}
	defer r.close()
	res, err := j.cfg.engine.Scan(ctx, info, r)
	if err != nil {
		if errors.Is(err, proc.ErrGone) || errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ESRCH) {
			return nil, nil // the process exited: its heuristics stand, the file is out of reach
		}
		return res.Findings, fmt.Errorf("pid %d: scan %s: %w", p.PID, p.Exe, err)
	}
	return res.Findings, nil
}

// exeReader opens the executable on first read, so a cache hit opens nothing,
// and refuses a file that is not the one identified by id (the pid was reused).
type exeReader struct {
	path   string
	id     proc.FileID
	f      *os.File
	onRead func(size int64)
}

func (r *exeReader) Read(b []byte) (int, error) {
	if r.f == nil {
		if r.onRead != nil {
			r.onRead(r.id.Size)
		}
		f, err := os.Open(r.path)
		if err != nil {
			return 0, err
		}
		r.f = f
		var st unix.Stat_t
		if err := unix.Fstat(int(f.Fd()), &st); err != nil {
			return 0, err
		}
		if st.Dev != r.id.Dev || st.Ino != r.id.Ino || st.Size != r.id.Size {
			return 0, fmt.Errorf("%s: %w", r.path, proc.ErrGone)
		}
	}
	n, err := r.f.Read(b)
	if err != nil && err != io.EOF {
		return n, err
	}
	return n, err
}

func (r *exeReader) close() {
	if r.f != nil {
		r.f.Close()
	}
}
