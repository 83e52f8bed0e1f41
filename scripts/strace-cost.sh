#!/usr/bin/env bash
# What strace costs a traced program: socat copying 1 MB (OPEN:/dev/zero,readbytes=1048576 to
# /dev/null, 8 KiB blocks), untraced and under strace with the lab's own options (STRACE_OPTIONS in
# lab/evidence/syscall_trace.ts), N times each (default 21); prints the medians and the calls logged.
# No network: the copy goes from one file to another, and each call costs strace the same stop.
#
#   scripts/strace-cost.sh [N]
set -euo pipefail
count="${1:-21}"
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mapfile -t options < <(cd "$root" && deno eval \
  'import { STRACE_OPTIONS } from "./lab/evidence/syscall_trace.ts"; console.log(STRACE_OPTIONS.join("\n"))')
copy=(socat -u OPEN:/dev/zero,readbytes=1048576 OPEN:/dev/null)
micros() {
  local start
  start=$(date +%s%N)
  "$@" >/dev/null 2>&1
  echo $((($(date +%s%N) - start) / 1000))
}
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
untraced=$(for _ in $(seq "$count"); do micros "${copy[@]}"; done | median)
traced=$(for _ in $(seq "$count"); do micros strace "${options[@]}" -o "$work/log" "${copy[@]}"; done | median)
calls=$(wc -l <"$work/log")
awk -v u="$untraced" -v t="$traced" -v c="$calls" -v n="$count" 'BEGIN {
  printf "socat copying 1 MB, median of %d: untraced %.1f ms, traced %.1f ms (%.1f times), %d calls logged, %.0f us a call\n",
    n, u / 1000, t / 1000, t / u, c, (t - u) / c
}'
