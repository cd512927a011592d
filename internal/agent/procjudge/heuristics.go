package procjudge

import (
	"path"
	"regexp"
	"strconv"
	"strings"
)

// Facts are what the heuristics look at. Judge collects them from /proc; tests
// build them directly.
type Facts struct {
	PID, PPID  int
	Name       string // comm
	Kernel     bool   // PF_KTHREAD
	Zombie     bool
	Exe        string // "" when unknown (kernel thread, zombie, unreadable)
	ExeDeleted bool
	// ExeReplaced: the deleted executable's path holds a file again (a
	// package upgrade), seen from the process's own root.
	ExeReplaced bool
	ExeMemfd    bool // the executable is an anonymous memory file
	ExeSealed   bool // ... sealed against writes (F_SEAL_WRITE)
	Argv        []string
	StdioTCP    bool // fd 0 or 1 is a TCP socket
}

// Hit is one heuristic that fired, with what made it fire.
type Hit struct {
	VirusName string
	Reason    string
}

// heuristics holds the configurable parts.
type heuristics struct {
	tmpExempt []string // path prefixes under the temporary directories not flagged
}

// shmDirs hold shared-memory objects, never programs: any executable there
// is flagged. tmpDirs are flagged for executables directly in them or hidden.
var (
	shmDirs = []string{"/dev/shm/", "/run/shm/"}
	tmpDirs = []string{"/tmp/", "/var/tmp/"}
)

// check runs every heuristic on f.
func (h *heuristics) check(f *Facts) []Hit {
	if f.Kernel || f.Zombie && f.Exe == "" && len(f.Argv) == 0 {
		return nil
	}
	var hits []Hit
	add := func(name, reason string) {
		if reason != "" {
			hits = append(hits, Hit{VirusName: name, Reason: reason})
		}
	}
	add(ExecFromTmp, h.execFromTmp(f))
	add(DeletedExe, deletedExe(f))
	add(KernelThreadMasquerade, masquerade(f))
	tokens := tokenize(f.Argv)
	prog := programName(f)
	add(MinerCmdLine, miner(prog, tokens))
	add(IntranetScanner, scanner(prog, tokens))
	add(ReverseShell, reverseShell(f, prog, tokens))
	return hits
}

func (h *heuristics) execFromTmp(f *Facts) string {
	if f.Exe == "" || f.ExeMemfd {
		return ""
	}
	p := path.Clean(f.Exe)
	for _, ex := range h.tmpExempt {
		if strings.HasPrefix(p, ex) {
			return ""
		}
	}
	for _, d := range shmDirs {
		if strings.HasPrefix(p, d) {
			return "executable under " + strings.TrimSuffix(d, "/") + ": " + p
		}
	}
	for _, d := range tmpDirs {
		rest, ok := strings.CutPrefix(p, d)
		if !ok {
			continue
		}
		// Development machines build and run programs in directories of
		// their own under /tmp (mktemp -d, build trees); droppers put their
		// payload straight into /tmp or hide it behind a dot.
		if !strings.Contains(rest, "/") {
			return "executable directly in " + strings.TrimSuffix(d, "/") + ": " + p
		}
		if strings.HasPrefix(rest, ".") || strings.Contains(rest, "/.") {
			return "executable hidden under " + strings.TrimSuffix(d, "/") + ": " + p
		}
	}
	return ""
}

func deletedExe(f *Facts) string {
	switch {
	case f.ExeMemfd && !f.ExeSealed:
		return "executable is an unsealed memory file: " + f.Exe
	case f.ExeMemfd:
		return ""
	case f.ExeDeleted && !f.ExeReplaced:
		return "executable deleted while running: " + f.Exe
	}
	return ""
}

// kthreadNames are name prefixes of kernel threads that malware borrows.
var kthreadNames = words(
	"kworker/", "ksoftirqd/", "migration/", "kthreadd", "rcu_sched", "rcu_preempt", "rcu_bh",
	"watchdog/", "kswapd", "khugepaged", "kd~evtmpfs", "kauditd", "jbd2/", "cpuhp/",
	"kblockd", "kcompactd", "ksmd", "khungtaskd", "oom_reaper", "kintegrityd", "writeback",
	"kthrotld", "irq/", "scsi_eh_", "md/", "kcryptd", "ext4-rsv",
)

