package integration

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/agentapi/wire"
	"github.com/vigil-sec/vigil/internal/app"
	"github.com/vigil-sec/vigil/internal/config"
)

// The scheduled container scan (issue 5, SourceType 1): two servers sharing
// one database, a short interval; the agent gets one scheduled scan per
// interval, not one per server.
func TestVirusScanSchedule(t *testing.T) { backends(t, testVirusScanSchedule) }

func testVirusScanSchedule(t *testing.T, opts ...serverOption) {
	const interval = 2 * time.Second
	data := t.TempDir()
	opts = append(opts, func(c *config.Server) {
		c.Data = data // shared: the same SQLite database (and master key) for both
		c.VirusScanSchedule = interval
		c.VirusScanPaths = "all"
	})
	ts := startServer(t, opts...)
	startServer(t, opts...)
	ctx := context.Background()
	acct, err := ts.App.Store.GetAccountByName(ctx, app.DefaultAccount)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := fakeAgent(t, ts, acct.ID, "5c4ed01e5c4ed01e5c4ed01e5c4ed01e")

	// Collect the scan commands for a few intervals.
	tasks := map[int64]wire.ScanPayload{}
	var order []int64
	deadline := time.Now().Add(3*interval + interval/2)
	for time.Now().Before(deadline) {
		cmds, err := c.PollCommands(ctx, 200*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		for _, cmd := range cmds {
			if cmd.Kind != wire.CommandScanContainers {
				continue
			}
			var p wire.ScanPayload
			if err := json.Unmarshal(cmd.Payload, &p); err != nil {
				t.Fatal(err)
			}
			if _, ok := tasks[p.TaskID]; !ok {
				tasks[p.TaskID] = p
				order = append(order, p.TaskID)
			}
			// Done at once: the task finishes, and the next is a new one.
			if err := c.SendScanProgress(ctx, wire.ScanProgress{TaskID: p.TaskID, Progress: 100, Done: true}); err != nil {
				t.Fatal(err)
			}
			if err := c.ReportResult(ctx, cmd.ID, wire.CommandResult{OK: true}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(order) < 2 || len(order) > 4 {
		t.Fatalf("%d scheduled tasks in %v at a %v interval (want 2 to 4, one per slot): %v", len(order), 3*interval+interval/2, interval, order)
	}
	var created []time.Time
	for _, id := range order {
		p := tasks[id]
		if !p.Scheduled || p.PathMode != "SCAN_PATH_ALL" || len(p.ContainerIDs) != 0 {
			t.Errorf("task %d payload: %+v", id, p)
		}
		task, err := ts.App.Store.GetScanTask(ctx, acct.ID, id)
		if err != nil {
			t.Fatal(err)
		}
		created = append(created, task.CreatedAt)
		var st struct{ Status, ScanType string }
		if err := tcssCall(ts.admin(), "DescribeVirusScanTaskStatus", map[string]any{"TaskID": strconv.FormatInt(id, 10)}, &st); err != nil {
			t.Fatal(err)
		}
		if st.ScanType != "CYCLE" || st.Status != "SCAN_FINISH" {
			t.Errorf("task %d: %+v", id, st)
		}
	}
	slices.SortFunc(created, func(a, b time.Time) int { return a.Compare(b) })
	for i := 1; i < len(created); i++ {
		// One per slot: two servers creating the same slot's task would
		// be milliseconds apart.
		if gap := created[i].Sub(created[i-1]); gap < interval/2 {
			t.Errorf("tasks %v apart: the slot was scheduled twice (%v)", gap, created)
		}
	}
	t.Logf("%d scheduled tasks: %v", len(order), created)
}
