#!/usr/bin/env bash
# Whole-archive comparison: trailscope against what people use today, on the same archive, run
# side by side so the machine's noise hits every tool alike. Prints a Markdown table of median
# wall time, CPU time and peak memory, with each tool's wall time as a ratio to `zcat` of the
# same objects (decompression alone, one core).
#
#   bash benches/compare.sh            # the benchmark archive (made once, about 100 MB gzipped)
#   RUNS=5 bash benches/compare.sh     # more runs per tool (default 3)
#   SKIP_PEERS=1 bash benches/compare.sh   # trailscope and zcat only
#
# Also measured: many tiny objects (CPU per object), peak memory when the archive doubles, and
# the S3 path (the benchmark archive served by Garage on loopback, `cargo bench --bench s3`).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
DATA=benches/data
BIN=target/release/trailscope
GEN=target/release/trailscope-gen

cargo build --release --locked --bins >&2

make_archive() { # NAME GEN-ARGS...
  local name=$1; shift
  if [ ! -f "$DATA/$name/truth.json" ]; then
    rm -rf "${DATA:?}/$name"
    echo "compare: generating $DATA/$name" >&2
    "$GEN" "$DATA/$name" "$@" >&2
  fi
}
make_archive bench --preset bench
make_archive bench2x --preset bench --objects 7000 --records 1000000 --days 4
make_archive tiny --preset tiny

if [ -z "${SKIP_PEERS:-}" ]; then
  command -v jq >/dev/null || { apt-get update -qq && apt-get install -y -qq jq >/dev/null; }
  python3 -c 'import duckdb' 2>/dev/null || pip install -q duckdb >&2
fi
command -v /usr/bin/time >/dev/null || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }

# measure NAME COMMAND: runs COMMAND (a bash snippet) RUNS times; prints
# "NAME median-wall median-cpu max-rss-kb". Output goes to /dev/null inside the snippet.
measure() {
  local name=$1 cmd=$2 out
  out=$(for _ in $(seq "$RUNS"); do
    /usr/bin/time -f '%e %U %S %M' bash -c "$cmd" 2>&1 >/dev/null | tail -n 1
  done)
  python3 - "$name" <<PY
import statistics, sys
rows = [l.split() for l in """$out""".strip().splitlines()]
wall = statistics.median(float(r[0]) for r in rows)
cpu = statistics.median(float(r[1]) + float(r[2]) for r in rows)
rss = max(int(r[3]) for r in rows)
print(sys.argv[1], wall, cpu, rss)
PY
}

objects() { # ARCHIVE: NUL-separated log objects
  find "$1" -name '*.json.gz' -print0 | sort -z
}

A=$DATA/bench/archive
RESULTS=$(mktemp)
trap 'rm -f "$RESULTS"' EXIT
# Warm the page cache so every tool reads from memory.
objects "$A" | xargs -0 cat >/dev/null

run_all() {
  measure "zcat" "find $A -name '*.json.gz' -print0 | sort -z | xargs -0 zcat"
  measure "trailscope" "$BIN report --format json -q $A"
  if [ -z "${SKIP_PEERS:-}" ]; then
    measure "zcat | jq" "find $A -name '*.json.gz' -print0 | sort -z | xargs -0 zcat | jq -c '.Records[] | select(.eventSource == \"ec2-instance-connect.amazonaws.com\")'"
    measure "DuckDB (2 threads)" "python3 benches/peers/duckdb_count.py $A"
    measure "Python gzip+json" "python3 benches/peers/python_count.py $A"
  fi
}
run_all | tee "$RESULTS" >&2

size_gz=$(objects "$A" | du -cb --files0-from=- | tail -n 1 | cut -f1)
size_json=$(python3 -c "import json;t=json.load(open('$DATA/bench/truth.json'));print(t['summary']['records'])")
count=$(objects "$A" | tr -cd '\0' | wc -c)

echo
echo "Archive: $count objects, $((size_gz / 1000000)) MB gzipped, $size_json records ($(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'))"
echo
echo "| tool | wall (median of $RUNS) | CPU | peak RSS | wall / zcat |"
echo "| --- | ---: | ---: | ---: | ---: |"
python3 - "$RESULTS" <<'PY'
import sys
rows = []
for line in open(sys.argv[1]):
    *name, wall, cpu, rss = line.split()
    rows.append((" ".join(name), float(wall), float(cpu), int(rss)))
zcat = next(r[1] for r in rows if r[0] == "zcat")
for name, wall, cpu, rss in rows:
    name = name.replace("|", "\\|")
    print(f"| {name} | {wall:.2f} s | {cpu:.2f} s | {rss / 1024:.0f} MB | {wall / zcat:.2f}x |")
PY

echo
tiny=$(measure tiny "$BIN report --format json -q $DATA/tiny/archive")
big=$(measure bench2x "$BIN report --format json -q $DATA/bench2x/archive")
small_rss=$(grep '^trailscope ' "$RESULTS" | awk '{print $4}')
python3 - "$tiny" "$big" "$small_rss" <<'PY'
import sys
_, wall, cpu, rss = sys.argv[1].split()
print(f"Many tiny objects (20,000 objects of 1-5 KB): {float(cpu) / 20000 * 1e6:.0f} us of CPU per object "
      f"({float(wall):.2f} s wall, {int(rss) / 1024:.0f} MB peak)")
_, wall2, cpu2, rss2 = sys.argv[2].split()
print(f"Archive doubled (7,000 objects): peak RSS {int(rss2) / 1024:.0f} MB against {int(sys.argv[3]) / 1024:.0f} MB")
PY
