package store

import (
	"context"
	"fmt"
	"time"
)

// The contract additions for registry image scanning (issue 4): registry
// management, image reconciliation, scan tasks, the per-layer scan cache and
// export jobs. Export jobs and scan tasks are shared with the host and
// container workflows.

// RegistryAdmin manages registries beyond create/get/list.
type RegistryAdmin interface {
	// UpdateRegistry replaces every descriptive field of the registry r.ID
	// (name, URL, type, credentials, options, webhook); ID, CreatedAt and the
	// sync state are kept, UpdatedAt is set to now. A name taken by another
	// registry of the account is ErrConflict.
	UpdateRegistry(ctx context.Context, accountID int64, r Registry) (Registry, error)
	// DeleteRegistry removes the registry with its images, their layers and
	// viruses.
	DeleteRegistry(ctx context.Context, accountID, id int64) error
	// QueryRegistries answers DescribeAssetImageRegistryRegistryList.
	QueryRegistries(ctx context.Context, accountID int64, q RegistryQuery) (Page[Registry], error)
	// SetRegistrySync records the outcome of a sync or connectivity check.
	SetRegistrySync(ctx context.Context, accountID, id int64, s RegistrySync) error
	// GetRegistryForWebhook looks a registry up by id across accounts. It is
	// for the push-notification endpoint only, which then compares the
	// presented token with WebhookToken in constant time: its result is what
	// tells the caller the account, as GetAPIKey's does.
	GetRegistryForWebhook(ctx context.Context, id int64) (Registry, error)
}

// RegistrySync is the sync/connectivity state of a registry.
type RegistrySync struct {
	ConnectMsg     string
	SyncStatus     string // e.g. "Syncing", "Success", "Failed"
	SyncFailReason string
	LatestSyncTime time.Time // zero: keep the stored value
}

// RegistryQuery is DescribeAssetImageRegistryRegistryList's filters and paging.
type RegistryQuery struct {
	Names  TextFilter
	URLs   TextFilter
	Types  []string // exact registry types
	Desc   bool     // order by id descending
	Limit  int      // 0: no limit
	Offset int
}

// Validate checks q.
func (q RegistryQuery) Validate() error {
	if err := q.Names.validate("Names"); err != nil {
		return err
	}
	if err := q.URLs.validate("URLs"); err != nil {
		return err
	}
	if len(q.Types) > MaxFilterValues {
		return fmt.Errorf("%w: filter Types has more than %d values", ErrInvalid, MaxFilterValues)
	}
	return validatePaging(q.Limit, q.Offset)
}

// ImageCatalog reconciles, lists and records scans of registry images.
type ImageCatalog interface {
	// SyncRegistryImages reconciles the registry's image list with a full
	// listing: every image in imgs is upserted by (namespace, name, tag)
	// keeping its ID (an image whose Digest changed gets its scan state
	// reset to "" so it is scanned again); every stored image of the registry
	// not in imgs is deleted with its layers and viruses. Scan state in imgs
	// is ignored, and a field a listing leaves zero (ImageID, OSName, Size,
	// ImageCreateTime, Digest) keeps the stored value unless the Digest
	// changed; IsLatest always follows imgs.
	SyncRegistryImages(ctx context.Context, accountID, registryID int64, imgs []RegistryImage) (SyncResult, error)
	// QueryRegistryImages answers DescribeAssetImageRegistryList and selects
	// the images of scan tasks.
	QueryRegistryImages(ctx context.Context, accountID int64, q RegistryImageQuery) (Page[RegistryImage], error)
	// SetImageScanStatus sets ScanStatus (and ScanError) without touching the
	// findings: for "SCANNING", queued and failed states.
	SetImageScanStatus(ctx context.Context, accountID, imageID int64, status, scanErr string) error
	// RecordImageScan stores the outcome of a finished scan atomically: the
	// image's resolved metadata and layers, ScanStatus/ScanTime/ScanError,
	// and its findings, which replace the previous ones — a finding (path,
	// virus) seen before keeps its FirstScanTime, one no longer found is
	// deleted — and VirusCount. Metadata r leaves zero keeps the stored
	// value; a finding without LatestScanTime gets r.ScanTime.
	RecordImageScan(ctx context.Context, accountID, imageID int64, r ImageScanRecord) error
}

// SyncResult counts what SyncRegistryImages changed.
type SyncResult struct {
	Added, Updated, Removed int
}

