package hostagent

import (
	"slices"
	"testing"

	"github.com/vigil-sec/vigil/internal/agentapi/wire"
)

func TestScanRoots(t *testing.T) {
	for _, tc := range []struct {
		p                wire.ScanPayload
		include, exclude []string
	}{
		{wire.ScanPayload{PathMode: "SCAN_PATH_ALL"}, []string{"/"}, skippedRoots},
		{wire.ScanPayload{PathMode: "SCAN_PATH_DEFAULT"}, defaultScanPaths, skippedRoots},
		{wire.ScanPayload{PathMode: "SCAN_PATH_USER_DEFINE", Paths: []string{"/srv"}}, []string{"/srv"}, skippedRoots},
		{wire.ScanPayload{PathMode: "SCAN_PATH_USER_DEFINE", Paths: []string{"/srv"}, Exclude: true}, []string{"/"}, append(slices.Clone(skippedRoots), "/srv")},
	} {
		inc, exc := scanRoots(tc.p)
		if !slices.Equal(inc, tc.include) || !slices.Equal(exc, tc.exclude) {
			t.Errorf("%+v: %v, %v; want %v, %v", tc.p, inc, exc, tc.include, tc.exclude)
		}
	}
}

func TestUnder(t *testing.T) {
	for _, tc := range []struct {
		p    string
		dirs []string
		want bool
	}{
		{"/proc", []string{"/proc"}, true},
		{"/proc/1/environ", []string{"/proc"}, true},
		{"/procfs", []string{"/proc"}, false},
		{"/srv/x", []string{"srv/"}, true},
		{"/anything", []string{"/"}, true},
		{"/tmp/x", nil, false},
	} {
		if got := under(tc.p, tc.dirs); got != tc.want {
			t.Errorf("under(%q, %v) = %v", tc.p, tc.dirs, got)
		}
	}
}
