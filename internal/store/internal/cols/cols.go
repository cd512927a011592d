// Package cols maps the wide domain types to table columns once, for every
// backend: each field is declared with its column name and an accessor, so
// an INSERT's column list, its arguments and a SELECT's scan targets cannot
// drift apart. A backend supplies a Codec for the types its driver stores
// differently (times, JSON lists).
package cols

import (
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/internal/store"
	"github.com/vigil-sec/vigil/internal/store/internal/prep"
)

// Codec converts the values whose representation depends on the backend.
type Codec struct {
	// Time is the argument for a time column; the zero time must become NULL.
	Time func(time.Time) any
	// TimeDest is a scan target that stores the column (NULL: zero) in UTC.
	TimeDest func(*time.Time) any
}

// Field is one column of a T.
type Field[T any] struct {
	Col  string
	val  func(*T, Codec) any
	dest func(*T, Codec) any
}

// Plain is a column the driver handles as is (strings, integers, bools, blobs).
func Plain[T, F any](col string, p func(*T) *F) Field[T] {
	return Field[T]{
		Col:  col,
		val:  func(t *T, _ Codec) any { return *p(t) },
		dest: func(t *T, _ Codec) any { return p(t) },
	}
}

// Time is a nullable time column.
func Time[T any](col string, p func(*T) *time.Time) Field[T] {
	return Field[T]{
		Col:  col,
		val:  func(t *T, c Codec) any { return c.Time(*p(t)) },
		dest: func(t *T, c Codec) any { return c.TimeDest(p(t)) },
	}
}

// List is a list of strings kept as JSON text.
func List[T any](col string, p func(*T) *[]string) Field[T] {
	return Field[T]{
		Col:  col,
		val:  func(t *T, _ Codec) any { return prep.JSONList(*p(t)) },
		dest: func(t *T, _ Codec) any { return &jsonList{p(t)} },
	}
}

// Names returns the column names, qualified with prefix ("e." or "").
func Names[T any](fs []Field[T], prefix string) string {
	var b strings.Builder
	for i, f := range fs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(prefix)
		b.WriteString(f.Col)
	}
	return b.String()
}

// Values returns the arguments for the fields of t.
func Values[T any](fs []Field[T], c Codec, t *T) []any {
	out := make([]any, len(fs))
	for i, f := range fs {
		out[i] = f.val(t, c)
	}
	return out
}

// Dests returns scan targets for the fields of t.
func Dests[T any](fs []Field[T], c Codec, t *T) []any {
	out := make([]any, len(fs))
	for i, f := range fs {
		out[i] = f.dest(t, c)
	}
	return out
}

// jsonList scans a JSON list column into a *[]string.
type jsonList struct{ p *[]string }

func (d *jsonList) Scan(src any) error {
	var s string
	switch v := src.(type) {
	case nil:
		*d.p = nil
		return nil
	case string:
		s = v
	case []byte:
		s = string(v)
	default:
		return fmt.Errorf("cols: cannot scan %T into a JSON list", src)
	}
	l, err := prep.ParseJSONList(s)
	if err != nil {
		return err
	}
	*d.p = l
	return nil
}

var _ sql.Scanner = (*jsonList)(nil)

// Host's columns besides id, account_id and uuid.
var Host = []Field[store.Host]{
	Plain("quuid", func(h *store.Host) *string { return &h.QUUID }),
	Plain("host_name", func(h *store.Host) *string { return &h.Name }),
	Plain("private_ip", func(h *store.Host) *string { return &h.PrivateIP }),
	Plain("public_ip", func(h *store.Host) *string { return &h.PublicIP }),
	Plain("network_type", func(h *store.Host) *int { return &h.NetworkType }),
	Plain("network_name", func(h *store.Host) *string { return &h.NetworkName }),
	Plain("instance_id", func(h *store.Host) *string { return &h.InstanceID }),
	Plain("os", func(h *store.Host) *string { return &h.OS }),
	Plain("kernel", func(h *store.Host) *string { return &h.Kernel }),
	Plain("agent_version", func(h *store.Host) *string { return &h.AgentVersion }),
	Plain("machine_type", func(h *store.Host) *string { return &h.MachineType }),
	Plain("region", func(h *store.Host) *string { return &h.Region }),
	Plain("online", func(h *store.Host) *bool { return &h.Online }),
	Time("last_seen", func(h *store.Host) *time.Time { return &h.LastSeen }),
}

