/**
 * `deno task lab clean` after a run was killed with SIGKILL (no cleanup
 * could run), and the removals it relies on when someone else is removing
 * the same things. Real containers.
 *
 * These tests clean only their own runs (`clean --run ID`): a plain `clean`
 * removes every run's resources, and other runs may be going on beside the
 * tests.
 */
import assert from "node:assert/strict";
import { ResourceInUseError } from "../../lab/errors.ts";
import { ensureImages } from "../../lab/docker/images.ts";
import { LAB_LABEL, OWNER_LABEL, RUN_LABEL } from "../../lab/docker/labels.ts";
import { silentProgress } from "../../lab/util/progress.ts";
import { removeTraceInstances } from "../../lab/run/tracefs.ts";
import {
  createRunNetwork,
  docker,
  dockerTest,
  leftBy,
  names,
  ownerOf,
  readUntil,
  removeRun,
  spawnLab,
  taskLab,
  testRunId,
  tracefsInstances,
} from "./_lab.ts";

/** The lines of clean's output that say it removed something, in order. */
function removals(stdout: string): string[] {
  return stdout.split("\n").filter((l) => l.startsWith("removed "));
}

Deno.test({
  name: "clean after a SIGKILLed run: lists what it removed, and nothing of the run is left",
  ...dockerTest,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "tcplab-kill-" });
    // Held once its programs run: every kind of resource then exists, and no request is in flight.
    const child = spawnLab(
      ["run", "seed", "--no-contrast", "--quiet", "--pause-at", "run:programs", "--out", dir],
      {},
      "piped",
    );
    const owner = ownerOf(child.pid);
    let exited = false;
    const status = child.status.then((s) => {
      exited = true;
      return s;
    });
    let runId: string | undefined;
    try {
      const paused = await readUntil(child.stderr, /paused at "run:programs"/);
      assert.match(paused, /paused at "run:programs"/, `the run paused: ${paused}`);
      child.kill("SIGKILL");
      assert.equal((await status).signal, "SIGKILL");

      const left = (await docker.listLabelled()).filter((r) => r.labels[OWNER_LABEL] === owner);
      for (const kind of ["container", "volume", "network"]) {
        assert.ok(left.some((r) => r.kind === kind), `a ${kind} was left: ${names(left)}`);
      }
      runId = left[0]!.labels[RUN_LABEL]!;
      const instance = `tcplab-${runId}`;
      const tracedBefore = (await tracefsInstances())?.includes(instance) ?? false;

      const out = await taskLab(["clean", "--run", runId]);
      assert.equal(out.code, 0, `clean: ${out.stderr}`);
      assert.equal(out.stderr, "");
      const said = removals(out.stdout);
      for (const r of left) {
        assert.ok(said.includes(`removed ${r.kind} ${r.name}`), `clean listed ${r.kind} ${r.name}`);
      }
      if (tracedBefore) assert.ok(said.includes(`removed tracefs instance ${instance}`), out.stdout);
      // Containers first, then volumes, then networks: the order in which the engine lets them go.
      const rank = (line: string) =>
        ["container", "volume", "network", "tracefs"].indexOf(line.split(" ")[1]!);
      assert.deepEqual(said.map(rank), said.map(rank).sort(), `in order: ${said.join(" / ")}`);

      assert.deepEqual(names(await docker.listLabelled(runId)), [], "nothing labelled with the run is left");
      assert.deepEqual(names(await leftBy(child.pid)), [], "nothing labelled by the killed process is left");
      const instances = await tracefsInstances();
      if (instances !== null) {
        assert.ok(!instances.includes(instance), `tracefs instance ${instance} removed`);
      }

      // Once clean, clean again has nothing to do for that run.
      const again = await taskLab(["clean", "--run", runId]);
      assert.equal(again.code, 0);
      assert.equal(again.stdout.trim(), "nothing to remove");
    } finally {
      if (!exited) child.kill("SIGKILL");
      await status;
      if (runId) {
        await removeRun(runId);
        await removeTraceInstances((name) => name !== `tcplab-${runId}`);
      }
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** A small run of our own: a network, a volume, and a holder using both. */
async function makeRun(runId: string) {
  const images = await ensureImages(docker, silentProgress);
  const prefix = `tcplab-${runId}`;
  const labels = { [LAB_LABEL]: "1", [RUN_LABEL]: runId, [OWNER_LABEL]: ownerOf(Deno.pid) };
  const net = await createRunNetwork(prefix, labels);
  await docker.createVolume(`${prefix}-server-cap`, labels);
  const holder = await docker.createContainer({
    name: `${prefix}-server-ns`,
    image: images.endpoint,
    cmd: ["hold"],
    labels: { ...labels, "tcplab.role": "server-ns" },
    attachment: { network: prefix, ipv4: net.address(2) },
    capAdd: [],
    user: "65534:65534",
    volumes: { "/cap": `${prefix}-server-cap` },
  });
  await holder.start();
  const all = await docker.listLabelled(runId);
  const find = (kind: string) => all.find((r) => r.kind === kind)!;
  return { container: find("container"), volume: find("volume"), network: find("network") };
}

Deno.test({
  name: "removing a volume or network still in use says so instead of passing for done",
  ...dockerTest,
  async fn() {
    const runId = testRunId("inuse");
    try {
      const { container, volume, network } = await makeRun(runId);
      await assert.rejects(docker.removeResource(volume), ResourceInUseError);
      await assert.rejects(docker.removeResource(network), ResourceInUseError);
      assert.deepEqual(names(await docker.listLabelled(runId)), names([container, network, volume]));
    } finally {
      await removeRun(runId);
      assert.deepEqual(names(await docker.listLabelled(runId)), []);
    }
  },
});

Deno.test({
  name: "a container someone else is removing: removal returns once it is gone, so its volume can go",
  ...dockerTest,
  async fn() {
    const runId = testRunId("race");
    try {
      const { container, volume, network } = await makeRun(runId);
      // Three removals at once: the engine works on one and answers 409 to the others. Whichever
      // returns first, the container must be gone by then, and its volume free.
      const removing = [1, 2, 3].map(() => docker.removeResource(container));
      await Promise.any(removing);
      await docker.removeResource(volume);
      await docker.removeResource(network);
      await Promise.all(removing);
      assert.deepEqual(names(await docker.listLabelled(runId)), []);
    } finally {
      await removeRun(runId);
    }
  },
});

Deno.test("clean refuses a run id that is not one, with exit code 2", async () => {
  const out = await taskLab(["clean", "--run", "../../etc"]);
  assert.equal(out.code, 2);
  assert.match(out.stderr, /^tcplab: "\.\.\/\.\.\/etc" is not a run id\n {2}what to do: .*--run/);
});
