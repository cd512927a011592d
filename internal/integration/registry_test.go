package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	"github.com/xuri/excelize/v2"

	"github.com/vigil-sec/vigil/internal/api/tcss"
	"github.com/vigil-sec/vigil/internal/app"
	"github.com/vigil-sec/vigil/internal/imagescan/imagetest"
	"github.com/vigil-sec/vigil/internal/testutil/registrytest"
)

// The registry workflow of seed 002, end to end through the official Go
// SDK against Debian's docker-registry with basic auth: add the registry
// (a wrong password is refused), sync, scan everything, poll the task,
// list the viruses of each image, rescan (FirstScanTime kept), export.
func TestRegistryWorkflow(t *testing.T) { backends(t, testRegistryWorkflow) }

const (
	regUser     = "vigil"
	regPassword = "registry-pass-123"
)

func testRegistryWorkflow(t *testing.T, opts ...serverOption) {
	reg := registrytest.Start(t, registrytest.Options{Users: map[string]string{regUser: regPassword}})
	auth := &authn.Basic{Username: regUser, Password: regPassword}

	std, err := imagetest.Standard()
	if err != nil {
		t.Fatal(err)
	}
	clean, err := imagetest.Build([]imagetest.Entry{imagetest.File("etc/hostname", []byte("clean\n"))})
	if err != nil {
		t.Fatal(err)
	}
	amd64, err := imagetest.Build([]imagetest.Entry{imagetest.File("opt/eicar.com", imagetest.EICAR())})
	if err != nil {
		t.Fatal(err)
	}
	arm64, err := imagetest.Build([]imagetest.Entry{imagetest.File("opt/miner.sh", imagetest.MinerLauncher())})
	if err != nil {
		t.Fatal(err)
	}
	multi, err := imagetest.MultiPlatform(amd64, arm64)
	if err != nil {
		t.Fatal(err)
	}
	pushImage(t, reg.Host+"/app/web:1.0", std, auth)
	pushImage(t, reg.Host+"/app/clean:1", clean, auth)
	pushIndex(t, reg.Host+"/lib/multi:2", multi, auth)

	ts := startServer(t, opts...)
	c := ts.admin()

	// A wrong password is refused, and nothing is saved.
	var added tcss.AddAssetImageRegistryRegistryDetailResponse
	addReq := map[string]any{"Name": "local", "Username": regUser, "Password": "wrong", "Url": "http://" + reg.Host,
		"RegistryType": "other", "NetType": "public", "WebhookToken": "hook-secret"}
	if err := tcssCall(c, "AddAssetImageRegistryRegistryDetail", addReq, &added); err != nil {
		t.Fatal(err)
	}
	if derefS(added.HealthCheckErr) == "" || derefI(added.RegistryId) != 0 {
		t.Fatalf("wrong password: HealthCheckErr %q, RegistryId %d", derefS(added.HealthCheckErr), derefI(added.RegistryId))
	}
	addReq["Password"] = regPassword
	if err := tcssCall(c, "AddAssetImageRegistryRegistryDetail", addReq, &added); err != nil {
		t.Fatal(err)
	}
	if derefS(added.HealthCheckErr) != "" || derefI(added.RegistryId) <= 0 {
		t.Fatalf("add: HealthCheckErr %q, RegistryId %d", derefS(added.HealthCheckErr), derefI(added.RegistryId))
	}

	// The registry password is stored encrypted.
	acct, err := ts.App.Store.GetAccountByName(t.Context(), app.DefaultAccount)
	if err != nil {
		t.Fatal(err)
	}
	r, err := ts.App.Store.GetRegistry(t.Context(), acct.ID, derefI(added.RegistryId))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(r.PasswordEnc, []byte(regPassword)) {
		t.Fatal("registry password stored in clear")
	}

	if err := tcssCall(c, "SyncAssetImageRegistryAsset", map[string]any{"All": true}, nil); err != nil {
		t.Fatal(err)
	}
	images := map[string]*tcss.ImageRepoInfo{}
	waitFor(t, 30*time.Second, "3 images synced", func() bool {
		var list tcss.DescribeAssetImageRegistryListResponse
		if err := tcssCall(c, "DescribeAssetImageRegistryList", map[string]any{"Limit": 100}, &list); err != nil {
			t.Fatal(err)
		}
		for _, img := range list.List {
			images[derefS(img.Namespace)+"/"+derefS(img.ImageName)+":"+derefS(img.ImageTag)] = img
		}
		return derefU(list.TotalCount) == 3
	})
	web := images["app/web:1.0"]
	if web == nil || images["app/clean:1"] == nil || images["lib/multi:2"] == nil {
		t.Fatalf("synced images: %v", keys(images))
	}
	if derefS(web.InstanceName) != "local" || !strings.HasPrefix(derefS(web.ImageDigest), "sha256:") {
		t.Fatalf("web image: %+v", web)
	}

	taskID := scanAll(t, c)
	firstScan := virusList(t, c, derefU(web.Id))
	if got := paths(firstScan); !slices.Equal(got, imagetest.StandardVisible) {
		t.Fatalf("web viruses %v, want %v", got, imagetest.StandardVisible)
	}
	for _, v := range firstScan {
		if derefS(v.VirusName) == "" || len(derefS(v.FileMd5)) != 32 || derefS(v.FileName) == "" ||
			derefS(v.FirstScanTime) == "" || derefS(v.LatestScanTime) == "" || derefS(v.RiskLevel) == "" {
			t.Errorf("incomplete finding: %s", dump(v))
		}
	}
	if got := paths(virusList(t, c, derefU(images["app/clean:1"].Id))); len(got) != 0 {
		t.Errorf("clean image viruses: %v", got)
	}
	if got := paths(virusList(t, c, derefU(images["lib/multi:2"].Id))); !slices.Equal(got, []string{"opt/eicar.com"}) {
		t.Errorf("multi-platform image (linux/amd64) viruses: %v", got)
	}

	// The list shows the scan's outcome.
	var list tcss.DescribeAssetImageRegistryListResponse
	if err := tcssCall(c, "DescribeAssetImageRegistryList", map[string]any{"Filters": []map[string]any{{"Name": "ImageName", "Values": []string{"web"}}}}, &list); err != nil {
		t.Fatal(err)
	}
	if len(list.List) != 1 || derefU(list.List[0].VirusCnt) != 2 || derefS(list.List[0].ScanStatus) == "" {
		t.Fatalf("image list after the scan: %s", dump(list.List))
	}

	// A rescan keeps FirstScanTime and moves LatestScanTime.
	time.Sleep(1100 * time.Millisecond)
	if next := scanAll(t, c); next == taskID {
		t.Fatalf("rescan reused task %d", next)
	}
	for i, v := range virusList(t, c, derefU(web.Id)) {
		if derefS(v.FirstScanTime) != derefS(firstScan[i].FirstScanTime) {
			t.Errorf("%s: FirstScanTime %s → %s", derefS(v.Path), derefS(firstScan[i].FirstScanTime), derefS(v.FirstScanTime))
		}
		if derefS(v.LatestScanTime) == derefS(firstScan[i].LatestScanTime) {
			t.Errorf("%s: LatestScanTime did not move", derefS(v.Path))
		}
	}

	// Export: a signed download URL serving an XLSX with the findings.
	var exp tcss.DescribeAssetImageRegistryVirusListExportResponse
	if err := tcssCall(c, "DescribeAssetImageRegistryVirusListExport", map[string]any{
		"Id": derefU(web.Id), "ExportField": []string{"Path", "VirusName", "FileMd5"}}, &exp); err != nil {
		t.Fatal(err)
	}
	var job tcss.DescribeExportJobResultResponse
	waitFor(t, 20*time.Second, "export job done", func() bool {
		if err := tcssCall(c, "DescribeExportJobResult", map[string]any{"JobId": derefS(exp.JobId)}, &job); err != nil {
			t.Fatal(err)
		}
		return derefS(job.ExportStatus) == "SUCCESS" || derefS(job.ExportStatus) == "FAILURE"
	})
	if derefS(job.ExportStatus) != "SUCCESS" {
		t.Fatalf("export: %s", dump(job))
	}
	body := download(t, derefS(job.DownloadURL), http.StatusOK)
	f, err := excelize.OpenReader(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("export is not an XLSX: %v", err)
	}
	rows, err := f.GetRows(f.GetSheetName(0))
	if err != nil {
		t.Fatal(err)
	}
	var exported []string
	for _, row := range rows[1:] {
		exported = append(exported, row[0])
	}
	slices.Sort(exported)
	if len(rows) == 0 || len(rows[0]) != 3 || !slices.Equal(exported, imagetest.StandardVisible) {
		t.Fatalf("exported rows: %v", rows)
	}
	// A tampered URL is refused.
	download(t, strings.Replace(derefS(job.DownloadURL), "sig=", "sig=00", 1), http.StatusForbidden)

	// Another account sees none of it.
	other := ts.newAccount("other")
	oc := ts.client(other.adminID, other.adminKey)
	var none tcss.DescribeAssetImageRegistryVirusListResponse
	err = tcssCall(oc, "DescribeAssetImageRegistryVirusList", map[string]any{"Id": derefU(web.Id)}, &none)
	if err == nil && len(none.List) > 0 {
		t.Fatalf("another account read the viruses: %s", dump(none.List))
	}
}