// HostRead is every column of a host row, for reads.
var HostRead = append([]Field[store.Host]{
	Plain("id", func(h *store.Host) *int64 { return &h.ID }),
	Plain("account_id", func(h *store.Host) *int64 { return &h.AccountID }),
	Plain("uuid", func(h *store.Host) *string { return &h.UUID }),
	Time("created_at", func(h *store.Host) *time.Time { return &h.CreatedAt }),
	Time("updated_at", func(h *store.Host) *time.Time { return &h.UpdatedAt }),
}, Host...)

// Threat's columns besides id and name.
var Threat = []Field[store.Threat]{
	List("tags", func(t *store.Threat) *[]string { return &t.Tags }),
	Plain("desc_zh", func(t *store.Threat) *string { return &t.Desc.ZH }),
	Plain("desc_en", func(t *store.Threat) *string { return &t.Desc.EN }),
	Plain("solution_zh", func(t *store.Threat) *string { return &t.Solution.ZH }),
	Plain("solution_en", func(t *store.Threat) *string { return &t.Solution.EN }),
	Plain("reference_link", func(t *store.Threat) *string { return &t.ReferenceLink }),
	Time("updated_at", func(t *store.Threat) *time.Time { return &t.UpdatedAt }),
}

// ThreatRead is every column of a threat row but id.
var ThreatRead = append([]Field[store.Threat]{
	Plain("name", func(t *store.Threat) *string { return &t.Name }),
}, Threat...)

// RiskProcessEvent's columns besides id, account_id, host_id and threat_id.
var RiskProcessEvent = []Field[store.RiskProcessEvent]{
	Plain("pid", func(e *store.RiskProcessEvent) *int64 { return &e.PID }),
	Plain("ppid", func(e *store.RiskProcessEvent) *int64 { return &e.PPID }),
	Time("process_start_time", func(e *store.RiskProcessEvent) *time.Time { return &e.ProcessStartTime }),
	Plain("exe_path", func(e *store.RiskProcessEvent) *string { return &e.ExePath }),
	Plain("cmdline", func(e *store.RiskProcessEvent) *string { return &e.CmdLine }),
	Plain("exe_md5", func(e *store.RiskProcessEvent) *string { return &e.ExeMD5 }),
	Plain("exe_sha256", func(e *store.RiskProcessEvent) *string { return &e.ExeSHA256 }),
	Plain("user_name", func(e *store.RiskProcessEvent) *string { return &e.User }),
	Plain("group_name", func(e *store.RiskProcessEvent) *string { return &e.Group }),
	Plain("container_id", func(e *store.RiskProcessEvent) *string { return &e.ContainerID }),
	Plain("rule_name", func(e *store.RiskProcessEvent) *string { return &e.RuleName }),
	List("check_platform", func(e *store.RiskProcessEvent) *[]string { return &e.CheckPlatform }),
	Plain("handle_status", func(e *store.RiskProcessEvent) *store.HandleStatus { return &e.HandleStatus }),
	Plain("first_detection_method", func(e *store.RiskProcessEvent) *int { return &e.FirstDetectionMethod }),
	Time("first_detect_time", func(e *store.RiskProcessEvent) *time.Time { return &e.FirstDetectTime }),
	Time("detect_time", func(e *store.RiskProcessEvent) *time.Time { return &e.DetectTime }),
	Time("status_time", func(e *store.RiskProcessEvent) *time.Time { return &e.StatusTime }),
}

// RiskProcessEventRead adds the id and account.
var RiskProcessEventRead = append([]Field[store.RiskProcessEvent]{
	Plain("id", func(e *store.RiskProcessEvent) *int64 { return &e.ID }),
	Plain("account_id", func(e *store.RiskProcessEvent) *int64 { return &e.AccountID }),
}, RiskProcessEvent...)

