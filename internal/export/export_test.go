package export_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/export"
	"github.com/vigil-sec/vigil/internal/store"
	"github.com/vigil-sec/vigil/internal/store/sqlite"
	"github.com/xuri/excelize/v2"
)

var (
	header = []string{"路径", "Virus name", "Level"}
	data   = [][]string{
		{"usr/bin/x", "Linux.Miner.Xmrig", "4"},
		{"etc/恶意.sh", "=cmd|' /C calc'!A0", "-1"},
		{"a,b\"c", "@SUM(1)", ""},
	}
)

func rows(rs [][]string) export.Rows {
	return func(yield func([]string) error) error {
		for _, r := range rs {
			if err := yield(r); err != nil {
				return err
			}
		}
		return nil
	}
}

func TestWriteCSV(t *testing.T) {
	var buf bytes.Buffer
	if err := export.WriteCSV(&buf, header, rows(data)); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	if !bytes.HasPrefix(b, []byte("\xef\xbb\xbf")) {
		t.Fatalf("no UTF-8 BOM: %q", b[:8])
	}
	got, err := csv.NewReader(bytes.NewReader(b[3:])).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{header, data[0], {"etc/恶意.sh", "'=cmd|' /C calc'!A0", "-1"}, {"a,b\"c", "'@SUM(1)", ""}}
	if len(got) != len(want) {
		t.Fatalf("got %d rows, want %d", len(got), len(want))
	}
	for i := range want {
		if strings.Join(got[i], "\x00") != strings.Join(want[i], "\x00") {
			t.Errorf("row %d: got %q, want %q", i, got[i], want[i])
		}
	}
}

func readXLSX(t *testing.T, b []byte) (string, [][]string) {
	t.Helper()
	f, err := excelize.OpenReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sheet := f.GetSheetList()[0]
	got, err := f.GetRows(sheet)
	if err != nil {
		t.Fatal(err)
	}
	return sheet, got
}

func TestWriteXLSXRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	if err := export.WriteXLSX(&buf, "镜像木马", header, rows(data)); err != nil {
		t.Fatal(err)
	}
	sheet, got := readXLSX(t, buf.Bytes())
	if sheet != "镜像木马" {
		t.Errorf("sheet %q", sheet)
	}
	want := append([][]string{header}, data...)
	if len(got) != len(want) {
		t.Fatalf("got %d rows, want %d", len(got), len(want))
	}
	for i := range want {
		for len(got[i]) < len(want[i]) {
			got[i] = append(got[i], "")
		}
		if strings.Join(got[i], "\x00") != strings.Join(want[i], "\x00") {
			t.Errorf("row %d: got %q, want %q (values are stored verbatim as strings)", i, got[i], want[i])
		}
	}
	// Converted to CSV on download.
	var c bytes.Buffer
	if err := export.XLSXToCSV(&c, bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	back, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(c.Bytes(), []byte("\xef\xbb\xbf")))).ReadAll()
	if err != nil || len(back) != 4 || back[1][0] != "usr/bin/x" || back[3][2] != "" {
		t.Fatalf("xlsx → csv: %q %v", back, err)
	}
}

func TestWriteStopsOnProducerError(t *testing.T) {
	boom := errors.New("boom")
	for _, f := range []export.Format{export.CSV, export.XLSX} {
		err := export.Write(io.Discard, f, "", header, func(yield func([]string) error) error { return boom })
		if !errors.Is(err, boom) {
			t.Errorf("%s: %v", f, err)
		}
	}
}

type env struct {
	st  store.Store
	m   *export.Manager
	srv *httptest.Server
	now *time.Time
	a   store.Account
	b   store.Account
}

