// Package wire holds the JSON messages of vigil's agent protocol (see package
// agentapi for the protocol itself). Both ends import it: the server
// (internal/agentapi) and the agent (internal/agent/transport). It depends on
// nothing of vigil.
package wire

import (
	"encoding/json"
	"strconv"
	"time"
)

// Prefix is the protocol's path prefix.
const Prefix = "/agent/v1/"

// Paths of the endpoints.
const (
	PathEnroll    = Prefix + "enroll"
	PathHeartbeat = Prefix + "heartbeat"
	PathEvents    = Prefix + "events"
	PathCommands  = Prefix + "commands"
)

// PathResult is the path a command's result is posted to.
func PathResult(id int64) string {
	return PathCommands + "/" + strconv.FormatInt(id, 10) + "/result"
}

// HostFacts describe the machine; the agent sends them at enrollment and with
// every heartbeat. Empty fields keep the stored value.
type HostFacts struct {
	// MachineID identifies the machine stably across reinstalls of the agent:
	// the agent sends a hash of /etc/machine-id, never the id itself. The
	// server derives the host UUID from it and the account.
	MachineID    string `json:"machine_id"`
	HostName     string `json:"host_name,omitempty"`
	PrivateIP    string `json:"private_ip,omitempty"`
	PublicIP     string `json:"public_ip,omitempty"`
	Interface    string `json:"interface,omitempty"` // network interface of PrivateIP
	InstanceID   string `json:"instance_id,omitempty"`
	OS           string `json:"os,omitempty"`
	Kernel       string `json:"kernel,omitempty"`
	AgentVersion string `json:"agent_version,omitempty"`
}

// EnrollRequest is POST /agent/v1/enroll.
type EnrollRequest struct {
	Token string    `json:"token"`
	Host  HostFacts `json:"host"`
}

// EnrollResponse carries the host's credential; the secret is shown once.
type EnrollResponse struct {
	HostUUID     string `json:"host_uuid"`
	QUUID        string `json:"quuid"`
	CredentialID string `json:"credential_id"`
	Secret       string `json:"secret"`
}

// HeartbeatRequest is POST /agent/v1/heartbeat.
type HeartbeatRequest struct {
	Host HostFacts `json:"host"`
	// Dropped is the number of events the agent's spool had to discard
	// (bound reached) and has not reported yet. vigil's agent reports drops
	// with its uploads (EventsRequest.Dropped) and leaves this 0, so a drop
	// is never reported twice.
	Dropped uint64 `json:"dropped,omitempty"`
	// Spooled is the number of events waiting in the agent's spool.
	Spooled int64 `json:"spooled,omitempty"`
	// Stopping says the agent is shutting down: the host goes offline now
	// instead of after missed heartbeats.
	Stopping bool `json:"stopping,omitempty"`
}

// HeartbeatResponse answers a heartbeat.
type HeartbeatResponse struct {
	// Interval is when the server wants the next heartbeat.
	IntervalSeconds int `json:"interval_seconds"`
	// Commands are commands waiting for the agent (as the long poll hands
	// them out): a heartbeat also delivers them.
	Commands []Command `json:"commands,omitempty"`
	// DroppedAck is how many of the reported dropped events the server
	// recorded; the agent subtracts it from its counter.
	DroppedAck uint64    `json:"dropped_ack,omitempty"`
	ServerTime time.Time `json:"server_time"`
}

