package agentapi

import (
	"context"
	"errors"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/internal/agentapi/wire"
	"github.com/vigil-sec/vigil/internal/store"
)

// The container-file endpoints (tcss runtime trojan files, issue 5):
//
//	POST /agent/v1/virus-events   {events, dropped} → {accepted, event_ids, rejected, dropped_ack}
//	POST /agent/v1/scan-progress  {task_id, progress, done, containers} → {}
//
// Like risk events, virus events are written to the authenticated host only
// and are idempotent: the store keys them by (host, container, path, md5).
// What the events mean to tcss (whitelists, auto-isolation, scan tasks) is
// not this package's business: the server plugs it in with WithVirusHooks.

// VirusHooks connect the container-file endpoints to the services. Each may
// be nil.
type VirusHooks struct {
	// Suppressed reports whether a trojan file (md5, found in the image
	// imageID) is whitelisted, counting the hit: suppressed files are
	// accepted and not stored.
	Suppressed func(ctx context.Context, accountID int64, md5, imageID string) (bool, error)
	// Stored is called with the events just stored and their ids (e.g. to
	// isolate them automatically). It runs in the request.
	Stored func(ctx context.Context, accountID int64, events []store.VirusEvent, ids []int64)
	// ScanProgress records a host's report on a scan task. An error wrapping
	// store.ErrNotFound answers 404 (the agent stops reporting on the task).
	ScanProgress func(ctx context.Context, accountID int64, hostUUID string, p wire.ScanProgress) error
}

// WithVirusHooks sets the container-file hooks (default: none: every
// event is stored, scan reports are refused).
func WithVirusHooks(v VirusHooks) Option { return func(o *options) { o.virus = v } }

// virusEventType is tcss's EventType of a runtime trojan file.
const virusEventType = "恶意文件告警"

func (h *Handler) virusEvents(w http.ResponseWriter, r *http.Request, p principal) {
	var req wire.VirusEventsRequest
	if !decode(w, r, h.opts.maxEventsBody, &req) {
		return
	}
	if len(req.Events) > h.opts.maxEvents {
		writeError(w, http.StatusRequestEntityTooLarge, "too_large", "%d events in one upload, at most %d", len(req.Events), h.opts.maxEvents)
		return
	}
	ctx, now := r.Context(), h.opts.now()
	h.received.Add(float64(len(req.Events)))
	resp := wire.EventsResponse{EventIDs: make([]int64, len(req.Events))}
	var kept []store.VirusEvent
	var index []int
	texts := make([]wire.Event, 0, len(req.Events)) // for the threat catalog
	for i, e := range req.Events {
		ev, reason := virusToStore(e, p.hostUUID, now)
		if reason != "" {
			resp.Rejected = append(resp.Rejected, wire.Rejected{Index: i, Reason: reason})
			continue
		}
		texts = append(texts, wire.Event{VirusName: e.VirusName, Tags: e.Tags, DescZH: e.DescZH, DescEN: e.DescEN,
			SolutionZH: e.SolutionZH, SolutionEN: e.SolutionEN, Reference: e.Reference})
		if s := h.opts.virus.Suppressed; s != nil {
			sup, err := s(ctx, p.accountID, ev.FileMD5, ev.ImageID)
			if err != nil {
				h.internal(w, r, "whitelist", err)
				return
			}
			if sup {
				continue
			}
		}
		kept = append(kept, ev)
		index = append(index, i)
	}
	h.updateCatalog(ctx, texts, nil)
	if len(kept) > 0 {
		ids, err := h.st.InsertVirusEvents(ctx, p.accountID, kept)
		switch {
		case errors.Is(err, store.ErrInvalid):
			// Find the culprits one by one rather than refuse the batch forever.
			var okEvs []store.VirusEvent
			var okIDs []int64
			for i, ev := range kept {
				id, err := h.st.InsertVirusEvents(ctx, p.accountID, []store.VirusEvent{ev})
				switch {
				case errors.Is(err, store.ErrInvalid):
					resp.Rejected = append(resp.Rejected, wire.Rejected{Index: index[i], Reason: err.Error()})
				case err != nil:
					h.internal(w, r, "storing virus events", err)
					return
				default:
					resp.EventIDs[index[i]] = id[0]
					okEvs, okIDs = append(okEvs, ev), append(okIDs, id[0])
				}
			}
			kept, ids = okEvs, okIDs
		case errors.Is(err, store.ErrNotFound):
			h.forget(p.credentialID)
			writeError(w, http.StatusUnauthorized, "unauthorized", "host %s no longer exists (enroll again)", p.hostUUID)
			return
		case err != nil:
			h.internal(w, r, "storing virus events", err)
			return
		default:
			for i, id := range ids {
				resp.EventIDs[index[i]] = id
			}
		}
		if h.opts.virus.Stored != nil && len(kept) > 0 {
			h.opts.virus.Stored(ctx, p.accountID, kept, ids)
		}
	}
	resp.Accepted = len(req.Events) - len(resp.Rejected)
	resp.DroppedAck = h.recordDropped(ctx, p, req.Dropped)
	if len(resp.Rejected) > 0 {
		h.opts.logger.WarnContext(ctx, "agent virus events rejected", "host_uuid", p.hostUUID, "rejected", len(resp.Rejected), "first", resp.Rejected[0].Reason)
	}
	writeJSON(w, http.StatusOK, resp)
}

