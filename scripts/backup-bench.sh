#!/usr/bin/env bash
# Backup throughput (docs/performance.md, "Backups"): a release server with a
# backup_dir, N dossiers ingested, a full set and an incremental set after 1%
# new dossiers timed, then ingest with and without sets taken back to back,
# then `custos backup verify`.
#
#   scripts/backup-bench.sh [dossiers]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/enroll.sh
n="${1:-100000}"
: "${CARGO_TARGET_DIR:=/var/cache/custos/target}"
export CARGO_TARGET_DIR
cargo build --release --locked --bin custos --example loadgen >/dev/null
bin="$CARGO_TARGET_DIR/release/custos"; lg="$CARGO_TARGET_DIR/release/examples/loadgen"
work=$(mktemp -d); srv=""
trap 'kill $srv 2>/dev/null || true; rm -rf "$work"' EXIT
token="bench-admin-token-$(date +%s)-0123456789"; url=http://127.0.0.1:18184
printf 'backup_dir = "%s/offsite"\n' "$work" > "$work/c.toml"
CUSTOS_BOOTSTRAP_TOKEN="$token" CUSTOS_BOOTSTRAP_SECOND_ADMIN_CODE="$code" CUSTOS_LOG=warn "$bin" serve --data-dir "$work/data" --listen 127.0.0.1:18184 \
  --config "$work/c.toml" >"$work/out" 2>"$work/err" &
srv=$!
for _ in $(seq 100); do grep -q listening "$work/out" 2>/dev/null && break; sleep 0.1; done
second=$(enroll_second $url)
echo "machine: $(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ)"
"$lg" --url $url --admin-token "$token" --second-admin-token "$second" --dossiers "$n" --reads 10 --concurrency 64 | grep ingest
timed() { local s e; s=$(date +%s.%N); curl -s -X POST -H "Authorization: Bearer $token" $url/v1/backups; e=$(date +%s.%N); echo "  $1: $(echo "$e - $s" | bc) s"; }
timed "full set"
"$lg" --url $url --admin-token "$token" --second-admin-token "$second" --dossiers $((n / 100)) --reads 10 --concurrency 16 >/dev/null
timed "incremental set after 1% new dossiers"
echo "ingest of 6,000 without, and with one full set taken meanwhile (to an empty target), three times:"
for _ in 1 2 3; do
  "$lg" --url $url --admin-token "$token" --second-admin-token "$second" --dossiers 6000 --reads 10 --concurrency 64 | grep ingest
  rm -rf "$work/offsite"
  ( sleep 0.2; curl -s -o /dev/null -w "  (the set took %{time_total} s)\n" -X POST -H "Authorization: Bearer $token" $url/v1/backups ) &
  one=$!
  "$lg" --url $url --admin-token "$token" --second-admin-token "$second" --dossiers 6000 --reads 10 --concurrency 64 | grep ingest
  wait $one
done
echo "ingest, no set being taken:"
"$lg" --url $url --admin-token "$token" --second-admin-token "$second" --dossiers 20000 --reads 10 --concurrency 64 | grep ingest
echo "ingest, sets taken back to back:"
( while [ ! -f "$work/stop" ]; do curl -s -o /dev/null -X POST -H "Authorization: Bearer $token" $url/v1/backups; done ) &
loop=$!
"$lg" --url $url --admin-token "$token" --second-admin-token "$second" --dossiers 20000 --reads 10 --concurrency 64 | grep ingest
touch "$work/stop"; wait $loop
s=$(date +%s.%N); "$bin" backup verify --from "$work/offsite"; e=$(date +%s.%N); echo "  verify: $(echo "$e - $s" | bc) s"
# Restore to serving (RTO): the newest set into a new directory, then a
# server on it until it listens (start-up rebuilds the search index).
kill -TERM $srv; wait $srv || true; srv=""
s=$(date +%s.%N)
"$bin" backup restore --from "$work/offsite" --data-dir "$work/restored" --master-key-file "$work/data.master-key" \
  --verifier-key-from "$work/data" >"$work/restore.txt"
head -4 "$work/restore.txt"
cp "$work/data.master-key" "$work/restored.master-key"
r=$(date +%s.%N)
CUSTOS_LOG=warn "$bin" serve --data-dir "$work/restored" --listen 127.0.0.1:18185 >"$work/out2" 2>"$work/err2" &
srv=$!
for _ in $(seq 1200); do grep -q listening "$work/out2" 2>/dev/null && break; sleep 0.05; done
e=$(date +%s.%N)
echo "  restore: $(echo "$r - $s" | bc) s; restore to serving (RTO): $(echo "$e - $s" | bc) s"
