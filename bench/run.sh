#!/usr/bin/env bash
# deno task bench: every benchmark of the lab, one after the other.
# Each script prints its own table; numbers are medians from the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
for script in bench/*_bench.sh; do
  echo "== ${script}"
  bash "$script" "$@"
done