// ImageOrder is the sort key of RegistryImageQuery. Ties are broken by id.
type ImageOrder int

const (
	ImageOrderByID ImageOrder = iota
	ImageOrderByName
	ImageOrderByTag
	ImageOrderBySize
	ImageOrderByScanTime
	ImageOrderByVirusCount
	ImageOrderByCreateTime
)

// RegistryImageQuery is DescribeAssetImageRegistryList's filters and paging,
// also used to pick the images of a scan task.
type RegistryImageQuery struct {
	IDs           []int64 // exact; empty: all
	ExcludeIDs    []int64
	RegistryIDs   []int64
	RegistryNames TextFilter // InstanceName
	RegistryTypes []string   // exact
	Namespaces    TextFilter
	Names         TextFilter // repository name (ImageName)
	Tags          TextFilter
	Digests       TextFilter
	ScanStatuses  []string // exact
	OnlyLatest    bool
	HasVirus      *bool
	OrderBy       ImageOrder
	Desc          bool
	Limit         int // 0: no limit
	Offset        int
}

// Validate checks q.
func (q RegistryImageQuery) Validate() error {
	for _, f := range []struct {
		name string
		f    TextFilter
	}{{"RegistryNames", q.RegistryNames}, {"Namespaces", q.Namespaces}, {"Names", q.Names}, {"Tags", q.Tags}, {"Digests", q.Digests}} {
		if err := f.f.validate(f.name); err != nil {
			return err
		}
	}
	if len(q.IDs) > MaxFilterValues*10 || len(q.ExcludeIDs) > MaxFilterValues*10 || len(q.RegistryIDs) > MaxFilterValues ||
		len(q.RegistryTypes) > MaxFilterValues || len(q.ScanStatuses) > MaxFilterValues {
		return fmt.Errorf("%w: an image filter has too many values", ErrInvalid)
	}
	if q.OrderBy < ImageOrderByID || q.OrderBy > ImageOrderByCreateTime {
		return fmt.Errorf("%w: unknown image order %d", ErrInvalid, int(q.OrderBy))
	}
	return validatePaging(q.Limit, q.Offset)
}

// ImageLayer is one layer of a scanned image, bottom first.
type ImageLayer struct {
	Digest string
	Size   int64
}

// ImageScanRecord is what RecordImageScan stores.
type ImageScanRecord struct {
	Digest          string // manifest digest
	ImageID         string // config digest
	OSName          string
	Size            int64
	ImageCreateTime time.Time
	Layers          []ImageLayer
	ScanStatus      string
	ScanError       string
	ScanTime        time.Time // required
	Viruses         []ImageVirus
}

// ScanTaskKind names the workflow a scan task belongs to.
type ScanTaskKind string

const (
	TaskRegistryImage  ScanTaskKind = "registry_image"
	TaskContainerVirus ScanTaskKind = "container_virus"
	TaskHostMalware    ScanTaskKind = "host_malware"
)

// Scan task and target states.
const (
	TaskPending  = "PENDING"
	TaskRunning  = "SCANNING"
	TaskFinished = "FINISHED"
	TaskStopped  = "STOPPED"
	TaskFailed   = "FAILED"
	TaskTimeout  = "TIMEOUT"
)

// TaskDone reports whether a task or target status is final.
func TaskDone(status string) bool {
	switch status {
	case TaskFinished, TaskStopped, TaskFailed, TaskTimeout:
		return true
	}
	return false
}

// ScanTask is a persisted scan over several targets.
type ScanTask struct {
	ID          int64
	AccountID   int64
	Kind        ScanTaskKind
	Status      string
	Params      []byte // JSON of the creating request, opaque to the store
	TimeoutSecs int64
	TargetTotal int64 // read only: maintained from the targets
	TargetDone  int64 // read only: targets in a final state
	RiskCount   int64 // read only: sum of the targets' RiskCount
	Error       string
	Owner       string    // the server instance running it; "" when none
	LeaseUntil  time.Time // the owner's claim expires then
	CreatedAt   time.Time
	StartedAt   time.Time
	FinishedAt  time.Time
}

// ScanTarget is one image (host, container) of a task.
type ScanTarget struct {
	TaskID     int64
	Kind       string // "image", "host", "container"
	TargetID   string // image id (decimal), host UUID or container id
	Status     string
	Progress   int64 // 0..100
	RiskCount  int64
	Error      string
	StartedAt  time.Time
	FinishedAt time.Time
}

