// Package netisolate cuts a container off the network inside its own network
// namespace, and restores it: the tcss actions EVENT_ISOLATE_CONTAINER and
// EVENT_RESOTRE_CONTAINER, whose outcome is reported as ContainerNetStatus.
//
// Isolation is one nftables table, inet vigil_isolate, created in the
// container's network namespace: input, output and forward base chains with
// policy drop that accept only loopback. A drop verdict in any base chain is
// final whatever other tables (CNI, Docker, the container's own) accept, so
// the container can neither send nor receive anything but loopback traffic,
// established connections included. The table is the whole record of what was
// done: it lives in the namespace, so it survives an agent restart and dies
// with the container, Status reads it back from the kernel, and Restore
// deletes exactly that table and nothing else. Both directions are single
// nft transactions (nft -f), so a failure leaves the previous state whole,
// and both are idempotent.
//
// The rules are applied by running Debian's nft under nsenter, with the
// namespace handed over as an already-open descriptor. The agent's own
// threads never enter the container's namespace: a Go thread switched with
// setns that got back to the scheduler would run unrelated goroutines in the
// container's network, and the namespace switch in a short-lived child
// cannot leak. The descriptor is opened once and checked against the agent's
// and init's namespaces before anything runs, so a pid that exits and is
// reused meanwhile cannot redirect the rules, and the host's network is never
// touched.
package netisolate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Status is the container's network status, as tcss ContainerNetStatus.
type Status string

const (
	StatusNormal        Status = "NORMAL"
	StatusIsolated      Status = "ISOLATED"
	StatusIsolateFailed Status = "ISOLATE_FAILED"
	StatusRestoreFailed Status = "RESTORE_FAILED"
)

// Reason says why an isolation or restore failed.
type Reason string

const (
	ReasonContainerNotFound Reason = "CONTAINER_NOT_FOUND" // no such process
	ReasonNetNSNotFound     Reason = "NETNS_NOT_FOUND"     // process without a readable network namespace
	ReasonHostNetNS         Reason = "HOST_NETNS"          // the process shares the host's (or the agent's) network
	ReasonNFTUnavailable    Reason = "NFT_UNAVAILABLE"     // nft or nsenter missing, or no nf_tables in the kernel
	ReasonNFTFailed         Reason = "NFT_FAILED"          // nft refused the ruleset
)

// Errors wrapped by the error returned with a failed State.
var (
	ErrContainerNotFound = errors.New("netisolate: process not found")
	ErrNetNSNotFound     = errors.New("netisolate: network namespace not found")
	ErrHostNetNS         = errors.New("netisolate: refusing to touch the host's network namespace")
	ErrNFTUnavailable    = errors.New("netisolate: nftables unavailable")
	ErrNFTFailed         = errors.New("netisolate: nft failed")
)

// State is the outcome of Isolate, Restore or Status.
type State struct {
	Status Status `json:"status"`
	Reason Reason `json:"reason,omitempty"` // set when Status is a *_FAILED
	Detail string `json:"detail,omitempty"` // human-readable detail of a failure
	// NetNS is the inode of the network namespace acted on (0 if not found);
	// containers sharing a namespace (a pod) share its isolation.
	NetNS uint64 `json:"netns,omitempty"`
}

// Table is the nftables table (family inet) isolation creates.
const Table = "vigil_isolate"

type options struct {
	log     *slog.Logger
	nft     string
	nsenter string
	procDir string
	now     func() time.Time
}

// Option configures New.
type Option func(*options)

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithNft sets the nft binary (default: "nft" from PATH, else /usr/sbin/nft).
func WithNft(path string) Option { return func(o *options) { o.nft = path } }

// WithNsenter sets the nsenter binary (default: "nsenter" from PATH, else /usr/bin/nsenter).
func WithNsenter(path string) Option { return func(o *options) { o.nsenter = path } }

// WithProcDir sets where /proc is mounted (default /proc).
func WithProcDir(dir string) Option { return func(o *options) { o.procDir = dir } }

// Isolator isolates and restores containers' networks. It holds no state of
// its own: what is isolated is read from the namespaces.
type Isolator struct{ o options }

