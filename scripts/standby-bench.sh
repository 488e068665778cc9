#!/usr/bin/env bash
# The warm standby (docs/performance.md, "A warm standby"): a release primary
# streaming to a directory target every second with N dossiers, a standby
# seeded from it, then the primary under ingest load killed with -9 and the
# standby promoted.
#
#   RPO: the kill's time minus the time of the newest primary log entry the
#        promoted directory holds (every acknowledged write has its entry,
#        written before the answer): the writes of that window are lost.
#   RTO: from `custos promote` to the promoted server answering an
#        authenticated dossier read (the search index kept warm, not rebuilt).
#
#   scripts/standby-bench.sh [dossiers]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/enroll.sh
n="${1:-100000}"
: "${CARGO_TARGET_DIR:=/var/cache/custos/target}"
export CARGO_TARGET_DIR
cargo build --release --locked --bin custos --example loadgen >/dev/null
bin="$CARGO_TARGET_DIR/release/custos"; lg="$CARGO_TARGET_DIR/release/examples/loadgen"
work=$(mktemp -d); srv=""; sb=""; pr=""; load=""
trap 'kill -9 $srv $sb $pr $load 2>/dev/null || true; rm -rf "$work"' EXIT
token="bench-admin-token-$(date +%s)-0123456789"
url=http://127.0.0.1:18186; surl=http://127.0.0.1:18187; purl=http://127.0.0.1:18188
now() { date +%s.%N; }
since() { echo "$(now) - $1" | bc; }
listening() { for _ in $(seq 2400); do grep -q "listening on" "$1" 2>/dev/null && return; sleep 0.05; done; echo "no server: $1" >&2; exit 1; }
printf 'backup_dir = "%s/offsite"\nbackup_stream_secs = 1\n' "$work" > "$work/c.toml"
CUSTOS_BOOTSTRAP_TOKEN="$token" CUSTOS_BOOTSTRAP_SECOND_ADMIN_CODE="$code" CUSTOS_LOG=warn "$bin" serve --data-dir "$work/data" \
  --listen 127.0.0.1:18186 --config "$work/c.toml" >"$work/out" 2>"$work/err" &
srv=$!
listening "$work/out"
second=$(enroll_second $url)
echo "machine: $(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ); $n dossiers"
"$lg" --url $url --admin-token "$token" --second-admin-token "$second" --dossiers "$n" --reads 10 --concurrency 64 | grep ingest
# The standby seeds itself from the newest set, as one started after the
# nightly set would.
curl -s -o /dev/null -X POST -H "Authorization: Bearer $token" $url/v1/backups
# The bench reads the log's verifier key from the target it made itself;
# an operator passes their own copy (GET /v1/audit/verifier-key).
vkey=$(sed -n 's/^verifier-key: //p' "$work/offsite/custos-backup")
s=$(now)
CUSTOS_LOG=warn "$bin" serve --data-dir "$work/standby" --listen 127.0.0.1:18187 --master-key-file "$work/data.master-key" \
  --standby-of "$work/offsite" --verifier-key "$vkey" >"$work/sout" 2>"$work/serr" &
sb=$!
for _ in $(seq 6000); do curl -s $surl/v1/standby | grep -q '"caught_up_at":"' && break; sleep 0.1; done
echo "standby seeded from the set, its search index built, in step: $(since "$s") s"
# Under ingest load: the standby's lag sampled, then the primary killed.
"$lg" --url $url --admin-token "$token" --second-admin-token "$second" --dossiers 10000000 --reads 0 --concurrency 16 \
  >"$work/load" 2>&1 &
load=$!
sleep 5
lags=()
for _ in $(seq 20); do
  lags+=("$(curl -s $surl/v1/standby | sed -n 's/.*"lag_seconds":\([^,]*\),.*/\1/p')")
  sleep 0.5
done
echo "standby lag under load (s, 20 samples every 0.5 s): median $(printf '%s\n' "${lags[@]}" | sort -g | sed -n 10p), max $(printf '%s\n' "${lags[@]}" | sort -g | tail -1)"
killed=$(now); kill -9 $srv; srv=""
kill $load 2>/dev/null || true; wait $load 2>/dev/null || true; load=""
sleep 3
kill -TERM $sb; wait $sb || true; sb=""
s=$(now)
"$bin" promote --data-dir "$work/standby" --master-key-file "$work/data.master-key" --accept-loss >"$work/promote"
p=$(since "$s")
cp "$work/data.master-key" "$work/standby.master-key"
CUSTOS_LOG=warn "$bin" serve --data-dir "$work/standby" --listen 127.0.0.1:18188 --config /dev/null >"$work/pout" 2>"$work/perr" &
pr=$!
listening "$work/pout"
# An authenticated dossier read through the whole stack (a token, policy,
# the store, the audit entry): loadgen's principal, one read.
"$lg" --url $purl --admin-token "$token" --second-admin-token "$second" --dossiers 1 --reads 1 --concurrency 1 >/dev/null
rto=$(since "$s")
newest=$(sed -n 's/.*newest write kept: \([^ ]*\).*/\1/p' "$work/promote")
rpo=$(echo "$killed - $(date -d "$newest" +%s.%N)" | bc)
grep -E "applied|lost" "$work/promote" | cut -c1-200
echo "RPO (kill -9 to the newest write kept): $rpo s"
echo "RTO (promote to an audited read): $rto s (promote itself $p s)"
echo "reads on the promoted server:"
"$lg" --url $purl --admin-token "$token" --second-admin-token "$second" --dossiers 200 --reads 5000 --concurrency 16 | grep -E "read"
