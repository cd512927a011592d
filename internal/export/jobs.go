package export

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/vigil-sec/vigil/internal/store"
)

// Spec describes one export.
type Spec struct {
	Kind     string // what is exported, e.g. "tcss.DescribeAssetImageRegistryVirusListExport"
	FileName string // base name without extension; the download adds .xlsx/.csv
	Sheet    string // XLSX sheet name
	Header   []string
	Params   []byte // the request, for the record
	// Total, when known, is the number of rows Rows will produce; it drives
	// ExportProgress.
	Total int64
	// Rows produces the rows; ctx ends when the job is abandoned.
	Rows func(ctx context.Context, yield func(row []string) error) error
}

// Manager runs export jobs and serves their downloads.
type Manager struct {
	st     store.ExportJobs
	secret []byte
	o      options

	mu      sync.Mutex
	base    context.Context // the jobs' parent; cancelled when Run ends
	cancel  context.CancelFunc
	running sync.WaitGroup
}

// New returns a Manager signing download URLs with secret (at least 32
// bytes; servers sharing a store must share it).
func New(st store.ExportJobs, secret []byte, opts ...Option) (*Manager, error) {
	if len(secret) < 32 {
		return nil, errors.New("export: the URL signing secret must have at least 32 bytes")
	}
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	base, cancel := context.WithCancel(context.Background())
	return &Manager{st: st, secret: append([]byte(nil), secret...), o: o, base: base, cancel: cancel}, nil
}

// Start creates a job and produces its file in the background. It waits up
// to the synchronous wait (default 2 s) so that a small export is already
// SUCCESS (or FAILURE) in the returned job; a larger one is RUNNING and is
// followed with Get.
func (m *Manager) Start(ctx context.Context, accountID int64, s Spec) (store.ExportJob, error) {
	if s.Rows == nil {
		return store.ExportJob{}, errors.New("export: Spec.Rows is nil")
	}
	now := m.o.now()
	j, err := m.st.CreateExportJob(ctx, accountID, store.ExportJob{
		ID: uuid.NewString(), AccountID: accountID, Kind: s.Kind, Status: store.ExportPending,
		Params: s.Params, FileName: fileName(s.FileName, m.o.format), ContentType: m.o.format.ContentType(),
		CreatedAt: now, ExpiresAt: now.Add(m.o.retention),
	})
	if err != nil {
		return store.ExportJob{}, fmt.Errorf("create export job: %w", err)
	}
	m.mu.Lock()
	base := m.base
	m.running.Add(1)
	m.mu.Unlock()
	done := make(chan store.ExportJob, 1)
	go func(j store.ExportJob) {
		defer m.running.Done()
		done <- m.run(base, accountID, j, s)
	}(j)
	t := time.NewTimer(m.o.syncWait)
	defer t.Stop()
	select {
	case fin := <-done:
		return fin, nil
	case <-t.C:
	case <-ctx.Done():
	}
	j.Status = store.ExportRunning
	return j, nil
}

func fileName(base string, f Format) string {
	if base == "" {
		base = "export"
	}
	return base + "." + string(f)
}

// run produces the file and stores the outcome; it returns the final job.
func (m *Manager) run(base context.Context, accountID int64, j store.ExportJob, s Spec) store.ExportJob {
	ctx, cancel := context.WithTimeout(base, m.o.jobTimeout)
	defer cancel()
	log := m.o.logger.With("export", j.ID, "account", accountID, "kind", s.Kind)
	j.Status = store.ExportRunning
	if err := m.st.UpdateExportJob(ctx, accountID, j); err != nil {
		log.Warn("export job start", "err", err)
	}
	var (
		n        int64
		lastSave = m.o.now()
	)
	var buf bytes.Buffer
	err := Write(&buf, m.o.format, s.Sheet, s.Header, func(yield func([]string) error) error {
		return s.Rows(ctx, func(row []string) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			if int64(buf.Len()) > m.o.maxBytes {
				return fmt.Errorf("the export exceeds %d bytes; narrow it with filters", m.o.maxBytes)
			}
			n++
			if s.Total > 0 && m.o.now().Sub(lastSave) >= m.o.progressEvery {
				lastSave = m.o.now()
				j.Progress = min(float64(n)*100/float64(s.Total), 99)
				if err := m.st.UpdateExportJob(ctx, accountID, j); err != nil {
					log.Debug("export progress", "err", err)
				}
			}
			return yield(row)
		})
	})
	// Store the outcome even when the job's own context ended.
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer scancel()
	j.FinishedAt = m.o.now()
	if err != nil {
		j.Status, j.FailureMsg, j.Content = store.ExportFailure, failureMsg(err), nil
		log.Warn("export failed", "err", err)
	} else {
		j.Status, j.Progress, j.Content = store.ExportSuccess, 100, buf.Bytes()
		log.Info("export finished", "rows", n, "bytes", buf.Len())
	}
	if uerr := m.st.UpdateExportJob(sctx, accountID, j); uerr != nil {
		log.Warn("store export result", "err", uerr)
	}
	j.Content = nil
	return j
}

