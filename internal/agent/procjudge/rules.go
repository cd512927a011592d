// Package procjudge judges processes: process heuristics of its own (command
// line, executable location, kernel-thread masquerading, reverse shells) and
// the engine on the executable. It turns a proc.Process into Detections that
// carry everything a cwp RiskProcessEvent needs.
//
// The heuristics, with their virus names (all CheckPlatform "4", abnormal
// behaviour):
//
//   - Linux.Risk.ExecFromTmp: the executable lies under /dev/shm or /run/shm
//     (anywhere), or in /tmp or /var/tmp either directly ("/tmp/x", where
//     droppers put payloads) or behind a hidden name ("/tmp/.x/y",
//     "/var/tmp/.ICE-unix/z"). Programs in a visible sub-directory of /tmp
//     ("/tmp/build-1/app") are what development machines and CI run all day
//     and are left to the engine's verdict on their file; Go's build
//     directories (/tmp/go-build…) are exempt too (WithTmpExemptions).
//   - Linux.Risk.DeletedExe: the executable was deleted while the process runs
//     and nothing replaced it at its path (a package upgrade replaces it:
//     not flagged), or the process runs from an anonymous memory file
//     (memfd_create, fileless malware) that is not sealed against writes
//     (runc and other runtimes execute a write-sealed memfd copy of themselves
//     as a defence; droppers do not seal).
//   - Linux.Risk.KernelThreadMasquerade: a user process (not PF_KTHREAD) whose
//     command line is a bracketed kernel-thread name ("[kworker/0:1]", what ps
//     shows for kernel threads) or whose name is a kernel thread's
//     (kworker/…, ksoftirqd/…, kdevtmpfs…).
//   - Linux.Miner.CmdLine: a stratum pool URL, xmrig's --donate-level, a known
//     miner program mining, or "-o host:port -u WALLET" with a wallet address,
//     a pool host name or a mining algorithm.
//   - Linux.HackTool.IntranetScanner: an IPv4 CIDR or range target together
//     with a scanner program (fscan, masscan, nmap, zmap, …) or sweep flags
//     (fscan's -m ssh / -nopoc / -np, nmap's -sS / -Pn, port ranges with -p, …).
//   - Linux.Backdoor.ReverseShell: a shell redirected to /dev/tcp or /dev/udp,
//     nc/ncat -e, socat exec with tcp, interpreter one-liners that connect a
//     socket to a shell, or a shell whose stdin or stdout is a TCP socket.
//
// They are narrow on purpose: a development machine's own processes (shells,
// compilers, ssh, curl, nmap --version, go test) raise nothing.
package procjudge

import (
	"github.com/vigil-sec/vigil/internal/engine"
	"github.com/vigil-sec/vigil/internal/store"
)

// Virus names of the process heuristics.
const (
	ExecFromTmp            = "Linux.Risk.ExecFromTmp"
	DeletedExe             = "Linux.Risk.DeletedExe"
	KernelThreadMasquerade = "Linux.Risk.KernelThreadMasquerade"
	MinerCmdLine           = "Linux.Miner.CmdLine"
	IntranetScanner        = "Linux.HackTool.IntranetScanner"
	ReverseShell           = "Linux.Backdoor.ReverseShell"
)

// DetectorName is the Detector of heuristic detections (engine detections
// carry the engine's: yara, hashlist, heuristic).
const DetectorName = "process"

// ReferenceLink is Tencent's Linux hardening guide, which its own process
// events link.
const ReferenceLink = "https://cloud.tencent.com/document/product/296/9604"

// Rule is the catalog entry of one process heuristic.
type Rule struct {
	VirusName string
	Tags      []string
	Risk      engine.RiskLevel
	Desc      engine.Text
	Solution  engine.Text
	Reference string
}

var killSolution = engine.Text{
	ZH: "1.确认该进程是否为业务所需；\n2.若非业务所需，结束该进程并隔离或删除其可执行文件；\n3.排查可疑的启动项、定时任务及 SSH 公钥，并对系统进行风险排查和安全加固。",
	EN: "1. Confirm whether the process is needed by your business;\n2. If not, kill it and quarantine or delete its executable;\n3. Check for suspicious startup items, cron jobs and SSH keys, and audit and harden the system.",
}

