#!/usr/bin/env bash
# The measurements of docs/performance.md, in one run on this machine:
# a release server on a fresh data directory, `examples/loadgen.rs` against it over
# HTTP (ingest, then audited reads at 64 clients), then `custos audit verify`
# over the resulting log and over a large synthetic log.
#
#   scripts/bench.sh [dossiers] [reads] [verify-entries]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/enroll.sh
dossiers="${1:-20000}"
reads="${2:-100000}"
verify_entries="${3:-2000000}"
: "${CARGO_TARGET_DIR:=/var/cache/custos/target}"
export CARGO_TARGET_DIR
cargo build --release --locked --bin custos --example fill_audit --example loadgen >/dev/null
bin="$CARGO_TARGET_DIR/release/custos"
work="$(mktemp -d)"
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT

token="bench-admin-token-$(date +%s)-0123456789"
CUSTOS_BOOTSTRAP_TOKEN="$token" CUSTOS_BOOTSTRAP_SECOND_ADMIN_CODE="$code" CUSTOS_LOG="${CUSTOS_BENCH_LOG:-warn}" "$bin" serve --data-dir "$work/data" \
  --listen 127.0.0.1:18181 >"$work/out.log" 2>"$work/err.log" &
server=$!
for _ in $(seq 100); do grep -q listening "$work/out.log" 2>/dev/null && break; sleep 0.1; done
second=$(enroll_second http://127.0.0.1:18181)
echo "machine: $(nproc) cores, $(uname -r); $(date -u +%Y-%m-%dT%H:%MZ)"
"$CARGO_TARGET_DIR/release/examples/loadgen" --url http://127.0.0.1:18181 --admin-token "$token" --second-admin-token "$second" --dossiers "$dossiers" --reads "$reads" --concurrency 64
kill -TERM $server; wait $server || true
echo "audit verify of the bench's own log:"
"$bin" audit verify --data-dir "$work/data"
echo "audit verify of a synthetic log of $verify_entries entries:"
"$CARGO_TARGET_DIR/release/examples/fill_audit" "$work/big" "$verify_entries"
"$bin" audit verify --data-dir "$work/big"
