#!/usr/bin/env bash
# Host agent end to end (issue 6, §5): real `vigil server` + `vigil agent`
# subprocesses, the official Go SDK. Run from the repository root as root.
#   idle CPU/RSS over 60 s, exec → DescribeRiskProcessEvents latency over
#   1,000 flagged execs, and a 2,000/s exec burst with flagged ones mixed in.
set -euo pipefail
BIN=$(mktemp -d)/vigil
go build -o "$BIN" ./cmd/vigil
go run ./bench/agent/e2e -bin "$BIN" -idle "${IDLE:-60s}" -execs "${EXECS:-1000}" -rate "${RATE:-2000}" -dur "${DUR:-10s}" "$@"
rm -rf "$(dirname "$BIN")"
