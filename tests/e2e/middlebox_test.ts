/**
 * A scenario's path in real containers: the middlebox between the sides,
 * its iptables rule answering with a reset, its capture and its counter; a
 * rule that drops one chosen segment; a rate; and nothing of it left after the run. Needs a running Docker daemon.
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
import { TCP_FIN, TCP_RST } from "../../lab/analysis/types.ts";
import { parseRuleCounters } from "../../lab/evidence/path_rules.ts";

const docker = new DockerClient(parseDockerHost(Deno.env.get("DOCKER_HOST")));
const dockerTest = { sanitizeOps: false, sanitizeResources: false };

Deno.test({
  name: "firewall-reset: the middlebox's REJECT resets the client; its capture and counter prove it",
  ...dockerTest,
  async fn() {
    const scenario = loadCatalog().get("firewall-reset")!;
    const artifacts = await runScenario(scenario, { docker, progress: silentProgress });
    const box = artifacts.middlebox!;
    assert.ok(box, "a middlebox for a scenario with a path");
    // The holders routed through it, and the rules went in.
    assert.match(artifacts.sides.client.holderLog, /route: \S+\/32 via /);
    assert.match(box.ruleLog, /add tcplab-path-1 \(the client's step 3 returned\): .* exit 0/);
    assert.match(box.ruleLog, /add tcplab-path-2 \(the client's step 3 returned\): .* exit 0/);
    // The two rules go in at the same moment, so their order in the listing is either; find each by its name.
    const rules = parseRuleCounters(box.counters);
    const reject = rules.find((r) => r.comment === "tcplab-path-1");
    assert.equal(reject?.target, "REJECT", box.counters);
    assert.equal(rules.find((r) => r.comment === "tcplab-path-2")?.target, "DROP", box.counters);
    assert.ok(reject!.packets >= 1, box.counters);
    // Its capture has the RST it sent, with the server's address.
    const server = artifacts.sides.server.address;
    const rsts = readConnections(box.pcap!, "middlebox.pcap").packets
      .filter((p) => p.src === server && (p.flags & TCP_RST) !== 0);
    assert.ok(rsts.length >= 1, "the middlebox's capture has its RST");
    const result = analyseRun(artifacts);
    assert.ok(result.expectation.met, JSON.stringify(result.expectation.checks));
    assert.equal(result.connections[0]!.cause, "path-reset");
    assert.equal(result.connections[0]!.confidence, "certain");
    const record = result.environment.containers.find((c) => c.role.startsWith("middlebox"))!;
    assert.ok(record.capabilities.includes("NET_ADMIN"));
    assert.deepEqual(await docker.listLabelled(artifacts.runId), [], "nothing of the run is left");
  },
});

Deno.test({
  name: "fin-lost: the drop rule takes exactly the client's first FIN, in place before the client starts",
  ...dockerTest,
  async fn() {
    const artifacts = await runScenario(loadCatalog().get("fin-lost")!, { docker, progress: silentProgress });
    const box = artifacts.middlebox!;
    assert.match(box.ruleLog, /^before the client's start: add tcplab-path-1: .* exit 0$/m);
    const [rule] = parseRuleCounters(box.counters);
    assert.equal(rule?.target, "DROP", box.counters);
    assert.equal(rule!.packets, 1, box.counters);
    // The client sent its FIN twice and the server received it once. The middlebox's one interface sees a
    // forwarded packet twice (in, and out again): the dropped FIN once, the one it passed twice.
    const client = artifacts.sides.client.address;
    const fins = (pcap: Uint8Array, file: string) =>
      readConnections(pcap, file).packets.filter((p) =>
        p.src === client && p.dstPort === artifacts.scenario.port && (p.flags & TCP_FIN) !== 0
      ).length;
    assert.equal(fins(artifacts.sides.client.pcap!, "client.pcap"), 2);
    assert.equal(fins(artifacts.sides.server.pcap!, "server.pcap"), 1);
    assert.equal(fins(box.pcap!, "middlebox.pcap"), 3);
    const result = analyseRun(artifacts);
    assert.ok(result.expectation.met, JSON.stringify(result.expectation.checks));
    assert.equal(result.connections[0]!.facts.finSent, 2);
    assert.deepEqual(await docker.listLabelled(artifacts.runId), [], "nothing of the run is left");
  },
});

Deno.test({
  name: "seed without a path: two holders, no route, no middlebox",
  ...dockerTest,
  async fn() {
    const artifacts = await runScenario(loadCatalog().get("seed")!, { docker, progress: silentProgress });
    assert.equal(artifacts.middlebox, undefined);
    assert.doesNotMatch(artifacts.sides.client.holderLog, /route:/);
    assert.equal(artifacts.environment.containers.filter((c) => c.role.startsWith("middlebox")).length, 0);
  },
});

Deno.test({
  name: "nat-idle-expiry: the NAT's rules go in, conntrack forgets, the middlebox's kernel resets the server",
  ...dockerTest,
  async fn() {
    const scenario = loadCatalog().get("nat-idle-expiry")!;
    const artifacts = await runScenario(scenario, { docker, progress: silentProgress });
    const box = artifacts.middlebox!;
    // MASQUERADE loads (its extension is a link to libxt_NAT.so in the host's xtables).
    assert.match(box.ruleLog, /add tcplab-nat: .* exit 0/);
    assert.match(box.ruleLog, /add tcplab-invalid: .* exit 0/);
    assert.equal(
      parseRuleCounters(box.counters).find((r) => r.comment === "tcplab-nat")?.target,
      "MASQUERADE",
    );
    // The server saw the middlebox's address in the client's place.
    const server = artifacts.sides.server.address;
    const seen = readConnections(artifacts.sides.server.pcap!, "server.pcap").packets
      .filter((p) => p.dst === server && p.dstPort === scenario.port);
    assert.ok(
      seen.length > 0 && seen.every((p) => p.src === box.address),
      "the server saw only the NAT's address",
    );
    assert.match(box.holderLog, /--- \/proc\/net\/nf_conntrack\n/);
    const result = analyseRun(artifacts);
    assert.ok(result.expectation.met, JSON.stringify(result.expectation.checks));
    assert.equal(result.connections[0]!.cause, "nat-mapping-expired");
    assert.equal(result.connections[0]!.confidence, "certain");
    assert.deepEqual(await docker.listLabelled(artifacts.runId), [], "nothing of the run is left");
  },
});

Deno.test({
  name:
    "a rate to the client: tc's HTB and TBF go in; the download crosses the middlebox no faster than the rate",
  ...dockerTest,
  async fn() {
    const scenario = parseScenario(
      "name: rate-download\ntitle: a download through a 256 kbit/s path\n" +
        "path:\n  - { to: client, rate: { kbit: 256, burst: 4k } }\n" +
        "server: { steps: [listen, accept, { write: 65536 }, close] }\n" +
        "client: { steps: [connect, read-eof, close] }\n" +
        "expect: { state: SF, closedFirstBy: server, cause: graceful-close }\n",
      "rate-download.yaml",
    );
    const artifacts = await runScenario(scenario, { docker, progress: silentProgress });
    const box = artifacts.middlebox!;
    assert.match(box.ruleLog, /set up the shaper: qdisc add dev eth0 root handle 1: htb: exit 0/);
    assert.match(box.ruleLog, /set up the shaper: qdisc add dev eth0 parent 1:1 tbf rate 256kbit .*: exit 0/);
    assert.match(box.ruleLog, /^before the client's start: add tcplab-path-1: filter add .*: exit 0$/m);
    const tbf = parseRuleCounters(box.counters).find((r) => r.comment === "tcplab-path-1");
    assert.equal(tbf?.target, "TBF", box.counters);
    assert.ok(tbf!.bytes >= 65536, box.counters);
    // The bucket held packets back: without the shaper, 64 KiB cross a veth in a few ms. With it, the bytes
    // beyond the 4 KiB bucket leave at 256 kbit/s: the client's capture, by the kernel's clock, spans at
    // least (65536 - 4096) * 8 / 256000 s = 1.92 s from the first data segment to the last.
    assert.match(tbf!.line, /overlimits [1-9]/, box.counters);
    const server = artifacts.sides.server.address;
    const data = readConnections(artifacts.sides.client.pcap!, "client.pcap").packets
      .filter((p) => p.src === server && p.payloadLength > 0);
    const spanMs = Number(data.at(-1)!.timeNs - data[0]!.timeNs) / 1e6;
    assert.ok(spanMs >= 1900, `the data crossed in ${spanMs} ms`);
    const result = analyseRun(artifacts);
    assert.ok(result.expectation.met, JSON.stringify(result.expectation.checks));
    assert.match(result.pathRules![0]!.rule, /at most 256 kbit\/s/);
    assert.ok(result.environment.pathKernel?.used.includes("CONFIG_NET_SCH_TBF"));
    assert.deepEqual(await docker.listLabelled(artifacts.runId), [], "nothing of the run is left");
  },
});
