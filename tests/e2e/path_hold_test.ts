/**
 * A path that holds packets, in real containers: the middlebox's NFQUEUE rule and its queue program
 * (`tcplab queue`), seen from its own capture (each packet to the server arrives, then leaves at least the
 * rule's delay later) and from the server's (a held segment overtaken by the next one). Needs a running Docker
 * daemon.
 */
import assert from "node:assert/strict";
import { DockerClient } from "../../lab/docker/client.ts";
import { parseDockerHost } from "../../lab/docker/host.ts";
import { runScenario } from "../../lab/run/run_scenario.ts";
import { silentProgress } from "../../lab/util/progress.ts";
import { loadCatalog } from "../../lab/scenario/catalog.ts";
import { parseScenario } from "../../lab/scenario/parse.ts";
import { analyseRun } from "../../lab/verdict/analyse_run.ts";
import { readConnections } from "../../lab/analysis/connections.ts";
import type { TcpPacket } from "../../lab/analysis/types.ts";
import { parseHeldPackets } from "../../lab/evidence/held_packets.ts";
import { parseRuleCounters } from "../../lab/evidence/path_rules.ts";
import { renderReport } from "../../lab/report/run_report.ts";

const docker = new DockerClient(parseDockerHost(Deno.env.get("DOCKER_HOST")));
const dockerTest = { sanitizeOps: false, sanitizeResources: false };

const DELAYED = parseScenario(
  `name: delayed
title: every segment to the server held 30 ms
port: 9999
path:
  - to: server
    delay: { ms: 30 }
server:
  steps: [listen, accept, { read: 1 }, { write: 1 }, read-eof, close]
client:
  steps: [connect, { write: 1 }, { read: 1 }, close]
expect:
  state: SF
  closedFirstBy: client
`,
  "delayed.yaml",
);

/**
 * Each packet to `address`:`port` (the scenario's connection, not the lab's probe of the path) that the middlebox
 * forwarded: when it came in (TTL 64) and went out (TTL 63).
 */
function forwarded(
  packets: TcpPacket[],
  address: string,
  port: number,
): Array<{ came: TcpPacket; left: TcpPacket }> {
  const toServer = packets.filter((p) => p.dst === address && p.dstPort === port);
  return toServer.filter((p) => p.ttl === 64).map((came) => {
    const left = toServer.find((p) => p.ttl === 63 && p.ipId === came.ipId && p.seq === came.seq);
    assert.ok(left, `packet ${came.index} of the middlebox's capture left again`);
    return { came, left };
  });
}

Deno.test({
  name: "delay: every packet to the server leaves the middlebox at least 30 ms after it came",
  ...dockerTest,
  async fn() {
    const artifacts = await runScenario(DELAYED, { docker, progress: silentProgress });
    const box = artifacts.middlebox!;
    assert.match(
      box.ruleLog,
      /^before the client's start: add tcplab-path-1: .*NFQUEUE --queue-num 1 .*exit 0$/m,
    );
    assert.match(
      box.ruleLog,
      /^before the client's start: wait for the queue program: queue --wait 1: exit 0$/m,
    );
    // Idle when stopped (the programs are done, nothing is held): it ends on SIGTERM, gives back nothing and
    // says "end". One whose SIGTERM stayed blocked would meet --stop's SIGKILL 5 s later: exit 1, no "end".
    assert.match(box.ruleLog, /stop the queue program: queue --stop: exit 0$/m);
    assert.match(box.queueLog!, /\n\{"ph":"end",[^\n]*\}\nexit 0\n$/);
    const held = parseHeldPackets(box.queueLog!);
    const [rule] = parseRuleCounters(box.counters);
    // Every packet the rule queued was held, each for at least the rule's delay.
    assert.equal(held.length, rule!.packets, box.queueLog);
    assert.ok(held.length >= 5, "SYN, ACK, data, ACK, FIN at least");
    for (const p of held) assert.ok(p.heldMs >= 30, JSON.stringify(p));
    const pairs = forwarded(
      readConnections(box.pcap!, box.pcapFile).packets,
      artifacts.sides.server.address,
      DELAYED.port,
    );
    assert.equal(pairs.length, held.length);
    for (const { came, left } of pairs) {
      assert.ok(
        left.timeNs - came.timeNs >= 30_000_000n,
        `packet ${came.index}: ${left.timeNs - came.timeNs} ns`,
      );
    }
    const result = analyseRun(artifacts);
    assert.ok(result.expectation.met, JSON.stringify(result.expectation.checks));
    assert.equal(result.pathHolds?.[0]?.heldCount, held.length);
    assert.deepEqual(await docker.listLabelled(artifacts.runId), [], "nothing of the run is left");
  },
});

Deno.test({
  name:
    "reordered-segments: the third write's segment reaches the server after the fourth; the report names the rule",
  ...dockerTest,
  async fn() {
    const artifacts = await runScenario(loadCatalog().get("reordered-segments")!, {
      docker,
      progress: silentProgress,
    });
    const held = parseHeldPackets(artifacts.middlebox!.queueLog!);
    const longer = held.filter((p) => p.extra);
    assert.equal(longer.length, 1, artifacts.middlebox!.queueLog);
    assert.ok(longer[0]!.heldMs >= 400);
    // The server's capture: bytes 301:401 (relative) before the first copy of 201:301.
    const server = readConnections(artifacts.sides.server.pcap!, "server.pcap");
    const data = server.packets.filter((p) =>
      p.dst === artifacts.sides.server.address && p.payloadLength > 0
    );
    const isn = server.packets.find((p) => p.dst === artifacts.sides.server.address)!.seq;
    const relative = data.map((p) => (p.seq - isn) >>> 0);
    assert.ok(relative.indexOf(301) < relative.indexOf(201), `order at the server: ${relative.join(" ")}`);
    const result = analyseRun(artifacts);
    assert.ok(result.expectation.met, JSON.stringify(result.expectation.checks));
    const report = renderReport(result);
    assert.match(report, /### Held on the path/);
    assert.match(report, /Rule `tcplab-path-1` \(to the server: `reorder: \{every: 3, extra-ms: 400\}`\)/);
    assert.match(report, /keeps NET_ADMIN .*queue program/);
  },
});
