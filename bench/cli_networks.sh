#!/usr/bin/env bash
# The engine's floor for N runs side by side: what every run needs at least
# (its own Internal network and two containers attached to it, started, then
# removed), N times in parallel with the bare docker CLI, nothing else.
# `run --all` cannot be faster than this on the same engine.
# Usage: cli_networks.sh IMAGE N
set -euo pipefail
image=$1 n=$2
docker image inspect "$image" >/dev/null # never let the CLI run a missing image
cleanup() {
  docker ps -aq --filter "name=tcplab-floor$$-" | xargs -r docker rm -f >/dev/null 2>&1 || true
  docker network ls -q --filter "name=tcplab-floor$$-" | xargs -r docker network rm >/dev/null 2>&1 || true
}
trap cleanup EXIT
one() {
  local net=tcplab-floor$$-$1
  docker network create --internal -o com.docker.network.bridge.inhibit_ipv4=true --label tcplab=1 \
    --subnet "10.202.$1.0/28" "$net" >/dev/null
  docker run -d --label tcplab=1 --name "$net-a" --user 65534 --network "$net" "$image" hold >/dev/null &
  docker run -d --label tcplab=1 --name "$net-b" --user 65534 --network "$net" "$image" hold >/dev/null &
  wait
  docker rm -f "$net-a" "$net-b" >/dev/null
  docker network rm "$net" >/dev/null
}
for i in $(seq 1 "$n"); do one "$i" & done
wait
