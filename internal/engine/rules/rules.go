// Package rules holds vigil's built-in YARA rule pack.
//
// The pack lives in pack/, one source file per threat family (eicar,
// miner, hacktool, webshell_php, webshell_jsp, webshell_aspx,
// reverse_shell, botnet, dropper), and is embedded into the binary as FS.
// The rules are vigil's own; README.md in this directory documents each of
// them: what it detects and why it stays quiet on a clean system.
//
// # Meta convention
//
// Every rule carries the metadata the engine turns into a finding. All
// values are strings:
//
//   - virus_name: Tencent-style threat name, Platform.Type.Family, for
//     example "Linux.Miner.Xmrig" or "Php.Webshell.Generic".
//   - tags: comma-separated lowercase tags, for example "miner,xmrig".
//   - risk_level: one of RISK_CRITICAL, RISK_HIGH, RISK_MEDIUM, RISK_LOW,
//     RISK_NOTICE.
//   - category: one of Miner, HackTool, Webshell, ReverseShell, Botnet,
//     Dropper, Backdoor, TestFile.
//   - desc_zh, desc_en: a threat description of one to three sentences.
//   - solution_zh, solution_en: numbered remediation steps separated by
//     "\n".
//   - reference: optional https URL with background on the threat.
//
// No other keys are used; the package tests reject unknown ones so that a
// misspelt key cannot silently drop a field from findings.
//
// # Writing rules
//
// The pack is scanned over every file of a host, so each rule needs
// several strong indicators together, and every string or regular
// expression must contain a literal of at least four bytes for libyara to
// use as an atom. The pack's own source is embedded verbatim in the vigil
// executable, so no rule may match that text: indicator strings of rules
// meant for executables are written with one byte hex-escaped (\xHH), and
// the tests scan the pack's source, alone and inside an ELF wrapper, with
// the pack. Every rule has positive and near-miss negative samples under
// testdata/.
package rules

import "embed"

// FS is the built-in pack: the YARA sources pack/*.yar. It is read-only.
//
//go:embed pack/*.yar
var FS embed.FS

// Dir is the directory of the rule sources inside FS.
const Dir = "pack"

// Metadata keys of a pack rule; see the package documentation.
const (
	MetaVirusName  = "virus_name"
	MetaTags       = "tags"
	MetaRiskLevel  = "risk_level"
	MetaCategory   = "category"
	MetaDescZH     = "desc_zh"
	MetaDescEN     = "desc_en"
	MetaSolutionZH = "solution_zh"
	MetaSolutionEN = "solution_en"
	MetaReference  = "reference"
)
