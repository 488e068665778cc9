#!/usr/bin/env bash
# Import throughput (docs/customer-management.md): a release server on a
# fresh data directory, a generated sheet of N rows in the seeds' style,
# `custos import` as a service user (the rows go through the same use
# cases, policies and audit as the API), then the same sheet again (every
# row matched by its credit code: unchanged).
#
#   scripts/bench-import.sh [rows]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/enroll.sh
rows="${1:-20000}"
: "${CARGO_TARGET_DIR:=/var/cache/custos/target}"
export CARGO_TARGET_DIR
cargo build --release --locked --bin custos >/dev/null
bin="$CARGO_TARGET_DIR/release/custos"
work="$(mktemp -d)"
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$work"' EXIT
base=http://127.0.0.1:18182
token="bench-admin-token-$(date +%s)-0123456789"
CUSTOS_BOOTSTRAP_TOKEN="$token" CUSTOS_BOOTSTRAP_SECOND_ADMIN_CODE="$code" CUSTOS_LOG=warn "$bin" serve \
  --data-dir "$work/data" --listen 127.0.0.1:18182 >"$work/out.log" 2>"$work/err.log" &
server=$!
for _ in $(seq 100); do grep -q listening "$work/out.log" 2>/dev/null && break; sleep 0.1; done
prove_admin $base "$token"
second=$(enroll_second $base)
json() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"; }
pid=$(curl -s -X POST -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  -d '{"name":"importer","roles":["service"],"region":"华东"}' $base/v1/principals | json id)
asked=$(curl -s -X POST -H "Authorization: Bearer $token" $base/v1/principals/$pid/tokens)
tid=$(echo "$asked" | json token_id)
# The enrollment code comes in two halves: the asking admin's, then the approving admin's.
enr=$(echo "$asked" | json enrollment_code_part)$(curl -s -X POST -H "Authorization: Bearer $second" $base/v1/tokens/$tid/approve | json enrollment_code_part)
svc=$(enroll_with $base "$enr")
python3 scripts/gen-customers.py "$rows" "$work/sheet.csv"
echo "machine: $(nproc) cores, $(uname -r); $(date -u +%Y-%m-%dT%H:%MZ); $rows rows"
echo "first import (every row created):"
CI=1 "$bin" import --file "$work/sheet.csv" --url $base --token "$svc" --notice 2025-01
echo "second import (every row matched and unchanged):"
CI=1 "$bin" import --file "$work/sheet.csv" --url $base --token "$svc" --notice 2025-01
