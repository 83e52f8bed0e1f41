/**
 * A hold holds, in real containers: a side the lab has work at after a step
 * (the server's restart, a path's rules) begins its next step only once that
 * work is done, however long the work takes. Neither scenario sleeps to wait
 * for the lab any more, so without the hold the client's next write would
 * come a fraction of a millisecond after its read, long before the lab's
 * work. The order is read from the run's own evidence (the programs' and
 * holders' logs on the host's real-time clock, the middlebox's counters and
 * capture), not from how long anything took. Needs a running Docker daemon.
 */
import assert from "node:assert/strict";
import { DockerClient } from "../../lab/docker/client.ts";
import { parseDockerHost } from "../../lab/docker/host.ts";
import { runScenario } from "../../lab/run/run_scenario.ts";
import { silentProgress } from "../../lab/util/progress.ts";
import { loadCatalog } from "../../lab/scenario/catalog.ts";
import { HOLD_CALL, parseProgramLog } from "../../lab/evidence/calls.ts";
import { parseSnapshots } from "../../lab/evidence/snapshot.ts";
import { parseRuleCounters } from "../../lab/evidence/path_rules.ts";
import { readConnections } from "../../lab/analysis/connections.ts";
import { TCP_RST } from "../../lab/analysis/types.ts";
import type { RunArtifacts } from "../../lab/evidence/artifacts.ts";

const docker = new DockerClient(parseDockerHost(Deno.env.get("DOCKER_HOST")));
const dockerTest = { sanitizeOps: false, sanitizeResources: false };

/** The client's hold after step 3 and the first call of its step 4, from its log. */
function clientHold(artifacts: RunArtifacts) {
  const calls = parseProgramLog("client", artifacts.sides.client.programLog).calls;
  const hold = calls.find((c) => c.call === HOLD_CALL);
  const next = calls.find((c) => c.step === 4);
  assert.ok(hold && next, artifacts.sides.client.programLog);
  assert.equal(hold.step, 3, "held after its step 3");
  assert.ok(hold.returnNs !== null && hold.returnNs <= next.enterNs);
  return { hold, next };
}

Deno.test({
  name: "peer-restart: the client's next step begins only after the fresh namespace is up",
  ...dockerTest,
  async fn() {
    const artifacts = await runScenario(loadCatalog().get("peer-restart")!, {
      docker,
      progress: silentProgress,
    });
    const { hold, next } = clientHold(artifacts);
    const restart = artifacts.restart!;
    assert.ok(restart, "the server was restarted");
    // The fresh holder's first snapshot is taken once its container has started, after the first namespace was
    // cut off: both before the client's step 4 entered its write, on the same clock.
    const fresh = parseSnapshots(restart.holderLog)[0]!;
    assert.ok(fresh, restart.holderLog);
    assert.ok(BigInt(restart.cutRealNs) < next.enterNs);
    assert.ok(fresh.realNs > hold.enterNs, "the fresh namespace came while the client was held");
    assert.ok(fresh.realNs < next.enterNs, "the fresh namespace was up before the client's next step");
    assert.deepEqual(await docker.listLabelled(artifacts.runId), [], "nothing of the run is left");
  },
});

Deno.test({
  name: "firewall-reset: the client's next byte meets the rules the lab added while it was held",
  ...dockerTest,
  async fn() {
    const artifacts = await runScenario(loadCatalog().get("firewall-reset")!, {
      docker,
      progress: silentProgress,
    });
    clientHold(artifacts);
    const box = artifacts.middlebox!;
    assert.match(box.ruleLog, /add tcplab-path-1 \(the client's step 3 returned\): .* exit 0/);
    // The kernel's proof that the reject rule was in when the client's next byte crossed the middlebox: its
    // counter took that byte, and the byte never left toward the server (the middlebox's capture has it once,
    // arriving, with its RST in answer).
    const reject = parseRuleCounters(box.counters).find((r) => r.comment === "tcplab-path-1");
    assert.ok(reject && reject.packets >= 1, box.counters);
    const packets = readConnections(box.pcap!, "middlebox.pcap").packets;
    const server = artifacts.sides.server.address;
    const client = artifacts.sides.client.address;
    const bytes = packets.filter((p) => p.src === client && p.payloadLength === 1);
    const second = Math.max(...bytes.map((p) => p.seq)); // the second byte's sequence number: one after the first
    assert.equal(new Set(bytes.map((p) => p.seq)).size, 2, "two bytes from the client");
    assert.equal(
      bytes.filter((p) => p.seq === second).length,
      1,
      "the second byte arrived and was not forwarded",
    );
    assert.ok(bytes.filter((p) => p.seq !== second).length >= 2, "the first byte arrived and was forwarded");
    assert.ok(packets.some((p) => p.src === server && (p.flags & TCP_RST) !== 0), "the middlebox's RST");
    // And the server's capture never saw the second byte.
    const atServer = readConnections(artifacts.sides.server.pcap!, "server.pcap").packets
      .filter((p) => p.src === client && p.payloadLength === 1);
    assert.ok(
      atServer.length >= 1 && atServer.every((p) => p.seq !== second),
      "only the first byte reached it",
    );
    assert.deepEqual(await docker.listLabelled(artifacts.runId), [], "nothing of the run is left");
  },
});
