package agentapi

import (
	"context"
	"hash/fnv"
	"slices"

	"github.com/vigil-sec/vigil/internal/agentapi/wire"
	"github.com/vigil-sec/vigil/internal/store"
)

// maxCatalogMemo bounds the in-memory memo of catalog entries written; past
// it the memo starts over (costing one upsert per name again).
const maxCatalogMemo = 10_000

// threatHash identifies a catalog entry's content.
func threatHash(t store.Threat) uint64 {
	f := fnv.New64a()
	for _, s := range append([]string{t.Name, t.Desc.ZH, t.Desc.EN, t.Solution.ZH, t.Solution.EN, t.ReferenceLink}, t.Tags...) {
		f.Write([]byte(s))
		f.Write([]byte{0})
	}
	return f.Sum64()
}

func threatOf(e wire.Event) (store.Threat, bool) {
	t := store.Threat{
		Name: e.VirusName, Tags: e.Tags, Desc: store.Localized{ZH: e.DescZH, EN: e.DescEN},
		Solution: store.Localized{ZH: e.SolutionZH, EN: e.SolutionEN}, ReferenceLink: e.Reference,
	}
	has := len(t.Tags) > 0 || t.Desc != (store.Localized{}) || t.Solution != (store.Localized{}) || t.ReferenceLink != ""
	return t, has
}

// updateCatalog upserts the threat texts events carry, only for names new to
// this server or whose texts changed: an upload of a thousand events of one
// virus writes nothing once its texts are known. Events without texts leave
// the catalog alone (UpsertThreats replaces an entry). A failure is logged,
// not fatal: the events matter more than their texts.
func (h *Handler) updateCatalog(ctx context.Context, events []wire.Event, rejected []wire.Rejected) {
	var todo []store.Threat
	var hashes []uint64
	h.mu.Lock()
	for i, e := range events {
		t, ok := threatOf(e)
		if !ok || e.VirusName == "" || slices.ContainsFunc(rejected, func(r wire.Rejected) bool { return r.Index == i }) {
			continue
		}
		sum := threatHash(t)
		if h.catalog[t.Name] == sum || slices.ContainsFunc(todo, func(x store.Threat) bool { return x.Name == t.Name }) {
			continue
		}
		todo, hashes = append(todo, t), append(hashes, sum)
	}
	h.mu.Unlock()
	if len(todo) == 0 {
		return
	}
	if err := h.st.UpsertThreats(ctx, todo); err != nil {
		h.opts.logger.WarnContext(ctx, "agent api: updating the threat catalog", "threats", len(todo), "err", err)
		return
	}
	h.remember(todo, hashes)
}

func (h *Handler) remember(ts []store.Threat, hashes []uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.catalog)+len(ts) > maxCatalogMemo {
		clear(h.catalog)
	}
	for i, t := range ts {
		h.catalog[t.Name] = hashes[i]
	}
}

// SeedThreats writes catalog entries (e.g. procjudge.Threats(), the agent's
// heuristics) at server start, so their texts are there before the first
// event, and remembers them so events carrying the same texts write nothing.
func (h *Handler) SeedThreats(ctx context.Context, ts []store.Threat) error {
	if len(ts) == 0 {
		return nil
	}
	if err := h.st.UpsertThreats(ctx, ts); err != nil {
		return err
	}
	hashes := make([]uint64, len(ts))
	for i, t := range ts {
		hashes[i] = threatHash(t)
	}
	h.remember(ts, hashes)
	return nil
}
