#!/usr/bin/env bash
# What `--verify` costs, side by side (runs interleaved, so the machine's noise hits both alike):
#   1. the bench archive (with its digests): `report -f json` without and with `--verify
#      --public-keys`, wall and CPU time and peak RSS, medians of RUNS runs each;
#   2. peak RSS with `--verify` on archives of the same shape (objects per hour) over 2 and 8 days;
#   3. partial sizes: `scan --shard I/N` with and without `--verify`, summed over the shards, for
#      the 2- and 8-day archives and N = 1 and 3, and the peak RSS of `report` merging them;
#   4. peak RSS over days of the same stream shape (12 log files an hour in each of six
#      account-regions, 1-5 KB each): without `--verify`, with it, and with it holding each
#      account-region whole (TRAILSCOPE_VERIFY_PART_BYTES past the archive's size) as it did
#      before a stream was verified in parts; and of `scan --verify --shard 0/3`, putting its
#      residue in order in runs sorted on disk and holding it whole.
#
#   bash benches/verify.sh                    # RUNS=5, all four
#   RUNS=3 bash benches/verify.sh
#   ONLY=streams STREAM_DAYS="2 8 32 128" bash benches/verify.sh   # 4. alone, 128 days is 1.1 GB
#
# Archives are generated once into benches/data/ (git-ignored). Binaries come from
# $CARGO_TARGET_DIR (default target/).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-5}
DATA=benches/data
TARGET=${CARGO_TARGET_DIR:-target}
BIN=$TARGET/release/trailscope
GEN=$TARGET/release/trailscope-gen
KEYS=testdata/keys/test-public-keys.json

cargo build --release --locked --features synth --bins >&2

BENCH=verify
# shellcheck source=benches/archives.sh
. benches/archives.sh

# Prints "wall cpu rss_kb" of one run of trailscope ARGS (output to /dev/null).
measure() {
  /usr/bin/time -f "%e %U %S %M" -o /tmp/verify-bench.time "$BIN" "$@" >/dev/null 2>/dev/null || true
  awk '{ printf "%.3f %.3f %d\n", $1, $2 + $3, $4 }' /tmp/verify-bench.time
}

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

mb() { awk -v kb="$1" 'BEGIN { printf "%.1f", kb / 1024 }'; }

streams() {
  echo "| days | log objects | digests | peak RSS MB without --verify | with | with, each account-region whole |" \
    "shard 0/3 with --verify | the same holding its residue whole |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
  for days in ${STREAM_DAYS:-2 8 32}; do
    local objects=$((1728 * days)) archive
    make_archive "stream$days" --preset tiny --digests --days "$days" --objects "$objects" \
      --records $((objects * 5)) --connections 20
    archive=$DATA/stream$days/archive
    local digests plain verify whole shard held
    digests=$(find "$archive" -path '*/CloudTrail-Digest/*' -name '*.json.gz' | wc -l)
    : >/tmp/verify-bench.plain
    : >/tmp/verify-bench.verify
    : >/tmp/verify-bench.whole
    : >/tmp/verify-bench.shard
    : >/tmp/verify-bench.held
    local partial=/tmp/verify-bench.partial.jsonl.gz
    for _ in $(seq "$RUNS"); do
      measure report -q -f json "$archive" >>/tmp/verify-bench.plain
      measure report -q -f json --verify --public-keys "$KEYS" "$archive" >>/tmp/verify-bench.verify
      TRAILSCOPE_VERIFY_PART_BYTES=$((1 << 50)) measure report -q -f json --verify --public-keys "$KEYS" \
        "$archive" >>/tmp/verify-bench.whole
      measure scan -q --verify --public-keys "$KEYS" --shard 0/3 -o "$partial" "$archive" >>/tmp/verify-bench.shard
      TRAILSCOPE_VERIFY_PART_BYTES=$((1 << 50)) measure scan -q --verify --public-keys "$KEYS" --shard 0/3 \
        -o "$partial" "$archive" >>/tmp/verify-bench.held
    done
    rm -f "$partial"
    plain=$(cut -d' ' -f3 /tmp/verify-bench.plain | median)
    verify=$(cut -d' ' -f3 /tmp/verify-bench.verify | median)
    whole=$(cut -d' ' -f3 /tmp/verify-bench.whole | median)
    shard=$(cut -d' ' -f3 /tmp/verify-bench.shard | median)
    held=$(cut -d' ' -f3 /tmp/verify-bench.held | median)
    echo "| $days | $objects | $digests | $(mb "$plain") | $(mb "$verify") | $(mb "$whole") |" \
      "$(mb "$shard") | $(mb "$held") |"
  done
}

if [ "${ONLY:-}" = streams ]; then
  streams
  exit 0
fi

make_archive bench --preset bench
# The bench shape (about 7 objects an hour per account-region), over 2 and over 8 days.
make_archive days2 --preset bench --objects 875 --records 125000 --days 2
make_archive days8 --preset bench --objects 3500 --records 500000 --days 8

echo "| archive | run | wall s | CPU s | peak RSS MB |"
echo "| --- | --- | --- | --- | --- |"
for archive in bench days2 days8; do
  : >/tmp/verify-bench.plain
  : >/tmp/verify-bench.verify
  for _ in $(seq "$RUNS"); do
    measure report -q -f json "$DATA/$archive/archive" >>/tmp/verify-bench.plain
    measure report -q -f json --verify --public-keys "$KEYS" "$DATA/$archive/archive" >>/tmp/verify-bench.verify
  done
  for run in plain verify; do
    file=/tmp/verify-bench.$run
    wall=$(cut -d' ' -f1 "$file" | median)
    cpu=$(cut -d' ' -f2 "$file" | median)
    rss=$(cut -d' ' -f3 "$file" | median)
    echo "| $archive | $run | $wall | $cpu | $(awk -v kb="$rss" 'BEGIN { printf "%.1f", kb / 1024 }') |"
  done
done

echo
echo "| archive | log objects | N | partials without --verify, bytes | with --verify, bytes | residue bytes per log object | merge peak RSS MB, without | with |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
for archive in days2 days8; do
  logs=$(find "$DATA/$archive/archive" -path '*/CloudTrail/*' -name '*.json*' | wc -l)
  for n in 1 3; do
    out=$(mktemp -d)
    for i in $(seq 0 $((n - 1))); do
      "$BIN" scan -q --shard "$i/$n" -o "$out/plain-$i.jsonl.gz" "$DATA/$archive/archive" || true
      "$BIN" scan -q --verify --public-keys "$KEYS" --shard "$i/$n" -o "$out/verify-$i.jsonl.gz" \
        "$DATA/$archive/archive" || true
    done
    plain=$(cat "$out"/plain-*.jsonl.gz | wc -c)
    verify=$(cat "$out"/verify-*.jsonl.gz | wc -c)
    # The merge's peak memory, of the partials made without and with --verify.
    merge_plain=$(measure report -q -f json "$out"/plain-*.jsonl.gz | cut -d' ' -f3)
    merge_verify=$(measure report -q -f json "$out"/verify-*.jsonl.gz | cut -d' ' -f3)
    echo "| $archive | $logs | $n | $plain | $verify | $(((verify - plain) / logs)) |" \
      "$(awk -v a="$merge_plain" -v b="$merge_verify" 'BEGIN { printf "%.1f | %.1f", a / 1024, b / 1024 }') |"
    rm -rf "$out"
  done
done

echo
streams
