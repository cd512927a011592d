package tcss

import "github.com/vigil-sec/vigil/internal/server"

// Exporter runs export jobs (defined with the export actions).
type Exporter interface{}

func (h *handlers) registerExportActions(mux *server.Mux) {}
