/**
 * Interrupt a run at each of its named moments, on purpose and whatever the
 * machine's speed: SIGINT and SIGTERM to a lab process held there with
 * `--pause-at`, an abort inside the process from the run's own `at` callback,
 * and a container killed under the lab. Then check what must hold there:
 * nothing labelled with the run is left, the exit code, and what was kept.
 * Real containers.
 */
import assert from "node:assert/strict";
import { leftBy, names, readUntil, spawnLab, tracefsInstances } from "../lifecycle/_lab.ts";
import { DockerClient } from "../../lab/docker/client.ts";
import { parseDockerHost } from "../../lab/docker/host.ts";
import { runScenario } from "../../lab/run/run_scenario.ts";
import { RUN_MOMENTS, type RunMoment } from "../../lab/run/moments.ts";
import { silentProgress } from "../../lab/util/progress.ts";
import { loadCatalog } from "../../lab/scenario/catalog.ts";

const docker = new DockerClient(parseDockerHost(Deno.env.get("DOCKER_HOST")));
const dockerTest = { sanitizeOps: false, sanitizeResources: false };
const seed = loadCatalog().get("seed")!;

/**
 * What an interrupted run keeps, by the moment it was interrupted at: nothing
 * before any container exists; from the holders on, the evidence so far with
 * a note that it is incomplete; during cleanup, everything was collected and
 * the whole report is written.
 */
const KEPT: Record<RunMoment, "nothing" | "evidence" | "report"> = {
  "build": "nothing",
  "start": "nothing",
  "start:holders": "evidence",
  "capture": "evidence",
  "run": "evidence",
  "run:client": "evidence",
  "run:programs": "evidence",
  "flush": "evidence",
  "collect": "evidence",
  "clean": "report",
};

/** What is left labelled by lab processes with these pids. */
async function leftByAll(pids: number[]): Promise<string[]> {
  return names((await Promise.all(pids.map(leftBy))).flat());
}

/** No tracefs instance of these runs is left (other processes' runs may hold theirs: they are not looked at). */
async function assertNoTraceInstances(runIds: string[]): Promise<void> {
  const instances = await tracefsInstances();
  if (instances === null) return; // no tracefs here: nothing could be left
  const ours = new Set(runIds.map((id) => `tcplab-${id}`));
  assert.deepEqual(instances.filter((name) => ours.has(name)), []);
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.test({
    name: `${signal} at each moment of a run: exit ${signal === "SIGINT" ? 130 : 143}, nothing left`,
    ...dockerTest,
    async fn(t) {
      const runIds: string[] = [];
      for (const moment of RUN_MOMENTS) {
        await t.step(`${signal} at "${moment}"`, async () => {
          const dir = await Deno.makeTempDir({ prefix: "tcplab-int-" });
          const child = spawnLab(
            ["run", "seed", "--no-contrast", "--quiet", "--pause-at", moment, "--out", dir],
            {},
            "piped",
          );
          const said = await readUntil(child.stderr, new RegExp(`paused at "${moment}" \\(run \\w+\\)`));
          const paused = new RegExp(`paused at "${moment}" \\(run (\\w+)\\)`).exec(said);
          assert.ok(paused, `the lab paused at ${moment}: ${said}`);
          runIds.push(paused[1]!);
          child.kill(signal);
          const status = await child.status;
          assert.equal(
            status.code,
            signal === "SIGINT" ? 130 : 143,
            `exit code after ${signal} at ${moment}`,
          );
          assert.deepEqual(await leftByAll([child.pid]), [], `left after ${signal} at ${moment}`);
          const note = await Deno.readTextFile(`${dir}/INTERRUPTED.md`).catch(() => null);
          const report = await Deno.readTextFile(`${dir}/report.md`).catch(() => null);
          switch (KEPT[moment]) {
            case "nothing":
              assert.equal(note, null, "nothing was collected, so nothing is kept");
              assert.equal(report, null);
              break;
            case "evidence":
              assert.ok(note !== null, "INTERRUPTED.md says what was kept");
              assert.match(note, new RegExp(`interrupted at "${moment}"`));
              assert.ok([...Deno.readDirSync(`${dir}/evidence`)].length > 0, "evidence kept");
              assert.equal(report, null, "no report from incomplete evidence");
              break;
            case "report":
              assert.equal(note, null);
              assert.ok(report !== null, "the run had collected everything: its report is written");
              assert.ok(Deno.statSync(`${dir}/client.pcap`).size > 24, "the client's capture");
              break;
          }
          await Deno.remove(dir, { recursive: true });
        });
      }
      await assertNoTraceInstances(runIds);
    },
  });
}