// New returns an Isolator.
func New(opts ...Option) *Isolator {
	o := options{
		log:     slog.New(slog.DiscardHandler),
		nft:     "nft",
		nsenter: "nsenter",
		procDir: "/proc",
		now:     time.Now,
	}
	for _, opt := range opts {
		opt(&o)
	}
	return &Isolator{o: o}
}

// lookPath finds a binary in PATH or, since agents often run with a minimal
// PATH, in the sbin directories.
func lookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	} else if strings.Contains(name, "/") {
		return "", err
	}
	for _, d := range []string{"/usr/sbin", "/sbin", "/usr/bin", "/bin"} {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found", name)
}

// failure builds a failed State and its error.
func failure(status Status, reason Reason, ns uint64, sentinel error, detail string) (State, error) {
	return State{Status: status, Reason: reason, Detail: detail, NetNS: ns}, fmt.Errorf("%w: %s", sentinel, detail)
}

// openNetNS opens pid's network namespace and refuses the host's.
func (i *Isolator) openNetNS(pid int, failStatus Status) (*os.File, uint64, State, error) {
	if pid <= 0 {
		st, err := failure(failStatus, ReasonContainerNotFound, 0, ErrContainerNotFound, fmt.Sprintf("invalid pid %d", pid))
		return nil, 0, st, err
	}
	base := filepath.Join(i.o.procDir, strconv.Itoa(pid))
	if _, err := os.Stat(base); errors.Is(err, fs.ErrNotExist) {
		st, err := failure(failStatus, ReasonContainerNotFound, 0, ErrContainerNotFound, fmt.Sprintf("no process %d", pid))
		return nil, 0, st, err
	}
	f, err := os.Open(filepath.Join(base, "ns", "net"))
	if err != nil {
		reason, sentinel := ReasonNetNSNotFound, ErrNetNSNotFound
		if errors.Is(err, fs.ErrNotExist) {
			if _, serr := os.Stat(base); errors.Is(serr, fs.ErrNotExist) {
				reason, sentinel = ReasonContainerNotFound, ErrContainerNotFound // exited meanwhile
			}
		}
		st, err := failure(failStatus, reason, 0, sentinel, fmt.Sprintf("process %d: %v", pid, err))
		return nil, 0, st, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		f.Close()
		s, err := failure(failStatus, ReasonNetNSNotFound, 0, ErrNetNSNotFound, err.Error())
		return nil, 0, s, err
	}
	// The agent's own namespace and init's are the host's network: never.
	for _, host := range []string{"/proc/self/ns/net", filepath.Join(i.o.procDir, "1", "ns", "net")} {
		var hs unix.Stat_t
		if unix.Stat(host, &hs) == nil && hs.Dev == st.Dev && hs.Ino == st.Ino {
			f.Close()
			s, err := failure(failStatus, ReasonHostNetNS, st.Ino, ErrHostNetNS,
				fmt.Sprintf("process %d shares the host's network namespace (%s)", pid, host))
			return nil, 0, s, err
		}
	}
	return f, st.Ino, State{}, nil
}

// nft runs nft with args and stdin inside the namespace ns.
func (i *Isolator) nft(ctx context.Context, ns *os.File, stdin string, args ...string) (string, error) {
	nft, err := lookPath(i.o.nft)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrNFTUnavailable, err)
	}
	nsenter, err := lookPath(i.o.nsenter)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrNFTUnavailable, err)
	}
	// ExtraFiles[0] is the child's fd 3: nsenter enters the namespace we
	// pinned and checked, not whatever /proc/PID names by now.
	cmd := exec.CommandContext(ctx, nsenter, append([]string{"--net=/proc/self/fd/3", "--", nft}, args...)...)
	cmd.ExtraFiles = []*os.File{ns}
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		// No nf_tables in the kernel (or not permitted) is unavailability,
		// not a bad ruleset.
		if strings.Contains(msg, "Protocol not supported") || strings.Contains(msg, "Operation not supported") ||
			strings.Contains(msg, "Operation not permitted") {
			return "", fmt.Errorf("%w: %s", ErrNFTUnavailable, msg)
		}
		return "", fmt.Errorf("%w: %s", ErrNFTFailed, msg)
	}
	return stdout.String(), nil
}

