package tcss_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/store"
	"github.com/xuri/excelize/v2"
)

func TestVirusListExport(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	now := time.Now()
	err := e.st.RecordImageScan(ctx, e.a.ID, e.imgs[2].ID, store.ImageScanRecord{
		ScanStatus: "SCANNED", ScanTime: now,
		Viruses: []store.ImageVirus{
			{Path: "usr/bin/miner", VirusName: "Linux.Miner.Xmrig", RiskLevel: "4", FileType: "ELF", FileName: "miner", FileSize: 42, LatestScanTime: now},
			{Path: "tmp/x.sh", VirusName: "Linux.Trojan.Sh", RiskLevel: "2", FileType: "SCRIPT", LatestScanTime: now},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	resp := e.call(t, "AKIDa", "DescribeAssetImageRegistryVirusListExport", map[string]any{
		"ExportField": []string{"Path", "RiskLevel", "Category", "VirusName", "Tags"}, "Id": e.imgs[2].ID,
	})
	if got := errCode(resp); got != "" {
		t.Fatal(got)
	}
	jobID, _ := resp["JobId"].(string)
	url, _ := resp["DownloadUrl"].(string)
	if jobID == "" || !strings.HasPrefix(url, e.download.URL+"/exports/"+jobID+"?") {
		t.Fatalf("response %v", resp)
	}
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("download %d %s", res.StatusCode, body)
	}
	f, err := excelize.OpenReader(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := f.GetRows(f.GetSheetList()[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || strings.Join(rows[0], "|") != "Path|Risk level|Category|Virus name|Tags" ||
		rows[1][0] != "usr/bin/miner" || rows[1][1] != "4" || rows[2][3] != "Linux.Trojan.Sh" {
		t.Errorf("rows %q", rows)
	}

	// Filters as the list action: only level 2.
	resp = e.call(t, "AKIDa", "DescribeAssetImageRegistryVirusListExport", map[string]any{
		"Id": e.imgs[2].ID, "Filters": []map[string]any{{"Name": "RiskLevel", "Values": []string{"RISK_MEDIUM"}}},
	})
	j, err := e.exports.Get(ctx, e.a.ID, resp["JobId"].(string))
	if err != nil || j.Status != store.ExportSuccess {
		t.Fatalf("job %+v %v", j, err)
	}
	full, _ := e.st.GetExportJob(ctx, e.a.ID, j.ID)
	f2, _ := excelize.OpenReader(bytes.NewReader(full.Content))
	rows, _ = f2.GetRows(f2.GetSheetList()[0])
	if len(rows) != 2 || len(rows[0]) != 13 || rows[1][0] != "tmp/x.sh" {
		t.Errorf("filtered rows %q", rows)
	}

	res2 := e.call(t, "AKIDa", "DescribeExportJobResult", map[string]any{"JobId": jobID})
	if res2["ExportStatus"] != "SUCCESS" || res2["ExportProgress"] != 100.0 || !strings.Contains(res2["DownloadURL"].(string), jobID) {
		t.Errorf("job result %v", res2)
	}
	for _, tc := range []struct {
		as, action string
		req        map[string]any
		want       string
	}{
		{"AKIDb", "DescribeExportJobResult", map[string]any{"JobId": jobID}, "ResourceNotFound"},
		{"AKIDa", "DescribeExportJobResult", map[string]any{"JobId": "nope"}, "ResourceNotFound"},
		{"AKIDb", "DescribeAssetImageRegistryVirusListExport", map[string]any{"Id": e.imgs[2].ID}, "ResourceNotFound"},
		{"AKIDa", "DescribeAssetImageRegistryVirusListExport", map[string]any{"Id": e.imgs[2].ID, "ExportField": []string{"Path", "Bogus"}}, "ExportField.1"},
		{"AKIDa", "DescribeAssetImageRegistryVirusListExport", map[string]any{}, "MissingParameter"},
	} {
		if got := errCode(e.call(t, tc.as, tc.action, tc.req)); !strings.Contains(got, tc.want) {
			t.Errorf("%s %v: %q, want %q", tc.action, tc.req, got, tc.want)
		}
	}
}
