package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/store"
)

// fixture is what seed stores for one account.
type fixture struct {
	hostUUID     string
	eventIDs     []int64 // risk process events, in insertion order
	virusEventID int64
	imageID      int64
	registry     string
}

var t0 = time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)

var fscanThreat = store.Threat{
	Name: "Linux.Scanner.Fscan",
	Tags: []string{"scanner", "hack_tools"},
	Desc: store.Localized{
		ZH: "发现主机上存在黑客工具进程，若不是您的主动行为，您的主机可能已经失陷。",
		EN: "A hacking tool process was found on the host; if you did not start it, the host may be compromised.",
	},
	Solution: store.Localized{
		ZH: "1.检查恶意进程及非法端口，删除可疑的启动项和定时任务；\n2.隔离或者删除相关的木马文件。",
		EN: "1. Check for malicious processes and unexpected ports; remove suspicious startup items and cron jobs;\n2. Isolate or delete the trojan files.",
	},
	ReferenceLink: "https://example.invalid/fscan",
}

var minerThreat = store.Threat{
	Name:     "Linux.Miner.Xmrig",
	Tags:     []string{"miner"},
	Desc:     store.Localized{ZH: "发现挖矿木马。", EN: "A coin miner was found."},
	Solution: store.Localized{ZH: "1.结束挖矿进程。", EN: "1. Kill the miner."},
}

// seed stores a host "name" (ip), two threats, three risk-process events, one
// runtime virus event and one registry image with two findings.
func seed(t *testing.T, st store.Store, accountID int64, name, ip string) fixture {
	t.Helper()
	ctx := context.Background()
	var f fixture
	h, err := st.UpsertHost(ctx, accountID, store.Host{
		UUID: "uuid-" + name, QUUID: "quuid-" + name, Name: name, PrivateIP: ip, PublicIP: "203.0.113.7",
		NetworkName: "eth0", InstanceID: "ins-" + name, MachineType: "Other", Region: "ap-others",
		Online: true, LastSeen: time.Now(), // online: heartbeats drive OnlineStatus
	})
	if err != nil {
		t.Fatal(err)
	}
	f.hostUUID = h.UUID
	if err := st.UpsertThreats(ctx, []store.Threat{fscanThreat, minerThreat}); err != nil {
		t.Fatal(err)
	}
	events := []store.RiskProcessEvent{
		{HostUUID: h.UUID, PID: 21595, PPID: 1, ProcessStartTime: t0, ExePath: "/dev/shm/dev",
			CmdLine: "./dev -h 10.0.0.1/24 -m ssh -nopoc -t 200 -o ssh.txt", ExeMD5: "0123456789abcdef0123456789abcdef",
			VirusName: fscanThreat.Name, RuleName: "fscan_cmdline", CheckPlatform: []string{"4"},
			FirstDetectionMethod: 1, DetectTime: t0.Add(3 * time.Minute)},
		{HostUUID: h.UUID, PID: 4242, PPID: 1, ProcessStartTime: t0.Add(time.Hour), ExePath: "/tmp/xmrig",
			CmdLine: "/tmp/xmrig -o stratum+tcp://pool.example:3333", ExeMD5: "fedcba9876543210fedcba9876543210",
			VirusName: minerThreat.Name, RuleName: "xmrig", CheckPlatform: []string{"1"},
			HandleStatus: store.HandleKilled, DetectTime: t0.Add(61 * time.Minute)},
		{HostUUID: h.UUID, PID: 4243, PPID: 1, ProcessStartTime: t0.Add(2 * time.Hour), ExePath: "/var/tmp/100%_legit",
			CmdLine: "/var/tmp/100%_legit", VirusName: minerThreat.Name, RuleName: "xmrig", CheckPlatform: []string{"1"},
			DetectTime: t0.Add(90 * time.Minute)},
	}
	if f.eventIDs, err = st.InsertRiskProcessEvents(ctx, accountID, events); err != nil {
		t.Fatal(err)
	}
	ids, err := st.InsertVirusEvents(ctx, accountID, []store.VirusEvent{{
		HostUUID: h.UUID, ContainerID: "d4c43f9268ec" + name, ContainerName: "/web-" + name, ContainerStatus: "RUNNING",
		ContainerNetStatus: "NORMAL", ImageID: "sha256:80beff5ff342", ImageName: "centos:7",
		PodName: "web-0", PodIP: "10.1.0.5", PodStatus: "Running", Namespace: "prod", WorkloadType: "StatefulSet",
		ClusterID: "cls-1", ClusterName: "main", NodeID: "node-1", NodeType: "NORMAL",
		FilePath: "/home/virus/specimen_1", FileName: "specimen_1", FileMD5: "81a7701a194c3a00000000000000000",
		FileSize: 332155, FileAccessTime: t0, FileModifyTime: t0,
		VirusName: minerThreat.Name, RiskLevel: "RISK_CRITICAL", CheckPlatform: []string{"1"}, SourceType: 2,
		EventType: "恶意文件告警",
		Process: store.ProcessInfo{PID: 433802, Name: "git", Path: "/usr/bin/git", MD5: "472c65af3f43136472d1a383f5000000",
			Argv: "git clone --depth=1 https://example.invalid/x", Chain: "git(433802)|node(280016)|containerd-shim-runc-v2(176637)",
			User: "root", Group: "root", FileAuthority: "-rwxr-xr-x"},
		Parent:     store.RelatedProcess{Path: "/usr/bin/node", Argv: "node dist/index.js", User: "root", Group: "root"},
		Ancestor:   store.RelatedProcess{Path: "/usr/local/bin/containerd-shim-runc-v2", Argv: "containerd-shim-runc-v2 -namespace k8s.io", User: "0", Group: "0"},
		ModifyTime: t0.Add(time.Minute),
	}})
	if err != nil {
		t.Fatal(err)
	}
	f.virusEventID = ids[0]
	f.registry = "reg-" + name
	reg, err := st.CreateRegistry(ctx, accountID, store.Registry{Name: f.registry, URL: "http://127.0.0.1:5000", Type: "other"})
	if err != nil {
		t.Fatal(err)
	}
	img, err := st.UpsertRegistryImage(ctx, accountID, store.RegistryImage{RegistryID: reg.ID, Namespace: "library", Name: "web", Tag: "1.0", Digest: "sha256:aaaa"})
	if err != nil {
		t.Fatal(err)
	}
	f.imageID = img.ID
	err = st.UpsertImageViruses(ctx, accountID, img.ID, []store.ImageVirus{
		{Path: "/bin/webshell.php", VirusName: "Php.Webshell.Generic", RiskLevel: "4", Category: "Webshell", FileType: "PHP",
			FileName: "webshell.php", FileMD5: "d292d5fbd3837a6af51234daa7a40000", FileSize: 40, LatestScanTime: t0},
		{Path: "/usr/local/bin/xmrig", VirusName: minerThreat.Name, RiskLevel: "3", Category: "Miner", FileType: "ELF",
			FileMD5: "27501aaed5e639693783321219989889", FileSize: 1024, LatestScanTime: t0},
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func idStr(id int64) string { return fmt.Sprint(id) }
