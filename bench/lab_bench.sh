#!/usr/bin/env bash
# The lab's own speed (issue 3): one warm run of `seed` against the same steps
# with the bare docker CLI, and `run --all` against the slowest single
# scenario. Medians from hyperfine, ratios from the same run.
# Needs hyperfine and jq (Debian packages) and a running Docker daemon.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${BENCH_RUNS:-7}
out=$(mktemp -d /tmp/tcplab-bench.XXXXXX)
trap 'rm -rf "$out"' EXIT

# Warm up: builds the images if they are missing, and compiles the lab.
deno task --quiet lab run seed --no-contrast --quiet --out "$out/warm" >/dev/null
endpoint=$(jq -r '.environment.images | keys[] | select(startswith("tcplab-endpoint"))' "$out/warm/result.json")

echo "-- one warm run of seed: the lab (two captures, counters, trace, analysis, report) vs the bare docker CLI (one capture, no analysis)"
hyperfine --warmup 1 --runs "$runs" --export-json "$out/seed.json" \
  -n lab "deno task --quiet lab run seed --no-contrast --quiet --out $out/lab" \
  -n cli "bash bench/cli_seed.sh $endpoint $out"
jq -r '.results as $r | "median: lab \($r[0].median | .*1000 | round) ms, cli \($r[1].median | .*1000 | round) ms; ratio lab/cli = \(($r[0].median / $r[1].median) * 100 | round / 100)"' "$out/seed.json"

echo "-- run --all against the slowest single scenario"
slowest="" slowest_ms=0
for name in $(deno task --quiet lab list | awk 'NR % 2 == 1 { print $1 }'); do
  start=$(date +%s%N)
  deno task --quiet lab run "$name" --no-contrast --quiet --out "$out/single-$name" >/dev/null || true
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  echo "   $name: $ms ms"
  if [ "$ms" -gt "$slowest_ms" ]; then slowest=$name slowest_ms=$ms; fi
done
count=$(deno task --quiet lab list | awk 'NR % 2 == 1' | wc -l)
hyperfine --runs 3 --export-json "$out/all.json" \
  -n "slowest single ($slowest)" "deno task --quiet lab run $slowest --no-contrast --quiet --out $out/slow || true" \
  -n "run --all" "deno task --quiet lab run --all --quiet --out $out/all || true" \
  -n "engine floor: $count networks x 2 containers, bare CLI" "bash bench/cli_networks.sh $endpoint $count"
jq -r '.results as $r | "median: slowest single \($r[0].median | .*1000 | round) ms, --all \($r[1].median | .*1000 | round) ms; ratio all/slowest = \(($r[1].median / $r[0].median) * 100 | round / 100)"' "$out/all.json"
jq -r '.results as $r | "engine floor for the same number of networks \($r[2].median | .*1000 | round) ms; --all / floor = \(($r[1].median / $r[2].median) * 100 | round / 100)"' "$out/all.json"
