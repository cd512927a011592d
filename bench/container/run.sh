#!/usr/bin/env bash
# Trojan files in real containers (issue 5, §5): one-click scan of 20
# containers sharing an image, write → DescribeVirusList latency, a 5,000
# files/s burst. Run from the repository root as root (containerd, runc and
# busybox-static installed, as .ci/run does). Knobs: CONTAINERS, SHARED_FILES,
# FILES, BURST_FILES.
set -euo pipefail
BIN=$(mktemp -d)/vigil
go build -o "$BIN" ./cmd/vigil
VIGIL_BENCH=1 VIGIL_BIN="$BIN" go test ./bench/container -run TestBench -count=1 -v -timeout 30m "$@" | grep -E 'RESULT|load average|agent|---|FAIL|ok'
rm -rf "$(dirname "$BIN")"
