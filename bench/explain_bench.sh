#!/usr/bin/env bash
# `lab explain` on large generated captures, against tshark, tcpdump and cat.
#
#   bash bench/explain_bench.sh            # 256 MiB and 1 GiB captures (reused from bench/out/)
#   EXPLAIN_BENCH_CLEAN=1 bash bench/...   # remove the generated captures afterwards
#   EXPLAIN_BENCH_SIZES="64M 256M" ...     # other sizes (the last one is compared with the others)
#
# bench/gen_capture.ts writes the captures (classic pcap, Ethernet, a fixed number of connections
# open at once, every kind of teardown: FIN, RST, refused, half-close, mid-stream starts...) into
# bench/out/ (git-ignored), once per generator version and size; later runs reuse them.
#
# Timed in the same run with hyperfine (medians), on the largest capture:
#   deno task lab explain FILE           the lab's own command, as users run it
#   bench/explain_direct.ts FILE         the same command without lab/main.ts, which loads the
#                                        Docker client for every command (its start-up cost)
#   tshark -q -z conv,tcp -r FILE        Debian's tshark (apt-get install -y tshark)
#   tcpdump -nn -r FILE > /dev/null     (one run: it takes about two minutes on 1 GiB)
#   cat FILE > /dev/null                 the floor: reading the file from the page cache
# and `deno task lab --version` (the lab's fixed start-up cost). Peak memory (maximum resident set
# size) comes from /usr/bin/time for both ways of running explain on every size, and for tshark.
#
# Targets (issue 4): explain at least 10x faster than tshark, within 10x of cat, peak memory under
# 150 MB, and the same peak memory (within 10%) for the smallest and the largest capture.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZES=(${EXPLAIN_BENCH_SIZES:-256M 1G})
OUT=bench/out
mkdir -p "$OUT"
for tool in hyperfine tshark tcpdump jq /usr/bin/time; do
  if ! command -v "$tool" > /dev/null; then
    echo "explain_bench: $tool is missing (apt-get install -y hyperfine tshark tcpdump jq time); skipped" >&2
    exit 0
  fi
done

# One capture per size and generator version: the version is a hash of the generator itself.
version=$(sha256sum bench/gen_capture.ts | cut -c1-12)
files=()
for size in "${SIZES[@]}"; do
  file="$OUT/explain-$size-$version.pcap"
  if [[ ! -s "$file" ]]; then
    rm -f "$OUT"/explain-"$size"-*.pcap
    echo "generating $file ..."
    deno run --allow-write="$OUT" bench/gen_capture.ts "$file" --size "$size" --seed 1 > "$file.json"
  fi
  files+=("$file")
done
big="${files[-1]}"
big_info=$(cat "$big.json")
echo "largest capture: $big ($(jq -r '"\(.bytes) bytes, \(.packets) packets, \(.connections) connections"' <<< "$big_info"))"

report=$(mktemp -d)
trap 'rm -rf "$report"' EXIT
explain=(deno task --quiet lab explain)
direct=(deno run --allow-read bench/explain_direct.ts)

echo
echo "== timing (hyperfine, medians)"
hyperfine --style basic --warmup 1 --runs 9 --export-json "$report/fast.json" \
  -n "lab explain" "${explain[*]} $big > /dev/null" \
  -n "explain_direct" "${direct[*]} $big > /dev/null" \
  -n "cat" "cat $big > /dev/null" \
  -n "lab start-up" "deno task --quiet lab --version > /dev/null"
# tshark and tcpdump take minutes on a 1 GiB file: fewer runs (the file is already in the page cache).
hyperfine --style basic --runs 3 --export-json "$report/tshark.json" \
  -n "tshark" "tshark -q -z conv,tcp -r $big > /dev/null 2>&1"
hyperfine --style basic --runs 1 --export-json "$report/tcpdump.json" \
  -n "tcpdump" "tcpdump -nn -r $big > /dev/null 2>&1"

