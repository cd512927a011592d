package storetest

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/store"
)

func testAccounts(t *testing.T, s store.Store) {
	start := time.Now()
	a := newAccount(t, s, "alpha")
	b := newAccount(t, s, "beta")
	if a.ID == 0 || b.ID == 0 || a.ID == b.ID {
		t.Fatalf("account ids %d, %d: want distinct non-zero", a.ID, b.ID)
	}
	recent(t, "CreatedAt", a.CreatedAt, start)

	t.Run("Get", func(t *testing.T) {
		got := must(s.GetAccount(ctx(t), a.ID))(t)
		if !equalAccount(got, a) {
			t.Errorf("GetAccount = %+v, want %+v", got, a)
		}
		got = must(s.GetAccountByName(ctx(t), "beta"))(t)
		if !equalAccount(got, b) {
			t.Errorf("GetAccountByName = %+v, want %+v", got, b)
		}
	})
	t.Run("List", func(t *testing.T) {
		got := must(s.ListAccounts(ctx(t)))(t)
		if !slices.EqualFunc(got, []store.Account{a, b}, equalAccount) {
			t.Errorf("ListAccounts = %+v, want [%+v %+v]", got, a, b)
		}
	})
	t.Run("Errors", func(t *testing.T) {
		_, err := s.CreateAccount(ctx(t), "alpha")
		wantErr(t, err, store.ErrConflict, "CreateAccount(duplicate)")
		_, err = s.CreateAccount(ctx(t), " ")
		wantErr(t, err, store.ErrInvalid, "CreateAccount(blank)")
		_, err = s.GetAccount(ctx(t), b.ID+100)
		wantErr(t, err, store.ErrNotFound, "GetAccount(missing)")
		_, err = s.GetAccountByName(ctx(t), "gamma")
		wantErr(t, err, store.ErrNotFound, "GetAccountByName(missing)")
	})
}

func equalAccount(a, b store.Account) bool {
	return a.ID == b.ID && a.Name == b.Name && a.CreatedAt.Equal(b.CreatedAt)
}

