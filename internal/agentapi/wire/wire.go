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
