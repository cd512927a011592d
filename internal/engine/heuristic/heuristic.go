// Package heuristic is the signature-free detector of the engine: rules on a
// file's location, name and magic bytes (CheckPlatform "4", abnormal
// behaviour). Each rule is documented below with its virus name.
//
// The rules are deliberately narrow: a stock Debian system (/usr, /bin, /lib,
// /etc) must raise nothing, and neither should ordinary development machines,
// whose /tmp is full of compiler output. So "an ELF in /tmp" is not a rule;
// an ELF hidden in /tmp or in the X11 socket directories is.
//
//   - Linux.Suspicious.ShmExecutable (RISK_HIGH): an ELF file (executable or
//     shared object) under /dev/shm or /run/shm. Those tmpfs directories hold
//     POSIX shared-memory objects; programs are never installed there, while
//     fileless droppers and miners run from them to leave no trace on disk.
//   - Linux.Suspicious.HiddenTmpElf (RISK_MEDIUM): an ELF file whose name
//     starts with "." directly in /tmp or /var/tmp, or any ELF file
//     under the socket directories /tmp/.X11-unix, /tmp/.ICE-unix,
//     /tmp/.font-unix, /tmp/.XIM-unix, /tmp/.Test-unix, a favourite hiding
//     place of miners.
//   - Linux/Win/MacOS.Suspicious.MagicMismatch (RISK_MEDIUM): a file whose
//     extension claims a picture, document, text or media type but whose
//     magic bytes are an ELF, PE or Mach-O executable: a payload disguised to
//     pass a glance or an upload filter.
//
// Paths are matched as the engine reports them; a container's files seen
// through /proc/PID/root/… are matched on the part after "root".
package heuristic

import (
	"context"
	"path"
	"regexp"
	"strings"

	"github.com/vigil-sec/vigil/internal/engine"
)

// Name is the detector name in findings.
const Name = "heuristic"

// version of the rules; bump when any rule changes.
const version = "1"

// Category of every heuristic finding.
const Category = "Suspicious"

// Rule is one heuristic.
type Rule struct {
	Name        string           // rule name in findings
	Risk        engine.RiskLevel // risk of its findings
	Tags        []string
	Description engine.Text
	Solution    engine.Text
	// applies says, from the path alone, whether the rule could fire; the
	// engine reads nothing for files no rule applies to.
	applies func(p string) bool
	// virusName returns the finding's virus name, or "" when the rule does not
	// fire on the file.
	virusName func(p string, t engine.FileType) string
}

var solution = engine.Text{
	ZH: "1.确认该文件是否为业务所需；\n2.若非业务所需，结束运行该文件的进程并隔离或删除该文件；\n3.排查可疑的定时任务、启动项及 SSH 公钥，并对系统进行风险排查和安全加固。",
	EN: "1. Confirm whether the file is needed by your business;\n2. If not, stop the processes running it and quarantine or delete the file;\n3. Check for suspicious cron jobs, startup items and SSH keys, and audit and harden the system.",
}

// Rules returns the heuristics, in the order they are evaluated.
func Rules() []Rule {
	return []Rule{
		{
			Name: "ShmExecutable",
			Risk: engine.RiskHigh,
			Tags: []string{"suspicious", "fileless"},
			Description: engine.Text{
				ZH: "发现位于 /dev/shm 的 ELF 可执行文件。/dev/shm 是存放共享内存对象的内存文件系统，正常程序不会安装在此处；攻击者常利用它存放并运行不落盘的恶意程序（如挖矿木马、僵尸网络程序）。",
				EN: "An ELF executable is stored in /dev/shm, the memory-backed directory for shared-memory objects. Programs are never installed there; attackers use it to run payloads that leave no trace on disk, such as miners and botnet agents.",
			},
			Solution: solution,
			applies:  inShm,
			virusName: func(p string, t engine.FileType) string {
				if t == engine.TypeELF && inShm(p) {
					return "Linux.Suspicious.ShmExecutable"
				}
				return ""
			},
		},
		{
			Name: "HiddenTmpElf",
			Risk: engine.RiskMedium,
			Tags: []string{"suspicious", "hidden_file"},
			Description: engine.Text{
				ZH: "发现隐藏在临时目录中的 ELF 可执行文件（以“.”开头的文件，或位于 X11/ICE 套接字目录中）。挖矿木马和后门常以这种方式躲避检查。",
				EN: "An ELF executable is hidden in a temporary directory (a dot file, or inside an X11/ICE socket directory). Miners and backdoors hide this way to escape notice.",
			},
			Solution: solution,
			applies:  hiddenTmp,
			virusName: func(p string, t engine.FileType) string {
				if t == engine.TypeELF && hiddenTmp(p) {
					return "Linux.Suspicious.HiddenTmpElf"
				}
				return ""
			},
		},
		{
			Name: "MagicMismatch",
			Risk: engine.RiskMedium,
			Tags: []string{"suspicious", "disguised"},
			Description: engine.Text{
				ZH: "文件扩展名声称是图片、文档、文本或音视频文件，但文件内容实际是可执行程序（ELF/PE/Mach-O）。攻击者常用这种伪装绕过上传过滤或人工检查。",
				EN: "The file's extension claims a picture, document, text or media file, but its content is an executable (ELF/PE/Mach-O). Attackers disguise payloads this way to pass upload filters and casual inspection.",
			},
			Solution: solution,
			applies:  func(p string) bool { return dataExts[strings.ToLower(path.Ext(p))] },
			virusName: func(p string, t engine.FileType) string {
				if !dataExts[strings.ToLower(path.Ext(p))] {
					return ""
				}
				switch t {
				case engine.TypeELF:
					return "Linux.Suspicious.MagicMismatch"
				case engine.TypePE:
					return "Win.Suspicious.MagicMismatch"
				case engine.TypeMachO:
					return "MacOS.Suspicious.MagicMismatch"
				}
				return ""
			},
		},
	}
}