// ScanTasks persist scan tasks so a restart resumes them and several servers
// share them.
type ScanTasks interface {
	// CreateScanTask stores t (status PENDING unless set) with its targets.
	CreateScanTask(ctx context.Context, accountID int64, t ScanTask, targets []ScanTarget) (ScanTask, error)
	GetScanTask(ctx context.Context, accountID, id int64) (ScanTask, error)
	// LatestScanTask returns the account's newest task of the kind.
	LatestScanTask(ctx context.Context, accountID int64, kind ScanTaskKind) (ScanTask, error)
	// ListScanTargets returns the task's targets in insertion order.
	ListScanTargets(ctx context.Context, accountID, taskID int64) ([]ScanTarget, error)
	// UpdateScanTarget stores the target's Status, Progress, RiskCount, Error
	// and times, and refreshes the task's TargetDone and RiskCount.
	UpdateScanTarget(ctx context.Context, accountID int64, t ScanTarget) error
	// SetScanTaskStatus moves the task to status: StartedAt is set when it
	// first runs, FinishedAt when the status is final; a final status also
	// moves every target not yet final to the same status and releases the
	// claim. A task already final is left as is (ErrConflict).
	SetScanTaskStatus(ctx context.Context, accountID, id int64, status, errMsg string) error
	// ClaimScanTask atomically hands one task of the kind, across accounts,
	// to owner until now+lease: a PENDING one, or a running one whose
	// previous owner's lease has expired (a crashed or restarted server).
	// ok is false when none is available.
	ClaimScanTask(ctx context.Context, kind ScanTaskKind, owner string, lease time.Duration) (t ScanTask, ok bool, err error)
	// RenewScanTask extends owner's claim; ErrConflict when owner no longer
	// holds it (it expired and another server took the task, or it is final).
	RenewScanTask(ctx context.Context, taskID int64, owner string, lease time.Duration) error
}

// LayerScan is the cached result of scanning one layer with one engine and
// rule-set version. Layers are content-addressed and shared between images
// and accounts, so the cache is global; findings are only ever shown through
// an account's own image.
type LayerScan struct {
	LayerDigest    string
	EngineVersion  string
	RulesetVersion string
	ScannedAt      time.Time
	FileCount      int64
	BytesScanned   int64
	Findings       []byte // JSON, opaque to the store
}

// LayerScans is the per-layer scan cache.
type LayerScans interface {
	// GetLayerScan returns the cached scan or ErrNotFound.
	GetLayerScan(ctx context.Context, layerDigest, engineVersion, rulesetVersion string) (LayerScan, error)
	// PutLayerScan creates or replaces the entry.
	PutLayerScan(ctx context.Context, ls LayerScan) error
}

// Export job states, as DescribeExportJobResult reports them.
const (
	ExportPending = "PENDING"
	ExportRunning = "RUNNING"
	ExportSuccess = "SUCCESS"
	ExportFailure = "FAILURE"
)

// ExportJob is an asynchronous export; the finished file is kept in the
// store so any server of a cluster can serve the download.
type ExportJob struct {
	ID          string // JobId / TaskId, random and unguessable
	AccountID   int64
	Kind        string
	Status      string
	Progress    float64 // 0..100
	Params      []byte  // JSON, opaque to the store
	FileName    string
	ContentType string
	Content     []byte
	FailureMsg  string
	CreatedAt   time.Time
	FinishedAt  time.Time
	ExpiresAt   time.Time
}

// ExportJobs persist export jobs.
type ExportJobs interface {
	CreateExportJob(ctx context.Context, accountID int64, j ExportJob) (ExportJob, error)
	// GetExportJob returns the job with its content.
	GetExportJob(ctx context.Context, accountID int64, id string) (ExportJob, error)
	// UpdateExportJob stores Status, Progress, FileName, ContentType,
	// Content, FailureMsg, FinishedAt and ExpiresAt of job j.ID.
	UpdateExportJob(ctx context.Context, accountID int64, j ExportJob) error
	// DeleteExpiredExportJobs removes, across accounts, the jobs whose
	// ExpiresAt is before now, and returns how many.
	DeleteExpiredExportJobs(ctx context.Context, now time.Time) (int64, error)
}