// VirusEventUpdated are the VirusEvent columns a repeat detection refreshes.
var VirusEventUpdated = []Field[store.VirusEvent]{
	Plain("container_name", func(e *store.VirusEvent) *string { return &e.ContainerName }),
	Plain("container_status", func(e *store.VirusEvent) *string { return &e.ContainerStatus }),
	Plain("container_net_status", func(e *store.VirusEvent) *string { return &e.ContainerNetStatus }),
	Plain("container_net_sub_status", func(e *store.VirusEvent) *string { return &e.ContainerNetSubStatus }),
	Plain("container_isolate_operation_src", func(e *store.VirusEvent) *string { return &e.ContainerIsolateOperationSrc }),
	Plain("image_id", func(e *store.VirusEvent) *string { return &e.ImageID }),
	Plain("image_name", func(e *store.VirusEvent) *string { return &e.ImageName }),
	Plain("pod_name", func(e *store.VirusEvent) *string { return &e.PodName }),
	Plain("pod_ip", func(e *store.VirusEvent) *string { return &e.PodIP }),
	Plain("pod_status", func(e *store.VirusEvent) *string { return &e.PodStatus }),
	Plain("namespace", func(e *store.VirusEvent) *string { return &e.Namespace }),
	Plain("workload_type", func(e *store.VirusEvent) *string { return &e.WorkloadType }),
	Plain("cluster_id", func(e *store.VirusEvent) *string { return &e.ClusterID }),
	Plain("cluster_name", func(e *store.VirusEvent) *string { return &e.ClusterName }),
	Plain("node_id", func(e *store.VirusEvent) *string { return &e.NodeID }),
	Plain("node_name", func(e *store.VirusEvent) *string { return &e.NodeName }),
	Plain("node_unique_id", func(e *store.VirusEvent) *string { return &e.NodeUniqueID }),
	Plain("node_type", func(e *store.VirusEvent) *string { return &e.NodeType }),
	Plain("node_subnet_id", func(e *store.VirusEvent) *string { return &e.NodeSubnetID }),
	Plain("node_subnet_name", func(e *store.VirusEvent) *string { return &e.NodeSubnetName }),
	Plain("node_subnet_cidr", func(e *store.VirusEvent) *string { return &e.NodeSubnetCIDR }),
	Plain("file_name", func(e *store.VirusEvent) *string { return &e.FileName }),
	Plain("file_size", func(e *store.VirusEvent) *int64 { return &e.FileSize }),
	Time("file_access_time", func(e *store.VirusEvent) *time.Time { return &e.FileAccessTime }),
	Time("file_modify_time", func(e *store.VirusEvent) *time.Time { return &e.FileModifyTime }),
	Plain("risk_level", func(e *store.VirusEvent) *string { return &e.RiskLevel }),
	List("check_platform", func(e *store.VirusEvent) *[]string { return &e.CheckPlatform }),
	Plain("source_type", func(e *store.VirusEvent) *int { return &e.SourceType }),
	Plain("event_type", func(e *store.VirusEvent) *string { return &e.EventType }),
	Plain("task_id", func(e *store.VirusEvent) *int64 { return &e.TaskID }),
	Plain("isolate_mode", func(e *store.VirusEvent) *string { return &e.IsolateMode }),
	Plain("process_pid", func(e *store.VirusEvent) *int64 { return &e.Process.PID }),
	Plain("process_name", func(e *store.VirusEvent) *string { return &e.Process.Name }),
	Plain("process_path", func(e *store.VirusEvent) *string { return &e.Process.Path }),
	Plain("process_md5", func(e *store.VirusEvent) *string { return &e.Process.MD5 }),
	Plain("process_argv", func(e *store.VirusEvent) *string { return &e.Process.Argv }),
	Plain("process_chain", func(e *store.VirusEvent) *string { return &e.Process.Chain }),
	Plain("process_user", func(e *store.VirusEvent) *string { return &e.Process.User }),
	Plain("process_group", func(e *store.VirusEvent) *string { return &e.Process.Group }),
	Plain("process_file_authority", func(e *store.VirusEvent) *string { return &e.Process.FileAuthority }),
	Plain("parent_path", func(e *store.VirusEvent) *string { return &e.Parent.Path }),
	Plain("parent_argv", func(e *store.VirusEvent) *string { return &e.Parent.Argv }),
	Plain("parent_user", func(e *store.VirusEvent) *string { return &e.Parent.User }),
	Plain("parent_group", func(e *store.VirusEvent) *string { return &e.Parent.Group }),
	Plain("ancestor_path", func(e *store.VirusEvent) *string { return &e.Ancestor.Path }),
	Plain("ancestor_argv", func(e *store.VirusEvent) *string { return &e.Ancestor.Argv }),
	Plain("ancestor_user", func(e *store.VirusEvent) *string { return &e.Ancestor.User }),
	Plain("ancestor_group", func(e *store.VirusEvent) *string { return &e.Ancestor.Group }),
}

