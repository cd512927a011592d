package cwp

import "github.com/vigil-sec/vigil/internal/server"

// Exporter runs export jobs (see internal/export and tcss's Exporter).
type Exporter interface{}

// registerExportActions: ExportRiskProcessEvents, ExportTasks.
func (h *handlers) registerExportActions(mux *server.Mux) {}
