package container_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-sec/vigil/internal/agent/container"
)

// fakeDocker is a FAKE of the Docker Engine API (no Docker daemon on the
// test machines): an httptest server on a unix socket answering the three
// GETs the resolver makes with documents shaped like dockerd's (API 1.41),
// for a plain container and a cri-dockerd pod (sandbox + container).
func fakeDocker(t *testing.T) string {
	t.Helper()
	const (
		plainID   = "1111111111111111111111111111111111111111111111111111111111111111"
		sandboxID = "2222222222222222222222222222222222222222222222222222222222222222"
		appID     = "3333333333333333333333333333333333333333333333333333333333333333"
	)
	containers := map[string]map[string]any{
		plainID: {"Id": plainID, "Name": "/nginx-1", "Created": "2024-05-06T07:08:09.123456789Z",
			"Image": "sha256:aaaa", "State": map[string]any{"Status": "running", "Pid": os.Getpid()},
			"Config":          map[string]any{"Image": "nginx:1.25", "Labels": map[string]string{"maintainer": "x"}},
			"NetworkSettings": map[string]any{"IPAddress": "172.17.0.2"}},
		sandboxID: {"Id": sandboxID, "Name": "/k8s_POD_agent-x7kq2_monitoring_u1_0", "Created": "2024-05-06T07:00:00Z",
			"Image": "sha256:pause", "State": map[string]any{"Status": "running", "Pid": 1},
			"Config": map[string]any{"Image": "registry.k8s.io/pause:3.9", "Labels": map[string]string{
				"io.kubernetes.docker.type": "podsandbox", "io.kubernetes.pod.name": "agent-x7kq2",
				"io.kubernetes.pod.namespace": "monitoring", "io.kubernetes.pod.uid": "u1",
				"controller-revision-hash": "6b9f8d7c4", "pod-template-generation": "3"}},
			"NetworkSettings": map[string]any{"Networks": map[string]any{"cni": map[string]any{"IPAddress": "10.244.1.7"}}}},
		appID: {"Id": appID, "Name": "/k8s_agent_agent-x7kq2_monitoring_u1_0", "Created": "2024-05-06T07:00:01Z",
			"Image": "sha256:bbbb", "State": map[string]any{"Status": "exited", "Pid": 0},
			"Config": map[string]any{"Image": "example/agent:2", "Labels": map[string]string{
				"io.kubernetes.docker.type": "container", "io.kubernetes.pod.name": "agent-x7kq2",
				"io.kubernetes.pod.namespace": "monitoring", "io.kubernetes.pod.uid": "u1",
				"io.kubernetes.container.name": "agent", "io.kubernetes.sandbox.id": sandboxID}}},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /containers/json", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode([]map[string]string{{"Id": plainID}, {"Id": sandboxID}})
	})
	mux.HandleFunc("GET /containers/{id}/json", func(w http.ResponseWriter, r *http.Request) {
		c, ok := containers[r.PathValue("id")]
		if !ok {
			http.Error(w, `{"message":"No such container"}`, http.StatusNotFound)
			return
		}
		json.NewEncoder(w).Encode(c)
	})
	mux.HandleFunc("GET /images/{id}/json", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") != "sha256:aaaa" {
			http.Error(w, `{"message":"No such image"}`, http.StatusNotFound)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"RepoDigests": []string{"nginx@sha256:cccc"}})
	})
	sock := filepath.Join(t.TempDir(), "docker.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(mux)
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return sock
}

func TestDockerFake(t *testing.T) {
	sock := fakeDocker(t)
	r := container.New(container.WithDockerSocket(sock), container.WithContainerdSocket(filepath.Join(t.TempDir(), "none.sock")))
	defer r.Close()
	ctx := context.Background()
	tests := []struct {
		id   string
		want container.Info
	}{
		{strings.Repeat("1", 64), container.Info{Name: "nginx-1", Image: "nginx:1.25", ImageID: "sha256:aaaa",
			ImageDigest: "sha256:cccc", Status: container.StatusRunning, PID: os.Getpid()}},
		{strings.Repeat("3", 64), container.Info{Name: "agent", Image: "example/agent:2", ImageID: "sha256:bbbb",
			Status: container.StatusStopped, PodName: "agent-x7kq2", PodNamespace: "monitoring", PodUID: "u1",
			PodIP: "10.244.1.7", SandboxID: strings.Repeat("2", 64), WorkloadType: container.WorkloadDaemonSet,
			WorkloadName: "agent"}},
	}
	for _, tt := range tests {
		t.Run(tt.want.Name, func(t *testing.T) {
			in, err := r.Resolve(ctx, tt.id)
			if err != nil {
				t.Fatal(err)
			}
			got := container.Info{Name: in.Name, Image: in.Image, ImageID: in.ImageID, ImageDigest: in.ImageDigest,
				Status: in.Status, PID: in.PID, PodName: in.PodName, PodNamespace: in.PodNamespace, PodUID: in.PodUID,
				PodIP: in.PodIP, SandboxID: in.SandboxID, WorkloadType: in.WorkloadType, WorkloadName: in.WorkloadName}
			if got.Name != tt.want.Name || got.Image != tt.want.Image || got.ImageID != tt.want.ImageID ||
				got.ImageDigest != tt.want.ImageDigest || got.Status != tt.want.Status || got.PID != tt.want.PID ||
				got.PodName != tt.want.PodName || got.PodNamespace != tt.want.PodNamespace || got.PodUID != tt.want.PodUID ||
				got.PodIP != tt.want.PodIP || got.SandboxID != tt.want.SandboxID ||
				got.WorkloadType != tt.want.WorkloadType || got.WorkloadName != tt.want.WorkloadName {
				t.Fatalf("\n got %+v\nwant %+v", got, tt.want)
			}
			if in.Runtime != container.RuntimeDocker || in.Created.IsZero() {
				t.Fatalf("runtime %q, created %v", in.Runtime, in.Created)
			}
		})
	}
	if _, err := r.Resolve(ctx, strings.Repeat("9", 64)); !errors.Is(err, container.ErrNotFound) {
		t.Fatalf("unknown: %v, want ErrNotFound", err)
	}
	list, err := r.List(ctx)
	if err != nil || len(list) != 2 || list[0].RootFS != "/proc/"+itoa(list[0].PID)+"/root" {
		t.Fatalf("List = %+v, %v", list, err)
	}
}
