#!/usr/bin/env bash
# Ingest, audited-read and search throughput and latency of two builds in one run on
# this machine: a baseline binary (e.g. built from an older commit) and this
# tree's release build, each on a fresh data directory, loaded by the same
# `examples/loadgen.rs` client (this tree's). CUSTOS_BENCH_LOG sets both
# servers' log filter (default `warn`).
#
#   scripts/compare-reads.sh BASE_BIN BASE_POLICIES_DIR [dossiers] [reads] [searches] [floor]
#
# Searches run at 4 clients (their own latency, not queueing); 0 skips them.
# First, `floor` requests (default 50,000) to `GET /healthz` at 64 clients:
# what this machine, the HTTP stack and the client do with no work behind a
# request, the ceiling no audited read can pass; 0 skips them.
# After each run it prints the server's CPU time and peak RSS (from /proc); the load
# generator also prints, per phase, the server's CPU per request and the rate as a
# share of the floor's.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/enroll.sh
base_bin="$1"
base_policies="$2"
dossiers="${3:-20000}"
reads="${4:-100000}"
searches="${5:-20000}"
floor="${6:-50000}"
: "${CARGO_TARGET_DIR:=/var/cache/custos/target}"
export CARGO_TARGET_DIR
cargo build --release --locked --bin custos --example loadgen >/dev/null
head_bin="$CARGO_TARGET_DIR/release/custos"
work="$(mktemp -d)"
server=""
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
run() { # name binary policies
  local token="bench-admin-token-$(date +%s)-0123456789"
  CUSTOS_BOOTSTRAP_TOKEN="$token" CUSTOS_BOOTSTRAP_SECOND_ADMIN_CODE="$code" CUSTOS_LOG="${CUSTOS_BENCH_LOG:-warn}" "$2" serve --data-dir "$work/$1" \
    --listen 127.0.0.1:18182 --policies "$3" >"$work/$1.out" 2>"$work/$1.err" &
  server=$!
  for _ in $(seq 100); do grep -q listening "$work/$1.out" 2>/dev/null && break; sleep 0.1; done
  echo "== $1"
  "$CARGO_TARGET_DIR/release/examples/loadgen" --url http://127.0.0.1:18182 --admin-token "$token" --second-admin-token "$(enroll_second http://127.0.0.1:18182)" --dossiers "$dossiers" --reads "$reads" --concurrency 64 --searches "$searches" --search-concurrency 4 --floor "$floor" --server-pid "$server" --clk-tck "$(getconf CLK_TCK)"
  # The server's own CPU time (user + system, all phases) and peak RSS:
  # work done, which varies less from run to run than throughput does.
  echo "server: cpu $(awk '{ printf "%.1f", ($14 + $15) / 100 }' /proc/$server/stat) s, peak rss $(awk '/VmHWM/ { printf "%.0f", $2 / 1024 }' /proc/$server/status) MiB"
  kill -TERM $server; wait $server || true
}
echo "machine: $(nproc) cores, $(uname -r); $(date -u +%Y-%m-%dT%H:%MZ)"
run baseline "$base_bin" "$base_policies"
run this-tree "$head_bin" ./policies
