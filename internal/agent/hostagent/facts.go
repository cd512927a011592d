package hostagent

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigil-sec/vigil/internal/agentapi/wire"
)

// metadataTimeout bounds each cloud metadata request: on a machine outside a
// cloud nothing answers and the agent must not wait.
const metadataTimeout = 300 * time.Millisecond

// Tencent Cloud's metadata service (CVM), documented at
// https://cloud.tencent.com/document/product/213/4934.
const metadataBase = "http://metadata.tencentyun.com/latest/meta-data/"

// factsSource collects the host's facts; the cloud ones once (they do not
// change while the machine runs), the rest at every heartbeat (cheap).
type factsSource struct {
	machineID string
	version   string
	etcDir    string

	cloudOnce  sync.Once
	instanceID string
	publicIP   string
}

func (f *factsSource) facts() wire.HostFacts {
	f.cloudOnce.Do(f.cloud)
	h := wire.HostFacts{
		MachineID:    f.machineID,
		AgentVersion: f.version,
		InstanceID:   f.instanceID,
		PublicIP:     f.publicIP,
		OS:           osName(f.etcDir),
	}
	h.HostName, _ = os.Hostname()
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		h.Kernel = unix.ByteSliceToString(u.Release[:])
	}
	h.PrivateIP, h.Interface = privateIP()
	return h
}

// cloud asks the metadata service for the instance id and public IP.
func (f *factsSource) cloud() {
	c := &http.Client{Timeout: metadataTimeout}
	get := func(item string) string {
		ctx, cancel := context.WithTimeout(context.Background(), metadataTimeout)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, metadataBase+item, nil)
		if err != nil {
			return ""
		}
		resp, err := c.Do(req)
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
		if resp.StatusCode != http.StatusOK {
			return ""
		}
		return strings.TrimSpace(string(b))
	}
	if f.instanceID = get("instance-id"); f.instanceID != "" {
		f.publicIP = get("public-ipv4")
		if net.ParseIP(f.publicIP) == nil {
			f.publicIP = ""
		}
	}
}

// osName is PRETTY_NAME of os-release.
func osName(etcDir string) string {
	for _, p := range []string{etcDir + "/os-release", "/usr/lib/os-release"} {
		fh, err := os.Open(p)
		if err != nil {
			continue
		}
		defer fh.Close()
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "PRETTY_NAME="); ok {
				return strings.Trim(v, `"'`)
			}
		}
	}
	return "Linux"
}

// privateIP returns the address (and its interface) this host uses to reach
// the outside: the source address of a route lookup (a UDP "connection"
// sends nothing), falling back to the first up, non-loopback IPv4 address.
func privateIP() (ip, iface string) {
	var src net.IP
	if c, err := net.Dial("udp4", "192.0.2.1:9"); err == nil { // TEST-NET-1: routed by the default route, never reached
		src = c.LocalAddr().(*net.UDPAddr).IP
		c.Close()
	}
	ifs, err := net.Interfaces()
	if err != nil {
		return "", ""
	}
	var first, firstIf string
	for _, in := range ifs {
		if in.Flags&net.FlagUp == 0 || in.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, _ := in.Addrs()
		for _, a := range addrs {
			n, ok := a.(*net.IPNet)
			if !ok || n.IP.To4() == nil {
				continue
			}
			if src != nil && n.IP.Equal(src) {
				return src.String(), in.Name
			}
			if first == "" {
				first, firstIf = n.IP.String(), in.Name
			}
		}
	}
	return first, firstIf
}
