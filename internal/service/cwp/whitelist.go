package cwp

import "github.com/vigil-sec/vigil/internal/server"

// registerWhitelistActions: CreateMalwareWhiteList, DescribeMalwareWhiteList, DeleteMalwareWhiteList.
func (h *handlers) registerWhitelistActions(mux *server.Mux) {}