func testAPIKeys(t *testing.T, s store.Store) {
	a := newAccount(t, s, "alpha")
	b := newAccount(t, s, "beta")
	start := time.Now()
	k1 := must(s.CreateAPIKey(ctx(t), a.ID, store.APIKey{
		SecretID: "AKIDalpha1", Role: store.RoleAdmin, SecretKeyEnc: []byte{0, 1, 2, 0xff}, Description: "ci",
		AccountID: b.ID, // ignored: the account argument wins
	}))(t)
	k2 := must(s.CreateAPIKey(ctx(t), a.ID, store.APIKey{
		SecretID: "AKIDalpha2", Role: store.RoleReadOnly, Status: store.KeyDisabled, SecretKeyEnc: []byte("c2"),
		CreatedAt: start.Add(time.Hour),
	}))(t)
	kb := must(s.CreateAPIKey(ctx(t), b.ID, store.APIKey{SecretID: "AKIDbeta", Role: store.RoleAdmin, SecretKeyEnc: []byte("cb")}))(t)

	if k1.AccountID != a.ID || k1.Status != store.KeyEnabled || !k1.LastUsedAt.IsZero() {
		t.Errorf("created key = %+v: want account %d, enabled, never used", k1, a.ID)
	}
	recent(t, "CreatedAt", k1.CreatedAt, start)

	t.Run("GetBySecretID", func(t *testing.T) {
		got := must(s.GetAPIKey(ctx(t), "AKIDalpha1"))(t)
		if !equalKey(got, k1) {
			t.Errorf("GetAPIKey = %+v, want %+v", got, k1)
		}
		got = must(s.GetAPIKey(ctx(t), "AKIDbeta"))(t)
		if got.AccountID != b.ID {
			t.Errorf("GetAPIKey(beta).AccountID = %d, want %d", got.AccountID, b.ID)
		}
		_, err := s.GetAPIKey(ctx(t), "AKIDnone")
		wantErr(t, err, store.ErrNotFound, "GetAPIKey(missing)")
	})
	t.Run("List", func(t *testing.T) {
		got := must(s.ListAPIKeys(ctx(t), a.ID))(t)
		if len(got) != 2 || !equalKey(got[0], k1) || !equalKey(got[1], k2) {
			t.Errorf("ListAPIKeys(alpha) = %+v, want [k1 k2]", got)
		}
		got = must(s.ListAPIKeys(ctx(t), b.ID))(t)
		if len(got) != 1 || !equalKey(got[0], kb) {
			t.Errorf("ListAPIKeys(beta) = %+v, want [kb]", got)
		}
	})
	t.Run("SetStatus", func(t *testing.T) {
		if err := s.SetAPIKeyStatus(ctx(t), a.ID, "AKIDalpha1", store.KeyDisabled); err != nil {
			t.Fatal(err)
		}
		if got := must(s.GetAPIKey(ctx(t), "AKIDalpha1"))(t); got.Status != store.KeyDisabled {
			t.Errorf("status after disable = %q", got.Status)
		}
		if err := s.SetAPIKeyStatus(ctx(t), a.ID, "AKIDalpha1", store.KeyEnabled); err != nil {
			t.Fatal(err)
		}
		if got := must(s.GetAPIKey(ctx(t), "AKIDalpha1"))(t); got.Status != store.KeyEnabled {
			t.Errorf("status after enable = %q", got.Status)
		}
		wantErr(t, s.SetAPIKeyStatus(ctx(t), a.ID, "AKIDnone", store.KeyDisabled), store.ErrNotFound, "SetAPIKeyStatus(missing)")
		wantErr(t, s.SetAPIKeyStatus(ctx(t), a.ID, "AKIDalpha1", "gone"), store.ErrInvalid, "SetAPIKeyStatus(bad status)")
	})
	t.Run("Touch", func(t *testing.T) {
		t0 := at(0)
		if err := s.TouchAPIKey(ctx(t), a.ID, "AKIDalpha1", t0); err != nil {
			t.Fatal(err)
		}
		sameTime(t, "LastUsedAt after first touch", must(s.GetAPIKey(ctx(t), "AKIDalpha1"))(t).LastUsedAt, t0)
		// Within the resolution: no write.
		if err := s.TouchAPIKey(ctx(t), a.ID, "AKIDalpha1", t0.Add(store.LastUsedResolution/2)); err != nil {
			t.Fatal(err)
		}
		sameTime(t, "LastUsedAt after a touch within the resolution", must(s.GetAPIKey(ctx(t), "AKIDalpha1"))(t).LastUsedAt, t0)
		// Older: never backwards.
		if err := s.TouchAPIKey(ctx(t), a.ID, "AKIDalpha1", t0.Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
		sameTime(t, "LastUsedAt after an older touch", must(s.GetAPIKey(ctx(t), "AKIDalpha1"))(t).LastUsedAt, t0)
		t1 := t0.Add(2 * store.LastUsedResolution)
		if err := s.TouchAPIKey(ctx(t), a.ID, "AKIDalpha1", t1); err != nil {
			t.Fatal(err)
		}
		sameTime(t, "LastUsedAt after a later touch", must(s.GetAPIKey(ctx(t), "AKIDalpha1"))(t).LastUsedAt, t1)
		wantErr(t, s.TouchAPIKey(ctx(t), a.ID, "AKIDnone", t1), store.ErrNotFound, "TouchAPIKey(missing)")
	})
	t.Run("Errors", func(t *testing.T) {
		tests := []struct {
			name    string
			account int64
			key     store.APIKey
			want    error
		}{
			{"duplicate in same account", a.ID, store.APIKey{SecretID: "AKIDalpha1", Role: store.RoleAdmin, SecretKeyEnc: []byte("x")}, store.ErrConflict},
			{"duplicate across accounts", b.ID, store.APIKey{SecretID: "AKIDalpha2", Role: store.RoleAdmin, SecretKeyEnc: []byte("x")}, store.ErrConflict},
			{"unknown account", b.ID + 100, store.APIKey{SecretID: "AKIDx", Role: store.RoleAdmin, SecretKeyEnc: []byte("x")}, store.ErrNotFound},
			{"empty secret id", a.ID, store.APIKey{Role: store.RoleAdmin, SecretKeyEnc: []byte("x")}, store.ErrInvalid},
			{"bad role", a.ID, store.APIKey{SecretID: "AKIDy", Role: "root", SecretKeyEnc: []byte("x")}, store.ErrInvalid},
			{"bad status", a.ID, store.APIKey{SecretID: "AKIDy", Role: store.RoleAdmin, Status: "on", SecretKeyEnc: []byte("x")}, store.ErrInvalid},
			{"no ciphertext", a.ID, store.APIKey{SecretID: "AKIDy", Role: store.RoleAdmin}, store.ErrInvalid},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := s.CreateAPIKey(ctx(t), tt.account, tt.key)
				wantErr(t, err, tt.want, "CreateAPIKey")
			})
		}
	})
}