func failureMsg(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return "the export took too long"
	}
	if errors.Is(err, context.Canceled) {
		return "the export was interrupted (server shutdown)"
	}
	return err.Error()
}

// Get returns the account's job (without judging its content). A job still
// running past the job timeout belonged to a server that died: it is
// reported as FAILURE.
func (m *Manager) Get(ctx context.Context, accountID int64, id string) (store.ExportJob, error) {
	j, err := m.st.GetExportJob(ctx, accountID, id)
	if err != nil {
		return store.ExportJob{}, err
	}
	if (j.Status == store.ExportPending || j.Status == store.ExportRunning) && m.o.now().Sub(j.CreatedAt) > m.o.jobTimeout+time.Minute {
		j.Status, j.FailureMsg = store.ExportFailure, "the export was interrupted"
	}
	j.Content = nil
	return j, nil
}

// DownloadURL returns the signed download URL of the job, valid for the URL
// lifetime (default 1 h).
func (m *Manager) DownloadURL(accountID int64, jobID string) string {
	exp := m.o.now().Add(m.o.urlTTL).Unix()
	q := url.Values{}
	q.Set("a", strconv.FormatInt(accountID, 10))
	q.Set("expires", strconv.FormatInt(exp, 10))
	q.Set("sig", m.sign(accountID, jobID, exp))
	return strings.TrimRight(m.o.publicURL(), "/") + m.o.prefix + url.PathEscape(jobID) + "?" + q.Encode()
}

func (m *Manager) sign(accountID int64, jobID string, exp int64) string {
	mac := hmac.New(sha256.New, m.secret)
	fmt.Fprintf(mac, "vigil-export\x00%d\x00%s\x00%d", accountID, jobID, exp)
	return hex.EncodeToString(mac.Sum(nil))
}

// Handler serves GET {prefix}{jobId}?a=ACCOUNT&expires=UNIX&sig=HEX[&format=csv].
// A bad or expired signature is 403 with no detail: the URL is the only
// credential, and the answer must not tell a guesser what was wrong.
func (m *Manager) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		id, ok := strings.CutPrefix(r.URL.Path, m.o.prefix)
		q := r.URL.Query()
		acct, aerr := strconv.ParseInt(q.Get("a"), 10, 64)
		exp, eerr := strconv.ParseInt(q.Get("expires"), 10, 64)
		sig, serr := hex.DecodeString(q.Get("sig"))
		want, _ := hex.DecodeString(m.sign(acct, id, exp))
		if !ok || id == "" || strings.Contains(id, "/") || aerr != nil || eerr != nil || serr != nil ||
			!hmac.Equal(sig, want) || m.o.now().Unix() > exp {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		j, err := m.st.GetExportJob(r.Context(), acct, id)
		switch {
		case errors.Is(err, store.ErrNotFound):
			http.Error(w, "the export does not exist or has expired", http.StatusNotFound)
			return
		case err != nil:
			m.o.logger.Warn("export download", "export", id, "err", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		case j.Status == store.ExportFailure:
			http.Error(w, "the export failed: "+j.FailureMsg, http.StatusNotFound)
			return
		case j.Status != store.ExportSuccess:
			w.Header().Set("Retry-After", "2")
			http.Error(w, "the export is not finished yet", http.StatusConflict)
			return
		}
		body, name, ctype := j.Content, j.FileName, j.ContentType
		if f := q.Get("format"); f != "" {
			want, err := ParseFormat(f)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			if want == CSV && !strings.HasSuffix(name, ".csv") {
				var buf bytes.Buffer
				if err := XLSXToCSV(&buf, bytes.NewReader(body)); err != nil {
					m.o.logger.Warn("export to csv", "export", id, "err", err)
					http.Error(w, "internal error", http.StatusInternalServerError)
					return
				}
				body, ctype = buf.Bytes(), CSV.ContentType()
				name = strings.TrimSuffix(name, ".xlsx") + ".csv"
			} else if want == XLSX && !strings.HasSuffix(name, ".xlsx") {
				http.Error(w, "this export is only available as CSV", http.StatusBadRequest)
				return
			}
		}
		w.Header().Set("Content-Type", ctype)
		w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Header().Set("Cache-Control", "private, no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if r.Method == http.MethodHead {
			return
		}
		_, _ = io.Copy(w, bytes.NewReader(body))
	})
}

// Run deletes expired jobs every cleanup interval (default 10 min) until
// ctx ends, then interrupts the running exports and waits for them.
func (m *Manager) Run(ctx context.Context) error {
	defer func() {
		m.mu.Lock()
		m.cancel()
		m.mu.Unlock()
		m.running.Wait()
	}()
	t := time.NewTicker(m.o.cleanupEvery)
	defer t.Stop()
	for {
		m.cleanup(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (m *Manager) cleanup(ctx context.Context) {
	n, err := m.st.DeleteExpiredExportJobs(ctx, m.o.now())
	if err != nil {
		if ctx.Err() == nil {
			m.o.logger.Warn("delete expired exports", "err", err)
		}
		return
	}
	if n > 0 {
		m.o.logger.Info("deleted expired exports", "count", n)
	}
}
