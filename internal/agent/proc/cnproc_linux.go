package proc

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// The process connector's ABI (include/uapi/linux/connector.h, cn_proc.h);
// x/sys has only NETLINK_CONNECTOR.
const (
	cnIdxProc          = 1 // CN_IDX_PROC
	cnValProc          = 1 // CN_VAL_PROC
	procCnMcastListen  = 1 // PROC_CN_MCAST_LISTEN
	procCnMcastIgnore  = 2 // PROC_CN_MCAST_IGNORE
	nlmsgHdrLen        = unix.SizeofNlMsghdr
	cnMsgLen           = 20 // struct cn_msg without data
	procEventHdrLen    = 16 // what, cpu, timestamp_ns
	procEventWhatOff   = nlmsgHdrLen + cnMsgLen
	procEventDataOff   = procEventWhatOff + procEventHdrLen
	DefaultRecvBuffer  = 8 << 20 // bytes of socket buffer: about 100k events
	connectorReadBytes = 64 << 10
)

// EventKind is the kind of a connector event (the kernel's PROC_EVENT_*).
type EventKind uint32

// Event kinds. EventOverrun is vigil's: the socket buffer overflowed and
// events were lost, so the caller should sweep.
const (
	EventFork    EventKind = 0x00000001
	EventExec    EventKind = 0x00000002
	EventExit    EventKind = 0x80000000
	EventOverrun EventKind = 0xffffffff
)

func (k EventKind) String() string {
	switch k {
	case EventFork:
		return "fork"
	case EventExec:
		return "exec"
	case EventExit:
		return "exit"
	case EventOverrun:
		return "overrun"
	}
	return fmt.Sprintf("EventKind(%#x)", uint32(k))
}

// Event is one process event. For exec, PID is the thread that executed and
// TGID its process (equal after exec, which makes the thread the leader). For
// fork, PID/TGID are the child's and ParentPID/ParentTGID the parent's. For
// exit, ExitCode and ExitSignal are set.
type Event struct {
	Kind       EventKind
	CPU        uint32
	Timestamp  uint64 // kernel monotonic ns
	PID, TGID  int
	ParentPID  int
	ParentTGID int
	ExitCode   uint32
	ExitSignal uint32
}

// ConnectorOption configures a Connector.
type ConnectorOption func(*connConfig)

type connConfig struct {
	kinds   EventKind
	recvBuf int
}

// WithEventKinds selects the events delivered (default: exec only). The
// others are dropped in the kernel by a socket filter, so they neither cost
// wake-ups nor fill the buffer.
func WithEventKinds(kinds ...EventKind) ConnectorOption {
	return func(c *connConfig) {
		c.kinds = 0
		for _, k := range kinds {
			c.kinds |= k
		}
	}
}

// WithReceiveBuffer sets the socket receive buffer (default DefaultRecvBuffer).
func WithReceiveBuffer(n int) ConnectorOption {
	return func(c *connConfig) {
		if n > 0 {
			c.recvBuf = n
		}
	}
}

// Connector listens on the netlink process connector. It needs
// CAP_NET_ADMIN and the initial network namespace (the kernel sends process
// events there only): an agent in a container needs hostNetwork.
type Connector struct {
	f      *os.File
	fd     int
	closed sync.Once

	events   atomic.Uint64
	overruns atomic.Uint64
}

// ConnectorStats counts what a Connector saw.
type ConnectorStats struct {
	Events   uint64 // delivered events
	Overruns uint64 // ENOBUFS: at least one event lost each time
}

// ListenConnector opens the connector socket and subscribes to process
// events.
func ListenConnector(opts ...ConnectorOption) (*Connector, error) {
	cfg := connConfig{kinds: EventExec, recvBuf: DefaultRecvBuffer}
	for _, o := range opts {
		o(&cfg)
	}
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_CONNECTOR)
	if err != nil {
		return nil, fmt.Errorf("process connector: socket: %w", err)
	}
	fail := func(what string, err error) (*Connector, error) {
		unix.Close(fd)
		return nil, fmt.Errorf("process connector: %s: %w", what, err)
	}
	// SO_RCVBUFFORCE passes rmem_max (root); SO_RCVBUF is the capped fallback.
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, cfg.recvBuf); err != nil {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, cfg.recvBuf); err != nil {
			return fail("receive buffer", err)
		}
	}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, eventFilter(cfg.kinds)); err != nil {
		return fail("socket filter", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: cnIdxProc}); err != nil {
		return fail("bind", err)
	}
	if err := unix.Sendto(fd, subscribeMsg(procCnMcastListen), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fail("subscribe", err)
	}
	c := &Connector{fd: fd, f: os.NewFile(uintptr(fd), "cn_proc")}
	return c, nil
}

