package tcss

import "github.com/vigil-sec/vigil/internal/server"

func (h *handlers) registerScanActions(mux *server.Mux) {}