func virusToStore(e wire.VirusEvent, hostUUID string, now time.Time) (store.VirusEvent, string) {
	md5 := strings.ToLower(e.FileMD5)
	switch {
	case e.VirusName == "" || len(e.VirusName) > 256:
		return store.VirusEvent{}, "virus_name is empty or longer than 256 bytes"
	case e.FilePath == "" || !strings.HasPrefix(e.FilePath, "/"):
		return store.VirusEvent{}, "file_path must be an absolute path"
	case md5 != "" && !store.IsMD5(md5):
		return store.VirusEvent{}, "file_md5 is not an MD5"
	case e.SourceType < 0 || e.SourceType > 2:
		return store.VirusEvent{}, "source_type must be 0, 1 or 2"
	case len(e.ContainerID) > 256:
		return store.VirusEvent{}, "container_id longer than 256 bytes"
	}
	detect := e.DetectTime
	if detect.IsZero() || detect.After(now.Add(time.Hour)) {
		detect = now
	}
	rel := func(p wire.VirusProcess) store.RelatedProcess {
		return store.RelatedProcess{Path: clip(p.Path), Argv: clip(p.Argv), User: p.User, Group: p.Group}
	}
	status := e.ContainerStatus
	if status == "" {
		status = "RUNNING"
	}
	return store.VirusEvent{
		HostUUID:        hostUUID,
		ContainerID:     e.ContainerID,
		ContainerName:   e.ContainerName,
		ContainerStatus: status,
		ImageID:         e.ImageID,
		ImageName:       e.ImageName,
		PodName:         e.PodName,
		PodIP:           e.PodIP,
		Namespace:       e.Namespace,
		WorkloadType:    e.WorkloadType,
		ClusterID:       e.ClusterID,
		ClusterName:     e.ClusterName,
		NodeID:          e.NodeID,
		NodeName:        e.NodeName,
		NodeUniqueID:    e.NodeID,
		NodeType:        "NORMAL",
		FilePath:        clip(e.FilePath),
		FileName:        path.Base(e.FilePath),
		FileMD5:         md5,
		FileSize:        e.FileSize,
		FileAccessTime:  e.FileAccessTime,
		FileModifyTime:  e.FileModifyTime,
		VirusName:       e.VirusName,
		RiskLevel:       e.RiskLevel,
		CheckPlatform:   e.CheckPlatform,
		SourceType:      e.SourceType,
		EventType:       virusEventType,
		TaskID:          e.TaskID,
		Process: store.ProcessInfo{
			PID: e.Process.PID, Name: e.Process.Name, Path: clip(e.Process.Path), MD5: e.Process.MD5,
			Argv: clip(e.Process.Argv), Chain: clip(e.Process.Chain), User: e.Process.User, Group: e.Process.Group,
			FileAuthority: e.FileAuthority,
		},
		Parent:     rel(e.Parent),
		Ancestor:   rel(e.Ancestor),
		Status:     store.VirusStatusNone,
		CreateTime: detect,
		ModifyTime: detect,
	}, ""
}

func (h *Handler) scanProgress(w http.ResponseWriter, r *http.Request, p principal) {
	var req wire.ScanProgress
	if !decode(w, r, 1<<20, &req) {
		return
	}
	if req.TaskID <= 0 {
		writeError(w, http.StatusBadRequest, "invalid", "task_id must be positive")
		return
	}
	f := h.opts.virus.ScanProgress
	if f == nil {
		writeError(w, http.StatusNotFound, "not_found", "this server takes no scan reports")
		return
	}
	switch err := f(r.Context(), p.accountID, p.hostUUID, req); {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", "%v", err)
	case err != nil:
		h.internal(w, r, "scan progress", err)
	default:
		writeJSON(w, http.StatusOK, struct{}{})
	}
}
