package migrate

import (
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

func TestLoad(t *testing.T) {
	tests := []struct {
		name    string
		files   fstest.MapFS
		want    []int64
		wantErr string
	}{
		{
			name: "ordered",
			files: fstest.MapFS{
				"m/0002_more.sql": {Data: []byte("B")},
				"m/0001_init.sql": {Data: []byte("A")},
				"m/README.md":     {Data: []byte("ignored")},
			},
			want: []int64{1, 2},
		},
		{name: "gap", files: fstest.MapFS{"m/0001_a.sql": {}, "m/0003_c.sql": {}}, wantErr: "expected version 2"},
		{name: "bad name", files: fstest.MapFS{"m/1_a.sql": {}}, wantErr: "not named"},
		{name: "duplicate", files: fstest.MapFS{"m/0001_a.sql": {}, "m/0001_b.sql": {}}, wantErr: "expected version 2"},
		{name: "empty", files: fstest.MapFS{"m/x.txt": {}}, wantErr: "no migrations"},
		{name: "missing dir", files: fstest.MapFS{}, wantErr: "migrate:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms, err := Load(tt.files, "m")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Load: err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []int64
			for _, m := range ms {
				got = append(got, m.Version)
			}
			if !slices.Equal(got, tt.want) || ms[0].SQL != "A" || ms[1].Name != "0002_more.sql" {
				t.Fatalf("Load = %v (%q), want %v", got, ms[0].SQL, tt.want)
			}
		})
	}
}

func TestPending(t *testing.T) {
	all := []Migration{{Version: 1}, {Version: 2}, {Version: 3}}
	p, err := Pending(all, []int64{1, 2})
	if err != nil || len(p) != 1 || p[0].Version != 3 {
		t.Fatalf("Pending = %v, %v; want [3]", p, err)
	}
	p, err = Pending(all, nil)
	if err != nil || len(p) != 3 {
		t.Fatalf("Pending(nil) = %v, %v; want all", p, err)
	}
	if _, err := Pending(all, []int64{1, 4}); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Pending with unknown version: err = %v", err)
	}
}
