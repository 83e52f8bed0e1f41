/**
 * The peer-restart run: the RST the client received came from the server's
 * fresh namespace, proved by the cut, the first namespace's silent capture,
 * the fresh namespace's capture, the kernel's trace and its counters.
 * Without the restart's evidence the cause is not peer-lost-state.
 */
import assert from "node:assert/strict";
import { recordedRun } from "../_fixtures.ts";
import { analyseRun } from "../../lab/verdict/analyse_run.ts";
import { renderReport } from "../../lab/report/run_report.ts";
import { joinCaptures } from "../../lab/analysis/joined_capture.ts";

Deno.test("peer-restart: the fresh kernel's reset, with its proof", async () => {
  const artifacts = await recordedRun("peer-restart");
  const result = analyseRun(artifacts);
  const conn = result.connections[0]!;
  assert.equal(conn.cause, "peer-lost-state");
  assert.equal(conn.confidence, "certain");
  assert.equal(conn.resetBy, "server");
  assert.deepEqual(conn.candidates.map((c) => c.cause), ["peer-lost-state"]);
  const proof = conn.candidates[0]!.reason;
  assert.match(
    proof,
    /cut the server's first network namespace off the network \d+ ms after the client's start/,
  );
  assert.match(proof, /the first namespace's capture has no FIN and no RST from the server/);
  assert.match(proof, /the fresh namespace's capture has that RST .* after the client's segment it answered/);
  assert.match(proof, /tcp_send_reset from [\d.]+ with no socket \(reason NO_SOCKET\)/);
  assert.match(proof, /counters in the fresh namespace: Tcp.OutRsts \+1/);
  assert.deepEqual(conn.kernel.resetReasons.map((r) => [r.side, r.reason]), [["server", "NO_SOCKET"]]);
  assert.ok(result.expectation.met);
  // The server's capture is both namespaces': the RST is in it, after the first namespace's packets.
  assert.ok(conn.packets.some((p) => p.capture === "server" && p.from === "server" && p.flags === "R"));
  assert.equal(result.captures.server.restartedFile, "server-restarted.pcap");
  assert.equal(conn.kernel.socketsLeft.server.length, 0); // the fresh namespace's, after the run
  const report = renderReport(result);
  assert.ok(report.includes("- Packets: the client received `Flags [R], seq 2` with the server's address"));
  assert.match(
    report,
    /From the server's captures \(`server.pcap`, its first namespace's, then `server-restarted.pcap`/,
  );
  assert.match(report, /it was removed with its namespace at the restart/);
});

Deno.test("peer-restart without the restart's evidence: not peer-lost-state", async (t) => {
  const run = await recordedRun("peer-restart");
  await t.step(
    "no restart recorded: the kernel's NO_SOCKET after a handshake reads as data after close",
    () => {
      const noRestart = { ...run };
      delete noRestart.restart;
      // The fresh namespace's packets are then part of the server's own capture.
      const joined = joinCaptures(run.sides.server.pcap!, run.restart!.pcap!);
      const conn = analyseRun({
        ...noRestart,
        sides: { ...run.sides, server: { ...run.sides.server, pcap: joined } },
      })
        .connections[0]!;
      assert.equal(conn.cause, "data-after-close");
    },
  );
  await t.step("the first namespace told the client (its capture has the RST): no lost state", () => {
    const told = {
      ...run,
      sides: { ...run.sides, server: { ...run.sides.server, pcap: run.sides.client.pcap } },
    };
    assert.notEqual(analyseRun(told).connections[0]!.cause, "peer-lost-state");
  });
});