// subscribeMsg builds nlmsghdr + cn_msg + op.
func subscribeMsg(op uint32) []byte {
	b := make([]byte, nlmsgHdrLen+cnMsgLen+4)
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], uint32(len(b)))        // nlmsg_len
	ne.PutUint16(b[4:], unix.NLMSG_DONE)       // nlmsg_type
	ne.PutUint32(b[8:], 0)                     // seq
	ne.PutUint32(b[12:], uint32(os.Getpid()))  // port id
	ne.PutUint32(b[16:], cnIdxProc)            // cb_id.idx
	ne.PutUint32(b[20:], cnValProc)            // cb_id.val
	ne.PutUint16(b[32:], 4)                    // len
	ne.PutUint32(b[nlmsgHdrLen+cnMsgLen:], op) // data
	return b
}

// eventFilter is a classic BPF program passing the events of kinds (and the
// kernel's acknowledgements, PROC_EVENT_NONE) and dropping the rest. BPF loads
// words big-endian while the kernel writes "what" in host order, hence the
// swaps.
func eventFilter(kinds EventKind) *unix.SockFprog {
	swap := func(v uint32) uint32 {
		var b [4]byte
		binary.NativeEndian.PutUint32(b[:], v)
		return binary.BigEndian.Uint32(b[:])
	}
	prog := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: procEventWhatOff},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 2, Jf: 0, K: 0},
		{Code: unix.BPF_ALU | unix.BPF_AND | unix.BPF_K, K: swap(uint32(kinds))},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 1, Jf: 0, K: 0},
		{Code: unix.BPF_RET | unix.BPF_K, K: 0xffffffff},
		{Code: unix.BPF_RET | unix.BPF_K, K: 0},
	}
	return &unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
}

// Stats returns the counters so far.
func (c *Connector) Stats() ConnectorStats {
	return ConnectorStats{Events: c.events.Load(), Overruns: c.overruns.Load()}
}

// Close unsubscribes and closes the socket; a running Run returns.
func (c *Connector) Close() error {
	var err error
	c.closed.Do(func() {
		_ = unix.Sendto(c.fd, subscribeMsg(procCnMcastIgnore), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
		err = c.f.Close()
	})
	return err
}

// Run reads events and calls handle for each, in order, on the calling
// goroutine, until ctx is done (it returns nil) or the connector is closed. A
// receive-buffer overflow (ENOBUFS) is reported as an EventOverrun event:
// events were lost, and the caller should sweep to catch up. handle must be
// quick (hand work to another goroutine): while it runs, nothing is read and
// the buffer fills.
func (c *Connector) Run(ctx context.Context, handle func(Event)) error {
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	rc, err := c.f.SyscallConn()
	if err != nil {
		return fmt.Errorf("process connector: %w", err)
	}
	buf := make([]byte, connectorReadBytes)
	for {
		var n int
		var rerr error
		err := rc.Read(func(fd uintptr) bool {
			n, _, rerr = unix.Recvfrom(int(fd), buf, 0)
			return rerr != unix.EAGAIN
		})
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, os.ErrClosed) {
				return nil
			}
			return fmt.Errorf("process connector: read: %w", err)
		}
		switch {
		case rerr == unix.ENOBUFS:
			c.overruns.Add(1)
			handle(Event{Kind: EventOverrun})
			continue
		case rerr == unix.EINTR:
			continue
		case rerr != nil:
			return fmt.Errorf("process connector: read: %w", rerr)
		}
		c.parse(buf[:n], handle)
	}
}

// parse decodes the netlink messages of one datagram.
func (c *Connector) parse(b []byte, handle func(Event)) {
	ne := binary.NativeEndian
	for len(b) >= nlmsgHdrLen {
		l := int(ne.Uint32(b[0:]))
		if l < nlmsgHdrLen || l > len(b) {
			return
		}
		msg := b[:l]
		b = b[min(len(b), (l+unix.NLMSG_ALIGNTO-1)&^(unix.NLMSG_ALIGNTO-1)):]
		if len(msg) < procEventDataOff || ne.Uint32(msg[nlmsgHdrLen:]) != cnIdxProc {
			continue
		}
		ev := Event{
			Kind:      EventKind(ne.Uint32(msg[procEventWhatOff:])),
			CPU:       ne.Uint32(msg[procEventWhatOff+4:]),
			Timestamp: ne.Uint64(msg[procEventWhatOff+8:]),
		}
		d := msg[procEventDataOff:]
		u := func(i int) uint32 {
			if 4*i+4 > len(d) {
				return 0
			}
			return ne.Uint32(d[4*i:])
		}
		switch ev.Kind {
		case EventExec:
			ev.PID, ev.TGID = int(u(0)), int(u(1))
		case EventFork:
			ev.ParentPID, ev.ParentTGID, ev.PID, ev.TGID = int(u(0)), int(u(1)), int(u(2)), int(u(3))
		case EventExit:
			ev.PID, ev.TGID, ev.ExitCode, ev.ExitSignal = int(u(0)), int(u(1)), u(2), u(3)
			ev.ParentPID, ev.ParentTGID = int(u(4)), int(u(5))
		default:
			continue // acknowledgements and kinds nobody asked for
		}
		c.events.Add(1)
		handle(ev)
	}
}