func equalKey(a, b store.APIKey) bool {
	return a.SecretID == b.SecretID && a.AccountID == b.AccountID && a.Role == b.Role && a.Status == b.Status &&
		bytes.Equal(a.SecretKeyEnc, b.SecretKeyEnc) && a.Description == b.Description &&
		a.CreatedAt.Equal(b.CreatedAt) && a.LastUsedAt.Equal(b.LastUsedAt)
}

func testHosts(t *testing.T, s store.Store) {
	a := newAccount(t, s, "alpha")
	start := time.Now()
	h := store.Host{
		UUID: "6f9c1c0e-0000-4000-8000-000000000001", QUUID: "q-1", Name: "web-01", PrivateIP: "10.0.0.1", PublicIP: "1.2.3.4",
		NetworkType: 1, NetworkName: "eth0", InstanceID: "ins-1", OS: "Debian 12", Kernel: "6.1.0", AgentVersion: "1.0.0",
		MachineType: "CVM", Region: "ap-guangzhou", Online: true, LastSeen: at(0),
		ID: 999, AccountID: 999, // ignored
	}
	first := newHost(t, s, a.ID, h)
	if first.ID == 0 || first.ID == 999 || first.AccountID != a.ID {
		t.Fatalf("UpsertHost ids = %d/%d, want a new id and account %d", first.ID, first.AccountID, a.ID)
	}
	recent(t, "CreatedAt", first.CreatedAt, start)
	sameTime(t, "LastSeen", first.LastSeen, h.LastSeen)
	want := h
	want.ID, want.AccountID, want.CreatedAt, want.UpdatedAt, want.LastSeen = first.ID, a.ID, first.CreatedAt, first.UpdatedAt, store.UTC(h.LastSeen)
	if !equalHost(first, want) {
		t.Errorf("UpsertHost = %+v\nwant %+v", first, want)
	}

	t.Run("Update", func(t *testing.T) {
		u := h
		u.Name, u.PrivateIP, u.PublicIP, u.Online, u.LastSeen = "web-01-renamed", "10.0.0.9", "", false, time.Time{}
		time.Sleep(2 * time.Millisecond)
		got := newHost(t, s, a.ID, u)
		if got.ID != first.ID || !got.CreatedAt.Equal(first.CreatedAt) {
			t.Errorf("update changed id/created: %d/%v, want %d/%v", got.ID, got.CreatedAt, first.ID, first.CreatedAt)
		}
		if !got.UpdatedAt.After(first.UpdatedAt) {
			t.Errorf("UpdatedAt = %v, want after %v", got.UpdatedAt, first.UpdatedAt)
		}
		if got.Name != u.Name || got.PrivateIP != u.PrivateIP || got.PublicIP != "" || got.Online || !got.LastSeen.IsZero() {
			t.Errorf("update not applied: %+v", got)
		}
		if g := must(s.GetHost(ctx(t), a.ID, h.UUID))(t); !equalHost(g, got) {
			t.Errorf("GetHost = %+v\nwant %+v", g, got)
		}
	})
	t.Run("Errors", func(t *testing.T) {
		_, err := s.GetHost(ctx(t), a.ID, "missing")
		wantErr(t, err, store.ErrNotFound, "GetHost(missing)")
		_, err = s.UpsertHost(ctx(t), a.ID, store.Host{Name: "no uuid"})
		wantErr(t, err, store.ErrInvalid, "UpsertHost(no uuid)")
		_, err = s.UpsertHost(ctx(t), a.ID+100, store.Host{UUID: "x"})
		wantErr(t, err, store.ErrNotFound, "UpsertHost(unknown account)")
		_, err = s.QueryHosts(ctx(t), a.ID, store.HostQuery{Limit: -1})
		wantErr(t, err, store.ErrInvalid, "QueryHosts(negative limit)")
	})

	t.Run("Query", func(t *testing.T) {
		b := newAccount(t, s, "beta")
		yes, no := true, false
		hosts := []store.Host{
			{UUID: "u-a", QUUID: "qa", Name: "alpha_1", PrivateIP: "192.168.0.1", InstanceID: "ins-a", Online: true},
			{UUID: "u-b", QUUID: "qb", Name: "ALPHA-2", PrivateIP: "192.168.0.2", PublicIP: "8.8.8.8", InstanceID: "ins-b"},
			{UUID: "u-c", QUUID: "qc", Name: "gamma%", PrivateIP: "172.16.0.3", InstanceID: "ins-c", Online: true},
			{UUID: "u-d", QUUID: "qd", Name: "Ünïcode-节点", PrivateIP: "172.16.0.4", InstanceID: "ins-d"},
		}
		for _, h := range hosts {
			newHost(t, s, b.ID, h)
		}
		tests := []struct {
			name  string
			q     store.HostQuery
			want  []string // UUIDs in order
			total int64
		}{
			{"all by name", store.HostQuery{}, []string{"u-b", "u-a", "u-c", "u-d"}, 4},
			{"substring folds case", store.HostQuery{IPOrName: store.TextFilter{Values: []string{"alpha"}}}, []string{"u-b", "u-a"}, 2},
			{"underscore is literal", store.HostQuery{IPOrName: store.TextFilter{Values: []string{"a_1"}}}, []string{"u-a"}, 1},
			{"percent is literal", store.HostQuery{IPOrName: store.TextFilter{Values: []string{"a%"}}}, []string{"u-c"}, 1},
			{"ip substring", store.HostQuery{IPOrName: store.TextFilter{Values: []string{"192.168."}}}, []string{"u-b", "u-a"}, 2},
			{"public ip exact", store.HostQuery{IPOrName: store.TextFilter{Values: []string{"8.8.8.8"}, Exact: true}}, []string{"u-b"}, 1},
			{"non-ASCII matches exactly", store.HostQuery{IPOrName: store.TextFilter{Values: []string{"Ünï"}}}, []string{"u-d"}, 1},
			{"only ASCII letters fold", store.HostQuery{IPOrName: store.TextFilter{Values: []string{"ünï"}}}, nil, 0},
			{"CJK substring", store.HostQuery{IPOrName: store.TextFilter{Values: []string{"节"}}}, []string{"u-d"}, 1},
			{"ASCII folds next to non-ASCII", store.HostQuery{IPOrName: store.TextFilter{Values: []string{"ÜNÏCODE"}}}, nil, 0},
			{"exact is exact", store.HostQuery{IPOrName: store.TextFilter{Values: []string{"alpha"}, Exact: true}}, nil, 0},
			{"uuid exact OR", store.HostQuery{UUIDs: store.TextFilter{Values: []string{"u-a", "u-c"}, Exact: true}}, []string{"u-a", "u-c"}, 2},
			{"quuid", store.HostQuery{QUUIDs: []string{"qc"}}, []string{"u-c"}, 1},
			{"instance", store.HostQuery{InstanceIDs: []string{"ins-a", "ins-b"}}, []string{"u-b", "u-a"}, 2},
			{"online", store.HostQuery{Online: &yes}, []string{"u-a", "u-c"}, 2},
			{"offline", store.HostQuery{Online: &no}, []string{"u-b", "u-d"}, 2},
			{"AND of filters", store.HostQuery{IPOrName: store.TextFilter{Values: []string{"alpha"}}, Online: &yes}, []string{"u-a"}, 1},
			{"page", store.HostQuery{Limit: 1, Offset: 1}, []string{"u-a"}, 4},
			{"last page", store.HostQuery{Limit: 3, Offset: 2}, []string{"u-c", "u-d"}, 4},
			{"past the end", store.HostQuery{Limit: 2, Offset: 5}, nil, 4},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				p := must(s.QueryHosts(ctx(t), b.ID, tt.q))(t)
				got := make([]string, len(p.Items))
				for i, h := range p.Items {
					got[i] = h.UUID
					if h.AccountID != b.ID {
						t.Errorf("host %s of account %d", h.UUID, h.AccountID)
					}
				}
				if !slices.Equal(got, tt.want) || p.Total != tt.total {
					t.Errorf("QueryHosts = %v (total %d), want %v (total %d)", got, p.Total, tt.want, tt.total)
				}
			})
		}
	})
}

