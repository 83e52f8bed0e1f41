/**
 * The firewall-reset run: the RST the client received came from the
 * middlebox, proved by the three captures, the kernel's trace and the rule's
 * counter. Without any one of those proofs the cause is not path-reset.
 */
import assert from "node:assert/strict";
import { recordedRun } from "../_fixtures.ts";
import { analyseRun } from "../../lab/verdict/analyse_run.ts";
import { renderReport } from "../../lab/report/run_report.ts";

Deno.test("firewall-reset: the middlebox's reset, with its proof", async () => {
  const result = analyseRun(await recordedRun("firewall-reset"));
  const conn = result.connections[0]!;
  assert.equal(conn.cause, "path-reset");
  assert.equal(conn.confidence, "certain");
  assert.equal(conn.resetBy, "server"); // the address the RST carries
  const proof = conn.candidates.find((c) => c.cause === "path-reset")!.reason;
  assert.match(proof, /the client's capture has an RST from .*, and the server's capture has no RST/);
  assert.match(proof, /no tcp_send_reset in the server's namespace/);
  assert.match(proof, /the middlebox's capture has the same RST/);
  assert.match(proof, /rule tcplab-path-1 \(REJECT\) counted 1 packet/);
  assert.deepEqual(conn.kernel.resetReasons, []);
  assert.ok(result.expectation.met);
  const report = renderReport(result);
  assert.ok(report.includes("- Packets: the client received `Flags [R], seq 2` with the server's address"));
  assert.match(report, /middlebox .*keeps NET_ADMIN/);
});

Deno.test("firewall-reset without the proof: the RST's TTL alone makes path-reset likely, not certain", async () => {
  const run = await recordedRun("firewall-reset");
  const noCounter = { ...run, middlebox: { ...run.middlebox!, counters: "" } };
  const noMiddlebox = { ...run };
  delete noMiddlebox.middlebox;
  // The server's capture given the client's packets: the RST is then in both.
  const both = {
    ...run,
    sides: { ...run.sides, server: { ...run.sides.server, pcap: run.sides.client.pcap } },
  };
  for (const artifacts of [noCounter, noMiddlebox, both]) {
    const conn = analyseRun(artifacts).connections[0]!;
    assert.equal(conn.cause, "path-reset");
    assert.equal(conn.confidence, "likely");
    assert.match(
      conn.candidates[0]!.reason,
      /probably sent by a middlebox: its IP TTL is 64 where every other packet the responder sent had 63 \(IP ID 0, the responder's last 26084\)/,
    );
  }
});
