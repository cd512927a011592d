package agentapi_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/agentapi"
	"github.com/vigil-sec/vigil/internal/agentapi/wire"
	"github.com/vigil-sec/vigil/internal/store"
)

func virusEvent(path, md5 string) wire.VirusEvent {
	return wire.VirusEvent{ContainerID: "ctr1", ContainerName: "web", ImageID: "sha256:abc", FilePath: path, FileMD5: md5,
		VirusName: "Linux.Trojan.Test", RiskLevel: "RISK_HIGH", SourceType: 2, DetectTime: time.Now(),
		Process: wire.VirusProcess{PID: 42, Name: "sh", Chain: "sh(42)|containerd-shim(7)"}, DescEN: "a test trojan", DescZH: "测试木马"}
}

func TestVirusEvents(t *testing.T) {
	const whitelisted = "00000000000000000000000000000bad"
	var mu sync.Mutex
	var stored []int64
	var reports []wire.ScanProgress
	e := newEnv(t, agentapi.WithVirusHooks(agentapi.VirusHooks{
		Suppressed: func(_ context.Context, _ int64, md5, _ string) (bool, error) { return md5 == whitelisted, nil },
		Stored: func(_ context.Context, _ int64, _ []store.VirusEvent, ids []int64) {
			mu.Lock()
			stored = append(stored, ids...)
			mu.Unlock()
		},
		ScanProgress: func(_ context.Context, _ int64, host string, p wire.ScanProgress) error {
			if p.TaskID == 404 {
				return fmt.Errorf("%w: no task", store.ErrNotFound)
			}
			mu.Lock()
			reports = append(reports, p)
			mu.Unlock()
			return nil
		},
	}))
	cred, c := e.enroll(t, e.token, machineA)
	md5 := fmt.Sprintf("%032x", 1)
	for _, tc := range []struct {
		name     string
		events   []wire.VirusEvent
		accepted int
		ids      int // events stored (non-zero ids)
		rejected []int
	}{
		{"stored", []wire.VirusEvent{virusEvent("/tmp/a", md5), virusEvent("/tmp/b", md5)}, 2, 2, nil},
		{"resent: same ids", []wire.VirusEvent{virusEvent("/tmp/a", md5)}, 1, 1, nil},
		{"whitelisted: accepted, not stored", []wire.VirusEvent{virusEvent("/tmp/w", whitelisted)}, 1, 0, nil},
		{"malformed rejected one by one", []wire.VirusEvent{virusEvent("relative", md5), virusEvent("/tmp/c", "nope"), virusEvent("/tmp/d", md5)}, 1, 1, []int{0, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := c.SendVirusEvents(t.Context(), wire.VirusEventsRequest{Events: tc.events})
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, id := range resp.EventIDs {
				if id != 0 {
					n++
				}
			}
			var rej []int
			for _, r := range resp.Rejected {
				rej = append(rej, r.Index)
			}
			if resp.Accepted != tc.accepted || n != tc.ids || fmt.Sprint(rej) != fmt.Sprint(tc.rejected) {
				t.Errorf("accepted %d, stored %d, rejected %v; want %d, %d, %v", resp.Accepted, n, rej, tc.accepted, tc.ids, tc.rejected)
			}
		})
	}
	// Forced to the authenticated host, idempotent by (host, container, path, md5).
	p, err := e.st.QueryVirusEvents(t.Context(), e.acct.ID, store.VirusEventQuery{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Items) != 3 {
		t.Fatalf("%d events stored, want 3", len(p.Items))
	}
	for _, ev := range p.Items {
		if ev.HostUUID != cred.HostUUID || ev.Process.Chain != "sh(42)|containerd-shim(7)" || ev.FileName == "" || ev.EventType == "" {
			t.Errorf("stored: %+v", ev)
		}
	}
	if th, err := e.st.GetVirusEvent(t.Context(), e.acct.ID, p.Items[0].ID); err != nil || th.Threat.Desc.EN != "a test trojan" {
		t.Errorf("threat catalog: %+v, %v", th.Threat, err)
	}
	if len(stored) != 4 { // 2 + 1 resent + 1
		t.Errorf("Stored hook saw %v", stored)
	}

	if err := c.SendScanProgress(t.Context(), wire.ScanProgress{TaskID: 7, Progress: 50}); err != nil {
		t.Fatal(err)
	}
	if len(reports) != 1 || reports[0].TaskID != 7 {
		t.Errorf("reports %+v", reports)
	}
	if err := c.SendScanProgress(t.Context(), wire.ScanProgress{TaskID: 404}); err == nil {
		t.Error("a report on an unknown task was accepted")
	}
}
