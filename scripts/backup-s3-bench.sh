#!/usr/bin/env bash
# A bucket target beside a directory target, in one run (docs/performance.md,
# "Backups to a bucket"): a release server ingests N dossiers and stops;
# then a full set of that data directory to a directory and to a bucket of
# s3s-fs on loopback (`custos backup create`, the code the nightly set
# runs), `backup verify` of each, and `backup restore` from each, timed, with
# the peak memory of each command (GNU time).
#
#   scripts/backup-s3-bench.sh [dossiers]     (s3s-fs from ./dev.sh test's cache)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/enroll.sh
n="${1:-100000}"
: "${CARGO_TARGET_DIR:=/var/cache/custos/target}"
export CARGO_TARGET_DIR
s3s="$(dirname "$CARGO_TARGET_DIR")/tools/bin/s3s-fs"
[ -x "$s3s" ] || { echo "backup-s3-bench: $s3s is missing: run ./dev.sh test once (it installs s3s-fs)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "backup-s3-bench: GNU time is missing: apt-get install time" >&2; exit 2; }
cargo build --release --locked --bin custos --example loadgen >/dev/null
bin="$CARGO_TARGET_DIR/release/custos"; lg="$CARGO_TARGET_DIR/release/examples/loadgen"
work=$(mktemp -d); srv=""; s3pid=""
trap 'kill $srv $s3pid 2>/dev/null || true; rm -rf "$work"' EXIT
token="bench-admin-token-$(date +%s)-0123456789"; url=http://127.0.0.1:18186
CUSTOS_BOOTSTRAP_TOKEN="$token" CUSTOS_BOOTSTRAP_SECOND_ADMIN_CODE="$code" CUSTOS_LOG=warn "$bin" serve --data-dir "$work/data" \
  --listen 127.0.0.1:18186 >"$work/out" 2>"$work/err" &
srv=$!
for _ in $(seq 100); do grep -q listening "$work/out" 2>/dev/null && break; sleep 0.1; done
second=$(enroll_second $url)
echo "machine: $(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ); $n dossiers"
"$lg" --url $url --admin-token "$token" --second-admin-token "$second" --dossiers "$n" --reads 10 --concurrency 64 | grep ingest
kill -TERM $srv; wait $srv || true; srv=""
echo "store: $(du -sm "$work/data/db" | cut -f1) MB"

mkdir -p "$work/s3/bench"
"$s3s" --host 127.0.0.1 --port 18187 --access-key AKIABENCH --secret-key bench-secret-key "$work/s3" >/dev/null 2>&1 &
s3pid=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/18187) 2>/dev/null && break; sleep 0.1; done
export AWS_ACCESS_KEY_ID=AKIABENCH AWS_SECRET_ACCESS_KEY=bench-secret-key
bucket="s3://bench/site-a?endpoint=http://127.0.0.1:18187&region=us-east-1"

# One command, timed: wall seconds, its own CPU seconds (user + system;
# the rest of the wall time is waiting, for the disk or the S3 server on the
# same cores), and peak resident memory.
measure() { # label, command...
  local label="$1"; shift
  /usr/bin/time -f "%e %U %S %M" -o "$work/time" "$@" >"$work/cmd.out" 2>"$work/cmd.err" \
    || { echo "$label failed:"; cat "$work/cmd.err"; exit 1; }
  read -r secs user sys kb <"$work/time"
  printf "  %-30s %6.2f s   custos CPU %5.2f s   peak RSS %4d MB\n" "$label" "$secs" "$(echo "$user + $sys" | bc)" "$((kb / 1024))"
}
for round in 1 2 3; do
  echo "round $round:"
  rm -rf "$work/dir" "$work/s3/bench/site-a" "$work/r-dir" "$work/r-s3"
  measure "full set to a directory" "$bin" backup create --data-dir "$work/data" --to "$work/dir"
  measure "full set to the bucket" "$bin" backup create --data-dir "$work/data" --to "$bucket"
  measure "verify the directory" "$bin" backup verify --from "$work/dir"
  measure "verify the bucket" "$bin" backup verify --from "$bucket"
  measure "restore from the directory" "$bin" backup restore --from "$work/dir" --data-dir "$work/r-dir" \
    --master-key-file "$work/data.master-key" --verifier-key-from "$work/data"
  measure "restore from the bucket" "$bin" backup restore --from "$bucket" --data-dir "$work/r-s3" \
    --master-key-file "$work/data.master-key" --verifier-key-from "$work/data"
done
echo "bucket: $(du -sm "$work/s3/bench/site-a" | cut -f1) MB in $(find "$work/s3/bench/site-a" -type f | wc -l) objects"