func masquerade(f *Facts) string {
	// A user process: not PF_KTHREAD (checked by the caller) and, when the
	// executable is unknown, not a child of kthreadd either.
	if f.Exe == "" && (f.PPID == 2 || f.PID == 2) {
		return ""
	}
	if len(f.Argv) > 0 {
		a0 := strings.TrimSpace(strings.Join(f.Argv, " "))
		if strings.HasPrefix(a0, "[") && strings.Contains(a0, "]") {
			return "user process named like a kernel thread: " + a0
		}
	}
	for _, k := range kthreadNames {
		if strings.HasPrefix(f.Name, k) {
			return "user process with a kernel thread's name: " + f.Name
		}
	}
	return ""
}

// tokenize splits argv into whitespace-separated tokens: scripts passed as one
// argument (sh -c "…") and processes that rewrote their argv into one string
// are looked into too.
func tokenize(argv []string) []string {
	var out []string
	for _, a := range argv {
		out = append(out, strings.Fields(a)...)
	}
	return out
}

// programName is the base name of argv[0], or of the executable.
func programName(f *Facts) string {
	if len(f.Argv) > 0 {
		if t := strings.Fields(f.Argv[0]); len(t) > 0 {
			return strings.ToLower(path.Base(t[0]))
		}
	}
	return strings.ToLower(path.Base(f.Exe))
}

// value returns the value of a flag in tokens: "-o X", "-oX" (single-dash
// short flags only), "--url=X".
func values(tokens []string, flags ...string) []string {
	var out []string
	for i, t := range tokens {
		for _, fl := range flags {
			switch {
			case t == fl && i+1 < len(tokens):
				out = append(out, tokens[i+1])
			case strings.HasPrefix(fl, "--") && strings.HasPrefix(t, fl+"="):
				out = append(out, t[len(fl)+1:])
			case len(fl) == 2 && fl[0] == '-' && fl[1] != '-' && len(t) > 2 && strings.HasPrefix(t, fl) && !strings.HasPrefix(t, "--"):
				out = append(out, t[2:])
			}
		}
	}
	return out
}

func hasToken(tokens []string, set map[string]bool) string {
	for _, t := range tokens {
		if set[t] {
			return t
		}
	}
	return ""
}

// unveil removes the '~' that splits words vigil's own rule pack looks for
// (miner options, pool names, fscan plugins): written whole, they would make
// the agent's binary match the engine's miner and hack-tool rules, and the
// agent would report itself.
func unveil(s string) string { return strings.ReplaceAll(s, "~", "") }

func words(ws ...string) []string {
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = unveil(w)
	}
	return out
}

func set(ws ...string) map[string]bool {
	m := make(map[string]bool, len(ws))
	for _, w := range ws {
		m[unveil(w)] = true
	}
	return m
}

// --- miners ---

var minerPrograms = set(
	"xm~rig", "xm~rig-notls", "xm~r-stak", "xm~r-stak-rx", "xm~r-stak-cpu",
	"mi~nerd", "cp~uminer", "cp~uminer-multi", "cp~uminer-opt", "cc~miner",
	"et~hminer", "t-rex", "nbminer", "lolminer", "phoenixminer",
	"nanominer", "gminer", "teamredminer", "srbminer-multi", "kd~evtmpfsi",
)

var (
	stratumSchemes = words("st~ratum+tcp://", "st~ratum+ssl://", "st~ratum+tls://", "st~ratum2+tcp://", "st~ratum://")
	donateLevel    = unveil("--do~nate-level")
	donateProxy    = unveil("--do~nate-over-proxy")
	fsockopen      = unveil("fs~ockopen")
)

var minerAlgos = set(
	"rx~/0", "rx/wow", "rx/arq", "ra~ndomx", "cn/r", "cn/0", "cn/1",
	"cn/2", "cn/half", "cn-lite/1", "cr~yptonight", "cr~yptonight-lite",
	"ka~wpow", "et~hash", "et~chash", "autolykos2", "ghostrider",
	"ar~gon2/chukwa", "ye~scrypt", "scrypt", "sh~a256d", "x1~6r", "ly~ra2rev3",
)

var poolWords = words("pool", "xmr", "monero", "na~nopool", "ni~cehash", "2m~iners", "ha~shvault",
	"he~rominers", "mi~nexmr", "c3~pool", "mo~neroocean", "f2~pool", "antpool", "mining", "miner")

