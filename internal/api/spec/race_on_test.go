//go:build race

package spec

// raceEnabled: the race detector makes sync.Pool (used by json.Valid) drop
// entries at random, so allocation counts are meaningless under it.
const raceEnabled = true
