// Package storetest is the conformance suite of store.Store: every backend
// runs the same tests (Run) and the same benchmark (BenchmarkQueryRiskProcessEvents).
// The suite pins down the contract in package store — tenant scoping of every
// method, idempotent ingest, each filter and ordering, paging and totals,
// LIKE escaping, and times in UTC.
package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/store"
)

// Opener returns a fresh, empty store for t; the backend's test closes it
// (and drops whatever it created) in t.Cleanup.
type Opener func(t *testing.T) store.Store

// Run runs the whole suite. Each group gets its own store from open.
func Run(t *testing.T, open Opener) {
	groups := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Accounts", testAccounts},
		{"APIKeys", testAPIKeys},
		{"Hosts", testHosts},
		{"HostStats", testHostStats},
		{"Threats", testThreats},
		{"RiskProcessEventsInsert", testRiskInsert},
		{"RiskProcessEventsQuery", testRiskQuery},
		{"RiskProcessEventsModel", testRiskModel},
		{"VirusEvents", testVirusEvents},
		{"Registries", testRegistries},
		{"RegistryImages", testRegistryImages},
		{"ImageViruses", testImageViruses},
		{"TenantIsolation", testTenantIsolation},
		{"Times", testTimes},
		{"ImageScan", testImageScan},
		{"Agents", testAgents},
		{"EventStatusAndWhitelists", testEventStatusAndWhitelists},
		{"VirusAdmin", testVirusAdmin},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			g.fn(t, open(t))
		})
	}
}

func ctx(t *testing.T) context.Context { return t.Context() }

// must turns a (value, error) result into a function that fails t on the
// error and returns the value: must(s.GetHost(ctx, id, uuid))(t).
func must[T any](v T, err error) func(t *testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// wantErr fails the test unless err wraps target.
func wantErr(t *testing.T, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: err = %v, want %v", what, err, target)
	}
}

func newAccount(t *testing.T, s store.Store, name string) store.Account {
	t.Helper()
	return must(s.CreateAccount(ctx(t), name))(t)
}

func newHost(t *testing.T, s store.Store, accountID int64, h store.Host) store.Host {
	t.Helper()
	return must(s.UpsertHost(ctx(t), accountID, h))(t)
}

// base is a fixed instant with sub-second digits, in a non-UTC zone, so every
// test also checks that times come back in UTC at microsecond precision.
var base = time.Date(2024, 8, 27, 11, 30, 37, 123456789, time.FixedZone("CST", 8*3600))

// at returns base plus d.
func at(d time.Duration) time.Time { return base.Add(d) }

// sameTime reports whether got is want in UTC at microsecond precision.
func sameTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	w := store.UTC(want)
	if !got.Equal(w) || got.Location() != time.UTC && !got.IsZero() {
		t.Errorf("%s = %v, want %v (UTC, µs)", what, got, w)
	}
}

// recent reports whether tm is between start and now (with the stored
// truncation to microseconds) and in UTC.
func recent(t *testing.T, what string, tm, start time.Time) {
	t.Helper()
	if tm.Before(start.Truncate(time.Microsecond)) || tm.After(time.Now().Add(time.Second)) || tm.Location() != time.UTC {
		t.Errorf("%s = %v, want a UTC time after %v", what, tm, start)
	}
}

func ids[T any](items []T, id func(T) int64) []int64 {
	out := make([]int64, len(items))
	for i, it := range items {
		out[i] = id(it)
	}
	return out
}

func eventIDs(p store.Page[store.RiskProcessEvent]) []int64 {
	return ids(p.Items, func(e store.RiskProcessEvent) int64 { return e.ID })
}

func equalIDs(a, b []int64) bool { return slices.Equal(a, b) || len(a) == 0 && len(b) == 0 }