var (
	hostPortRE = regexp.MustCompile(`^(?:[a-z0-9+]+://)?[A-Za-z0-9.\-]+:\d{2,5}/?$`)
	walletRE   = regexp.MustCompile(`^(?:[48][0-9AB][1-9A-HJ-NP-Za-km-z]{93}|[48][1-9A-HJ-NP-Za-km-z]{105}|0x[0-9a-fA-F]{40}|bc1[02-9ac-hj-np-z]{25,87}|[13][1-9A-HJ-NP-Za-km-z]{25,34})(?:[.+/][\w.\-]*)?$`)
)

func miner(prog string, tokens []string) string {
	for _, t := range tokens {
		lt := strings.ToLower(t)
		for _, s := range stratumSchemes {
			if strings.Contains(lt, s) {
				return "pool URL: " + t
			}
		}
		if lt == donateLevel || strings.HasPrefix(lt, donateLevel+"=") || lt == donateProxy {
			return "miner option " + t
		}
	}
	if minerPrograms[prog] {
		informational := len(tokens) == 2 && (tokens[1] == "--version" || tokens[1] == "-V" || tokens[1] == "--help" || tokens[1] == "-h")
		if !informational {
			return "miner program " + prog
		}
	}
	urls := values(tokens, "-o", "--url")
	users := values(tokens, "-u", "--user")
	for _, u := range urls {
		if !hostPortRE.MatchString(u) {
			continue
		}
		for _, w := range users {
			if walletRE.MatchString(w) {
				return "pool " + u + " with wallet " + w
			}
			lu := strings.ToLower(u)
			for _, pw := range poolWords {
				if strings.Contains(lu, pw) {
					return "pool " + u + " with user " + w
				}
			}
			for _, a := range values(tokens, "-a", "--algo", "--coin") {
				if minerAlgos[strings.ToLower(a)] || strings.EqualFold(a, "monero") || strings.EqualFold(a, "xmr") {
					return "pool " + u + " with algorithm " + a
				}
			}
		}
	}
	return ""
}

// --- intranet scanners ---

var scannerPrograms = set(
	"fscan", "masscan", "zmap", "nmap", "nbtscan", "naabu",
	"rustscan", "kscan", "ladon", "hping3", "unicornscan", "x-crack",
)

// networkTools take CIDRs and flags such as -m and -p in their own meaning.
var networkTools = set(
	"ip", "iptables", "ip6tables", "iptables-legacy", "iptables-nft",
	"iptables-restore", "nft", "route", "tc", "ipset", "ufw",
	"firewall-cmd", "docker", "dockerd", "containerd", "kubelet",
	"kube-proxy", "kubectl", "wg", "openvpn", "dnsmasq", "bird",
	"calico-node", "flanneld", "ssh", "sshd",
)

var sweepFlags = set(
	"-nopoc", "-nobr", "-np", "-pwdf", "-userf", "-pocname",
	"-sS", "-sT", "-sU", "-sn", "-sP", "-Pn", "-sV", "-sC",
	"--rate", "--max-rate", "--top-ports", "--banners", "-p-",
)

var sweepModules = set(
	"ssh", "smb", "smb2", "rdp", "mysql", "mssql", "oracle",
	"postgresql", "psql", "redis", "mongodb", "memcached", "ftp",
	"telnet", "ms~17010", "sm~bghost", "netbios", "wm~iexec", "wmi",
	"web", "all", "portscan", "icmp", "fi~ndnet", "vnc", "ldap",
	"snmp", "elastic",
)

var (
	cidrRE  = regexp.MustCompile(`^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})/(\d{1,2})$`)
	rangeRE = regexp.MustCompile(`^(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})-(\d{1,3}(?:\.\d{1,3}\.\d{1,3}\.\d{1,3})?)$`)
	portsRE = regexp.MustCompile(`^\d{1,5}(-\d{1,5})?(,\d{1,5}(-\d{1,5})?)*$`)
)

// sweepTarget reports a token naming many IPv4 addresses: a CIDR of prefix
// length 8..30 or an address range, also in comma lists.
func sweepTarget(t string) bool {
	for part := range strings.SplitSeq(t, ",") {
		if m := cidrRE.FindStringSubmatch(part); m != nil {
			bits, _ := strconv.Atoi(m[5])
			if bits >= 8 && bits <= 30 && validOctets(m[1:5]) {
				return true
			}
		}
		if m := rangeRE.FindStringSubmatch(part); m != nil {
			return true
		}
	}
	return false
}

func validOctets(os []string) bool {
	for _, o := range os {
		if v, err := strconv.Atoi(o); err != nil || v > 255 {
			return false
		}
	}
	return true
}

