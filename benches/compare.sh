#!/usr/bin/env bash
# Whole-archive figures: trailscope beside `zcat` of the same objects (decompression alone, one
# core) and beside the inflate floor (benches/floor/: every object inflated on every core, the
# output thrown away, with zlib-ng and with libdeflate), on every archive docs/performance.md's
# goals are set for, run side by side (runs interleaved, tool by tool) so the machine's noise hits
# all alike. Prints two Markdown tables:
#   1. the bench preset: trailscope, zcat and what people use today (jq, DuckDB, Python);
#   2. one line per archive: bench, dense (Instance Connect-heavy), bench doubled, many tiny
#      objects (20,000, and 80,000), one object of 1 GiB of JSON, and with MILLION=1 about
#      1,000,000 Instance Connect events; each with wall, CPU, peak RSS, the ratio to zcat, and
#      the goals it is held to.
# Before timing, each generated archive's report is checked against its truth.json (correctness
# first). What else used the CPU meanwhile is printed too, per line: the machine is shared, and a
# core taken by something else costs trailscope (two cores) more than zcat (one), so a line where
# others used a good part of a core is worth running again.
#
#   bash benches/compare.sh               # everything but the million-event archive
#   MILLION=1 bash benches/compare.sh     # also about 1,000,000 events (made once: long)
#   RUNS=3 bash benches/compare.sh        # runs per tool (default 5)
#   SKIP_PEERS=1 bash benches/compare.sh  # no jq, DuckDB, Python
#   ONLY="dense 1gib" bash benches/compare.sh   # only these lines of table 2 (names as printed)
#   ZLIB_RS=1 bash benches/compare.sh     # also trailscope and the floor built with zlib-rs
#   BASELINE=/tmp/trailscope-before bash benches/compare.sh   # also another build, run beside
#       this one on every line (a table of its own: its wall and peak RSS, and this build's as a
#       ratio of them): how a change's speed goal ("within 5% of today's build") is measured
#
# Archives are generated once into benches/data/ (git-ignored). Binaries come from
# $CARGO_TARGET_DIR (default target/). The S3 figures are `cargo bench --bench s3`.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-5}
DATA=benches/data
TARGET=${CARGO_TARGET_DIR:-target}
BIN=$TARGET/release/trailscope
GEN=$TARGET/release/trailscope-gen
HZ=$(getconf CLK_TCK)

FLOOR=$TARGET/floor/release/trailscope-floor
cargo build --release --locked --features synth --bins >&2
# The floor is a crate of its own (benches/floor/): either backend builds in a minute.
cargo build --release --locked --manifest-path benches/floor/Cargo.toml --target-dir "$TARGET/floor" >&2
if [ -n "${ZLIB_RS:-}" ]; then
  # The pure-Rust backend: trailscope built with it, put aside (the default build is put back).
  cargo build --release --locked --no-default-features --features zlib-rs --bin trailscope >&2
  cp "$BIN" "$BIN-zlib-rs"
  cargo build --release --locked --features synth --bins >&2
  cargo build --release --locked --manifest-path benches/floor/Cargo.toml --target-dir "$TARGET/floor-zlib-rs" \
    --no-default-features --features zlib-rs >&2
  cp "$TARGET/floor-zlib-rs/release/trailscope-floor" "$FLOOR-zlib-rs"
fi

if [ -n "${BASELINE:-}" ] && [ ! -x "$BASELINE" ]; then
  echo "compare: BASELINE=$BASELINE is not a program this script can run" >&2
  exit 2
fi
BENCH=compare
# shellcheck source=benches/archives.sh
. benches/archives.sh
wanted() { # NAME: whether this run times the line NAME (all of them without ONLY)
  [ -z "${ONLY:-}" ] || [[ " $ONLY " == *" $1 "* ]]
}
# The bench archive is also table 1's and the source of the 1 GiB object.
if wanted bench || wanted 1gib; then make_archive bench --preset bench; fi
if wanted bench2x; then make_archive bench2x --preset bench --objects 7000 --records 1000000 --days 4; fi
if wanted tiny; then make_archive tiny --preset tiny; fi
if wanted tiny4x; then make_archive tiny4x --preset tiny --objects 80000 --records 160000; fi
if wanted dense; then make_archive dense --preset dense; fi
if [ -n "${MILLION:-}" ] && wanted million; then
  make_archive million --preset dense --days 360 --connections 26500 --objects 20000 --records 100000
fi
ONE=$DATA/one-gib/CloudTrail-1GiB.json.gz
if wanted 1gib && [ ! -f "$ONE.json" ]; then
  mkdir -p "$DATA/one-gib"
  python3 benches/one_object.py "$DATA/bench" "$ONE" $((1 << 30))
