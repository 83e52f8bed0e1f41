import assert from "node:assert/strict";
import { DockerClient } from "../../lab/docker/client.ts";
import { parseDockerHost } from "../../lab/docker/host.ts";
import { LAB_LABEL, RUN_LABEL } from "../../lab/docker/labels.ts";
import { describeLeftovers, findLeftovers } from "../../lab/docker/leftovers.ts";

const docker = new DockerClient(parseDockerHost(Deno.env.get("DOCKER_HOST")));

Deno.test({
  name: "a run's resources are leftovers only once they are older than any run can last",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const runId = `leftover${crypto.getRandomValues(new Uint32Array(1))[0]}`;
    const name = `tcplab-${runId}`;
    const id = await docker.createNetwork(name, `10.203.${Math.floor(Math.random() * 250)}.0/28`, {
      [LAB_LABEL]: "1",
      [RUN_LABEL]: runId,
    });
    try {
      const young = await findLeftovers(docker);
      assert.ok(!young.runs.has(runId), "a fresh network may belong to a live run: not a leftover");
      const later = await findLeftovers(docker, Date.now() + 11 * 60 * 1000);
      assert.deepEqual(later.runs.get(runId)?.map((r) => `${r.kind} ${r.name}`), [`network ${name}`]);
      assert.match(
        describeLeftovers(later) ?? "",
        /leftovers of killed runs; remove them with "deno task lab clean"/,
      );
    } finally {
      await docker.removeNetwork(id);
    }
  },
});