Deno.test({
  name: "an abort inside the process at each moment of a run: RunInterrupted there, nothing left",
  ...dockerTest,
  async fn(t) {
    const runIds: string[] = [];
    for (const moment of RUN_MOMENTS) {
      await t.step(`abort at "${moment}"`, async () => {
        const controller = new AbortController();
        const reached: RunMoment[] = [];
        let runId = "";
        let error: unknown = null;
        try {
          const artifacts = await runScenario(seed, {
            docker,
            progress: silentProgress,
            signal: controller.signal,
            at(m, id) {
              if (reached.length === 0) runIds.push(id);
              reached.push(m);
              if (m === moment) controller.abort();
            },
          });
          runId = artifacts.runId;
          assert.equal(KEPT[moment], "report", `a run aborted at ${moment} must not finish`);
          assert.ok((artifacts.sides.client.pcap?.length ?? 0) > 24, "the run's evidence is whole");
        } catch (e) {
          error = e;
        }
        // The run went no further than the moment, but for cleanup, which always happens.
        const after: RunMoment[] = RUN_MOMENTS.slice(RUN_MOMENTS.indexOf(moment) + 1).filter((m) =>
          m !== "clean"
        );
        assert.deepEqual(reached.filter((m) => after.includes(m)), [], `moments after ${moment}`);
        assert.ok(reached.includes("clean"), "cleanup ran");
        if (KEPT[moment] !== "report") {
          assert.ok(error !== null, `the run aborted at ${moment} threw`);
          assert.equal((error as Error).name, "RunInterrupted", String(error));
          assert.match((error as Error).message, new RegExp(`interrupted at "${moment}"`));
          const collected = Object.keys((error as { collected: Record<string, unknown> }).collected);
          if (KEPT[moment] === "nothing") assert.deepEqual(collected, []);
          else assert.ok(collected.some((f) => f.startsWith("evidence/")), `collected: ${collected}`);
        }
        if (runId) assert.deepEqual(await docker.listLabelled(runId), []);
        assert.deepEqual(await leftByAll([Deno.pid]), []);
      });
    }
    await assertNoTraceInstances(runIds);
  },
});

Deno.test({
  name: "a container killed under the lab at each moment: the run fails and names the side, nothing left",
  ...dockerTest,
  async fn(t) {
    const cases: [RunMoment, "server-ns" | "client-ns"][] = [
      ["capture", "client-ns"],
      ["run", "server-ns"],
      ["run:client", "server-ns"],
      ["run:programs", "client-ns"],
      ["flush", "server-ns"],
    ];
    for (const [moment, victim] of cases) {
      await t.step(`${victim} killed at "${moment}"`, async () => {
        const run = runScenario(seed, {
          docker,
          progress: silentProgress,
          async at(m) {
            if (m !== moment) return;
            const target = (await docker.listLabelled()).find((r) =>
              r.kind === "container" && r.labels["tcplab.owner"]?.endsWith(`:${Deno.pid}`) &&
              r.name.endsWith(`-${victim}`)
            );
            assert.ok(target, `the ${victim} container exists at ${moment}`);
            const killed = await new Deno.Command("docker", { args: ["kill", target.id], stdout: "null" })
              .output();
            assert.ok(killed.success, `docker kill ${target.name}`);
          },
        });
        // The run stops at once, with a message that names the side whose container ended.
        const side = victim.replace("-ns", "");
        await assert.rejects(run, (error: Error) => {
          assert.notEqual(error.name, "RunInterrupted");
          assert.match(error.message, new RegExp(`${side}`));
          assert.match(error.message, /output ended/);
          return true;
        });
        assert.deepEqual(await leftByAll([Deno.pid]), []);
      });
    }
  },
});