fi

if [ -z "${SKIP_PEERS:-}" ]; then
  command -v jq >/dev/null || { apt-get update -qq && apt-get install -y -qq jq >/dev/null; }
  python3 -c 'import duckdb' 2>/dev/null || pip install -q duckdb >&2
fi
command -v /usr/bin/time >/dev/null || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

objects() { # ARCHIVE: NUL-separated log objects, in name order
  find "$1" -name '*.json.gz' -print0 | sort -z
}
zcat_of() { # PATH (archive folder or one object): the command that inflates it all
  if [ -d "$1" ]; then
    echo "find $1 -name '*.json.gz' -print0 | sort -z | xargs -0 zcat"
  else
    echo "zcat $1"
  fi
}
busy_ticks() { # CPU ticks the whole machine has spent busy since boot
  awk '/^cpu /{print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat
}
others() { # what else is using the CPU now (two seconds of top), as one line
  top -b -n 2 -d 2 -w 200 | awk '/^top -/{n++} n == 2 && $1 ~ /^[0-9]+$/ && $9 + 0 >= 5 {printf "%s %s%%, ", $12, $9}' \
    | sed 's/, $//'
}

# side_by_side GROUP NAME CMD [NAME CMD]...: runs every command once per round, RUNS rounds, in
# turn; appends "GROUP<TAB>NAME<TAB>wall<TAB>cpu<TAB>rss-kb" per run to $WORK/runs, and the CPU
# seconds other processes used meanwhile, with the seconds it all took, to $WORK/noise.
side_by_side() {
  local group=$1; shift
  local before own=0 after started
  before=$(busy_ticks)
  started=$(date +%s.%N)
  for _ in $(seq "$RUNS"); do
    local args=("$@")
    while [ ${#args[@]} -gt 0 ]; do
      local name=${args[0]} cmd=${args[1]}
      args=("${args[@]:2}")
      /usr/bin/time -f '%e %U %S %M' -o "$WORK/time" bash -c "$cmd" >/dev/null 2>"$WORK/stderr" || true
      read -r wall user sys rss < <(tail -n 1 "$WORK/time")
      printf '%s\t%s\t%s\t%s\t%s\n' "$group" "$name" "$wall" "$(echo "$user + $sys" | bc)" "$rss" >>"$WORK/runs"
      own=$(echo "$own + $user + $sys" | bc)
    done
  done
  after=$(busy_ticks)
  printf '%s\t%s\t%s\n' "$group" "$(echo "($after - $before) / $HZ - $own" | bc -l)" \
    "$(echo "$(date +%s.%N) - $started" | bc -l)" >>"$WORK/noise"
}

# check NAME PATH: one report, untimed: its events and records for the table, and for a generated
# archive, the report against truth.json.
check() {
  local name=$1 path=$2
  "$BIN" report --format json -q "$path" >"$WORK/$name.report.json" || {
    echo "compare: trailscope failed on $path" >&2; exit 1; }
  if [ -f "$path/../truth.json" ]; then
    printf '%s\t%s\n' "$name" "$(python3 benches/check_truth.py "$WORK/$name.report.json" "$path/../truth.json")" \
      >>"$WORK/checks" || true
  fi
}
json_bytes() { # PATH: bytes of JSON once inflated, cached beside the archive
  local cache
  if [ -d "$1" ]; then cache=$1/../json_bytes; else cache=$1.bytes; fi
  [ -f "$cache" ] || bash -c "$(zcat_of "$1")" | wc -c >"$cache"
  cat "$cache"
}

command -v bc >/dev/null || { apt-get update -qq && apt-get install -y -qq bc >/dev/null; }
echo "compare: before: load average $(cut -d' ' -f1-3 /proc/loadavg); busy: $(others)" >&2

# Table 2's lines: name, path.
LINES=(bench "$DATA/bench/archive" dense "$DATA/dense/archive" bench2x "$DATA/bench2x/archive"
  tiny "$DATA/tiny/archive" tiny4x "$DATA/tiny4x/archive" 1gib "$ONE")
[ -n "${MILLION:-}" ] && LINES+=(million "$DATA/million/archive")

# Warm the page cache, check every report, and measure what each archive holds.
declare -A SIZE
for ((i = 0; i < ${#LINES[@]}; i += 2)); do
  name=${LINES[i]} path=${LINES[i + 1]}
  wanted "$name" || continue
  if [ -d "$path" ]; then objects "$path" | xargs -0 cat >/dev/null; else cat "$path" >/dev/null; fi
  SIZE[$name]=$(json_bytes "$path")
  check "$name" "$path"
done
[ -f "$WORK/checks" ] && sed 's/\t/: /' "$WORK/checks" >&2
if grep -q differs "$WORK/checks" 2>/dev/null; then
  echo "compare: a report does not match its truth.json (above): the timings below would not mean much" >&2
fi

A=$DATA/bench/archive
if [ -z "${ONLY:-}" ]; then
  if [ -z "${SKIP_PEERS:-}" ]; then
    side_by_side peers \
      zcat "$(zcat_of "$A")" \
      trailscope "$BIN report --format json -q $A" \
      "zcat | jq" "$(zcat_of "$A") | jq -c '.Records[] | select(.eventSource == \"ec2-instance-connect.amazonaws.com\")'" \
      "DuckDB (2 threads)" "python3 benches/peers/duckdb_count.py $A" \
      "Python gzip+json" "python3 benches/peers/python_count.py $A"
  else
    side_by_side peers zcat "$(zcat_of "$A")" trailscope "$BIN report --format json -q $A"
  fi
fi
for ((i = 0; i < ${#LINES[@]}; i += 2)); do
  name=${LINES[i]} path=${LINES[i + 1]}
  wanted "$name" || continue
  echo "compare: $name" >&2
  tools=(zcat "$(zcat_of "$path")" "floor zlib-ng" "$FLOOR flate2 $path" "floor libdeflate" "$FLOOR libdeflate $path"
    trailscope "$BIN report --format json -q $path")
  [ -n "${ZLIB_RS:-}" ] && tools+=("floor zlib-rs" "$FLOOR-zlib-rs flate2 $path"
    "trailscope zlib-rs" "$BIN-zlib-rs report --format json -q $path")
  [ -n "${BASELINE:-}" ] && tools+=(baseline "$BASELINE report --format json -q $path")
  side_by_side "$name" "${tools[@]}"
done
echo "compare: after: load average $(cut -d' ' -f1-3 /proc/loadavg); busy: $(others)" >&2

for name in "${!SIZE[@]}"; do printf '%s\t%s\n' "$name" "${SIZE[$name]}"; done >"$WORK/sizes"
echo
echo "Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(free -g | awk '/^Mem:/{print $2}') GiB; $RUNS runs per tool, interleaved; page cache warm; output to /dev/null."
python3 - "$WORK" "$RUNS" <<'PY'
import json, pathlib, statistics, sys
work, runs = pathlib.Path(sys.argv[1]), sys.argv[2]
rows = {}
for line in (work / "runs").read_text().splitlines():
    group, name, wall, cpu, rss = line.split("\t")
    rows.setdefault(group, {}).setdefault(name, []).append((float(wall), float(cpu), int(rss)))
noise = {g: (float(cpu), float(took)) for g, cpu, took in
         (l.split("\t") for l in (work / "noise").read_text().splitlines())}

def others(group):
    cpu, took = noise[group]
    cpu = max(cpu, 0.0)  # /proc/stat ticks and rusage disagree a little: never below zero
    return f"others used {cpu:.1f} CPU-s in its {took:.0f} s, {cpu / took:.2f} cores on average"
sizes = dict(l.split("\t") for l in (work / "sizes").read_text().splitlines())

def med(samples):
    return (statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples),
            max(s[2] for s in samples))

def mib(kb):
    return kb / 1024

if "peers" in rows:
    tools = rows["peers"]
    zcat = med(tools["zcat"])[0]
    print()
    print(f"Bench preset, side by side ({others('peers')}):")
    print()
    print(f"| tool | wall (median of {runs}) | CPU | peak RSS | wall / zcat |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, samples in tools.items():
        wall, cpu, rss = med(samples)
        label = name.replace("|", "\\|")
        print(f"| {label} | {wall:.2f} s | {cpu:.2f} s | {mib(rss):.0f} MiB | {wall / zcat:.2f}x |")

ratio_goals = {"bench": 0.15, "dense": 0.5}
titles = {"bench": "bench preset", "dense": "dense preset (Instance Connect-heavy)",
          "bench2x": "bench doubled", "tiny": "many tiny objects", "tiny4x": "many tiny objects, 4x",
          "1gib": "one object, 1 GiB of JSON",
          "million": "about 1,000,000 Instance Connect events"}
print()
print("Each archive, trailscope beside zcat of the same objects and the inflate floor (every object")
print("inflated on both cores, output discarded: benches/floor/), all from the same runs:")
print()
print(f"| archive | objects | JSON | IC events | zcat | floor zlib-ng | floor libdeflate | trailscope "
      f"| / zlib-ng floor | / libdeflate floor | wall / zcat | CPU | peak RSS | RSS bound | goals |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
floor_goals = {"bench": 1.0, "tiny": 1.2, "tiny4x": 1.2, "dense": 1.5}
peak = {}
zlib_rs = []
for group, tools in rows.items():
    if group == "peers":
        continue
    report = json.loads((work / f"{group}.report.json").read_text())
    s = report["summary"]
    events = s["instance_connect_events"]
    zwall, _, zrss = med(tools["zcat"])
    wall, cpu, rss = med(tools["trailscope"])
    peak[group] = (rss, events, s["objects_read"], cpu)
    bound = 64 + 0.5 * events / 1024  # MiB: 64 MiB + 0.5 KiB per kept event
    goals = []
    goals.append(f"RSS <= bound: {'met' if mib(rss) <= bound else 'MISSED'}")
    if group in ratio_goals:
        goal = ratio_goals[group]
        goals.append(f"<= {goal}x zcat: {'met' if wall / zwall <= goal else 'MISSED'}")
    if group == "1gib":
        goals.append(f"RSS < 128 MiB: {'met' if mib(rss) < 128 else 'MISSED'}")
    ng, ld = med(tools["floor zlib-ng"])[0], med(tools["floor libdeflate"])[0]
    if group in floor_goals:
        goal = floor_goals[group]
        goals.append(f"<= {goal}x zlib-ng floor: {'met' if wall / ng <= goal else 'MISSED'}")
    print(f"| {titles.get(group, group)} | {s['objects_read']:,} | {int(sizes[group]) / 1e6:,.0f} MB | {events:,} "
          f"| {zwall:.2f} s | {ng:.2f} s | {ld:.2f} s | {wall:.2f} s | {wall / ng:.2f}x | {wall / ld:.2f}x "
          f"| {wall / zwall:.2f}x | {cpu:.2f} s | {mib(rss):.0f} MiB | {bound:.0f} MiB | {'; '.join(goals)} |")
    if "trailscope zlib-rs" in tools:
        rs_wall, rs_cpu, rs_rss = med(tools["trailscope zlib-rs"])
        zlib_rs.append(f"| {titles.get(group, group)} | {med(tools['floor zlib-rs'])[0]:.2f} s | {ng:.2f} s "
                       f"| {rs_wall:.2f} s | {wall:.2f} s | {rs_wall / wall:.2f}x | {mib(rs_rss):.0f} MiB |")
if zlib_rs:
    print()
    print("The same archives with trailscope and the floor built with zlib-rs (pure Rust, no cmake):")
    print()
    print("| archive | floor zlib-rs | floor zlib-ng | trailscope zlib-rs | trailscope zlib-ng "
          "| zlib-rs / zlib-ng | peak RSS (zlib-rs) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    print("\n".join(zlib_rs))
baseline = [(group, tools) for group, tools in rows.items() if "baseline" in tools]
if baseline:
    print()
    print("This build beside the baseline build (BASELINE), in the same runs:")
    print()
    print("| archive | baseline wall | this wall | wall ratio | baseline CPU | this CPU "
          "| baseline peak RSS | this peak RSS | RSS ratio |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for group, tools in baseline:
        bwall, bcpu, brss = med(tools["baseline"])
        wall, cpu, rss = med(tools["trailscope"])
        print(f"| {titles.get(group, group)} | {bwall:.3f} s | {wall:.3f} s | {wall / bwall:.3f}x "
              f"| {bcpu:.2f} s | {cpu:.2f} s | {mib(brss):.1f} MiB | {mib(rss):.1f} MiB | {rss / brss:.2f}x |")
print()
for group in rows:
    if group != "peers":
        print(f"- {group}: {others(group)}")
if "bench" in peak and "bench2x" in peak:
    (r1, e1, o1, _), (r2, e2, o2, _) = peak["bench"], peak["bench2x"]
    print(f"- Archive doubled ({o1:,} -> {o2:,} objects, {e1:,} -> {e2:,} events): peak RSS "
          f"{mib(r1):.0f} -> {mib(r2):.0f} MiB ({mib(r2 - r1):+.0f} MiB)")
for group in ("tiny", "tiny4x"):
    if group in peak:
        rss, _, objects, cpu = peak[group]
        print(f"- Many tiny objects: {cpu / objects * 1e6:.0f} us of CPU per object, peak RSS {mib(rss):.0f} MiB "
              f"({objects:,} objects)")
if "million" in peak:
    rss, events, _, _ = peak["million"]
    print(f"- About a million events: {rss * 1024 / events:.0f} bytes of peak RSS per event, "
          f"{(rss - 64 * 1024) * 1024 / events:.0f} beyond 64 MiB")
PY
if [ -f "$WORK/checks" ]; then
  echo
  sed 's/^/- /; s/\t/: /' "$WORK/checks"
fi
