/**
 * A run that restarts the server makes a third holder (the fresh namespace)
 * and removes the first one midway: whether it ends normally or is
 * interrupted before or after the restart, nothing labelled with the run is
 * left. Real containers.
 */
import assert from "node:assert/strict";
import { DockerClient } from "../../lab/docker/client.ts";
import { parseDockerHost } from "../../lab/docker/host.ts";
import { runScenario } from "../../lab/run/run_scenario.ts";
import type { RunMoment } from "../../lab/run/moments.ts";
import { silentProgress } from "../../lab/util/progress.ts";
import { loadCatalog } from "../../lab/scenario/catalog.ts";

const docker = new DockerClient(parseDockerHost(Deno.env.get("DOCKER_HOST")));
const peerRestart = loadCatalog().get("peer-restart")!;

Deno.test({
  name: "peer-restart: finished or interrupted around its restart, nothing of the run is left",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    for (const moment of [null, "run:programs", "flush"] as const) {
      await t.step(moment === null ? "to its end" : `interrupted at "${moment}"`, async () => {
        const controller = new AbortController();
        let runId = "";
        const run = runScenario(peerRestart, {
          docker,
          progress: silentProgress,
          signal: controller.signal,
          at(m: RunMoment, id: string) {
            runId = id;
            if (m === moment) controller.abort();
          },
        });
        if (moment === null) {
          const artifacts = await run;
          assert.ok(artifacts.restart, "the server was restarted");
          assert.ok(
            (artifacts.restart.pcap?.length ?? 0) > 24,
            "the fresh namespace's capture was collected",
          );
          assert.ok(
            (artifacts.sides.server.pcap?.length ?? 0) > 24,
            "the first namespace's capture was kept",
          );
        } else {
          await assert.rejects(run, (error: Error) => error.name === "RunInterrupted");
        }
        assert.notEqual(runId, "");
        assert.deepEqual((await docker.listLabelled(runId)).map((r) => `${r.kind} ${r.name}`), []);
      });
    }
  },
});