func testThreats(t *testing.T, s store.Store) {
	th := store.Threat{
		Name: "Linux.Miner.Xmrig", Tags: []string{"miner", "挖矿"},
		Desc:     store.Localized{ZH: "发现挖矿程序", EN: "A coin miner was found"},
		Solution: store.Localized{ZH: "1.隔离\n2.删除", EN: "1. isolate\n2. delete"}, ReferenceLink: "https://example.com/x",
	}
	start := time.Now()
	if err := s.UpsertThreats(ctx(t), []store.Threat{th, {Name: "Other"}}); err != nil {
		t.Fatal(err)
	}
	got := must(s.GetThreat(ctx(t), th.Name))(t)
	recent(t, "UpdatedAt", got.UpdatedAt, start)
	th.UpdatedAt = got.UpdatedAt
	if !equalThreat(got, th) {
		t.Errorf("GetThreat = %+v\nwant %+v", got, th)
	}
	// Replace.
	th2 := store.Threat{Name: th.Name, Desc: store.Localized{EN: "changed"}}
	if err := s.UpsertThreats(ctx(t), []store.Threat{th2}); err != nil {
		t.Fatal(err)
	}
	got = must(s.GetThreat(ctx(t), th.Name))(t)
	th2.UpdatedAt = got.UpdatedAt
	if !equalThreat(got, th2) {
		t.Errorf("after replace GetThreat = %+v\nwant %+v", got, th2)
	}
	_, err := s.GetThreat(ctx(t), "missing")
	wantErr(t, err, store.ErrNotFound, "GetThreat(missing)")
	wantErr(t, s.UpsertThreats(ctx(t), []store.Threat{{Name: ""}}), store.ErrInvalid, "UpsertThreats(no name)")
	if err := s.UpsertThreats(ctx(t), nil); err != nil {
		t.Errorf("UpsertThreats(nil) = %v", err)
	}
}

func equalThreat(a, b store.Threat) bool {
	return a.Name == b.Name && slices.Equal(a.Tags, b.Tags) && a.Desc == b.Desc && a.Solution == b.Solution &&
		a.ReferenceLink == b.ReferenceLink && a.UpdatedAt.Equal(b.UpdatedAt)
}

// equalHost compares hosts, times by instant.
func equalHost(a, b store.Host) bool {
	ta := []time.Time{a.LastSeen, a.CreatedAt, a.UpdatedAt}
	tb := []time.Time{b.LastSeen, b.CreatedAt, b.UpdatedAt}
	for i := range ta {
		if !ta[i].Equal(tb[i]) {
			return false
		}
	}
	a.LastSeen, a.CreatedAt, a.UpdatedAt = time.Time{}, time.Time{}, time.Time{}
	b.LastSeen, b.CreatedAt, b.UpdatedAt = time.Time{}, time.Time{}, time.Time{}
	return a == b
}
