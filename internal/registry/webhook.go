package registry

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/internal/store"
)

// MaxWebhookBody bounds a notification body. A distribution envelope holds
// a few events per push; Harbor's one event. 1 MiB is far above either.
const MaxWebhookBody = 1 << 20

// WebhookPath is the route pattern of the push endpoint.
const WebhookPath = "POST /webhooks/registry/{registryId}"

// NewWebhookHandler returns the push-notification endpoint
// (POST /webhooks/registry/{registryId}). It accepts the distribution
// registry's notification envelope
// (application/vnd.docker.distribution.events.v1+json: events with action
// "push" and a tagged manifest target) and Harbor's PUSH_ARTIFACT webhook.
// The caller presents the registry's WebhookToken as "Authorization: Bearer
// <token>" or "Authorization: <token>" (what distribution's endpoint
// headers and Harbor's auth header send); a registry without a token, an
// unknown registry and a wrong token all answer 401 alike.
//
// Each pushed tag is recorded (UpsertRegistryImage with the pushed digest;
// a changed digest clears the previous scan state) and all of them are
// scanned by one registry-image scan task, whatever the registry's NeedScan:
// pointing a registry's notifications at vigil is itself the request to
// scan what is pushed. wake (may be nil) tells the scan runner.
func NewWebhookHandler(st store.Store, wake func(), logger *slog.Logger) http.Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if wake == nil {
		wake = func() {}
	}
	return &webhook{st: st, wake: wake, log: logger}
}

type webhook struct {
	st   store.Store
	wake func()
	log  *slog.Logger
}

// push is one pushed tag.
type push struct {
	repository, tag, digest string
}

// The two payload shapes, decoded together: one has "events", the other
// "type" and "event_data".
type webhookPayload struct {
	Events []struct {
		Action string `json:"action"`
		Target struct {
			MediaType  string `json:"mediaType"`
			Digest     string `json:"digest"`
			Repository string `json:"repository"`
			Tag        string `json:"tag"`
		} `json:"target"`
	} `json:"events"`
	Type      string `json:"type"`
	EventData *struct {
		Resources []struct {
			Digest string `json:"digest"`
			Tag    string `json:"tag"`
		} `json:"resources"`
		Repository struct {
			Name         string `json:"name"`
			Namespace    string `json:"namespace"`
			RepoFullName string `json:"repo_full_name"`
		} `json:"repository"`
	} `json:"event_data"`
}

func (p *webhookPayload) pushes() ([]push, error) {
	var out []push
	switch {
	case p.Events != nil:
		for _, e := range p.Events {
			t := e.Target
			// Blob pushes and manifests pushed by digest only (the children
			// of an index) are not images anyone pulls by tag.
			if e.Action != "push" || t.Tag == "" || t.Repository == "" || !manifestType(t.MediaType) {
				continue
			}
			out = append(out, push{t.Repository, t.Tag, t.Digest})
		}
	case p.EventData != nil:
		if p.Type != "PUSH_ARTIFACT" {
			return nil, nil
		}
		repo := p.EventData.Repository.RepoFullName
		if repo == "" && p.EventData.Repository.Name != "" {
			repo = Repository(p.EventData.Repository.Namespace, p.EventData.Repository.Name)
		}
		if repo == "" {
			return nil, errors.New("harbor event without a repository")
		}
		for _, r := range p.EventData.Resources {
			if r.Tag != "" {
				out = append(out, push{repo, r.Tag, r.Digest})
			}
		}
	default:
		return nil, errors.New("neither a registry notification envelope (events) nor a Harbor webhook (type, event_data)")
	}
	return out, nil
}

func manifestType(mt string) bool {
	if mt == "" {
		return true
	}
	return strings.Contains(mt, "manifest") || strings.Contains(mt, "image.index")
}