// Event is one risk-process detection (cwp DescribeRiskProcessEvents).
type Event struct {
	PID       int64     `json:"pid"`
	PPID      int64     `json:"ppid,omitempty"`
	StartTime time.Time `json:"start_time"` // process start; with PID and Rule the dedup key
	ExePath   string    `json:"exe_path,omitempty"`
	CmdLine   string    `json:"cmdline,omitempty"`
	ExeMD5    string    `json:"exe_md5,omitempty"`
	ExeSHA256 string    `json:"exe_sha256,omitempty"`
	User      string    `json:"user,omitempty"`
	Group     string    `json:"group,omitempty"`
	Container string    `json:"container_id,omitempty"`
	VirusName string    `json:"virus_name"`
	Rule      string    `json:"rule,omitempty"`
	// CheckPlatform as cwp: "1" YARA, "4" heuristics, "5" hash lists.
	CheckPlatform []string `json:"check_platform,omitempty"`
	// Method is FirstDetectionMethod: 0 scan, 1 real time.
	Method     int       `json:"method"`
	DetectTime time.Time `json:"detect_time"`

	// The texts of VirusName (procjudge.Detection's), all optional. When
	// present the server keeps its threat catalog (what
	// DescribeRiskProcessEvents shows as VirusTags, ThreatDesc,
	// SuggestSolution, ReferenceLink) up to date from them.
	Tags       []string `json:"tags,omitempty"`
	DescZH     string   `json:"desc_zh,omitempty"`
	DescEN     string   `json:"desc_en,omitempty"`
	SolutionZH string   `json:"solution_zh,omitempty"`
	SolutionEN string   `json:"solution_en,omitempty"`
	Reference  string   `json:"reference,omitempty"`
	// RiskLevel: "RISK_CRITICAL", "RISK_HIGH", "RISK_MEDIUM", "RISK_LOW" or
	// "RISK_NOTICE". Informational: cwp's risk-process event has no level.
	RiskLevel string `json:"risk_level,omitempty"`
}

// EventsRequest is POST /agent/v1/events.
type EventsRequest struct {
	Events []Event `json:"events"`
	// Dropped: as in HeartbeatRequest.
	Dropped uint64 `json:"dropped,omitempty"`
}

// Rejected names an event the server will never accept (malformed): the
// agent must not resend it.
type Rejected struct {
	Index  int    `json:"index"`
	Reason string `json:"reason"`
}

// EventsResponse answers an upload. Every event is either accepted (stored,
// or merged into the identical stored event) or rejected; EventIDs has one
// entry per event, 0 for the rejected ones.
type EventsResponse struct {
	Accepted   int        `json:"accepted"`
	EventIDs   []int64    `json:"event_ids"`
	Rejected   []Rejected `json:"rejected,omitempty"`
	DroppedAck uint64     `json:"dropped_ack,omitempty"`
}

// Command kinds.
const (
	// CommandKill kills the process PID if it still has StartTime (never a
	// reused pid). Result: KillResult.
	CommandKill = "kill"
)

// Command is an order from the server; Payload depends on Kind.
type Command struct {
	ID       int64           `json:"id"`
	Kind     string          `json:"kind"`
	Payload  json.RawMessage `json:"payload,omitempty"` // JSON object
	Attempts int             `json:"attempts"`          // >1: a redelivery
	Created  time.Time       `json:"created"`
}

// KillPayload is a CommandKill's payload.
type KillPayload struct {
	PID       int64     `json:"pid"`
	StartTime time.Time `json:"start_time"`
	EventID   int64     `json:"event_id,omitempty"`
}

// CommandsResponse answers GET /agent/v1/commands?wait=25s.
type CommandsResponse struct {
	Commands []Command `json:"commands"`
}

// CommandResult is POST /agent/v1/commands/{id}/result.
type CommandResult struct {
	OK     bool            `json:"ok"`
	Error  string          `json:"error,omitempty"`
	Result json.RawMessage `json:"result,omitempty"` // JSON object, kind-specific
}

// KillResult is a CommandKill's result: Killed, or Exited when the process
// (pid with that start time) was already gone.
type KillResult struct {
	Killed bool `json:"killed"`
	Exited bool `json:"exited"`
}

// Error is the body of every non-2xx answer.
type Error struct {
	Code    string `json:"code"` // e.g. "unauthorized", "invalid", "too_large"
	Message string `json:"message"`
}

// Trojan files in containers (tcss runtime virus events, issue 5).

