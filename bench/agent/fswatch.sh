#!/usr/bin/env bash
# Container file watcher benchmarks (issue 5, §5). Run from the repository root as root.
# A generator process writes RATE small files/s for DUR into an overlay mount laid out like
# a containerd rootfs, planting 10 EICAR-like marker files (harmless text); the watcher
# (internal/agent/fswatch) reads every file delivered. Reports delivered / coalesced / shed /
# overflow / rescan counts, files and markers missed, and the watcher's CPU (getrusage).
#   1. fanotify, default sizes, a free consumer (reads each file).
#   2. fanotify, a slow consumer (1 ms per file, 2 workers = 2,000 files/s < RATE): sheds, rescans.
#   3. fanotify with a 64-event kernel queue (fs.fanotify.max_queued_events set and restored
#      around group creation) and 64-entry table/queue: FAN_Q_OVERFLOW and rescans.
#   4. the inotify fallback.
set -euo pipefail
RATE=${RATE:-5000}
DUR=${DUR:-10s}
go build -o /tmp/vigil-fswatch-bench ./bench/agent/fswatch
run() { echo "== $*"; /tmp/vigil-fswatch-bench -rate "$RATE" -dur "$DUR" "$@"; echo; }
run
run -scan-cost 1ms -workers 2
run -kernel-queue 64 -pending 64 -queue 64
run -mode inotify
