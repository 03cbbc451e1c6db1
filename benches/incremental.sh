#!/usr/bin/env bash
# Incremental runs (`--state`, docs/incremental.md): a 30-day archive reported once a day
# for 30 days, the way cron does, with --state against a full run each day, side by side on the
# same growing archive. Prints, per day and in all: objects fetched (GETs on S3), objects listed
# (LIST requests on S3: one per 1,000 keys, the same for both), wall time and peak memory; checks
# that both runs give the same report (but for the `state` and `changes` blocks).
#
#   bash benches/incremental.sh              # 30 days, release build
#   DAYS=10 bash benches/incremental.sh      # fewer days
#   TRAILSCOPE=target/debug/trailscope GEN=target/debug/trailscope-gen bash benches/incremental.sh
#
# Needs /usr/bin/time and jq. The archive is made once, in benches/data/incremental/. The S3 side
# (requests counted by a proxy in front of Garage, on a year-shaped archive) is
# `cargo bench --bench s3 -- incremental`, on benches/data/year/, which this script makes too
# (once: about 110,000 files with its digests, which that bench leaves out).
set -euo pipefail
cd "$(dirname "$0")/.."

DAYS=${DAYS:-30}
TRAILSCOPE=${TRAILSCOPE:-target/release/trailscope}
GEN=${GEN:-target/release/trailscope-gen}
if [ "$TRAILSCOPE" = target/release/trailscope ]; then
  cargo build --release --locked --features synth --bins >&2
fi

DATA=benches/data/incremental
if [ ! -d "$DATA/full/archive" ]; then
  mkdir -p "$DATA/full"
  # One object an hour per account and region (6 of them), about 70 records each.
  "$GEN" --preset testdata --days 30 --objects $((30 * 24 * 6)) --records 300000 "$DATA/full" >&2
fi

if [ ! -d benches/data/year/archive ]; then
  # 365 day folders per account and region, two objects in each.
  "$GEN" --preset tiny --days 365 --objects $((365 * 6 * 2)) --records 20000 benches/data/year >&2
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
LIVE=$WORK/archive
STATE=$WORK/state
mkdir -p "$LIVE"

# One run: "wall_seconds peak_kib" on stdout, the report in $2.
timed() {
  local out=$1; shift
  /usr/bin/time -f "%e %M" -o "$WORK/time" "$TRAILSCOPE" report -q -f json -o "$out" "$@" || [ $? -eq 3 ]
  tail -n 1 "$WORK/time"
}

printf '%-4s %8s %8s | %9s %9s %8s | %9s %9s %8s\n' day listed LISTs "state GET" "wall s" "peak MB" \
  "full GET" "wall s" "peak MB"
total_state_gets=0; total_full_gets=0; total_state_wall=0; total_full_wall=0; max_state=0; max_full=0
for day in $(seq 1 "$DAYS"); do
  folder=$(date -u -d "2024-03-01 +$((day - 1)) days" +%Y/%m/%d)
  # The day's folders of every account and region (logs and digests) arrive.
  (cd "$DATA/full/archive" && find . -type d -path "*/$folder" -print0 |
    while IFS= read -r -d '' d; do mkdir -p "$LIVE/$d" && cp -p "$d"/* "$LIVE/$d/"; done)
  read -r s_wall s_kib < <(timed "$WORK/state.json" --state "$STATE" "$LIVE")
  read -r f_wall f_kib < <(timed "$WORK/full.json" "$LIVE")
  if ! cmp -s <(jq -S 'del(.state, .changes)' "$WORK/state.json") <(jq -S . "$WORK/full.json"); then
    echo "day $day: the report with --state differs from the full run's" >&2
    exit 1
  fi
  listed=$(jq '.summary.objects_listed' "$WORK/full.json")
  lists=$(( (listed + 999) / 1000 ))
  s_gets=$(jq '.summary.objects_read + .summary.objects_failed - .state.objects_from_state' "$WORK/state.json")
  f_gets=$(jq '.summary.objects_read + .summary.objects_failed' "$WORK/full.json")
  printf '%-4s %8s %8s | %9s %9s %8.1f | %9s %9s %8.1f\n' "$day" "$listed" "$lists" "$s_gets" "$s_wall" \
    "$(echo "$s_kib / 1024" | bc -l)" "$f_gets" "$f_wall" "$(echo "$f_kib / 1024" | bc -l)"
  total_state_gets=$((total_state_gets + s_gets)); total_full_gets=$((total_full_gets + f_gets))
  total_state_wall=$(echo "$total_state_wall + $s_wall" | bc -l)
  total_full_wall=$(echo "$total_full_wall + $f_wall" | bc -l)
  max_state=$(( s_kib > max_state ? s_kib : max_state )); max_full=$(( f_kib > max_full ? f_kib : max_full ))
done
echo
printf 'in all: GETs %s with --state, %s full (%.1fx); wall %.1f s with --state, %.1f s full (%.2fx); peak %.1f MB with --state, %.1f MB full\n' \
  "$total_state_gets" "$total_full_gets" "$(echo "$total_full_gets / $total_state_gets" | bc -l)" \
  "$total_state_wall" "$total_full_wall" "$(echo "$total_full_wall / $total_state_wall" | bc -l)" \
  "$(echo "$max_state / 1024" | bc -l)" "$(echo "$max_full / 1024" | bc -l)"
echo "state DIR after $DAYS days: $(du -sk "$STATE" | cut -f1) KiB for $(jq '.objects | length' "$STATE/state.json") objects"