// Paths of the container-file endpoints.
const (
	PathVirusEvents  = Prefix + "virus-events"
	PathScanProgress = Prefix + "scan-progress"
)

// VirusProcess is the process that wrote or ran a trojan file, or its parent
// or an ancestor (then only Path, Argv, User, Group are set).
type VirusProcess struct {
	PID   int64  `json:"pid,omitempty"`
	Name  string `json:"name,omitempty"`
	Path  string `json:"path,omitempty"`
	MD5   string `json:"md5,omitempty"`
	Argv  string `json:"argv,omitempty"`
	Chain string `json:"chain,omitempty"` // "git(433802)|node(280016)|…"
	User  string `json:"user,omitempty"`
	Group string `json:"group,omitempty"`
}

// VirusEvent is one trojan file found in a container (tcss
// DescribeVirusList). The server keys it by (host, container, path, md5): a
// resent or repeated one refreshes the stored event.
type VirusEvent struct {
	ContainerID     string            `json:"container_id"`
	ContainerName   string            `json:"container_name,omitempty"`
	ContainerStatus string            `json:"container_status,omitempty"` // RUNNING, …, DESTROYED
	ImageID         string            `json:"image_id,omitempty"`
	ImageName       string            `json:"image_name,omitempty"`
	Labels          map[string]string `json:"labels,omitempty"`
	PodName         string            `json:"pod_name,omitempty"`
	PodIP           string            `json:"pod_ip,omitempty"`
	Namespace       string            `json:"namespace,omitempty"`
	WorkloadType    string            `json:"workload_type,omitempty"`
	ClusterID       string            `json:"cluster_id,omitempty"`
	ClusterName     string            `json:"cluster_name,omitempty"`
	NodeID          string            `json:"node_id,omitempty"`
	NodeName        string            `json:"node_name,omitempty"`

	// FilePath is the path inside the container.
	FilePath       string    `json:"file_path"`
	FileMD5        string    `json:"file_md5"`
	FileSize       int64     `json:"file_size"`
	FileAuthority  string    `json:"file_authority,omitempty"` // "-rwxr-xr-x"
	FileAccessTime time.Time `json:"file_access_time,omitempty"`
	FileModifyTime time.Time `json:"file_modify_time,omitempty"`

	VirusName     string   `json:"virus_name"`
	RiskLevel     string   `json:"risk_level,omitempty"`
	CheckPlatform []string `json:"check_platform,omitempty"`
	// SourceType: 0 one-click scan, 1 scheduled scan, 2 real time.
	SourceType int   `json:"source_type"`
	TaskID     int64 `json:"task_id,omitempty"`

	Process  VirusProcess `json:"process"`
	Parent   VirusProcess `json:"parent"`
	Ancestor VirusProcess `json:"ancestor"`

	DetectTime time.Time `json:"detect_time"`

	// Texts of VirusName, as in Event (threat catalog).
	Tags       []string `json:"tags,omitempty"`
	DescZH     string   `json:"desc_zh,omitempty"`
	DescEN     string   `json:"desc_en,omitempty"`
	SolutionZH string   `json:"solution_zh,omitempty"`
	SolutionEN string   `json:"solution_en,omitempty"`
	Reference  string   `json:"reference,omitempty"`
}

// VirusEventsRequest is POST /agent/v1/virus-events; the answer is an
// EventsResponse (an event the whitelist suppresses is accepted with id 0).
type VirusEventsRequest struct {
	Events  []VirusEvent `json:"events"`
	Dropped uint64       `json:"dropped,omitempty"`
}

