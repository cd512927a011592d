package store

import (
	"fmt"
	"time"
)

// Account is a tenant.
type Account struct {
	ID        int64
	Name      string
	CreatedAt time.Time
}

// KeyRole is what an API key may do.
type KeyRole string

const (
	RoleAdmin    KeyRole = "admin"    // every action
	RoleReadOnly KeyRole = "readonly" // Describe*/Export* only
)

// Valid reports whether r is a known role.
func (r KeyRole) Valid() bool { return r == RoleAdmin || r == RoleReadOnly }

// KeyStatus says whether an API key may sign requests.
type KeyStatus string

const (
	KeyEnabled  KeyStatus = "enabled"
	KeyDisabled KeyStatus = "disabled"
)

// Valid reports whether s is a known status.
func (s KeyStatus) Valid() bool { return s == KeyEnabled || s == KeyDisabled }

// APIKey is a SecretId/SecretKey pair. SecretKeyEnc is ciphertext made by the
// caller (the store never sees the plaintext key).
type APIKey struct {
	SecretID     string
	AccountID    int64
	Role         KeyRole
	Status       KeyStatus
	SecretKeyEnc []byte
	Description  string
	CreatedAt    time.Time
	LastUsedAt   time.Time // zero: never used
}

// Host is a machine running the agent. UUID is its public id (cwp's Uuid and
// HostId, tcss's HostID); ID is internal and never shown to API callers.
type Host struct {
	ID           int64
	AccountID    int64
	UUID         string
	QUUID        string
	Name         string // host name
	PrivateIP    string
	PublicIP     string // WAN address
	NetworkType  int    // MachineExtraInfo.NetworkType
	NetworkName  string // VPC or interface name
	InstanceID   string
	OS           string
	Kernel       string
	AgentVersion string
	MachineType  string
	Region       string
	Online       bool
	LastSeen     time.Time
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// HostOfflineAfter is how long after its last heartbeat a host counts as
// offline: three missed 30 s heartbeats. It is the one definition of
// "online" behind Host.OnlineAt and HostQuery.SeenSince/SeenBefore.
const HostOfflineAfter = 3 * 30 * time.Second

// OnlineAt reports whether the host counts as online at now: its agent said
// so in its last heartbeat, and that heartbeat is recent. HostQuery's
// SeenSince: now.Add(-HostOfflineAfter) selects the same hosts.
func (h Host) OnlineAt(now time.Time) bool {
	return h.Online && !h.LastSeen.IsZero() && now.Sub(h.LastSeen) < HostOfflineAfter
}

// Localized is a text in Chinese and English; the API picks one by language.
type Localized struct {
	ZH string
	EN string
}

// Threat is the catalog entry of one detection name (a virus name such as
// "Linux.Miner.Xmrig"): the texts shown with every event of that name.
type Threat struct {
	Name          string
	Tags          []string
	Desc          Localized
	Solution      Localized
	ReferenceLink string
	UpdatedAt     time.Time
}

// HandleStatus is RiskProcessEvent.HandleStatus.
type HandleStatus int

const (
	HandlePending HandleStatus = 0 // 待处理
	HandleHandled HandleStatus = 1 // 已处理
	HandleKilling HandleStatus = 2 // 查杀中
	HandleKilled  HandleStatus = 3 // 已查杀
	HandleExited  HandleStatus = 4 // 已退出
	HandleIgnored HandleStatus = 5 // 已忽略 (trusted)
)

// Valid reports whether s is a known status.
func (s HandleStatus) Valid() bool { return s >= HandlePending && s <= HandleIgnored }

func (s HandleStatus) String() string {
	switch s {
	case HandlePending:
		return "pending"
	case HandleHandled:
		return "handled"
	case HandleKilling:
		return "killing"
	case HandleKilled:
		return "killed"
	case HandleExited:
		return "exited"
	case HandleIgnored:
		return "ignored"
	}
	return fmt.Sprintf("HandleStatus(%d)", int(s))
}

// RiskProcessEvent is a malicious process seen running on a host. Its EventId
// is ID. On insert the host is named by HostUUID and the store fills ID; on
// read Host and Threat are filled from the host row and the threat catalog.
type RiskProcessEvent struct {
	ID                   int64
	AccountID            int64
	HostUUID             string
	PID                  int64
	PPID                 int64
	ProcessStartTime     time.Time
	ExePath              string
	CmdLine              string
	ExeMD5               string
	ExeSHA256            string
	User                 string
	Group                string
	ContainerID          string
	VirusName            string
	RuleName             string
	CheckPlatform        []string
	HandleStatus         HandleStatus
	FirstDetectionMethod int
	FirstDetectTime      time.Time // defaults to DetectTime
	DetectTime           time.Time // latest detection; required
	StatusTime           time.Time // when HandleStatus last changed; zero: never

	Host   Host   // read only
	Threat Threat // read only
}

// ProcessInfo describes the process behind a VirusEvent.
type ProcessInfo struct {
	PID           int64
	Name          string
	Path          string
	MD5           string
	Argv          string
	Chain         string // "git(433802)|node(280016)|…"
	User          string // start account
	Group         string
	FileAuthority string // "-rwxr-xr-x"
}

// RelatedProcess describes the parent or an ancestor of a VirusEvent's process.
type RelatedProcess struct {
	Path  string
	Argv  string
	User  string
	Group string
}

// VirusEvent is a trojan file found at runtime in a container (tcss
// DescribeVirusDetail / VirusInfo). As for RiskProcessEvent, the host is named
// by HostUUID on insert and Host and Threat are filled on read.
type VirusEvent struct {
	ID        int64
	AccountID int64
	HostUUID  string

	ContainerID                  string
	ContainerName                string
	ContainerStatus              string // RUNNING, PAUSED, STOPPED, …
	ContainerNetStatus           string // NORMAL, ISOLATED, …
	ContainerNetSubStatus        string
	ContainerIsolateOperationSrc string
	ImageID                      string
	ImageName                    string

	PodName        string
	PodIP          string
	PodStatus      string
	Namespace      string
	WorkloadType   string
	ClusterID      string
	ClusterName    string
	NodeID         string
	NodeName       string
	NodeUniqueID   string
	NodeType       string // NORMAL, SUPER
	NodeSubnetID   string
	NodeSubnetName string
	NodeSubnetCIDR string

	FilePath       string // required
	FileName       string
	FileMD5        string
	FileSize       int64
	FileAccessTime time.Time
	FileModifyTime time.Time

	VirusName     string // required
	RiskLevel     string // RISK_CRITICAL, RISK_HIGH, RISK_MEDIUM, RISK_LOW, RISK_NOTICE
	CheckPlatform []string
	SourceType    int    // 0 one-click scan, 1 scheduled scan, 2 real-time monitoring
	EventType     string // "恶意文件告警"
	TaskID        int64  // the scan task that found it; 0 for real-time
	IsolateMode   string // MANUAL, AUTO, or empty

	Process  ProcessInfo
	Parent   RelatedProcess
	Ancestor RelatedProcess

	Status        string // DEAL_NONE, DEAL_IGNORE, …; defaults to DEAL_NONE
	SubStatus     string
	Mark          string
	CreateTime    time.Time // first found; defaults to ModifyTime
	ModifyTime    time.Time // latest found; required
	OperationTime time.Time // last handled; zero: never

	Host   Host   // read only
	Threat Threat // read only
}

// VirusStatusNone is the Status of an unhandled VirusEvent.
const VirusStatusNone = "DEAL_NONE"

// Registry is an image registry connected to an account. PasswordEnc is
// ciphertext made by the caller.
type Registry struct {
	ID              int64
	AccountID       int64
	Name            string // unique in the account; tcss's InstanceName
	URL             string
	Type            string // harbor, quay, jfrog, aws, azure, other-tcr, …
	Username        string
	PasswordEnc     []byte
	NetType         string
	Version         string
	Region          string
	InstanceID      string
	Insecure        bool
	SpeedLimit      int64
	SyncMode        int
	NeedScan        bool
	WebhookURL      string
	WebhookToken    string
	ConnectMsg      string // result of the last connectivity check
	SyncStatus      string
	SyncFailReason  string
	LatestSyncTime  time.Time
	CreatedAt       time.Time
	UpdatedAt       time.Time
	ConnDetectHosts []string // host UUIDs that check connectivity
}

// RegistryImage is one tag of a repository in a registry. ID is tcss's image
// Id.
type RegistryImage struct {
	ID              int64
	AccountID       int64
	RegistryID      int64
	RegistryName    string // read only
	Namespace       string
	Name            string // repository name inside the namespace
	Tag             string
	Digest          string // manifest digest
	ImageID         string // config digest ("sha256:…")
	OSName          string
	Size            int64
	ImageCreateTime time.Time
	IsLatest        bool
	ScanStatus      string
	ScanTime        time.Time
	ScanError       string
	VirusCount      int64
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// ImageRef names an image the way tcss's ImageInfo does.
type ImageRef struct {
	RegistryName string // InstanceName
	Namespace    string
	Name         string
	Tag          string
}

// ImageVirus is one malicious file a scan found in an image.
type ImageVirus struct {
	ID             int64
	ImageID        int64
	Path           string // required
	VirusName      string // required
	RiskLevel      string // "1".."4", as tcss reports it
	Category       string
	FileType       string
	FileName       string
	FileMD5        string
	FileSize       int64
	LayerDigest    string
	FirstScanTime  time.Time // read only: kept from the first upsert
	LatestScanTime time.Time // required on upsert

	Threat Threat // read only
}
