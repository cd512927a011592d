#!/usr/bin/env bash
# Host agent benchmarks (issue 6, §5). Run from the repository root as root.
#   1. Full /proc sweep + judge of ~1,000 processes with warm caches (CPU ms per sweep).
#   2. Exec burst through the netlink process connector: events delivered vs executed.
#   3. The same burst with a tiny receive buffer and a slow consumer, to show
#      ENOBUFS detection and recovery of long-lived processes by sweeps.
set -euo pipefail
PROCS=${PROCS:-1000}
RATE=${RATE:-2000}
DUR=${DUR:-10s}
echo "== sweep of ${PROCS} processes (warm hash and scan caches)"
VIGIL_BENCH_PROCS=$PROCS go test -run '^$' -bench BenchmarkSweep -benchtime 10x ./internal/agent/procjudge/
echo "== exec burst: ${RATE}/s for ${DUR}"
go run ./bench/agent/burst -rate "$RATE" -dur "$DUR"
echo "== forced overruns: minimum receive buffer, 50 ms per event"
go run ./bench/agent/burst -rate "$RATE" -dur 2s -rcvbuf 1 -slow 50ms -long-every 10
