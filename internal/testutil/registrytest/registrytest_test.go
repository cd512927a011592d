package registrytest_test

import (
	"net/http"
	"testing"

	"github.com/vigil-sec/vigil/internal/testutil/registrytest"
)

func TestStart(t *testing.T) {
	tests := []struct {
		name     string
		opts     registrytest.Options
		user     string
		password string
		want     int
	}{
		{"anonymous", registrytest.Options{}, "", "", http.StatusOK},
		{"auth refuses anonymous", registrytest.Options{Users: map[string]string{"vigil": "s3cret"}}, "", "", http.StatusUnauthorized},
		{"auth refuses a wrong password", registrytest.Options{Users: map[string]string{"vigil": "s3cret"}}, "vigil", "nope", http.StatusUnauthorized},
		{"auth accepts the right password", registrytest.Options{Users: map[string]string{"vigil": "s3cret"}}, "vigil", "s3cret", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := registrytest.Start(t, tt.opts)
			req, _ := http.NewRequest(http.MethodGet, "http://"+r.Host+"/v2/", nil)
			if tt.user != "" {
				req.SetBasicAuth(tt.user, tt.password)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("GET /v2/ = %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
}