// VirusEventKept are the columns set on first insert and kept by repeats
// (create_time and modify_time are merged with min/max).
var VirusEventKept = []Field[store.VirusEvent]{
	Plain("container_id", func(e *store.VirusEvent) *string { return &e.ContainerID }),
	Plain("file_path", func(e *store.VirusEvent) *string { return &e.FilePath }),
	Plain("file_md5", func(e *store.VirusEvent) *string { return &e.FileMD5 }),
	Plain("status", func(e *store.VirusEvent) *string { return &e.Status }),
	Plain("sub_status", func(e *store.VirusEvent) *string { return &e.SubStatus }),
	Plain("mark", func(e *store.VirusEvent) *string { return &e.Mark }),
	Time("create_time", func(e *store.VirusEvent) *time.Time { return &e.CreateTime }),
	Time("modify_time", func(e *store.VirusEvent) *time.Time { return &e.ModifyTime }),
	Time("operation_time", func(e *store.VirusEvent) *time.Time { return &e.OperationTime }),
}

// VirusEvent is every insertable column (besides account, host and threat ids).
var VirusEvent = append(append([]Field[store.VirusEvent]{}, VirusEventKept...), VirusEventUpdated...)

// VirusEventRead adds the id and account.
var VirusEventRead = append([]Field[store.VirusEvent]{
	Plain("id", func(e *store.VirusEvent) *int64 { return &e.ID }),
	Plain("account_id", func(e *store.VirusEvent) *int64 { return &e.AccountID }),
}, VirusEvent...)

// Registry's writable columns besides account_id.
var Registry = []Field[store.Registry]{
	Plain("name", func(r *store.Registry) *string { return &r.Name }),
	Plain("url", func(r *store.Registry) *string { return &r.URL }),
	Plain("registry_type", func(r *store.Registry) *string { return &r.Type }),
	Plain("username", func(r *store.Registry) *string { return &r.Username }),
	Plain("password_enc", func(r *store.Registry) *[]byte { return &r.PasswordEnc }),
	Plain("net_type", func(r *store.Registry) *string { return &r.NetType }),
	Plain("registry_version", func(r *store.Registry) *string { return &r.Version }),
	Plain("registry_region", func(r *store.Registry) *string { return &r.Region }),
	Plain("instance_id", func(r *store.Registry) *string { return &r.InstanceID }),
	Plain("insecure", func(r *store.Registry) *bool { return &r.Insecure }),
	Plain("speed_limit", func(r *store.Registry) *int64 { return &r.SpeedLimit }),
	Plain("sync_mode", func(r *store.Registry) *int { return &r.SyncMode }),
	Plain("need_scan", func(r *store.Registry) *bool { return &r.NeedScan }),
	Plain("webhook_url", func(r *store.Registry) *string { return &r.WebhookURL }),
	Plain("webhook_token", func(r *store.Registry) *string { return &r.WebhookToken }),
	List("conn_detect_hosts", func(r *store.Registry) *[]string { return &r.ConnDetectHosts }),
	Plain("connect_msg", func(r *store.Registry) *string { return &r.ConnectMsg }),
	Plain("sync_status", func(r *store.Registry) *string { return &r.SyncStatus }),
	Plain("sync_fail_reason", func(r *store.Registry) *string { return &r.SyncFailReason }),
	Time("latest_sync_time", func(r *store.Registry) *time.Time { return &r.LatestSyncTime }),
	Time("created_at", func(r *store.Registry) *time.Time { return &r.CreatedAt }),
	Time("updated_at", func(r *store.Registry) *time.Time { return &r.UpdatedAt }),
}

