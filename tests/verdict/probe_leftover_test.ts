/**
 * The end of the lab's own probe of the path can fall inside a capture (the
 * client's tcpdump starts once its probe connected, while the server's
 * holder may still hold a late probe connection): that connection is the
 * lab's, not the scenario's, and the verdict must be about the scenario's.
 */
import assert from "node:assert/strict";
import { loadArtifacts } from "../../lab/session/run_files.ts";
import { analyseRun } from "../../lab/verdict/analyse_run.ts";

const DIR = new URL("../testdata/probe-leftover", import.meta.url).pathname;

Deno.test("a probe connection captured by chance is left out of the run's connections", async () => {
  const artifacts = await loadArtifacts(DIR);
  assert.equal(artifacts.probePort, 61999);
  const result = analyseRun(artifacts);
  assert.equal(result.connections.length, 1);
  assert.ok(
    !result.connections[0]!.client.endsWith(":61999") && !result.connections[0]!.server.endsWith(":61999"),
  );
  assert.equal(result.connections[0]!.cause, "keepalive-timeout");
  assert.ok(result.expectation.met, JSON.stringify(result.expectation.checks));
  // Without the probe's port the same capture gives two connections, and the first is the probe's.
  const without = { ...artifacts };
  delete without.probePort;
  const mixed = analyseRun(without);
  assert.equal(mixed.connections.length, 2);
  assert.ok(mixed.connections[0]!.server.endsWith(":61999"));
  assert.ok(!mixed.expectation.met);
});
