#!/usr/bin/env bash
# Runs one scenario N times in a row and says whether it met its expectation every time.
#
#   scripts/repeat.sh NAME|FILE [N] [-- LAB RUN OPTIONS...]
#   scripts/repeat.sh keepalive-dead-peer 20
#   scripts/repeat.sh socat-linger-zero 5 -- --untraced
#
# Each run is `./tcplab run NAME --no-contrast --json --quiet` with the options given after `--`.
# For each run it prints one line: the exit code, the wall time, the verdict's checks (what, expected,
# actual), and whether any container, network or volume of that run was left behind. At the end: one summary line
# (runs, met, distinct verdicts, slowest and median time) and exit 0 only when every run exited 0, every run
# gave the same verdict and nothing was left behind; 1 otherwise; 2 for bad input.
set -uo pipefail

if [[ $# -lt 1 || "$1" == "--help" || "$1" == "-h" ]]; then
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
  [[ $# -lt 1 ]] && exit 2 || exit 0
fi
name="$1"
shift
count=20
if [[ $# -gt 0 && "$1" != "--" ]]; then
  count="$1"
  shift
fi
[[ "$count" =~ ^[1-9][0-9]*$ ]] || { echo "repeat: N must be a positive whole number, got '$count'" >&2; exit 2; }
if [[ $# -gt 0 ]]; then
  [[ "$1" == "--" ]] || { echo "repeat: options for the lab go after --, got '$1'" >&2; exit 2; }
  shift
fi
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

met=0
times=()
: >"$work/verdicts"
for i in $(seq 1 "$count"); do
  out="$work/run-$i"
  start=$(date +%s.%N)
  "$root/tcplab" run "$name" --no-contrast --json --quiet --out "$out" "$@" >"$work/result-$i.json" 2>"$work/err-$i"
  code=$?
  end=$(date +%s.%N)
  secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')
  times+=("$secs")
  run_id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("runId",""))' "$work/result-$i.json" 2>/dev/null)
  left=0
  if [[ -n "$run_id" ]]; then
    left=$( (docker ps -aq --filter "label=tcplab.run=$run_id"; docker network ls -q --filter "label=tcplab.run=$run_id"; docker volume ls -q --filter "label=tcplab.run=$run_id") | wc -l)
  fi
  checks=$(python3 - "$work/result-$i.json" <<'PY'
import json, sys
try:
    d = json.load(open(sys.argv[1]))
except Exception:
    print("no result")
    sys.exit()
e = d.get("expectation") or {}
print("; ".join(f"{c['what']}={c['actual']}" for c in e.get("checks", [])) or d.get("verdict", "no verdict"))
PY
)
  echo "$checks" >>"$work/verdicts"
  [[ $code -eq 0 && $left -eq 0 ]] && met=$((met + 1))
  printf 'run %2d: exit %d, %6ss, left behind %d: %s\n' "$i" "$code" "$secs" "$left" "$checks"
  if [[ $code -ne 0 ]]; then sed 's/^/        /' "$work/err-$i" | tail -3; fi
done
distinct=$(sort -u "$work/verdicts" | wc -l)
slowest=$(printf '%s\n' "${times[@]}" | sort -n | tail -1)
median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }')
echo "repeat: $name: $met of $count met their expectation, $distinct distinct verdict(s), median ${median}s, slowest ${slowest}s"
[[ $met -eq $count && $distinct -eq 1 ]]