// RegistryRead adds the id and account.
var RegistryRead = append([]Field[store.Registry]{
	Plain("id", func(r *store.Registry) *int64 { return &r.ID }),
	Plain("account_id", func(r *store.Registry) *int64 { return &r.AccountID }),
}, Registry...)

// RegistryImageKey is the natural key of an image (with account_id).
var RegistryImageKey = []Field[store.RegistryImage]{
	Plain("registry_id", func(i *store.RegistryImage) *int64 { return &i.RegistryID }),
	Plain("namespace", func(i *store.RegistryImage) *string { return &i.Namespace }),
	Plain("name", func(i *store.RegistryImage) *string { return &i.Name }),
	Plain("tag", func(i *store.RegistryImage) *string { return &i.Tag }),
}

// RegistryImageUpdated are the columns an upsert overwrites.
var RegistryImageUpdated = []Field[store.RegistryImage]{
	Plain("digest", func(i *store.RegistryImage) *string { return &i.Digest }),
	Plain("image_id", func(i *store.RegistryImage) *string { return &i.ImageID }),
	Plain("os_name", func(i *store.RegistryImage) *string { return &i.OSName }),
	Plain("size", func(i *store.RegistryImage) *int64 { return &i.Size }),
	Time("image_create_time", func(i *store.RegistryImage) *time.Time { return &i.ImageCreateTime }),
	Plain("is_latest", func(i *store.RegistryImage) *bool { return &i.IsLatest }),
	Plain("scan_status", func(i *store.RegistryImage) *string { return &i.ScanStatus }),
	Time("scan_time", func(i *store.RegistryImage) *time.Time { return &i.ScanTime }),
	Plain("scan_error", func(i *store.RegistryImage) *string { return &i.ScanError }),
	Plain("virus_count", func(i *store.RegistryImage) *int64 { return &i.VirusCount }),
	Time("updated_at", func(i *store.RegistryImage) *time.Time { return &i.UpdatedAt }),
}

// RegistryImage is every insertable column besides account_id.
var RegistryImage = append(append(append([]Field[store.RegistryImage]{}, RegistryImageKey...), RegistryImageUpdated...),
	Time("created_at", func(i *store.RegistryImage) *time.Time { return &i.CreatedAt }))

// RegistryImageRead adds the id and account.
var RegistryImageRead = append([]Field[store.RegistryImage]{
	Plain("id", func(i *store.RegistryImage) *int64 { return &i.ID }),
	Plain("account_id", func(i *store.RegistryImage) *int64 { return &i.AccountID }),
}, RegistryImage...)

// ImageVirusUpdated are the columns a rescan overwrites (with
// latest_scan_time; first_scan_time is kept).
var ImageVirusUpdated = []Field[store.ImageVirus]{
	Plain("risk_level", func(v *store.ImageVirus) *string { return &v.RiskLevel }),
	Plain("category", func(v *store.ImageVirus) *string { return &v.Category }),
	Plain("file_type", func(v *store.ImageVirus) *string { return &v.FileType }),
	Plain("file_name", func(v *store.ImageVirus) *string { return &v.FileName }),
	Plain("file_md5", func(v *store.ImageVirus) *string { return &v.FileMD5 }),
	Plain("file_size", func(v *store.ImageVirus) *int64 { return &v.FileSize }),
	Plain("layer_digest", func(v *store.ImageVirus) *string { return &v.LayerDigest }),
	Time("latest_scan_time", func(v *store.ImageVirus) *time.Time { return &v.LatestScanTime }),
}

// ImageVirus is every insertable column besides account_id, image_id and
// threat_id.
var ImageVirus = append([]Field[store.ImageVirus]{
	Plain("path", func(v *store.ImageVirus) *string { return &v.Path }),
	Time("first_scan_time", func(v *store.ImageVirus) *time.Time { return &v.FirstScanTime }),
}, ImageVirusUpdated...)

// ImageVirusRead adds the ids.
var ImageVirusRead = append([]Field[store.ImageVirus]{
	Plain("id", func(v *store.ImageVirus) *int64 { return &v.ID }),
	Plain("image_id", func(v *store.ImageVirus) *int64 { return &v.ImageID }),
}, ImageVirus...)
