#!/usr/bin/env bash
# The founding case with the bare docker CLI, as a careful person would script
# it: a network, the server, a capture sidecar (waiting for tcpdump's
# "listening on"), the client, stop the capture, fetch the pcap, remove
# everything. The baseline the lab's own run is measured against.
# The lab's image holds tcpdump too: the sidecar runs it as its entrypoint.
# Usage: cli_seed.sh IMAGE OUT_DIR
set -euo pipefail
endpoint=$1 out=$2
# Never let the CLI run an image that is missing: it would ask a registry.
docker image inspect "$endpoint" >/dev/null
id=cli$$$RANDOM
third=$((RANDOM % 250))
net=tcplab-$id
cleanup() {
  docker rm -f "$net-srv" "$net-cap" "$net-cli" >/dev/null 2>&1 || true
  docker volume rm -f "$net-vol" >/dev/null 2>&1 || true
  docker network rm "$net" >/dev/null 2>&1 || true
}
trap cleanup EXIT
docker network create --internal -o com.docker.network.bridge.inhibit_ipv4=true --label tcplab=1 \
  --subnet "10.201.$third.0/28" "$net" >/dev/null
lock=(--label tcplab=1 --cap-drop ALL --read-only --security-opt no-new-privileges)
docker run -d --name "$net-srv" "${lock[@]}" --user 65534 --network "$net" --ip "10.201.$third.2" "$endpoint" \
  run listen=0.0.0.0:9999 accept 'epoll=in|out|rdhup|hup:out' write=1 'epoll=in|rdhup|hup' read=1 close >/dev/null
docker run -d --name "$net-cap" "${lock[@]}" --cap-add NET_RAW --cap-add SETUID --cap-add SETGID --cap-add CHOWN \
  --user 0:0 --network "container:$net-srv" -v "$net-vol:/cap" --entrypoint /usr/bin/tcpdump "$endpoint" \
  -i eth0 -p -nn -U --immediate-mode --time-stamp-precision=nano -Z tcpdump -w /cap/server.pcap >/dev/null
for _ in $(seq 500); do docker logs "$net-cap" 2>&1 | grep -q "listening on" && break; sleep 0.02; done
docker logs "$net-cap" 2>&1 | grep -q "listening on" || { echo "tcpdump never listened" >&2; exit 1; }
docker run --name "$net-cli" "${lock[@]}" --user 65534 --network "$net" --ip "10.201.$third.3" "$endpoint" \
  run "connect=10.201.$third.2:9999" wait-unread=1 close >/dev/null
# The capture shares the server's namespace: when the server exits, tcpdump
# loses its interface and stops by itself; otherwise stop it now.
docker kill -s INT "$net-cap" >/dev/null 2>&1 || true
docker wait "$net-cap" >/dev/null
docker cp "$net-cap:/cap/server.pcap" "$out/server.pcap"