// Rules returns the catalog of the process heuristics.
func Rules() []Rule {
	return []Rule{
		{
			VirusName: ExecFromTmp, Tags: []string{"suspicious", "tmp_exec"}, Risk: engine.RiskHigh,
			Desc: engine.Text{
				ZH: "发现从临时目录（/tmp、/var/tmp、/dev/shm）运行的进程。正常程序不会安装在临时目录中，攻击者常将木马、挖矿程序和黑客工具下载到这些任何用户可写的目录后直接运行。",
				EN: "A process runs an executable from a temporary directory (/tmp, /var/tmp, /dev/shm). Programs are not installed there; attackers download trojans, miners and hacking tools into these world-writable directories and run them from there.",
			},
			Solution: killSolution, Reference: ReferenceLink,
		},
		{
			VirusName: DeletedExe, Tags: []string{"suspicious", "fileless"}, Risk: engine.RiskHigh,
			Desc: engine.Text{
				ZH: "发现可执行文件已被删除或仅存在于内存中（memfd）的进程。恶意程序常在启动后删除自身文件或以无文件方式运行，以躲避文件查杀和取证。",
				EN: "A process runs an executable that was deleted after it started, or that exists only in memory (memfd). Malware deletes its own file after starting, or runs filelessly, to evade file scanning and forensics.",
			},
			Solution: killSolution, Reference: ReferenceLink,
		},
		{
			VirusName: KernelThreadMasquerade, Tags: []string{"suspicious", "masquerade", "rootkit"}, Risk: engine.RiskCritical,
			Desc: engine.Text{
				ZH: "发现伪装成内核线程的用户进程：进程名或命令行形如内核线程（如 [kworker/0:1]），但它是由可执行文件启动的普通进程。挖矿木马和后门常以此方式在进程列表中隐藏自己。",
				EN: "A user process disguises itself as a kernel thread: its name or command line looks like one (such as [kworker/0:1]) but it runs an executable. Miners and backdoors hide in process lists this way.",
			},
			Solution: killSolution, Reference: ReferenceLink,
		},
		{
			VirusName: MinerCmdLine, Tags: []string{"miner"}, Risk: engine.RiskHigh,
			Desc: engine.Text{
				ZH: "发现挖矿进程：其命令行含有矿池地址（stratum 协议）、钱包地址或挖矿程序参数。挖矿木马会大量占用 CPU 等系统资源，影响业务正常运行，通常还伴随持久化和横向传播行为。",
				EN: "A cryptocurrency miner is running: its command line names a mining pool (stratum protocol), a wallet or miner options. Mining trojans exhaust CPU and other resources, disrupting your business, and usually come with persistence and lateral movement.",
			},
			Solution: engine.Text{
				ZH: "1.确认该进程是否为业务所需；\n2.结束挖矿进程并删除其可执行文件和配置文件；\n3.排查可疑的定时任务、启动项、SSH 公钥及被修改的系统命令，并修改系统口令、进行安全加固。",
				EN: "1. Confirm whether the process is needed by your business;\n2. Kill the miner and delete its executable and configuration;\n3. Check for suspicious cron jobs, startup items, SSH keys and replaced system commands, change passwords and harden the system.",
			},
			Reference: ReferenceLink,
		},
		{
			VirusName: IntranetScanner, Tags: []string{"scanner", "hack_tools"}, Risk: engine.RiskHigh,
			Desc: engine.Text{
				ZH: "发现主机上存在黑客工具进程，若不是您的主动行为，您的主机可能已经失陷。该进程正在对内网网段进行端口或服务扫描（如 fscan、masscan），攻击者常以此探测内网资产并进行横向移动。",
				EN: "A hacking tool is running on your host; if you did not start it, the host may be compromised. The process sweeps an internal network range for ports or services (as fscan or masscan do), which attackers do to map the network and move laterally.",
			},
			Solution: engine.Text{
				ZH: "1.检查恶意进程及非法端口，删除可疑的启动项和定时任务；\n2.隔离或者删除相关的木马文件；\n3.对系统进行风险排查，并进行安全加固。",
				EN: "1. Check for malicious processes and invalid ports, and remove suspicious startup items and scheduled tasks;\n2. Quarantine or delete the trojan files;\n3. Conduct risk detection on the system and harden it.",
			},
			Reference: ReferenceLink,
		},
		{
			VirusName: ReverseShell, Tags: []string{"backdoor", "reverse_shell"}, Risk: engine.RiskCritical,
			Desc: engine.Text{
				ZH: "发现反弹 Shell 进程：Shell 的输入输出被重定向到网络连接。攻击者借此在失陷主机上获得可远程交互的命令行，您的主机很可能已被入侵。",
				EN: "A reverse shell is running: a shell's input and output are connected to a network socket. Attackers use it to get an interactive remote command line on a compromised host; the host has very likely been breached.",
			},
			Solution: engine.Text{
				ZH: "1.立即结束该进程，并根据父进程和网络连接追查入侵来源；\n2.排查可疑的定时任务、启动项、SSH 公钥及 Web 后门；\n3.修改系统及业务口令，对系统进行风险排查和安全加固。",
				EN: "1. Kill the process at once and trace the intrusion through its parent processes and network connections;\n2. Check for suspicious cron jobs, startup items, SSH keys and web shells;\n3. Change system and application passwords, and audit and harden the system.",
			},
			Reference: ReferenceLink,
		},
	}
}

// rulesByName indexes Rules.
func rulesByName() map[string]*Rule {
	rs := Rules()
	m := make(map[string]*Rule, len(rs))
	for i := range rs {
		m[rs[i].VirusName] = &rs[i]
	}
	return m
}

// Threat converts a rule to its threat-catalog entry.
func (r Rule) Threat() store.Threat {
	return store.Threat{
		Name:          r.VirusName,
		Tags:          append([]string(nil), r.Tags...),
		Desc:          store.Localized{ZH: r.Desc.ZH, EN: r.Desc.EN},
		Solution:      store.Localized{ZH: r.Solution.ZH, EN: r.Solution.EN},
		ReferenceLink: r.Reference,
	}
}

// Threats returns the catalog entries of the process heuristics, for the
// server's threat catalog.
func Threats() []store.Threat {
	rs := Rules()
	out := make([]store.Threat, len(rs))
	for i, r := range rs {
		out[i] = r.Threat()
	}
	return out
}