func newEnv(t *testing.T, opts ...export.Option) *env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{st: st}
	now := time.Now()
	e.now = &now
	mux := http.NewServeMux()
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	opts = append([]export.Option{export.WithPublicURL(e.srv.URL), export.WithClock(func() time.Time { return *e.now })}, opts...)
	e.m, err = export.New(st, bytes.Repeat([]byte("k"), 32), opts...)
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("GET /exports/", e.m.Handler())
	if e.a, err = st.CreateAccount(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if e.b, err = st.CreateAccount(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	return e
}

func spec(rs [][]string) export.Spec {
	return export.Spec{Kind: "test", FileName: "viruses", Sheet: "S", Header: header, Total: int64(len(rs)),
		Rows: func(ctx context.Context, yield func([]string) error) error { return rows(rs)(yield) }}
}

func get(t *testing.T, u string) (int, http.Header, []byte) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

func TestJobAndDownload(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	j, err := e.m.Start(ctx, e.a.ID, spec(data))
	if err != nil {
		t.Fatal(err)
	}
	if j.Status != store.ExportSuccess || j.Progress != 100 {
		t.Fatalf("small export not finished synchronously: %+v", j)
	}
	u := e.m.DownloadURL(e.a.ID, j.ID)
	code, h, body := get(t, u)
	if code != 200 {
		t.Fatalf("download: %d %s", code, body)
	}
	if cd := h.Get("Content-Disposition"); !strings.Contains(cd, "viruses.xlsx") {
		t.Errorf("Content-Disposition %q", cd)
	}
	if _, got := readXLSX(t, body); len(got) != 4 || got[1][1] != "Linux.Miner.Xmrig" {
		t.Errorf("xlsx content %q", got)
	}
	code, h, body = get(t, u+"&format=csv")
	if code != 200 || !bytes.HasPrefix(body, []byte("\xef\xbb\xbf")) || !strings.Contains(h.Get("Content-Disposition"), "viruses.csv") {
		t.Fatalf("csv download: %d %q %q", code, h, body)
	}

	// The job is the account's only.
	if _, err := e.m.Get(ctx, e.b.ID, j.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("another account's job: %v", err)
	}
	if got, err := e.m.Get(ctx, e.a.ID, j.ID); err != nil || got.Status != store.ExportSuccess || got.Content != nil {
		t.Errorf("Get: %+v %v", got, err)
	}
}

func TestDownloadRefusals(t *testing.T) {
	e := newEnv(t)
	j, err := e.m.Start(context.Background(), e.a.ID, spec(data))
	if err != nil {
		t.Fatal(err)
	}
	good := e.m.DownloadURL(e.a.ID, j.ID)
	u, _ := url.Parse(good)
	tamper := func(key, val string) string {
		v := *u
		q := v.Query()
		q.Set(key, val)
		v.RawQuery = q.Encode()
		return v.String()
	}
	sig := u.Query().Get("sig")
	flipped := string(rune(sig[0]^1)) + sig[1:]
	other := *u
	other.Path = "/exports/" + "00000000-0000-0000-0000-000000000000"
	tests := []struct {
		name string
		url  string
		want int
	}{
		{"good", good, 200},
		{"signature flipped", tamper("sig", flipped), 403},
		{"signature not hex", tamper("sig", "zz"), 403},
		{"no signature", tamper("sig", ""), 403},
		{"expiry extended", tamper("expires", "99999999999"), 403},
		{"other account", tamper("a", "999"), 403},
		{"other job, same signature", other.String(), 403},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, body := get(t, tc.url)
			if code != tc.want {
				t.Fatalf("got %d %s, want %d", code, body, tc.want)
			}
			if code == 403 && strings.TrimSpace(string(body)) != "forbidden" {
				t.Errorf("403 body gives detail: %q", body)
			}
		})
	}
	// An hour later the URL has expired; a fresh one works.
	*e.now = e.now.Add(time.Hour + time.Second)
	if code, _, _ := get(t, good); code != 403 {
		t.Errorf("expired URL: %d", code)
	}
	if code, _, _ := get(t, e.m.DownloadURL(e.a.ID, j.ID)); code != 200 {
		t.Errorf("fresh URL: %d", code)
	}
	// A correctly signed URL for another account's job id finds nothing.
	if code, _, _ := get(t, e.m.DownloadURL(e.b.ID, j.ID)); code != 404 {
		t.Errorf("cross-account signed URL: %d", code)
	}
}

func TestAsyncJobAndFailure(t *testing.T) {
	e := newEnv(t, export.WithSyncWait(0))
	ctx := context.Background()
	release := make(chan struct{})
	s := spec(data)
	s.Rows = func(ctx context.Context, yield func([]string) error) error {
		<-release
		return rows(data)(yield)
	}
	j, err := e.m.Start(ctx, e.a.ID, s)
	if err != nil {
		t.Fatal(err)
	}
	if j.Status != store.ExportRunning {
		t.Fatalf("status %q", j.Status)
	}
	if code, _, _ := get(t, e.m.DownloadURL(e.a.ID, j.ID)); code != http.StatusConflict {
		t.Errorf("download of an unfinished export: %d", code)
	}
	close(release)
	waitStatus(t, e, j.ID, store.ExportSuccess)

	s.Rows = func(ctx context.Context, yield func([]string) error) error { return errors.New("database gone") }
	j, err = e.m.Start(ctx, e.a.ID, s)
	if err != nil {
		t.Fatal(err)
	}
	got := waitStatus(t, e, j.ID, store.ExportFailure)
	if got.FailureMsg != "database gone" {
		t.Errorf("FailureMsg %q", got.FailureMsg)
	}
}

func waitStatus(t *testing.T, e *env, id, want string) store.ExportJob {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		j, err := e.m.Get(context.Background(), e.a.ID, id)
		if err == nil && j.Status == want {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s: %+v %v, want %s", id, j, err, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCleanupDeletesExpired(t *testing.T) {
	e := newEnv(t, export.WithRetention(time.Minute), export.WithCleanupInterval(10*time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	j, err := e.m.Start(ctx, e.a.ID, spec(data))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() { done <- e.m.Run(ctx) }()
	time.Sleep(50 * time.Millisecond)
	if _, err := e.m.Get(ctx, e.a.ID, j.ID); err != nil {
		t.Fatalf("job deleted before it expired: %v", err)
	}
	// The store compares with its own now; run past the retention for real.
	e2 := time.Now().Add(2 * time.Minute)
	if n, err := e.st.DeleteExpiredExportJobs(ctx, e2); err != nil || n != 1 {
		t.Fatalf("DeleteExpiredExportJobs: %d %v", n, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestNewRejectsShortSecret(t *testing.T) {
	if _, err := export.New(nil, []byte("short")); err == nil {
		t.Fatal("short secret accepted")
	}
}
