package storetest

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/store"
)

// testRiskModel checks QueryRiskProcessEvents against a model: random events,
// random queries, and the answer computed in Go from the contract's own
// semantics (store.TextFilter.Match and friends).
func testRiskModel(t *testing.T, s store.Store) {
	rng := rand.New(rand.NewPCG(2024, 827))
	a := newAccount(t, s, "alpha")
	b := newAccount(t, s, "beta")

	names := []string{"web-01", "Web_02", "db%03", "cache-04", "api.05", "WORKER-06", "w_07", `x\08`}
	hosts := make([]store.Host, len(names))
	for i, n := range names {
		h := store.Host{UUID: fmt.Sprintf("uuid-%02d", i), Name: n, PrivateIP: fmt.Sprintf("10.0.%d.%d", i/3, i)}
		if i%2 == 0 {
			h.PublicIP = fmt.Sprintf("203.0.113.%d", 10+i)
		}
		hosts[i] = newHost(t, s, a.ID, h)
	}
	for i := range 3 { // b reuses a's UUIDs and names
		newHost(t, s, b.ID, store.Host{UUID: hosts[i].UUID, Name: hosts[i].Name, PrivateIP: hosts[i].PrivateIP})
	}
	viruses := []string{"Linux.Miner.Xmrig", "Linux.Miner.Kinsing", "Linux.Scanner.Fscan", "Php.Trojan_Webshell", "Win32.Worm%A", "Backdoor.Linux.Mirai"}
	paths := []string{"/tmp/x", "/tmp/.X11/kworker", "/dev/shm/dev", "/var/www/shell_1.php", "/var/www/shell%1.php",
		"/usr/bin/curl", `/opt/a\b`, "/TMP/Upper", "/root/.cache/xmrig", "/usr/local/bin/kinsing"}

	type key struct {
		host, virus string
		pid         int64
		start       time.Time
	}
	seen := map[key]bool{}
	gen := func(hostUUIDs []string) store.RiskProcessEvent {
		for {
			e := store.RiskProcessEvent{
				HostUUID:         hostUUIDs[rng.IntN(len(hostUUIDs))],
				PID:              int64(1000 + rng.IntN(40)),
				ExePath:          paths[rng.IntN(len(paths))],
				VirusName:        viruses[rng.IntN(len(viruses))],
				ProcessStartTime: at(time.Duration(rng.IntN(150)) * time.Hour), // ties are common
				HandleStatus:     store.HandleStatus(rng.IntN(6)),
			}
			e.RuleName = e.VirusName
			e.DetectTime = e.ProcessStartTime.Add(time.Duration(rng.IntN(5*3600)) * time.Second)
			k := key{e.HostUUID, e.VirusName, e.PID, e.ProcessStartTime}
			if !seen[k] {
				seen[k] = true
				return e
			}
		}
	}

	var model []store.RiskProcessEvent
	hostByUUID := map[string]store.Host{}
	var aUUIDs []string
	for _, h := range hosts {
		hostByUUID[h.UUID] = h
		aUUIDs = append(aUUIDs, h.UUID)
	}
	for range 8 {
		batch := make([]store.RiskProcessEvent, 50)
		for i := range batch {
			batch[i] = gen(aUUIDs)
		}
		got := must(s.InsertRiskProcessEvents(ctx(t), a.ID, batch))(t)
		for i, e := range batch {
			e.ID = got[i]
			model = append(model, e)
		}
	}
	bEvents := make([]store.RiskProcessEvent, 100)
	for i := range bEvents {
		bEvents[i] = gen(aUUIDs[:3])
	}
	bIDs := must(s.InsertRiskProcessEvents(ctx(t), b.ID, bEvents))(t)

	// Filter values: pieces of real values (so they match something) and a
	// few LIKE metacharacters (so escaping matters).
	piece := func(v string) string {
		if v == "" {
			return "0"
		}
		i := rng.IntN(len(v))
		j := i + 1 + rng.IntN(len(v)-i)
		return v[i:j]
	}
	textFilter := func(pool []string) store.TextFilter {
		f := store.TextFilter{Exact: rng.IntN(3) == 0}
		for range 1 + rng.IntN(2) {
			v := pool[rng.IntN(len(pool))]
			switch r := rng.IntN(10); {
			case r == 0:
				v = []string{"%", "_", `\`, "%0", "_0"}[rng.IntN(5)]
			case !f.Exact && r < 7:
				v = piece(v)
				if rng.IntN(2) == 0 {
					v = flipCase(v)
				}
			}
			f.Values = append(f.Values, v)
		}
		return f
	}
	var hostStrings []string
	for _, h := range hosts {
		hostStrings = append(hostStrings, h.Name, h.PrivateIP)
		if h.PublicIP != "" {
			hostStrings = append(hostStrings, h.PublicIP)
		}
	}

	for i := range 300 {
		var q store.RiskProcessEventQuery
		if rng.IntN(4) == 0 {
			q.HostIDs = textFilter(aUUIDs)
		}
		if rng.IntN(3) == 0 {
			q.IPOrName = textFilter(hostStrings)
		}
		if rng.IntN(3) == 0 {
			q.VirusNames = textFilter(viruses)
		}
		if rng.IntN(4) == 0 {
			q.FilePaths = textFilter(paths)
		}
		if rng.IntN(6) == 0 {
			for range 1 + rng.IntN(3) {
				q.ProcessIDs = append(q.ProcessIDs, int64(1000+rng.IntN(45)))
			}
		}
		if rng.IntN(3) == 0 {
			q.StartFrom = at(time.Duration(rng.IntN(150)) * time.Hour)
		}
		if rng.IntN(3) == 0 {
			q.StartTo = at(time.Duration(rng.IntN(150)) * time.Hour)
		}
		if rng.IntN(3) == 0 {
			for range 1 + rng.IntN(3) {
				q.HandleStatuses = append(q.HandleStatuses, store.HandleStatus(rng.IntN(6)))
			}
		}
		q.OrderBy = store.EventOrder(rng.IntN(2))
		q.Desc = rng.IntN(2) == 0
		q.Limit = []int{0, 1, 5, 10, 100}[rng.IntN(5)]
		if rng.IntN(2) == 0 {
			q.Offset = rng.IntN(60)
		}

		want, total := modelQuery(model, hostByUUID, q)
		got := must(s.QueryRiskProcessEvents(ctx(t), a.ID, q))(t)
		if !equalIDs(eventIDs(got), want) || got.Total != total {
			t.Fatalf("query %d %+v:\ngot  %v (total %d)\nwant %v (total %d)", i, q, eventIDs(got), got.Total, want, total)
		}
		for _, e := range got.Items {
			if e.AccountID != a.ID || e.Host.UUID != e.HostUUID || e.Host.Name != hostByUUID[e.HostUUID].Name {
				t.Fatalf("query %d: event %d joined with host %+v", i, e.ID, e.Host)
			}
		}
	}

	// b's view is b's events only.
	got := must(s.QueryRiskProcessEvents(ctx(t), b.ID, store.RiskProcessEventQuery{OrderBy: store.OrderByStartTime}))(t)
	if got.Total != int64(len(bIDs)) || len(got.Items) != len(bIDs) {
		t.Fatalf("account b: total %d, %d items; want %d", got.Total, len(got.Items), len(bIDs))
	}
	mine := map[int64]bool{}
	for _, id := range bIDs {
		mine[id] = true
	}
	for _, e := range got.Items {
		if !mine[e.ID] {
			t.Fatalf("account b sees event %d", e.ID)
		}
	}
}

// modelQuery is QueryRiskProcessEvents in Go.
func modelQuery(events []store.RiskProcessEvent, hosts map[string]store.Host, q store.RiskProcessEventQuery) ([]int64, int64) {
	match := func(e store.RiskProcessEvent) bool {
		h := hosts[e.HostUUID]
		start := store.UTC(e.ProcessStartTime)
		switch {
		case !q.HostIDs.Match(h.UUID):
		case q.IPOrName.Set() && !q.IPOrName.Match(h.Name) && !q.IPOrName.Match(h.PrivateIP) && !q.IPOrName.Match(h.PublicIP):
		case !q.VirusNames.Match(e.VirusName):
		case !q.FilePaths.Match(e.ExePath):
		case len(q.ProcessIDs) > 0 && !slices.Contains(q.ProcessIDs, e.PID):
		case !q.StartFrom.IsZero() && start.Before(store.UTC(q.StartFrom)):
		case !q.StartTo.IsZero() && start.After(store.UTC(q.StartTo)):
		case len(q.HandleStatuses) > 0 && !slices.Contains(q.HandleStatuses, e.HandleStatus):
		default:
			return true
		}
		return false
	}
	var rows []store.RiskProcessEvent
	for _, e := range events {
		if match(e) {
			rows = append(rows, e)
		}
	}
	slices.SortFunc(rows, func(x, y store.RiskProcessEvent) int {
		kx, ky := x.DetectTime, y.DetectTime
		if q.OrderBy == store.OrderByStartTime {
			kx, ky = x.ProcessStartTime, y.ProcessStartTime
		}
		c := kx.Compare(ky)
		if c == 0 {
			c = cmp.Compare(x.ID, y.ID)
		}
		if q.Desc {
			c = -c
		}
		return c
	})
	total := int64(len(rows))
	rows = rows[min(q.Offset, len(rows)):]
	if q.Limit > 0 && len(rows) > q.Limit {
		rows = rows[:q.Limit]
	}
	return ids(rows, func(e store.RiskProcessEvent) int64 { return e.ID }), total
}

// flipCase swaps the case of ASCII letters.
func flipCase(s string) string {
	b := []byte(s)
	for i, c := range b {
		switch {
		case 'a' <= c && c <= 'z':
			b[i] = c - 'a' + 'A'
		case 'A' <= c && c <= 'Z':
			b[i] = c - 'A' + 'a'
		}
	}
	return string(b)
}
