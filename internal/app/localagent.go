package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/vigil-sec/vigil/internal/agent/hostagent"
	"github.com/vigil-sec/vigil/internal/agent/monitor"
	"github.com/vigil-sec/vigil/internal/agent/transport"
	"github.com/vigil-sec/vigil/internal/agentapi"
	"github.com/vigil-sec/vigil/internal/version"
)

// LocalAgentDir is the local agent's data directory, under the server's.
const LocalAgentDir = "agent"

// localAgentServer is the server URL the local agent's credential names: its
// requests never touch the network (see handlerTransport), so it only has to
// be a stable, valid URL.
const localAgentServer = "http://local-agent.vigil.internal"

// runLocalAgent runs a host agent for this machine inside the server process
// (`vigil server --local-agent`), enrolled into the default account. It talks
// to this server's agent protocol handler directly, in memory: no listener
// address, TLS certificate or token to configure. On first start it enrolls
// with a fresh single-use token that expires in a minute; afterwards with the
// credential kept in DATA/agent.
func (a *App) runLocalAgent(ctx context.Context) error {
	dir := filepath.Join(a.cfg.Data, LocalAgentDir)
	var token string
	if _, err := transport.LoadCredential(dir); err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			return err
		}
		acct, err := a.Store.GetAccountByName(ctx, DefaultAccount)
		if err != nil {
			return fmt.Errorf("local agent: %w", err)
		}
		_, token, err = agentapi.CreateToken(ctx, a.Store, acct.ID,
			agentapi.TokenOptions{Description: "local agent (vigil server --local-agent)", MaxUses: 1, TTL: time.Minute}, a.opts.now())
		if err != nil {
			return fmt.Errorf("local agent token: %w", err)
		}
	}
	a.opts.logger.Info("starting the local agent", "data", dir)
	return hostagent.Run(ctx, hostagent.Config{
		Server:        localAgentServer,
		Token:         token,
		DataDir:       dir,
		Transport:     []transport.Option{transport.WithHTTPClient(&http.Client{Transport: handlerTransport{a.Agents}})},
		Rules:         a.cfg.Rules,
		NoBuiltin:     a.cfg.NoBuiltin,
		SweepInterval: monitor.DefaultSweepInterval,
		ScanCPU:       monitor.DefaultScanCPU,
		Version:       version.String(),
		Logger:        a.opts.logger.With("component", "local-agent"),
	})
}

// handlerTransport is an http.RoundTripper that serves requests with an
// in-process handler.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	if r.Body == nil {
		r.Body = http.NoBody
	}
	r.RemoteAddr = "127.0.0.1:0"
	r.RequestURI = r.URL.RequestURI()
	w := &memResponse{header: http.Header{}}
	t.h.ServeHTTP(w, r)
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return &http.Response{
		Status: http.StatusText(w.code), StatusCode: w.code,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: w.header, Body: io.NopCloser(bytes.NewReader(w.body.Bytes())),
		ContentLength: int64(w.body.Len()), Request: req,
	}, nil
}

// memResponse collects a handler's answer.
type memResponse struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (w *memResponse) Header() http.Header { return w.header }

func (w *memResponse) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

func (w *memResponse) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(b)
}