// dataExts are extensions of files that are never executables.
var dataExts = map[string]bool{
	".jpg": true, ".jpeg": true, ".png": true, ".gif": true, ".bmp": true, ".ico": true, ".webp": true, ".svg": true, ".tif": true, ".tiff": true,
	".txt": true, ".log": true, ".csv": true, ".md": true, ".rtf": true, ".pdf": true,
	".doc": true, ".docx": true, ".xls": true, ".xlsx": true, ".ppt": true, ".pptx": true, ".odt": true, ".ods": true,
	".mp3": true, ".mp4": true, ".avi": true, ".mkv": true, ".mov": true, ".wav": true, ".flac": true,
	".html": true, ".htm": true, ".css": true, ".json": true, ".xml": true, ".yaml": true, ".yml": true,
}

// procRoot strips /proc/PID/root, so a container's files seen from the host
// are judged by their path inside the container.
var procRoot = regexp.MustCompile(`^/proc/[0-9]+/root(/|$)`)

func logical(p string) string {
	p = path.Clean(p)
	if loc := procRoot.FindStringIndex(p); loc != nil {
		p = "/" + p[loc[1]:]
	}
	return p
}

func inShm(p string) bool {
	p = logical(p)
	return strings.HasPrefix(p, "/dev/shm/") || strings.HasPrefix(p, "/run/shm/")
}

var socketDirs = []string{"/tmp/.X11-unix/", "/tmp/.ICE-unix/", "/tmp/.font-unix/", "/tmp/.XIM-unix/", "/tmp/.Test-unix/"}

func hiddenTmp(p string) bool {
	p = logical(p)
	for _, d := range socketDirs {
		if strings.HasPrefix(p, d) {
			return true
		}
	}
	dir, base := path.Split(p)
	switch dir {
	case "/tmp/", "/var/tmp/": // /dev/shm is ShmExecutable's
		return strings.HasPrefix(base, ".") && base != "." && base != ".."
	}
	return false
}

// Detector evaluates the heuristics.
type Detector struct {
	rules []Rule
}

// New returns the heuristic detector with every rule of Rules.
func New() *Detector { return &Detector{rules: Rules()} }

func (d *Detector) Name() string    { return Name }
func (d *Detector) Version() string { return version }

// Require asks for the head (the magic bytes) of files some rule applies to,
// and for nothing otherwise.
func (d *Detector) Require(info *engine.FileInfo) engine.Need {
	for _, r := range d.rules {
		if r.applies(info.Path) {
			return engine.Need{Head: true}
		}
	}
	return engine.Need{}
}

// Detect reports every rule that fires.
func (d *Detector) Detect(_ context.Context, obj *engine.Object) ([]engine.Finding, error) {
	var findings []engine.Finding
	for _, r := range d.rules {
		name := r.virusName(obj.Info.Path, obj.Type)
		if name == "" {
			continue
		}
		findings = append(findings, engine.Finding{
			VirusName:   name,
			Tags:        append([]string(nil), r.Tags...),
			Risk:        r.Risk,
			Category:    Category,
			Description: r.Description,
			Solution:    r.Solution,
			Detector:    Name,
			Platform:    engine.PlatformBehavior,
			Rule:        r.Name,
		})
	}
	return findings, nil
}