// TestScanOnPush: the distribution registry's notifications reach vigil's
// webhook with the registry's token, and the pushed image is scanned.
func TestScanOnPush(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	ts := startServer(t)
	c := ts.admin()
	var added tcss.AddAssetImageRegistryRegistryDetailResponse
	if err := tcssCall(c, "AddAssetImageRegistryRegistryDetail", map[string]any{"Name": "pushy", "Username": "", "Password": "",
		"Url": "http://" + reg.Host, "RegistryType": "other", "NetType": "public", "WebhookToken": "push-token-1"}, &added); err != nil {
		t.Fatal(err)
	}
	if derefI(added.RegistryId) <= 0 {
		t.Fatalf("add: %s", dump(added))
	}
	reg.Restart(t, registrytest.Options{
		NotifyURL:     fmt.Sprintf("http://%s/webhooks/registry/%d", ts.Addr, derefI(added.RegistryId)),
		NotifyHeaders: map[string]string{"Authorization": "Bearer push-token-1"},
	})
	std, err := imagetest.Standard()
	if err != nil {
		t.Fatal(err)
	}
	pushImage(t, reg.Host+"/pushed/app:v1", std, nil)
	var found []*tcss.ImageVirus
	waitFor(t, 60*time.Second, "the pushed image scanned", func() bool {
		var list tcss.DescribeAssetImageRegistryListResponse
		if err := tcssCall(c, "DescribeAssetImageRegistryList", map[string]any{}, &list); err != nil {
			t.Fatal(err)
		}
		for _, img := range list.List {
			if derefS(img.ImageName) == "app" && derefS(img.ImageTag) == "v1" && derefU(img.VirusCnt) > 0 {
				found = virusList(t, c, derefU(img.Id))
				return true
			}
		}
		return false
	})
	if got := paths(found); !slices.Equal(got, imagetest.StandardVisible) {
		t.Fatalf("pushed image viruses %v, want %v", got, imagetest.StandardVisible)
	}
}

