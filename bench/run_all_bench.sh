#!/usr/bin/env bash
# `run --all` against its floor (issue 13's Done-when): the engine's time for the same containers with
# no work in them (bench/run_all_floor.ts: every container, network and volume the plans of the same
# scenarios make, made, started, waited for and removed, all at once) plus the longest scenario's own
# timers (its sleeps and the kernel timers its steps set, from its scenario file). Goal: run --all within
# 1.5x of that sum. The two are measured in turns in the same run (run --all, then the floor, RUNS
# times; medians), so that a machine whose load changes weighs on both alike. run --all is timed whole,
# as a user waits for it (`deno task lab run --all`, the lab's start included); the floor from its first
# request to the engine.
# Usage: bash bench/run_all_bench.sh     (BENCH_RUNS=3 by default; needs jq and a running Docker daemon)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${BENCH_RUNS:-3}
out=$(mktemp -d /tmp/tcplab-bench.XXXXXX)
trap 'rm -rf "$out"' EXIT

floor() { deno run -A --lock=tests/deno.lock bench/run_all_floor.ts 1; }
# The images first (the floor builds what is missing), so that no turn builds them.
floor >"$out/floor-warm.json"
all_ms=() floor_ms=() codes=()
for i in $(seq 1 "$runs"); do
  start=$(date +%s%N)
  code=0
  deno task --quiet lab run --all --quiet --out "$out/all-$i" >/dev/null 2>"$out/all-$i.stderr" || code=$?
  all_ms+=($(( ($(date +%s%N) - start) / 1000000 )))
  codes+=("$code")
  floor >"$out/floor-$i.json"
  floor_ms+=("$(jq .floorMs "$out/floor-$i.json")")
  unmet=$(jq -r '[.runs[] | select(.met == false) | .scenario] | join(", ")' "$out/all-$i/summary.json" 2>/dev/null || true)
  echo "   turn $i: run --all ${all_ms[-1]} ms (exit $code${unmet:+; not met: $unmet}), floor ${floor_ms[-1]} ms"
done
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
all=$(median "${all_ms[@]}")
floor_median=$(median "${floor_ms[@]}")
jq -r --argjson all "$all" --argjson floor "$floor_median" --arg codes "${codes[*]}" '
  "run --all: \(.scenarios) scenarios, median \($all) ms (exit codes: \($codes))",
  "floor: \(.containers) containers, \(.networks) networks, \(.volumes) volumes made, started, waited for and removed: median \($floor) ms",
  "longest scenario'"'"'s own timers: \(.timersMs) ms (\(.timersScenario))",
  "run --all / (floor + timers) = \($all) / \($floor + .timersMs) = \(($all / ($floor + .timersMs)) * 100 | round / 100) (goal: 1.5 or less)"
' "$out/floor-1.json"
