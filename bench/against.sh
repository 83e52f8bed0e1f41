#!/usr/bin/env bash
# The same figures for this work tree and for an earlier commit, measured interleaved in one run
# (A B A B ...), so that the machine's mood falls on both alike: a restructure must not slow the lab.
#
#   deno task bench:against REV        # e.g. deno task bench:against HEAD~5
#   BENCH_RUNS=15 deno task bench:against REV
#
# Figures: one warm `run seed --no-contrast` (the lab's main job), `explain` of a generated capture
# (EXPLAIN_SIZE, default 1G; made once by bench/gen_capture.ts into bench/out/, git-ignored), and
# `--version` (start-up). Prints the median of each side and the ratio now/before.
# Needs a running Docker daemon; REV is checked out into a temporary worktree and removed after.
set -euo pipefail
cd "$(dirname "$0")/.."
rev=${1:?usage: bench/against.sh REV}
runs=${BENCH_RUNS:-9}
size=${EXPLAIN_SIZE:-1G}
base=$(mktemp -d /tmp/tcplab-against.XXXXXX)
out=$(mktemp -d /tmp/tcplab-against-out.XXXXXX)
cleanup() {
  git worktree remove --force "$base" >/dev/null 2>&1 || rm -rf "$base"
  rm -rf "$out"
}
trap cleanup EXIT
git worktree add --detach "$base" "$rev" >/dev/null 2>&1
echo "before: $(git -C "$base" log -1 --format='%h %s' | cut -c1-80)"
echo "now:    $(git log -1 --format='%h' HEAD)$([ -n "$(git status --porcelain)" ] && echo ' + uncommitted changes')"

version=$(sha256sum bench/gen_capture.ts | cut -c1-12)
# The same file as bench/explain_bench.sh makes, so that either reuses the other's.
capture=bench/out/explain-$size-$version.pcap
mkdir -p bench/out
if [ ! -s "$capture" ]; then
  echo "making $capture"
  deno run --allow-write=bench/out bench/gen_capture.ts "$capture" --size "$size" --seed 1 >"$capture.json"
fi
capture=$(realpath "$capture")

# Warm both: images built, modules compiled.
for dir in "$base" .; do
  (cd "$dir" && deno task --quiet lab run seed --no-contrast --quiet --out "$out/warm" >/dev/null && rm -rf "$out/warm")
  (cd "$dir" && deno task --quiet lab explain "$capture" --out "$out/warm.md" >/dev/null)
done

# One timed call in ms.
timed() {
  local dir=$1
  shift
  local start end
  start=$(date +%s%N)
  (cd "$dir" && "$@" >/dev/null 2>&1) || echo "bench: failed in $dir: $*" >&2
  end=$(date +%s%N)
  echo $(((end - start) / 1000000))
}
median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }

for figure in seed explain version; do
  : >"$out/$figure.before"
  : >"$out/$figure.now"
  for i in $(seq 1 "$runs"); do
    for side in before now; do
      dir=$([ "$side" = before ] && echo "$base" || echo .)
      case $figure in
        seed) cmd=(deno task --quiet lab run seed --no-contrast --quiet --out "$out/$side-$i") ;;
        explain) cmd=(deno task --quiet lab explain "$capture" --out "$out/$side-$i.md") ;;
        version) cmd=(deno task --quiet lab --version) ;;
      esac
      timed "$dir" "${cmd[@]}" >>"$out/$figure.$side"
    done
  done
  before=$(median <"$out/$figure.before")
  now=$(median <"$out/$figure.now")
  ratio=$(awk -v a="$now" -v b="$before" 'BEGIN { printf "%.3f", a / b }')
  label=$figure
  [ "$figure" = explain ] && label="explain $size"
  printf '%-14s before %7s ms   now %7s ms   now/before %s   (%s interleaved runs each)\n' \
    "$label" "$before" "$now" "$ratio" "$runs"
done
