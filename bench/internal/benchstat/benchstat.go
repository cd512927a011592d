// Package benchstat holds the statistics the benchmark commands print.
package benchstat

import (
	"slices"
	"time"
)

// Percentile is the nearest-rank p-th percentile (0 < p ≤ 100) of d; d is
// not modified. It is 0 for no samples.
func Percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	rank := int(float64(len(s))*p/100 + 0.999999999) // ceil, without float noise at exact ranks
	return s[min(max(rank, 1), len(s))-1]
}
