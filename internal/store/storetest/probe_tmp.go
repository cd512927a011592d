package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/store"
)

func Probe(t *testing.T, s store.Store, d BenchData, n int) {
	ctx := context.Background()
	a, err := s.GetAccountByName(ctx, d.Account)
	if err != nil {
		t.Fatal(err)
	}
	type r struct {
		el    time.Duration
		bq    benchQuery
		total int64
	}
	var rs []r
	for _, bq := range d.Queries(n) {
		t0 := time.Now()
		p, err := s.QueryRiskProcessEvents(ctx, a.ID, bq.q)
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r{time.Since(t0), bq, p.Total})
	}
	slices.SortFunc(rs, func(x, y r) int { return int(y.el - x.el) })
	for _, x := range rs[:min(25, len(rs))] {
		t.Logf("%8.2fms %-18s total=%-7d %+v", float64(x.el)/1e6, x.bq.kind, x.total, x.bq.q)
	}
}