echo
echo "== peak memory (/usr/bin/time, maximum resident set size)"
declare -A rss rss_direct
for i in "${!SIZES[@]}"; do
  /usr/bin/time -f "%M" -o "$report/rss" "${explain[@]}" "${files[$i]}" > /dev/null
  rss[${SIZES[$i]}]=$(cat "$report/rss")
  /usr/bin/time -f "%M" -o "$report/rss" "${direct[@]}" "${files[$i]}" > /dev/null
  rss_direct[${SIZES[$i]}]=$(cat "$report/rss")
  echo "lab explain on ${SIZES[$i]}: ${rss[${SIZES[$i]}]} KB (explain_direct: ${rss_direct[${SIZES[$i]}]} KB)"
done
/usr/bin/time -f "%M" -o "$report/rss" tshark -q -z conv,tcp -r "$big" > /dev/null 2>&1
tshark_rss=$(cat "$report/rss")
echo "tshark on ${SIZES[-1]}: $tshark_rss KB"

median() { jq -r --arg n "$2" '.results[] | select(.command == $n) | .median' "$report/$1.json"; }
e=$(median fast "lab explain")
x=$(median fast "explain_direct")
c=$(median fast "cat")
s=$(median fast "lab start-up")
t=$(median tshark "tshark")
d=$(median tcpdump "tcpdump")
small=${rss[${SIZES[0]}]}
large=${rss[${SIZES[-1]}]}
small_direct=${rss_direct[${SIZES[0]}]}
large_direct=${rss_direct[${SIZES[-1]}]}

echo
echo "== summary on $big ($(jq -r '.bytes' <<< "$big_info") bytes, $(jq -r '.packets' <<< "$big_info") packets)"
awk -v e="$e" -v x="$x" -v c="$c" -v s="$s" -v t="$t" -v d="$d" -v small="$small" -v large="$large" \
  -v small_d="$small_direct" -v large_d="$large_direct" -v tr="$tshark_rss" -v sn="${SIZES[0]}" \
  -v ln="${SIZES[-1]}" '
function pct(a, b) { return (a > b ? a - b : b - a) * 100 / b }
function verdict(ok) { return ok ? "ok  " : "MISS" }
function targets(name, time, lo, hi) {
  printf "%s:\n", name
  printf "  %s at least 10x faster than tshark: %.1fx\n", verdict(t / time >= 10), t / time
  printf "  %s within 10x of cat: %.1fx\n", verdict(time / c <= 10), time / c
  printf "  %s peak memory under 150 MB: %.1f MB\n", verdict(hi / 1024 < 150), hi / 1024
  printf "  %s the same peak memory for %s and %s (within 10%%): %.1f MB and %.1f MB, %.1f%% apart\n",
    verdict(pct(hi, lo) <= 10), sn, ln, lo / 1024, hi / 1024, pct(hi, lo)
}
BEGIN {
  printf "| command | median s | compared with deno task lab explain |\n|---|---:|---:|\n"
  printf "| deno task lab explain | %.3f | |\n", e
  printf "| bench/explain_direct.ts (the same, without lab/main.ts) | %.3f | %.1fx faster |\n", x, e / x
  printf "| tshark -q -z conv,tcp | %.3f | %.1fx slower |\n", t, t / e
  printf "| tcpdump -nn -r > /dev/null | %.3f | %.1fx slower |\n", d, d / e
  printf "| cat > /dev/null | %.3f | %.1fx faster |\n", c, e / c
  printf "| deno task lab --version (start-up only) | %.3f | |\n", s
  printf "\ntshark peak memory on %s: %.1f MB\n\n", ln, tr / 1024
  targets("deno task lab explain", e, small, large)
  targets("bench/explain_direct.ts", x, small_d, large_d)
}'

if [[ -n "${EXPLAIN_BENCH_CLEAN:-}" ]]; then
  rm -f "${files[@]}" "${files[@]/%/.json}"
  echo "removed the generated captures"
fi