// Container-file command kinds.
const (
	// CommandIsolateContainer / CommandRestoreContainer cut a container off
	// the network inside its network namespace, or restore it. Payload
	// ContainerPayload, result ContainerNetResult.
	CommandIsolateContainer = "isolate_container"
	CommandRestoreContainer = "restore_container"
	// CommandQuarantineFile / CommandRestoreFile move a container's file into
	// the host's quarantine, or back. Payload FilePayload, result FileResult.
	CommandQuarantineFile = "quarantine_file"
	CommandRestoreFile    = "restore_file"
	// CommandScanContainers starts a one-click scan (the result only says it
	// started; progress goes to PathScanProgress, findings are VirusEvents with
	// SourceType 0 and the task id). CommandStopScan stops one. Payloads
	// ScanPayload and StopScanPayload.
	CommandScanContainers = "scan_containers"
	CommandStopScan       = "stop_scan"
)

// ContainerPayload names a container (and the event that asked).
type ContainerPayload struct {
	ContainerID string `json:"container_id"`
	EventID     int64  `json:"event_id,omitempty"`
}

// ContainerNetResult is the container's network state after the command:
// Status NORMAL, ISOLATED, ISOLATE_FAILED or RESTORE_FAILED; Reason
// (CONTAINER_NOT_FOUND, …) when failed.
type ContainerNetResult struct {
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// FilePayload names a container's file (the path inside the container).
type FilePayload struct {
	EventID     int64  `json:"event_id"`
	ContainerID string `json:"container_id"`
	Path        string `json:"path"`
	MD5         string `json:"md5,omitempty"`
	// Kill: also SIGKILL the processes using the file (auto-isolation).
	Kill bool `json:"kill,omitempty"`
	// Auto: the isolation was decided by the auto-isolation setting.
	Auto bool `json:"auto,omitempty"`
}

// FileResult is a file command's outcome: OK, or SubStatus says why not
// (FILE_NOT_FOUND, CONTAINER_NOT_FOUND_DEAL_ISOLATE, …).
type FileResult struct {
	OK        bool   `json:"ok"`
	SubStatus string `json:"sub_status,omitempty"`
	Detail    string `json:"detail,omitempty"`
	SampleID  string `json:"sample_id,omitempty"`
	MD5       string `json:"md5,omitempty"`
	SHA256    string `json:"sha256,omitempty"`
	Size      int64  `json:"size,omitempty"`
	// HostPath is where the file was on the host (/proc/PID/root/…).
	HostPath string `json:"host_path,omitempty"`
}

// ScanPayload is a CommandScanContainers' payload.
type ScanPayload struct {
	TaskID       int64    `json:"task_id"`
	ContainerIDs []string `json:"container_ids,omitempty"` // empty: all running containers
	// PathMode: SCAN_PATH_ALL, SCAN_PATH_DEFAULT or SCAN_PATH_USER_DEFINE
	// (Paths included, or excluded when Exclude).
	PathMode string    `json:"path_mode"`
	Paths    []string  `json:"paths,omitempty"`
	Exclude  bool      `json:"exclude,omitempty"`
	Deadline time.Time `json:"deadline"`
	// Scheduled marks a task the server's schedule started: its findings
	// are reported with SourceType 1 (0 is a one-click scan).
	Scheduled bool `json:"scheduled,omitempty"`
}

// StopScanPayload is a CommandStopScan's payload.
type StopScanPayload struct {
	TaskID       int64    `json:"task_id"`
	ContainerIDs []string `json:"container_ids,omitempty"` // empty: the whole task
}

// ContainerScanProgress is one container of a ScanProgress.
type ContainerScanProgress struct {
	ContainerID string `json:"container_id"`
	Progress    int64  `json:"progress"` // 0..100
	Done        bool   `json:"done"`
	RiskCount   int64  `json:"risk_count"`
	Error       string `json:"error,omitempty"`
}

// ScanProgress is POST /agent/v1/scan-progress: the host's progress on a
// scan task. Findings are uploaded (spooled) before the report saying Done.
type ScanProgress struct {
	TaskID     int64                   `json:"task_id"`
	Progress   int64                   `json:"progress"`
	Done       bool                    `json:"done"`
	Error      string                  `json:"error,omitempty"`
	Containers []ContainerScanProgress `json:"containers,omitempty"`
}
