package engine

import (
	"fmt"
	"strings"
)

// RiskLevel grades a finding. The string form (RISK_CRITICAL … RISK_NOTICE) is the
// one Tencent Cloud's host-security API uses; Number gives the numeric form of the
// container-security registry list (tcss RiskLevel "0".."4").
type RiskLevel int

// Risk levels, lowest first so that comparisons read naturally (a >= RiskHigh).
// The values are the registry list's numeric form: CRITICAL=4, HIGH=3, MEDIUM=2,
// LOW=1, NOTICE=0.
const (
	RiskNotice   RiskLevel = 0
	RiskLow      RiskLevel = 1
	RiskMedium   RiskLevel = 2
	RiskHigh     RiskLevel = 3
	RiskCritical RiskLevel = 4
)

var riskNames = [...]string{
	RiskNotice:   "RISK_NOTICE",
	RiskLow:      "RISK_LOW",
	RiskMedium:   "RISK_MEDIUM",
	RiskHigh:     "RISK_HIGH",
	RiskCritical: "RISK_CRITICAL",
}

// String returns the API name, e.g. "RISK_HIGH".
func (r RiskLevel) String() string {
	if r < RiskNotice || r > RiskCritical {
		return fmt.Sprintf("RiskLevel(%d)", int(r))
	}
	return riskNames[r]
}

// Number is the numeric form used by the registry image list (RISK_CRITICAL=4 …
// RISK_NOTICE=0).
func (r RiskLevel) Number() int { return int(r) }

// ParseRiskLevel accepts the API name ("RISK_HIGH"), the bare level ("high",
// any case) or the numeric form ("3").
func ParseRiskLevel(s string) (RiskLevel, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	for i, name := range riskNames {
		if t == name || "RISK_"+t == name || t == fmt.Sprint(i) {
			return RiskLevel(i), nil
		}
	}
	return 0, fmt.Errorf("unknown risk level %q (want one of RISK_CRITICAL, RISK_HIGH, RISK_MEDIUM, RISK_LOW, RISK_NOTICE)", s)
}

// MarshalText writes the API name so JSON carries "RISK_HIGH", not 3.
func (r RiskLevel) MarshalText() ([]byte, error) {
	if r < RiskNotice || r > RiskCritical {
		return nil, fmt.Errorf("invalid risk level %d", int(r))
	}
	return []byte(r.String()), nil
}

// UnmarshalText is the inverse of MarshalText (it also accepts the other forms
// ParseRiskLevel knows).
func (r *RiskLevel) UnmarshalText(b []byte) error {
	v, err := ParseRiskLevel(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// CheckPlatform is Tencent Cloud's name for the engine that produced a finding
// (the CheckPlatform list of the malware APIs). vigil maps its detectors onto it:
// YARA rules are the "cloud scan engine" (1), hash lists are threat intelligence
// (5) and file heuristics are abnormal behaviour (4). TAV (2) and binaryAi (3)
// have no vigil counterpart.
type CheckPlatform string

// The CheckPlatform values of Tencent Cloud's API.
const (
	PlatformCloudEngine CheckPlatform = "1" // YARA
	PlatformTAV         CheckPlatform = "2"
	PlatformBinaryAI    CheckPlatform = "3"
	PlatformBehavior    CheckPlatform = "4" // heuristics
	PlatformThreatIntel CheckPlatform = "5" // hash lists
)

// Text is a message in both languages the API serves.
type Text struct {
	ZH string `json:"zh_cn"`
	EN string `json:"en_us"`
}

// Pick returns the English text when english is true, the Chinese one otherwise,
// falling back to the other language when the chosen one is empty.
func (t Text) Pick(english bool) string {
	if english && t.EN != "" || t.ZH == "" {
		return t.EN
	}
	return t.ZH
}

// Finding is one detection on one file.
type Finding struct {
	Path        string        `json:"path"`
	VirusName   string        `json:"virus_name"` // Tencent style: Linux.Miner.Xmrig
	Tags        []string      `json:"tags"`
	Risk        RiskLevel     `json:"risk_level"`
	Category    string        `json:"category"`
	Description Text          `json:"description"`
	Solution    Text          `json:"solution"`
	Reference   string        `json:"reference,omitempty"`
	Detector    string        `json:"detector"`       // "yara", "hashlist", "heuristic"
	Platform    CheckPlatform `json:"check_platform"` // see CheckPlatform
	Rule        string        `json:"rule"`           // rule identifier, list entry or heuristic name
	FileType    FileType      `json:"file_type"`
	MD5         string        `json:"md5"`
	SHA256      string        `json:"sha256"`
	Size        int64         `json:"size"`
}

// clone returns a deep copy, so cached findings can be handed out and modified.
func (f Finding) clone() Finding {
	f.Tags = append([]string(nil), f.Tags...)
	return f
}

func cloneFindings(fs []Finding) []Finding {
	if fs == nil {
		return nil
	}
	out := make([]Finding, len(fs))
	for i, f := range fs {
		out[i] = f.clone()
	}
	return out
}

// GenericDescription is the threat description of detections that bring none
// of their own (user YARA rules without meta).
func GenericDescription() Text {
	return Text{
		ZH: "发现恶意文件，您的主机可能已经失陷。恶意文件通常会执行挖矿、文件删除、信息窃取和网络攻击等恶意行为。",
		EN: "A malicious file was found; the host may be compromised. Malicious files typically mine cryptocurrency, delete files, steal data or attack other machines.",
	}
}

// GenericSolution is the suggested solution of detections that bring none of
// their own (user YARA rules without meta, hash lists).
func GenericSolution() Text {
	return Text{
		ZH: "1.确认该文件是否为业务所需；\n2.隔离或者删除相关的恶意文件，结束相关进程；\n3.检查可疑的启动项和定时任务，并对系统进行风险排查和安全加固。",
		EN: "1. Confirm whether the file is needed by your business;\n2. Quarantine or delete the malicious file and stop related processes;\n3. Check for suspicious startup items and cron jobs, and audit and harden the system.",
	}
}
