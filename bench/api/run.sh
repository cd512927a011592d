#!/usr/bin/env bash
# Issue 2 speed targets, on this machine: DescribeRiskProcessEvents over
# 1,000,000 events through the full signed HTTP path (SQLite and PostgreSQL),
# the simple-Describe throughput, and the per-call protocol overhead.
# Seeded databases are kept in $BENCH_DIR between runs (seeding takes minutes).
set -euo pipefail
cd "$(dirname "$0")/../.."
BENCH_DIR=${BENCH_DIR:-/var/tmp/vigil-bench}
EVENTS=${EVENTS:-1000000}
QUERIES=${QUERIES:-2000}
mkdir -p "$BENCH_DIR"
go build -o "$BENCH_DIR/benchapi" ./bench/api

echo "== protocol overhead (signature, key, role, rate limit, validation, envelope)"
go test -run '^$' -bench ProtocolOverhead -benchtime 20000x -count 5 ./internal/app | grep Benchmark

echo "== SQLite"
"$BENCH_DIR/benchapi" -events "$EVENTS" -dir "$BENCH_DIR/sqlite" -queries "$QUERIES"

echo "== PostgreSQL"
export VIGIL_PG_STATE="$BENCH_DIR/pg-state" VIGIL_PG_PORT=${VIGIL_PG_PORT:-5439}
bash .ci/postgres.sh stop >/dev/null 2>&1 || true
bash .ci/postgres.sh start >/dev/null
trap 'bash .ci/postgres.sh stop >/dev/null 2>&1 || true' EXIT
url=$(cat "$VIGIL_PG_STATE/url")
"$BENCH_DIR/benchapi" -events "$EVENTS" -dir "$BENCH_DIR/pg-data" -database "$url" -queries "$QUERIES"