func pushImage(t *testing.T, ref string, img v1.Image, auth authn.Authenticator) {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if auth == nil {
		auth = authn.Anonymous
	}
	if err := remote.Write(r, img, remote.WithAuth(auth)); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
}

func pushIndex(t *testing.T, ref string, idx v1.ImageIndex, auth authn.Authenticator) {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(r, idx, remote.WithAuth(auth)); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
}

// scanAll starts a one-click scan of every image and waits for it to finish.
func scanAll(t *testing.T, c *common.Client) uint64 {
	t.Helper()
	var created tcss.CreateAssetImageRegistryScanTaskOneKeyResponse
	if err := tcssCall(c, "CreateAssetImageRegistryScanTaskOneKey", map[string]any{"All": true, "ScanType": []string{"VIRUS"}}, &created); err != nil {
		t.Fatal(err)
	}
	id := derefU(created.TaskID)
	if id == 0 {
		t.Fatalf("no TaskID: %s", dump(created))
	}
	var st tcss.DescribeAssetImageRegistryScanStatusOneKeyResponse
	waitFor(t, 90*time.Second, "the scan task to finish", func() bool {
		if err := tcssCall(c, "DescribeAssetImageRegistryScanStatusOneKey", map[string]any{"TaskID": id}, &st); err != nil {
			t.Fatal(err)
		}
		return derefS(st.Status) != "SCANNING" && derefS(st.Status) != "SCAN_NONE" && derefS(st.Status) != ""
	})
	if derefS(st.Status) != "SCAN_FINISH" || derefU(st.ImageTotal) != 3 || derefU(st.ImageScanCnt) != 3 || derefU(st.Schedule) != 100 {
		t.Fatalf("scan status: %s", dump(st))
	}
	if derefU(st.RiskCount) != 2 { // web and multi
		t.Errorf("RiskCount = %d, want 2: %s", derefU(st.RiskCount), dump(st))
	}
	return id
}

func virusList(t *testing.T, c *common.Client, imageID uint64) []*tcss.ImageVirus {
	t.Helper()
	var resp tcss.DescribeAssetImageRegistryVirusListResponse
	if err := tcssCall(c, "DescribeAssetImageRegistryVirusList", map[string]any{"Id": imageID, "Limit": 100}, &resp); err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(resp.List, func(a, b *tcss.ImageVirus) int { return strings.Compare(derefS(a.Path), derefS(b.Path)) })
	return resp.List
}

func dump(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func download(t *testing.T, url string, want int) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != want {
		t.Fatalf("GET %s = %d (%s), want %d", url, resp.StatusCode, b, want)
	}
	return b
}

func paths(vs []*tcss.ImageVirus) []string {
	var out []string
	for _, v := range vs {
		out = append(out, derefS(v.Path))
	}
	slices.Sort(out)
	return out
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func derefS(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func derefI(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

func derefU(p *uint64) uint64 {
	if p == nil {
		return 0
	}
	return *p
}
