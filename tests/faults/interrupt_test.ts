/**
 * Interrupt runs at every phase, with SIGINT, SIGTERM, an abort inside the
 * process, and a container killed under the lab; then count what is left
 * labelled with the run: it must be nothing, every time. Real containers.
 */
import assert from "node:assert/strict";
import { leftBy, names, spawnLab, tracefsInstances } from "../lifecycle/_lab.ts";
import { DockerClient, parseDockerHost } from "../../lab/shell/docker.ts";
import { runScenario } from "../../lab/shell/run.ts";
import { silentProgress } from "../../lab/shell/progress.ts";
import { loadCatalog } from "../../lab/scenario/catalog.ts";

const docker = new DockerClient(parseDockerHost(Deno.env.get("DOCKER_HOST")));
const dockerTest = { sanitizeOps: false, sanitizeResources: false };
const seed = loadCatalog().get("seed")!;

/** Delays (ms) that land in each phase of a run (about 1.3 s from the process start): start, capture, run, collect, after. */
const DELAYS = [100, 200, 300, 350, 400, 450, 500, 550, 600, 650, 700, 800, 900, 1000, 1100, 1250, 1600];

/** What is left labelled by lab processes with these pids. */
async function leftByAll(pids: number[]): Promise<string[]> {
  return names((await Promise.all(pids.map(leftBy))).flat());
}

Deno.test({
  name: "SIGINT and SIGTERM at every phase: exit 130/143 (or the run's own code), nothing left behind",
  ...dockerTest,
  async fn() {
    let interrupted = 0;
    let kept = 0;
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      for (const delay of DELAYS) {
        const dir = await Deno.makeTempDir({ prefix: "tcplab-int-" });
        const child = spawnLab(["run", "seed", "--no-contrast", "--quiet", "--out", dir]);
        await new Promise((r) => setTimeout(r, delay));
        try {
          child.kill(signal);
        } catch {
          // already gone: the run finished first
        }
        const status = await child.status;
        if (status.signal !== null || status.code === 130 || status.code === 143) {
          interrupted++;
          // Before the lab has installed its handlers (Deno still starting) it dies by the signal, having made nothing.
          if (status.signal === null) assert.equal(status.code, signal === "SIGINT" ? 130 : 143);
          // What the run had collected is kept, with a note that it is incomplete.
          const note = await Deno.readTextFile(`${dir}/INTERRUPTED.md`).catch(() => null);
          if (note !== null) {
            kept++;
            assert.match(note, /interrupted/);
            assert.ok([...Deno.readDirSync(`${dir}/evidence`)].length > 0, "evidence kept");
          }
        } else {
          assert.equal(status.code, 0, `a run that finished before ${signal} at ${delay} ms must succeed`);
        }
        assert.deepEqual(await leftByAll([child.pid]), [], `after ${signal} at ${delay} ms`);
        await Deno.remove(dir, { recursive: true });
      }
    }
    assert.ok(
      interrupted >= 24,
      `most runs were really interrupted (${interrupted} of ${2 * DELAYS.length})`,
    );
    // No tracefs instance outlives its run (another process's live run may hold one for a moment).
    let instances = await tracefsInstances();
    for (let i = 0; i < 50 && instances !== null && instances.length > 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      instances = await tracefsInstances();
    }
    if (instances !== null) assert.deepEqual(instances, []);
    assert.ok(kept > 0, "interrupted runs keep what they had collected");
    console.log(`interrupted by a signal: ${interrupted} runs, ${kept} of them kept what they had collected`);
  },
});

Deno.test({
  name: "an abort inside the process at every moment of a run leaves nothing behind",
  ...dockerTest,
  async fn() {
    let aborted = 0;
    for (
      // A seed run takes about a second in the process: most of these land inside it.
      const delay of [
        0,
        20,
        50,
        80,
        100,
        150,
        200,
        250,
        300,
        350,
        400,
        450,
        500,
        550,
        600,
        650,
        700,
        750,
        800,
        850,
        900,
        950,
        1000,
        1100,
        1250,
      ]
    ) {
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), delay);
      let runId = "";
      try {
        const artifacts = await runScenario(seed, {
          docker,
          progress: silentProgress,
          signal: controller.signal,
        });
        runId = artifacts.runId;
      } catch (error) {
        aborted++;
        assert.equal((error as Error).name, "RunInterrupted", String(error));
      } finally {
        clearTimeout(timer);
      }
      if (runId) assert.deepEqual(await docker.listLabelled(runId), []);
    }
    // Nothing of any of these runs is left (their ids are random; the label tells).
    assert.deepEqual(await leftByAll([Deno.pid]), []);
    assert.ok(aborted >= 15, `most runs were really aborted (${aborted} of 25)`);
    console.log(`aborted in the process: ${aborted} runs`);
  },
});

Deno.test({
  name: "a container killed under the lab: the run fails with a clear message and leaves nothing",
  ...dockerTest,
  async fn() {
    let failed = 0;
    for (
      const [victim, delay] of [
        ["server-ns", 300],
        ["client-ns", 450],
        ["server-ns", 550],
        ["client-ns", 650],
        ["server-ns", 800],
      ] as const
    ) {
      const run = runScenario(seed, { docker, progress: silentProgress });
      await new Promise((r) => setTimeout(r, delay));
      const target = (await docker.listLabelled()).find((r) =>
        r.kind === "container" && r.labels["tcplab.owner"]?.endsWith(`:${Deno.pid}`) &&
        r.name.endsWith(`-${victim}`)
      );
      if (target) {
        await new Deno.Command("docker", { args: ["kill", target.id], stdout: "null", stderr: "null" })
          .output();
      }
      try {
        const artifacts = await run;
        // The run may still finish (the victim had done its part); its evidence then says what is missing.
        assert.deepEqual(await docker.listLabelled(artifacts.runId), []);
      } catch (error) {
        failed++;
        assert.ok((error as Error).message.length > 0);
      }
    }
    assert.deepEqual(await leftByAll([Deno.pid]), []);
    console.log(`runs that failed after a container was killed under them: ${failed} of 5`);
  },
});
