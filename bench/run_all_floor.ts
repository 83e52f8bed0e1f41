/**
 * The floor under `run --all` (issue 13's Done-when): what the engine takes
 * for the same containers with no work in them, plus the longest scenario's
 * own timers. Prints one JSON line:
 * `{"floorMs": median, "floorRuns": [...], "containers": N, "networks": N, "volumes": N,
 *   "timersMs": T, "timersScenario": NAME, "timers": {NAME: ms...}}`.
 *
 * The containers are the ones the lab's plan makes for every scenario `run --all` runs (lab/run/plan.ts:
 * holders, middleboxes, a restarted server's fresh holder, program containers, trace checks), with their
 * users, capabilities, sysctls, volumes and network attachments, all at once as `run --all` runs them: a
 * network and volumes per scenario, then its middlebox started, its holders created and started, its
 * program containers (joined to their holder's namespace) created, started and waited for, and
 * everything removed. Only what runs in them changes: a container that owns a namespace waits
 * (`tcplab run sleep=600000`, killed at the end), one that joins a namespace exits at once (`tcplab run`,
 * no steps), and every one runs the lab's endpoint image (the middlebox its own), so that no user's
 * image or program of this host is needed.
 *
 * The timers are each side's `sleep` and `at` steps, plus the longest kernel timer its steps or sysctls
 * set (keepalive: keepidle + keepintvl x keepcnt; TCP_USER_TIMEOUT; a connect's SYN retries with
 * net.ipv4.tcp_syn_retries, 1 s doubled each time); a scenario's figure is its longest side's. A
 * restarted server's timers do not count (its program goes with its namespace, at a client's step), nor
 * do a user's program's (the scenario file does not say them).
 *
 * Usage: deno run -A bench/run_all_floor.ts [RUNS]   (default 3)
 *
 * @module
 */

import { DockerClient } from "../lab/docker/client.ts";
import { parseDockerHost } from "../lab/docker/host.ts";
import { ensureImages, ensureMiddleboxImage } from "../lab/docker/images.ts";
import type { ContainerHandle, ContainerSpec } from "../lab/docker/types.ts";
import { runnableScenarios } from "../lab/run/host_programs.ts";
import {
  ADDRESS_OFFSETS,
  MIDDLEBOX_OFFSET,
  planContainers,
  planRun,
  subnetAddress,
} from "../lab/run/plan.ts";
import { newRunId } from "../lab/run/run_scenario.ts";
import { loadCatalog } from "../lab/scenario/catalog.ts";
import type { Step } from "../lab/scenario/step_table.ts";
import { isStepsSide, type Scenario, SIDES } from "../lab/scenario/types.ts";
import { silentProgress } from "../lab/util/progress.ts";

const runs = Number(Deno.args[0] ?? 3);
if (!Number.isInteger(runs) || runs < 1) {
  throw new RangeError(`RUNS: expected a whole number, got "${Deno.args[0]}"`);
}

const docker = new DockerClient(parseDockerHost(Deno.env.get("DOCKER_HOST")));
const scenarios = runnableScenarios([...loadCatalog().values()], () => {});
const images = await ensureImages(docker, silentProgress);
const middleboxImage = scenarios.some((s) => s.path)
  ? (await ensureMiddleboxImage(docker, silentProgress, images.endpoint)).endpoint
  : null;

/** The kernel's longest timer that a side's steps and sysctls set, in ms. */
function _kernelTimerMs(steps: Step[], sysctls: Record<string, string>): number {
  const seconds = (op: string) => {
    const step = steps.find((s) => s.op === op);
    return step && "seconds" in step ? step.seconds : step && "count" in step ? step.count : null;
  };
  const timers: number[] = [];
  const idle = seconds("keepidle");
  if (steps.some((s) => s.op === "keepalive") && idle !== null) {
    timers.push((idle + (seconds("keepintvl") ?? 75) * (seconds("keepcnt") ?? 9)) * 1000);
  }
  for (const s of steps) if (s.op === "user-timeout") timers.push(s.ms);
  const synRetries = sysctls["net.ipv4.tcp_syn_retries"];
  if (synRetries !== undefined && steps.some((s) => s.op === "connect")) {
    timers.push((2 ** (Number(synRetries) + 1) - 1) * 1000);
  }
  return Math.max(0, ...timers);
}

/** A scenario's own timers, in ms: its longest side's sleeps and `at` moments plus its longest kernel timer. */
function timersMs(scenario: Scenario): number {
  return Math.max(
    ...SIDES.map((side) => {
      const spec = scenario[side];
      if (!isStepsSide(spec) || (side === "server" && scenario.restart)) return 0;
      let ms = 0;
      for (const step of spec.steps) {
        if (step.op === "sleep") ms += step.ms;
        if (step.op === "at") ms = Math.max(ms, step.ms);
      }
      return ms + _kernelTimerMs(spec.steps, spec.sysctls ?? {});
    }),
  );
}