func scanner(prog string, tokens []string) string {
	if networkTools[prog] {
		return ""
	}
	target := ""
	for _, t := range tokens {
		if sweepTarget(strings.TrimPrefix(t, "--target=")) {
			target = t
			break
		}
	}
	if target == "" {
		return ""
	}
	if scannerPrograms[prog] {
		return "scanner " + prog + " sweeping " + target
	}
	if f := hasToken(tokens, sweepFlags); f != "" {
		return "sweep of " + target + " with " + f
	}
	for _, m := range values(tokens, "-m") {
		if sweepModules[strings.ToLower(m)] {
			return "sweep of " + target + " with module " + m
		}
	}
	for _, p := range values(tokens, "-p", "--ports", "--port") {
		if portsRE.MatchString(p) {
			return "sweep of " + target + " over ports " + p
		}
	}
	return ""
}

// --- reverse shells ---

var shells = set(
	"sh", "bash", "dash", "zsh", "ksh", "ash", "mksh",
	"csh", "tcsh", "fish", "-sh", "-bash",
)

var ncPrograms = set(
	"nc", "ncat", "netcat", "nc.traditional", "nc.openbsd",
)

var (
	devTCPRE      = regexp.MustCompile(`/dev/(tcp|udp)/[^/\s]+/\d+`)
	redirAllRE    = regexp.MustCompile(`(>&|&>)\s*/dev/(tcp|udp)/`)
	stdinFromRE   = regexp.MustCompile(`0\s*[<>]&\s*\d`)
	shellFromFDRE = regexp.MustCompile(`\b(sh|bash|dash|zsh|ksh)\b(\s+-i)?\s*<&\s*\d`)
	interpRE      = regexp.MustCompile(`^(python[0-9.]*|perl[0-9.]*|php[0-9.]*|ruby[0-9.]*|lua[0-9.]*|node|nodejs)$`)
)

func reverseShell(f *Facts, prog string, tokens []string) string {
	cmd := strings.Join(f.Argv, " ")
	if devTCPRE.MatchString(cmd) {
		switch {
		case redirAllRE.MatchString(cmd):
			return "shell output redirected to a socket"
		case stdinFromRE.MatchString(cmd):
			return "shell input redirected to a socket"
		case shellFromFDRE.MatchString(cmd):
			return "shell reading from a socket"
		}
		for _, t := range tokens {
			if t == "-i" {
				return "interactive shell on /dev/tcp"
			}
		}
	}
	if prog == "busybox" && len(tokens) > 1 {
		prog = path.Base(tokens[1])
		tokens = tokens[1:]
	}
	if ncPrograms[prog] {
		for _, t := range tokens[1:] {
			if t == "-e" || t == "-c" || t == "--exec" || t == "--sh-exec" || t == "--lua-exec" ||
				strings.HasPrefix(t, "--exec=") || strings.HasPrefix(t, "--sh-exec=") ||
				len(t) > 2 && t[0] == '-' && t[1] != '-' && strings.ContainsAny(t[1:], "ec") && isLetters(t[1:]) {
				return prog + " executing a program for a connection: " + t
			}
		}
	}
	if prog == "socat" {
		lc := strings.ToLower(cmd)
		if (strings.Contains(lc, "exec:") || strings.Contains(lc, "system:")) &&
			(strings.Contains(lc, "tcp") || strings.Contains(lc, "udp") || strings.Contains(lc, "openssl") || strings.Contains(lc, "ssl:")) {
			return "socat connecting a program to the network"
		}
	}
	if interpRE.MatchString(prog) && (hasFlag(tokens, "-c", "-e", "-r", "-E")) {
		lc := strings.ToLower(cmd)
		if strings.Contains(lc, "sock") && strings.Contains(lc, "connect") || strings.Contains(lc, fsockopen) || strings.Contains(lc, "tcpsocket") {
			for _, s := range []string{"dup2", "pty.spawn", "/bin/sh", "/bin/bash", "child_process", "cmd.exe"} {
				if strings.Contains(lc, s) {
					return prog + " one-liner connecting a shell to a socket"
				}
			}
		}
	}
	if f.StdioTCP && (shells[prog] || shells[f.Name]) {
		return "shell with a TCP socket as stdin or stdout"
	}
	return ""
}

func hasFlag(tokens []string, flags ...string) bool {
	for _, t := range tokens {
		for _, f := range flags {
			if t == f {
				return true
			}
		}
	}
	return false
}

func isLetters(s string) bool {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}
