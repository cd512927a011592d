package cwp

import "github.com/vigil-sec/vigil/internal/server"

// registerMachineActions: DescribeMachines.
func (h *handlers) registerMachineActions(mux *server.Mux) {}