/** One scenario's containers, with nothing to do, through the engine: made, started, waited for, removed. */
async function floorOf(scenario: Scenario, index: number): Promise<void> {
  const plan = planRun(scenario, { runId: `floor${newRunId()}`, owner: `${Deno.hostname()}:${Deno.pid}` });
  // 10.201.0.0/16, beside the lab's own 10.200.0.0/16: /28 number `index`.
  const subnet = `10.201.${index >> 4}.${(index & 15) * 16}/28`;
  const addresses = {
    server: subnetAddress(subnet, ADDRESS_OFFSETS.server),
    client: subnetAddress(subnet, ADDRESS_OFFSETS.client),
  };
  const made = planContainers(scenario, plan, {
    image: images.endpoint,
    addresses,
    ...(plan.middlebox
      ? { middlebox: { image: middleboxImage!, address: subnetAddress(subnet, MIDDLEBOX_OFFSET) } }
      : {}),
    programImages: { server: images.endpoint, client: images.endpoint },
  });
  const idle = (spec: ContainerSpec, image = images.endpoint): ContainerSpec => ({
    ...spec,
    image,
    entrypoint: ["/tcplab"],
    cmd: "network" in spec.attachment ? ["run", "sleep=600000"] : ["run"],
  });
  const volumes = [
    ...SIDES.map((side) => plan.volumes[side]),
    ...Object.values(plan.straceVolumes),
    ...(plan.middlebox ? [plan.middlebox.volume] : []),
  ];
  const containers: ContainerHandle[] = [];
  const create = async (spec: ContainerSpec) => {
    const handle = await docker.createContainer(spec);
    containers.push(handle);
    return handle;
  };
  const [network] = await Promise.all([
    docker.createNetwork(plan.network, subnet, plan.labels),
    ...volumes.map((v) => docker.createVolume(v, plan.labels)),
  ]);
  try {
    if (made.middlebox) await (await create(idle(made.middlebox, middleboxImage!))).start();
    const holders = await Promise.all(SIDES.map((side) => create(idle(made.sides[side].holder))));
    if (made.restarted) await create(idle(made.restarted));
    await Promise.all(holders.map((h) => h.start()));
    const joined = SIDES.flatMap((side) =>
      [made.sides[side].traceCheck, made.sides[side].program].filter((s): s is ContainerSpec => s !== null)
        .map((s) => ({ ...s, attachment: { namespaceOf: holders[SIDES.indexOf(side)]!.id } }))
    );
    await Promise.all(joined.map(async (spec) => {
      const c = await create(idle(spec));
      await c.start();
      await c.wait();
    }));
    // A restarted server, as the lab does it: the first holder cut off, the fresh one (same address) started.
    if (made.restarted) {
      await holders[SIDES.indexOf("server")]!.disconnect(plan.network);
      await containers.find((c) => c.name === made.restarted!.name)!.start();
    }
  } finally {
    await Promise.allSettled(containers.map((c) => c.remove()));
    await Promise.allSettled([...volumes.map((v) => docker.removeVolume(v)), docker.removeNetwork(network)]);
  }
}

/** How many containers the plans make in all (the same count floorOf creates). */
function containerCount(scenario: Scenario): number {
  const plan = planRun(scenario, { runId: "count", owner: "bench" });
  const made = planContainers(scenario, plan, {
    image: "x",
    addresses: { server: "10.0.0.2", client: "10.0.0.3" },
    ...(plan.middlebox ? { middlebox: { image: "x", address: "10.0.0.4" } } : {}),
    programImages: { server: "x", client: "x" },
  });
  return (made.middlebox ? 1 : 0) + (made.restarted ? 1 : 0) +
    SIDES.reduce(
      (n, side) => n + 1 + (made.sides[side].program ? 1 : 0) + (made.sides[side].traceCheck ? 1 : 0),
      0,
    );
}

const floorRuns: number[] = [];
for (let i = 0; i < runs; i++) {
  const started = performance.now();
  await Promise.all(scenarios.map((s, n) =>
    floorOf(s, n).catch((error) => {
      throw new Error(`The floor of ${s.name} failed: ${error.message}`, { cause: error });
    })
  ));
  floorRuns.push(Math.round(performance.now() - started));
}
const sorted = [...floorRuns].sort((a, b) => a - b);
const timers = Object.fromEntries(scenarios.map((s) => [s.name, timersMs(s)]));
const longest = scenarios.reduce((a, b) => (timers[b.name]! > timers[a.name]! ? b : a));
console.log(JSON.stringify({
  floorMs: sorted[Math.floor(sorted.length / 2)],
  floorRuns,
  scenarios: scenarios.length,
  containers: scenarios.reduce((n, s) => n + containerCount(s), 0),
  networks: scenarios.length,
  volumes: scenarios.reduce((n, s) => {
    const plan = planRun(s, { runId: "count", owner: "bench" });
    return n + 2 + Object.keys(plan.straceVolumes).length + (plan.middlebox ? 1 : 0);
  }, 0),
  timersMs: timers[longest.name],
  timersScenario: longest.name,
  timers,
}));
