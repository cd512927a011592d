package store

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors. Implementations wrap them with %w and a message naming what
// was missing or clashing.
var (
	// ErrNotFound: the row does not exist, or belongs to another account.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a unique key (account name, SecretId, registry name…) is taken.
	ErrConflict = errors.New("conflict")
	// ErrInvalid: the arguments are malformed (empty required field, negative
	// limit, unknown enum value). The store checks them before touching the
	// database.
	ErrInvalid = errors.New("invalid argument")
)

// Store is the whole storage layer. Implementations are safe for concurrent use.
type Store interface {
	Accounts
	APIKeys
	Hosts
	HostStats
	Threats
	RiskProcessEvents
	VirusEvents
	Registries
	RegistryAdmin
	RegistryImages
	ImageCatalog
	ImageViruses
	ScanTasks
	LayerScans
	ExportJobs
	Agents
	RiskEventStatus
	Whitelists
	VirusAdmin

	// Close releases the database handles. The Store is unusable afterwards.
	Close() error
}

// Accounts are the tenants.
type Accounts interface {
	// CreateAccount creates an account; the name must be unique (ErrConflict).
	CreateAccount(ctx context.Context, name string) (Account, error)
	GetAccount(ctx context.Context, accountID int64) (Account, error)
	GetAccountByName(ctx context.Context, name string) (Account, error)
	// ListAccounts returns all accounts ordered by id.
	ListAccounts(ctx context.Context) ([]Account, error)
}

// APIKeys are the credentials API callers sign with. The store keeps the
// SecretKey only as ciphertext produced by the caller.
type APIKeys interface {
	// CreateAPIKey stores k for accountID (k.AccountID is ignored). SecretID must
	// be unique across all accounts (ErrConflict); an unknown account is
	// ErrNotFound. CreatedAt defaults to now.
	CreateAPIKey(ctx context.Context, accountID int64, k APIKey) (APIKey, error)
	// GetAPIKey looks a key up by SecretId for authentication. It is the one
	// key read not scoped to an account: its result is what tells the caller
	// the account.
	GetAPIKey(ctx context.Context, secretID string) (APIKey, error)
	// ListAPIKeys returns the account's keys ordered by creation.
	ListAPIKeys(ctx context.Context, accountID int64) ([]APIKey, error)
	// SetAPIKeyStatus enables or disables a key of the account.
	SetAPIKeyStatus(ctx context.Context, accountID int64, secretID string, status KeyStatus) error
	// TouchAPIKey records that the key was used at `at`. To keep a busy key
	// from costing a write per request it only writes when the stored value is
	// older than at by more than LastUsedResolution; it never moves the value
	// backwards. A missing key (or one of another account) is ErrNotFound.
	TouchAPIKey(ctx context.Context, accountID int64, secretID string, at time.Time) error
}

// LastUsedResolution is the granularity of APIKey.LastUsedAt (see TouchAPIKey).
const LastUsedResolution = time.Minute

// Hosts are the machines running the agent.
type Hosts interface {
	// UpsertHost creates the host (account, h.UUID) or updates every
	// descriptive field of the existing one; ID and CreatedAt are kept,
	// UpdatedAt is set to now. It returns the stored host.
	UpsertHost(ctx context.Context, accountID int64, h Host) (Host, error)
	// GetHost returns the host with the public id uuid.
	GetHost(ctx context.Context, accountID int64, uuid string) (Host, error)
	// QueryHosts lists the account's hosts matching q, ordered by name then UUID.
	QueryHosts(ctx context.Context, accountID int64, q HostQuery) (Page[Host], error)
}

// Threats is the global catalog of detection names and their texts. It is
// filled from rule metadata and is not customer data, hence not account-scoped.
type Threats interface {
	// UpsertThreats creates or replaces catalog entries by name.
	UpsertThreats(ctx context.Context, threats []Threat) error
	GetThreat(ctx context.Context, name string) (Threat, error)
}

// RiskProcessEvents are cwp's malicious-process events.
type RiskProcessEvents interface {
	// InsertRiskProcessEvents stores a batch atomically and returns the event
	// ids in input order. An event whose dedup key (host, PID, process start
	// time, rule) is already stored — in the database or earlier in the batch —
	// is not duplicated: its DetectTime moves forward to the later of the two
	// and everything else, HandleStatus included, is kept. An unknown host UUID
	// fails the whole batch with ErrNotFound.
	InsertRiskProcessEvents(ctx context.Context, accountID int64, events []RiskProcessEvent) ([]int64, error)
	GetRiskProcessEvent(ctx context.Context, accountID, id int64) (RiskProcessEvent, error)
	// QueryRiskProcessEvents answers DescribeRiskProcessEvents: the events
	// matching q, joined with their host and threat, and the filtered total.
	QueryRiskProcessEvents(ctx context.Context, accountID int64, q RiskProcessEventQuery) (Page[RiskProcessEvent], error)
}

// VirusEvents are tcss's runtime trojan-file events.
type VirusEvents interface {
	// InsertVirusEvents stores a batch atomically and returns the ids in input
	// order. An event whose key (host, container, file path, file md5) is
	// already stored is not duplicated: its ModifyTime moves forward and the
	// detection details are refreshed, while Status, SubStatus, Mark and
	// CreateTime are kept.
	InsertVirusEvents(ctx context.Context, accountID int64, events []VirusEvent) ([]int64, error)
	GetVirusEvent(ctx context.Context, accountID, id int64) (VirusEvent, error)
}

// Registries are the image registries an account connected.
type Registries interface {
	// CreateRegistry stores r; its name must be unique in the account (ErrConflict).
	CreateRegistry(ctx context.Context, accountID int64, r Registry) (Registry, error)
	GetRegistry(ctx context.Context, accountID, id int64) (Registry, error)
	// ListRegistries returns the account's registries ordered by id.
	ListRegistries(ctx context.Context, accountID int64) ([]Registry, error)
}

// RegistryImages are the image tags found in registries.
type RegistryImages interface {
	// UpsertRegistryImage creates the image (registry, namespace, name, tag) or
	// updates its other fields; ID is kept. The registry must belong to the
	// account (ErrNotFound).
	UpsertRegistryImage(ctx context.Context, accountID int64, img RegistryImage) (RegistryImage, error)
	GetRegistryImage(ctx context.Context, accountID, id int64) (RegistryImage, error)
	// FindRegistryImage looks an image up the way tcss's ImageInfo names it.
	FindRegistryImage(ctx context.Context, accountID int64, ref ImageRef) (RegistryImage, error)
}

// ImageViruses are the malicious files an image scan found.
type ImageViruses interface {
	// UpsertImageViruses records scan findings for one image of the account
	// (ErrNotFound otherwise). A finding is keyed by (path, virus name): a new
	// one gets FirstScanTime = LatestScanTime = its LatestScanTime; a known one
	// keeps FirstScanTime and has its other fields and LatestScanTime updated.
	UpsertImageViruses(ctx context.Context, accountID, imageID int64, viruses []ImageVirus) error
	// QueryImageViruses answers DescribeAssetImageRegistryVirusList for one
	// image, ordered by risk level (highest first), then path.
	QueryImageViruses(ctx context.Context, accountID, imageID int64, q ImageVirusQuery) (Page[ImageVirus], error)
}

// Optimizer is implemented by stores that can refresh the query planner's
// statistics on demand, e.g. after a bulk load. Stores keep them fresh on
// their own in normal operation; this is for tools and benchmarks.
type Optimizer interface {
	Optimize(ctx context.Context) error
}
