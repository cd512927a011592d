package container

import (
	"bufio"
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// netnsAddrs returns the addresses a process's network namespace owns, read
// from /proc/PID/net (no setns, no netlink): IPv4 from fib_trie's local
// host routes, then global IPv6 from if_inet6. Loopback and link-local
// addresses are left out. It is how a pod IP is found where the runtime does
// not record one (and for plain containers).
func netnsAddrs(procRoot string, pid int) []string {
	if pid <= 0 {
		return nil
	}
	dir := filepath.Join(procRoot, strconv.Itoa(pid), "net")
	var out []string
	seen := map[string]bool{}
	add := func(a netip.Addr) {
		if a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsUnspecified() || seen[a.String()] {
			return
		}
		seen[a.String()] = true
		out = append(out, a.String())
	}
	if b, err := os.ReadFile(filepath.Join(dir, "fib_trie")); err == nil {
		for _, a := range fibTrieLocal(b) {
			add(a)
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "if_inet6")); err == nil {
		for _, a := range ifInet6(b) {
			add(a)
		}
	}
	return out
}

// fibTrieLocal parses /proc/net/fib_trie: a leaf "|-- A.B.C.D" followed by
// "/32 host LOCAL" is an address of the namespace.
func fibTrieLocal(b []byte) []netip.Addr {
	var out []netip.Addr
	var last string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if leaf, ok := strings.CutPrefix(line, "|-- "); ok {
			last = leaf
			continue
		}
		if last != "" && strings.HasPrefix(line, "/32 host LOCAL") {
			if a, err := netip.ParseAddr(last); err == nil {
				out = append(out, a)
			}
		}
	}
	return out
}

// ifInet6 parses /proc/net/if_inet6 ("<32 hex> ifindex prefix scope flags
// name") for global-scope addresses.
func ifInet6(b []byte) []netip.Addr {
	var out []netip.Addr
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || len(f[0]) != 32 || f[3] != "00" {
			continue
		}
		var raw [16]byte
		ok := true
		for i := 0; i < 16; i++ {
			v, err := strconv.ParseUint(f[0][2*i:2*i+2], 16, 8)
			if err != nil {
				ok = false
				break
			}
			raw[i] = byte(v)
		}
		if ok {
			out = append(out, netip.AddrFrom16(raw))
		}
	}
	return out
}