func classify(failStatus Status, ns uint64, err error) (State, error) {
	reason := ReasonNFTFailed
	if errors.Is(err, ErrNFTUnavailable) {
		reason = ReasonNFTUnavailable
	}
	return State{Status: failStatus, Reason: reason, Detail: err.Error(), NetNS: ns}, err
}

// isolateRuleset recreates the table in one transaction: "add" makes the
// "delete" valid whether or not the table exists, so a second Isolate leaves
// exactly one table, and a half-applied ruleset cannot happen. Priority -300
// runs before conntrack, so not even conntrack entries are created.
func isolateRuleset(pid int, at time.Time) string {
	return fmt.Sprintf(`add table inet %[1]s
delete table inet %[1]s
table inet %[1]s {
	comment "vigil: network isolated (pid %[2]d, %[3]s); lift with the restore action"
	chain input {
		type filter hook input priority -300; policy drop;
		iif "lo" accept
	}
	chain output {
		type filter hook output priority -300; policy drop;
		oif "lo" accept
	}
	chain forward {
		type filter hook forward priority -300; policy drop;
	}
}
`, Table, pid, at.UTC().Format(time.RFC3339))
}

// restoreRuleset deletes the table, and only it, whether or not it exists.
func restoreRuleset() string {
	return fmt.Sprintf("add table inet %[1]s\ndelete table inet %[1]s\n", Table)
}

// Isolate cuts the network of pid's namespace, loopback excepted. It is
// idempotent. On failure the returned State has Status ISOLATE_FAILED and a
// Reason, and the error wraps one of the Err* values.
func (i *Isolator) Isolate(ctx context.Context, pid int) (State, error) {
	ns, ino, st, err := i.openNetNS(pid, StatusIsolateFailed)
	if err != nil {
		return st, err
	}
	defer ns.Close()
	if _, err := i.nft(ctx, ns, isolateRuleset(pid, i.o.now()), "-f", "-"); err != nil {
		i.o.log.Warn("container network isolation failed", "pid", pid, "netns", ino, "err", err)
		return classify(StatusIsolateFailed, ino, err)
	}
	i.o.log.Info("container network isolated", "pid", pid, "netns", ino)
	return State{Status: StatusIsolated, NetNS: ino}, nil
}

// Restore lifts the isolation of pid's namespace by deleting the table
// Isolate created; rules of anyone else are left alone. Restoring a
// namespace that is not isolated succeeds (NORMAL). On failure the State has
// Status RESTORE_FAILED and a Reason.
func (i *Isolator) Restore(ctx context.Context, pid int) (State, error) {
	ns, ino, st, err := i.openNetNS(pid, StatusRestoreFailed)
	if err != nil {
		return st, err
	}
	defer ns.Close()
	if _, err := i.nft(ctx, ns, restoreRuleset(), "-f", "-"); err != nil {
		i.o.log.Warn("container network restore failed", "pid", pid, "netns", ino, "err", err)
		return classify(StatusRestoreFailed, ino, err)
	}
	i.o.log.Info("container network restored", "pid", pid, "netns", ino)
	return State{Status: StatusNormal, NetNS: ino}, nil
}

// Status reads whether pid's namespace is isolated (ISOLATED or NORMAL). A
// failure to look is reported with the given Reason and Status
// ISOLATE_FAILED, since an unreadable state cannot be vouched for.
func (i *Isolator) Status(ctx context.Context, pid int) (State, error) {
	ns, ino, st, err := i.openNetNS(pid, StatusIsolateFailed)
	if err != nil {
		return st, err
	}
	defer ns.Close()
	out, err := i.nft(ctx, ns, "", "list", "tables", "inet")
	if err != nil {
		return classify(StatusIsolateFailed, ino, err)
	}
	for line := range strings.Lines(out) {
		if strings.TrimSpace(line) == "table inet "+Table {
			return State{Status: StatusIsolated, NetNS: ino}, nil
		}
	}
	return State{Status: StatusNormal, NetNS: ino}, nil
}