func (h *webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	reg, ok := h.authenticate(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="vigil registry webhook"`)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxWebhookBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			http.Error(w, fmt.Sprintf("body larger than %d bytes", MaxWebhookBody), http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "cannot read body", http.StatusBadRequest)
		return
	}
	var p webhookPayload
	if err := json.Unmarshal(body, &p); err != nil {
		http.Error(w, "malformed JSON: "+err.Error(), http.StatusBadRequest)
		return
	}
	pushes, err := p.pushes()
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	res, err := h.record(r.Context(), reg, pushes)
	if err != nil {
		h.log.ErrorContext(r.Context(), "registry webhook failed", "registry_id", reg.ID, "account", reg.AccountID, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h.log.InfoContext(r.Context(), "registry webhook", "registry_id", reg.ID, "account", reg.AccountID, "images", res.Images, "task", res.TaskID)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(res)
}

// dummyToken is compared against when the registry is unknown, so that an
// unknown registry costs the same as a wrong token.
const dummyToken = "vigil-no-such-registry-token-0000000000000000"

// authenticate finds the registry of the path and checks the presented token.
func (h *webhook) authenticate(r *http.Request) (store.Registry, bool) {
	idText := r.PathValue("registryId")
	if idText == "" {
		idText = r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
	}
	presented := r.Header.Get("Authorization")
	var reg store.Registry
	found := false
	if id, err := strconv.ParseInt(idText, 10, 64); err == nil && id > 0 {
		if got, err := h.st.GetRegistryForWebhook(r.Context(), id); err == nil {
			reg, found = got, true
		} else if !errors.Is(err, store.ErrNotFound) {
			h.log.ErrorContext(r.Context(), "registry webhook: lookup failed", "registry_id", id, "err", err)
		}
	}
	want := reg.WebhookToken
	if !found || want == "" {
		want = dummyToken
	}
	bare, _ := strings.CutPrefix(presented, "Bearer ")
	okBearer := subtle.ConstantTimeCompare([]byte(bare), []byte(want)) == 1
	okRaw := subtle.ConstantTimeCompare([]byte(presented), []byte(want)) == 1
	return reg, found && reg.WebhookToken != "" && presented != "" && (okBearer || okRaw)
}

// WebhookResult is the endpoint's answer.
type WebhookResult struct {
	Images   int     `json:"images"`           // pushed tags recorded
	ImageIDs []int64 `json:"imageIds"`         // their tcss image ids
	TaskID   int64   `json:"taskId,omitempty"` // the scan task created, if any
}

func (h *webhook) record(ctx context.Context, reg store.Registry, pushes []push) (WebhookResult, error) {
	res := WebhookResult{ImageIDs: []int64{}}
	seen := make(map[string]int)
	var uniq []push
	for _, p := range pushes { // the last event of a tag wins
		k := p.repository + ":" + p.tag
		if i, ok := seen[k]; ok {
			uniq[i] = p
			continue
		}
		seen[k] = len(uniq)
		uniq = append(uniq, p)
	}
	var targets []store.ScanTarget
	for _, p := range uniq {
		img, err := h.upsert(ctx, reg, p)
		if err != nil {
			return res, err
		}
		res.ImageIDs = append(res.ImageIDs, img.ID)
		targets = append(targets, store.ScanTarget{Kind: "image", TargetID: strconv.FormatInt(img.ID, 10)})
	}
	res.Images = len(res.ImageIDs)
	if len(targets) == 0 {
		return res, nil
	}
	task, err := h.st.CreateScanTask(ctx, reg.AccountID, store.ScanTask{
		Kind:   store.TaskRegistryImage,
		Params: []byte(`{"source":"webhook"}`),
	}, targets)
	if err != nil {
		return res, fmt.Errorf("create scan task: %w", err)
	}
	res.TaskID = task.ID
	h.wake()
	return res, nil
}

// upsert records one pushed tag and keeps one IsLatest image in its
// repository: the tag "latest" when the repository has it, else the tag
// pushed last (its creation time is unknown until scanned; the next full
// sync applies MarkLatest's rule).
func (h *webhook) upsert(ctx context.Context, reg store.Registry, p push) (store.RegistryImage, error) {
	ns, nm := SplitRepository(p.repository)
	img, err := h.st.FindRegistryImage(ctx, reg.AccountID, store.ImageRef{RegistryName: reg.Name, Namespace: ns, Name: nm, Tag: p.tag})
	switch {
	case err == nil && p.digest != "" && img.Digest == p.digest:
		return img, nil // the same content pushed again
	case err == nil:
		// New content under a known tag: what was learned about the old
		// content no longer holds.
		img.Digest, img.ImageID, img.OSName, img.Size = p.digest, "", "", 0
		img.ImageCreateTime, img.ScanTime = time.Time{}, time.Time{}
		img.ScanStatus, img.ScanError, img.VirusCount = "", "", 0
	case errors.Is(err, store.ErrNotFound):
		img = store.RegistryImage{AccountID: reg.AccountID, RegistryID: reg.ID, Namespace: ns, Name: nm, Tag: p.tag, Digest: p.digest}
	default:
		return img, fmt.Errorf("find image %s:%s: %w", p.repository, p.tag, err)
	}
	siblings, err := h.st.QueryRegistryImages(ctx, reg.AccountID, store.RegistryImageQuery{
		RegistryIDs: []int64{reg.ID},
		Namespaces:  store.TextFilter{Values: []string{ns}, Exact: true},
		Names:       store.TextFilter{Values: []string{nm}, Exact: true},
	})
	if err != nil {
		return img, fmt.Errorf("images of %s: %w", p.repository, err)
	}
	hasLatestTag := false
	for _, s := range siblings.Items {
		if s.Tag == "latest" && s.Namespace == ns && s.Name == nm {
			hasLatestTag = true
		}
	}
	becomesLatest := p.tag == "latest" || !hasLatestTag
	if becomesLatest {
		img.IsLatest = true
	}
	img.RegistryID = reg.ID
	stored, err := h.st.UpsertRegistryImage(ctx, reg.AccountID, img)
	if err != nil {
		return stored, fmt.Errorf("record image %s:%s: %w", p.repository, p.tag, err)
	}
	if becomesLatest {
		for _, s := range siblings.Items {
			if s.ID != stored.ID && s.IsLatest && s.Namespace == ns && s.Name == nm {
				s.IsLatest = false
				if _, err := h.st.UpsertRegistryImage(ctx, reg.AccountID, s); err != nil {
					return stored, fmt.Errorf("update image %d: %w", s.ID, err)
				}
			}
		}
	}
	return stored, nil
}
