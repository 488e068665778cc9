#!/usr/bin/env bash
# The scale benchmark of docs/performance.md (issue 16), in one run on this
# machine:
#
#  1. a synthetic audit log of ENTRIES entries (the real encoder, chain,
#     Merkle nodes and index rows; `examples/fill_audit.rs`), written with
#     zstd on the audit column families and again without: bytes per entry;
#  2. `custos audit verify` over it (full, then --deep with the indexes);
#  3. audit queries, first page, single and combined filters, and the
#     incremental verification of one day's entries
#     (`examples/audit_queries.rs`);
#  4. a release server on a fresh data directory loaded over HTTP with
#     DOSSIERS dossiers, audited reads and searches (`examples/loadgen.rs`),
#     its peak RSS, bytes on disk per dossier version
#     (`examples/store_stats.rs`) and its start-up time on that directory.
#
#   scripts/scale.sh [dossiers] [entries] [reads] [searches]
#                     # defaults 1000000 10000000 1000000 20000
#
# The work directory (CUSTOS_SCALE_DIR, default a temporary one) needs about
# 4 GB per 10M entries and 3 GB per 1M dossiers. The test suite runs it at a
# small size on the test build's binaries (tests/scale.rs sets
# CUSTOS_SCALE_BIN_DIR, which skips the release build), so it never rots.
set -euo pipefail
cd "$(dirname "$0")/.."
dossiers="${1:-1000000}"
entries="${2:-10000000}"
reads="${3:-$dossiers}"
searches="${4:-20000}"
if [ -n "${CUSTOS_SCALE_BIN_DIR:-}" ]; then
  bin="$CUSTOS_SCALE_BIN_DIR/custos"
  ex="$CUSTOS_SCALE_BIN_DIR/examples"
else
  : "${CARGO_TARGET_DIR:=/var/cache/custos/target}"
  export CARGO_TARGET_DIR
  cargo build --release --locked --bin custos --example fill_audit --example audit_queries --example loadgen \
    --example store_stats >/dev/null
  bin="$CARGO_TARGET_DIR/release/custos"
  ex="$CARGO_TARGET_DIR/release/examples"
fi
code="scale-second-admin-code-$(date +%s)-0123456789"
work="$(mktemp -d "${CUSTOS_SCALE_DIR:-${TMPDIR:-/tmp}}/custos-scale.XXXXXX")"
server=""
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
echo "machine: $(nproc) cores, $(uname -r); $(date -u +%Y-%m-%dT%H:%MZ); $dossiers dossiers, $entries audit entries"

echo "== 1. synthetic audit log: bytes per entry"
"$ex/fill_audit" "$work/audit-plain" "$entries" --no-compression
"$ex/store_stats" "$work/audit-plain" | grep '^audit:' | sed 's/^/  uncompressed /'
rm -rf "$work/audit-plain"
"$ex/fill_audit" "$work/audit" "$entries"
"$ex/store_stats" "$work/audit" | grep '^audit:' | sed 's/^/  zstd /'
echo "  on disk: $(du -sb "$work/audit" | cut -f1) bytes"

echo "== 2. full verification"
"$bin" audit verify --data-dir "$work/audit"
"$bin" audit verify --deep --data-dir "$work/audit"

echo "== 3. audit queries and incremental verification"
"$ex/audit_queries" "$work/audit"
rm -rf "$work/audit"

echo "== 4. HTTP at $dossiers dossiers"
port="${CUSTOS_SCALE_PORT:-18183}"
token="scale-admin-token-$(date +%s)-0123456789"
start_server() { # log name
  CUSTOS_BOOTSTRAP_TOKEN="$token" CUSTOS_BOOTSTRAP_SECOND_ADMIN_CODE="$code" CUSTOS_LOG="${CUSTOS_BENCH_LOG:-warn}" \
    "$bin" serve --data-dir "$work/data" --listen "127.0.0.1:$port" >"$work/$1.out" 2>"$work/$1.err" &
  server=$!
  for _ in $(seq 6000); do grep -q listening "$work/$1.out" 2>/dev/null && return 0; sleep 0.05; done
  echo "the server did not start:"; cat "$work/$1.err"; exit 1
}
start_server first
"$ex/loadgen" --url "http://127.0.0.1:$port" --admin-token "$token" \
  --second-admin-code "$code" --dossiers "$dossiers" --reads "$reads" \
  --searches "$searches" --search-concurrency 4 --concurrency 64
echo "  server peak RSS: $(awk '/VmHWM/ {print $2, $3}' "/proc/$server/status")"
kill -TERM "$server"; wait "$server" || true
t0=$(date +%s.%N)
start_server second
t1=$(date +%s.%N)
echo "  start-up on the filled directory: $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}') s (to listening)"
echo "  RSS after start-up: $(awk '/VmRSS/ {print $2, $3}' "/proc/$server/status")"
kill -TERM "$server"; wait "$server" || true
server=""
"$ex/store_stats" "$work/data"
echo "  on disk: $(du -sb "$work/data" | cut -f1) bytes (with the search index: $(du -sb "$work/data/index" 2>/dev/null | cut -f1) bytes)"
"$bin" audit verify --data-dir "$work/data" | sed 's/^/  /'
