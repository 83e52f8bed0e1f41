/**
 * One run of a scenario in real containers, as its plan (lab/run/plan.ts)
 * says: a network of its own, and on each side a namespace holder (which
 * starts tcpdump in its namespace) and a program; then the pcaps, the
 * programs' logs, the kernel's counters and trace are collected and
 * everything the run created is removed.
 *
 * @module
 */

import {
  parseCaptureStats,
  type RestartArtifacts,
  type RunArtifacts,
  type SideArtifacts,
  type TraceArtifacts,
} from "../evidence/artifacts.ts";
import {
  isHostProgram,
  isStepsSide,
  type Scenario,
  type Side,
  SIDES,
  type StepMoment,
} from "../scenario/types.ts";
import { parseSnapshots } from "../evidence/snapshot.ts";
import { parseProcNetTcp } from "../evidence/sockets.ts";
import type { DockerClient } from "../docker/client.ts";
import { statusOf } from "../docker/engine_errors.ts";
import { ensureImages, ensureMiddleboxImage, type LabImages } from "../docker/images.ts";
import { checkHostPrograms, ensureProgramImages, traceRefused } from "./host_programs.ts";
import { UNTRACED_BECAUSE } from "../evidence/syscall_trace.ts";
import { CAPTURE_UID, STRACE_IN_IMAGE, STRACE_LOG } from "../docker/image_layout.ts";
import type { ContainerHandle, ContainerSpec, EngineInfo } from "../docker/types.ts";
import { LabEnvironmentError, PhaseTimeout, RunInterrupted } from "../errors.ts";
import {
  ADDRESS_OFFSETS,
  type ContainersPlan,
  MIDDLEBOX_OFFSET,
  natCommands,
  type PathRuleCommands,
  pathRuleCommands,
  type PhaseTimeouts,
  planContainers,
  planRun,
  queueCommands,
  ruleListings,
  shaperCommands,
  STEPS_USER,
  subnetAddress,
} from "./plan.ts";
import {
  captureStderr,
  containerProgram,
  holderOwnLog,
  holderSteps,
  type ProgramHandle,
  stepReturned,
  stepsLog,
  stepsStderr,
} from "./programs.ts";
import type { Progress } from "../util/progress.ts";
import { noTrace, startTrace } from "./tracefs.ts";
import { LAB_VERSION } from "../version.ts";
import { type KernelConfigRead, pathKernelProblem, pathKernelRecord } from "../evidence/kernel_config.ts";
import { readHostBridgeSysctl, readHostKernelConfig } from "./host_proc.ts";
import type { RunMoment } from "./moments.ts";
import {
  type BridgeFacts,
  brokenPathError,
  isProbeEvent,
  PROBE_WINDOW_MS,
  probeState,
} from "./path_probe.ts";

/** What a run needs besides the scenario. */
export interface RunOptions {
  docker: DockerClient;
  progress: Progress;
  /** Phase timeouts; the scenario's own and then DEFAULT_TIMEOUTS fill what is missing. */
  timeouts?: Partial<PhaseTimeouts>;
  /** Aborts the run (SIGINT/SIGTERM); cleanup still happens. */
  signal?: AbortSignal;
  /** Why the kernel trace cannot be recorded for this engine (a remote host), or undefined to record it. */
  noTrace?: string;
  /**
   * Called at each of RUN_MOMENTS, with the run's id, and awaited: a caller may
   * pause the run there, disturb it or abort it. An abort is checked as soon as
   * it returns (but for `clean`, which always goes on).
   */
  at?: (moment: RunMoment, runId: string) => void | Promise<void>;
  /** Run every program of this host untraced (`--untraced`). */
  untraced?: boolean;
  /** The engine's answer, the images and the engine host's kernel config, when the caller already has them. */
  engine?: EngineInfo | Promise<EngineInfo>;
  images?: LabImages | Promise<LabImages>;
  kernelConfig?: KernelConfigRead | Promise<KernelConfigRead>;
}

/** A short random id: the run's name in every resource it creates. */
export function newRunId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(5));
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Run a scenario and collect its evidence. Every container, network and
 * volume it creates is removed before it returns or throws.
 */
export async function runScenario(
  scenario: Scenario,
  options: RunOptions,
  runId = newRunId(),
): Promise<RunArtifacts> {
  const { docker, progress } = options;
  const seccomp = await checkHostPrograms(scenario); // bad input: before anything is made
  // A path that needs what the host's kernel lacks: said before anything is made, too.
  const engineAnswer = options.engine ?? docker.info();
  const kernelConfig = scenario.path
    ? await (options.kernelConfig ?? readHostKernelConfig(docker, (await engineAnswer).kernelVersion))
    : null;
  const kernelProblem = scenario.path && kernelConfig ? pathKernelProblem(scenario.path, kernelConfig) : null;
  if (kernelProblem !== null) {
    throw new LabEnvironmentError(
      kernelProblem,
      "run the scenario on a host whose kernel has it, or leave that rule out of its path",
    );
  }
  const plan = planRun(scenario, {
    runId,
    owner: `${Deno.hostname()}:${Deno.pid}`,
    ...(options.timeouts ? { timeouts: options.timeouts } : {}),
    ...(options.untraced ? { untraced: true } : {}),
  });
  const { timeouts, name: prefix } = plan;
  const phases: Record<string, number> = {};
  let phaseStart = performance.now();
  const phase = (name: string) => {
    const now = performance.now();
    phases[name] = Math.round(now - phaseStart);
    phaseStart = now;
  };
  const checkAbort = (moment: RunMoment) => {
    if (options.signal?.aborted) throw new RunInterrupted(`the run was interrupted at "${moment}"`);
  };
  /** Say where the run is, let the caller act there, then stop if it was interrupted. */
  const reach = async (moment: RunMoment, message: string | null) => {
    if (message !== null) progress.step(moment.split(":")[0]!, message);
    await options.at?.(moment, runId);
    checkAbort(moment);
  };

  const containers: ContainerHandle[] = [];
  // Every container's creation, awaited (settled) before the run's end removes `containers`: one still being
  // made when start-up failed (the middlebox's, beside the holders') is removed too.
  const creating: Promise<unknown>[] = [];
  const volumes: string[] = [];
  // The trace, the network and the capture volumes are made while the engine's answer and the
  // image are checked: each takes tens of milliseconds, and none waits for another. A caller running
  // many scenarios on one engine asks once and passes the answers (or the promises of them).
  const tracing = options.noTrace ? Promise.resolve(noTrace(options.noTrace)) : startTrace(prefix);
  const networking = createNetwork(docker, plan.network, plan.labels);
  const volumeNames = [
    ...SIDES.map((side) => plan.volumes[side]),
    ...Object.values(plan.straceVolumes),
    ...(plan.middlebox ? [plan.middlebox.volume] : []),
  ];
  const volumesMade = Promise.all(volumeNames.map(async (volume) => {
    await docker.createVolume(volume, plan.labels);
    volumes.push(volume);
  }));
  const preparing = Promise.all([
    engineAnswer,
    options.images ??
      withTimeout(ensureImages(docker, progress), timeouts.build, "build: images", options.signal),
    withTimeout(
      ensureProgramImages(docker, scenario, progress),
      timeouts.build,
      "build: programs",
      options.signal,
    ),
  ]);
  // All awaited below, inside the try that cleans up.
  for (const p of [networking, volumesMade, preparing]) p.catch(() => {});
  const trace = await tracing;
  const startedAt = new Date().toISOString();
  // The moments of a path's rules, cleared however the run ends.
  const timers: ReturnType<typeof setTimeout>[] = [];
  // What the middlebox did with the path's rules, kept by an interrupted run too.
  let ruleLog = "";
  let timedOut: string | null = null;

  let artifacts: RunArtifacts | null = null;
  let removedAll = true;
  try {
    await reach("build", null);
    const [engine, images, programImages] = await preparing;
    phase("build");
    const { subnet } = await networking;
    await volumesMade;
    const addresses: Record<Side, string> = {
      server: subnetAddress(subnet, ADDRESS_OFFSETS.server),
      client: subnetAddress(subnet, ADDRESS_OFFSETS.client),
    };
    await reach("start", `network ${prefix} (${subnet}, internal)`);
    const middleboxImage = plan.middlebox
      ? await withTimeout(
        ensureMiddleboxImage(docker, progress, images.endpoint),
        timeouts.build,
        "build: the middlebox's image",
        options.signal,
      )
      : null;
    const middleboxAddress = subnetAddress(subnet, MIDDLEBOX_OFFSET);
    // Sides the plan meant to trace that go untraced after all: no strace in the image, or (below)
    // ptrace refused in the container.
    const untraced: Partial<Record<Side, string>> = {};
    for (const side of SIDES) {
      if (plan.straceVolumes[side] && programImages[side]?.strace === false) {
        untraced[side] = UNTRACED_BECAUSE.noStrace;
      }
    }
    const planned = {
      untraced,
      seccomp,
      image: images.endpoint,
      addresses,
      ...(middleboxImage ? { middlebox: { image: middleboxImage.endpoint, address: middleboxAddress } } : {}),
      programImages: Object.fromEntries(Object.entries(programImages).map(([side, i]) => [side, i.tag])),
    };
    const made: ContainersPlan = planContainers(scenario, plan, planned);

    const create = (spec: ContainerSpec): Promise<ContainerHandle> => {
      const creation = docker.createContainer(spec).then((handle) => {
        containers.push(handle);
        return handle;
      });
      creating.push(creation);
      return creation;
    };

    // 1. A holder per side keeps the network namespace alive, prints the "before" counters, starts
    // tcpdump there and, for the lab's own steps, a child that runs them when told to go.
    const sides: Side[] = ["server", "client"];
    const commands: Record<Side, string[]> = {
      server: plan.programs.server === "holder" ? made.sides.server.command : [],
      client: plan.programs.client === "holder" ? made.sides.client.command : [],
    };
    // A path's middlebox starts beside the holders: they route through it from their start, and the probe
    // (in the holders, below) counts silence only once the middlebox answers ARP; it is awaited before the probe's
    // answer is read.
    const middleboxStarted = made.middlebox
      ? (async () => {
        const box = await create(made.middlebox!);
        await box.start();
        await withTimeout(
          Promise.all([snapshotDone(box, 1, timeouts.start), captureListening(box, timeouts.start)]),
          timeouts.start,
          "start: the middlebox",
          options.signal,
        );
        return box;
      })()
      : Promise.resolve(null);
    middleboxStarted.catch(() => {}); // awaited below, after the holders
    const holders = await Promise.all(sides.map((side) => create(made.sides[side].holder)));
    // A restarted server's fresh namespace is made now and started at its moment: only the start takes time then.
    const freshHolder = made.restarted ? await create(made.restarted) : null;
    if (plan.probe !== null) {
      // The server's holder listens for the probe before the client's holder starts. Through a middlebox, the
      // client's neighbour answers ARP whether or not the server's namespace is up, so silence would count from
      // the client's start; and without one, a SYN that waited for ARP while the server was not yet there still
      // leaves once it is, after the client gave that attempt up: the server's answer meets no socket, and the
      // client's kernel resets it after its first snapshot, inside the run's counters.
      await holders[0]!.start();
      await withTimeout(
        probeListening(holders[0]!, timeouts.start),
        timeouts.start,
        "start: the server's holder",
        options.signal,
      );
      await holders[1]!.start();
    } else {
      await Promise.all(holders.map((h) => h.start()));
    }
    const middlebox = await middleboxStarted;
    await reach("start:holders", null);
    // The path between the namespaces answers, before anything is captured (lab/run/path_probe.ts).
    if (plan.probe !== null) {
      await withTimeout(
        pathProbed(
          docker,
          engine,
          holders[1]!,
          `${addresses.server}:${plan.probe}`,
          timeouts.start,
        ),
        timeouts.start,
        "start: the probe of the path",
        options.signal,
      );
    }
    await withTimeout(
      Promise.all([
        ...holders.map((h) => snapshotDone(h, 1, timeouts.start)),
        // Whether strace may trace in each traced program's container, before the program starts.
        ...sides.map(async (side, i) => {
          const check = made.sides[side].traceCheck;
          if (!check) return;
          const refused = await traceRefused(create, {
            ...check,
            attachment: { namespaceOf: holders[i]!.id },
          });
          if (refused !== null) untraced[side] = refused;
        }),
      ]),
      timeouts.start,
      "start: namespace holders",
      options.signal,
    );
    phase("start");

    // 2. tcpdump listening in both namespaces before any packet.
    await reach("capture", null);
    await withTimeout(
      Promise.all(holders.map((h) => captureListening(h, timeouts.capture))),
      timeouts.capture,
      "capture: tcpdump ready",
      options.signal,
    );
    phase("capture");
    await reach("run", `tcpdump listening in both namespaces (uid ${CAPTURE_UID}); the programs begin`);

    // 3. The server begins; the client once the server listens. A side with no steps runs no
    // program: its namespace is there, but nothing listens.
    // `at` steps count from the moment the server program is made: both sides get the same moment.
    let atBaseNs = 0n;
    const program = async (side: Side, i: number): Promise<ProgramHandle | null> => {
      const spec = scenario[side];
      if (plan.programs[side] === "holder") return holderSteps(holders[i]!);
      if (plan.programs[side] === "none") return null;
      if (
        !isStepsSide(spec) && !isHostProgram(spec.program) && !(await docker.imageExists(spec.program.image))
      ) {
        throw new LabEnvironmentError(
          `The ${side}'s image "${spec.program.image}" is not on this Docker host (scenario ${scenario.name})`,
          "build or load it locally first (docker build / docker load): the lab never pulls an image",
        );
      }
      if (side === "server" || atBaseNs === 0n) atBaseNs = BigInt(Date.now()) * 1_000_000n;
      const { program, command } =
        planContainers(scenario, plan, { ...planned, ...(plan.sharedMoment ? { atBaseNs } : {}) })
          .sides[side];
      commands[side] = command;
      return containerProgram(
        await create({ ...program!, attachment: { namespaceOf: holders[i]!.id } }),
        program!.cmd[0] === STRACE_IN_IMAGE ? STRACE_LOG : null,
      );
    };
    const server = await program("server", 0);
    await server?.go();
    if (server) {
      const ready = plan.serverReadiness === "listen-call"
        ? server.waitForStdout(
          (t) => /"ph":"return"[^\n]*"call":"listen"/.test(t),
          timeouts.start,
          "server: listen()",
        )
        : plan.serverReadiness === "none"
        ? Promise.resolve()
        : waitForListener(holders[0]!, scenario.port, timeouts.start, options.signal);
      await withTimeout(ready, timeouts.start, "start: server listening", options.signal);
      await reach("run:client", `server listening on ${addresses.server}:${scenario.port}; client starts`);
    } else {
      await reach("run:client", `no server program: nothing listens on ${addresses.server}:${scenario.port}`);
    }
    const client = await program("client", 1);
    const shaper = shaperCommands(plan.middlebox?.rules ?? [], addresses);
    const rules = middlebox
      ? [
        ...(plan.middlebox!.nat ? natCommands(addresses) : []),
        ...pathRuleCommands(plan.middlebox!.rules, addresses, scenario.port),
        ...shaper.rules,
      ]
      : [];
    let clientStart: number | null = null;
    // The first rule iptables refused, in one line: the run ends with it (exit 2).
    let refused: string | null = null;
    const inMiddlebox = (command: string[]) =>
      middlebox!.exec(command, "0:0").then(
        (r) => ({ code: r.exitCode as number | null, text: r.stderr.trim() }),
        (error) => ({ code: null, text: `failed: ${(error as Error).message}` }),
      );
    const logCommand = (command: string[], what: string, said: { code: number | null; text: string }) => {
      const when = clientStart === null
        ? "before the client's start"
        : `${Math.round(performance.now() - clientStart)} ms`;
      const text = `${said.code === null ? "" : `exit ${said.code}`}${said.text ? ` (${said.text})` : ""}`;
      ruleLog += `${when}: ${what}: ${command.slice(1).join(" ")}: ${text}\n`;
    };
    // A check (`-C`) that iptables understood is not logged: the rule's log shows what changed the chain.
    const iptables = async (command: string[], what: string, ok = [0], logOk = true): Promise<boolean> => {
      const said = await inMiddlebox(command);
      if (said.code !== null && ok.includes(said.code) && !logOk) return true;
      logCommand(command, what, said);
      if (said.code !== null && ok.includes(said.code)) return true;
      refused ??= `${what}: iptables said "${said.text.split("\n")[0]}" (exit ${said.code ?? "none"}; ` +
        `the command: iptables ${command.slice(1).join(" ")})`;
      return false;
    };
    // The queue program's commands are logged alike; one that fails is the report's warning (the hold rules
    // then let the packets through), not a refused rule.
    const queueCommand = async (command: string[], what: string) =>
      logCommand(command, what, await inMiddlebox(command));
    const refusedError = (r: string) =>
      new LabEnvironmentError(
        `The middlebox's iptables refused a rule of the path: ${r}`,
        "tcplab-path-N is the scenario's path rule N: check that this host's iptables and kernel have what it uses",
      );
    // The path's rules from their moments, counted from the client's start: the rules of moment 0 are in
    // place before the client goes, however long that takes, and the others' clocks start when it goes.
    // The others are checked now (`iptables -C` parses a rule and loads its extensions, then looks for it:
    // exit 1, "does a matching rule exist", is a rule it understood), so that one it refuses ends the run
    // before the client starts; what only the kernel refuses ends it once the programs are done. (A rate
    // rule's tc filter has no check: it is added at its moment.)
    const ruleWork: Promise<unknown>[] = [];
    for (const command of shaper.setup) await iptables(command, "set up the shaper");
    const now = (rule: PathRuleCommands) => rule.fromMs === 0 && !rule.fromStep;
    for (const rule of rules) {
      if (now(rule)) ruleWork.push(iptables(rule.add, `add ${rule.comment}`));
      else if (rule.check) ruleWork.push(iptables(rule.check, `check ${rule.comment}`, [0, 1], false));
    }
    // A path that holds packets: the queue program runs from before the client's start to after its end, and
    // the client waits until it has bound its queues (until then, a hold rule lets the packets through).
    const queue = middlebox ? queueCommands(plan.middlebox!.rules) : null;
    const queueRun = queue ? middlebox!.exec(queue.start, "0:0") : null;
    queueRun?.catch(() => {}); // awaited once it is stopped
    // A queue program that ended (it could not bind) is waited for no longer: the run goes on without it, and
    // its log says why.
    if (queue) {
      ruleWork.push(
        Promise.race([queueCommand(queue.wait, "wait for the queue program"), queueRun!.catch(() => {})]),
      );
    }
    // The lab's work at a side's held step (plan.holds, lab/run/plan.ts): it begins once the step returned, and
    // the side goes on (release) once all of it is done, or failed, or took longer than the start phase may.
    const heldWork = new Map<string, Array<{ run: () => Promise<void>; fail: (error: unknown) => void }>>();
    const atStep = <T>(step: StepMoment, work: () => Promise<T>): Promise<T> => {
      const { promise, resolve, reject } = Promise.withResolvers<T>();
      const key = `${step.side} ${step.step}`;
      heldWork.set(key, [...(heldWork.get(key) ?? []), {
        run: () => work().then(resolve, (error) => (reject(error), Promise.reject(error))),
        fail: reject,
      }]);
      return promise;
    };
    // The first hold whose work failed or took too long, in one line: the run ends with it (exit 2).
    let holdFailed: string | null = null;
    // A restarted server: at its moment, its namespace is cut off the network (so that nothing it does on the
    // way out, no FIN, no RST, reaches the client), takes its last snapshot, stops its capture and is removed
    // with its program; a fresh namespace with the same address and nothing listening takes its place.
    const restart: {
      work: Promise<void> | null;
      begun: boolean;
      fresh: ContainerHandle | null;
      record: RestartArtifacts | null;
      firstPcap: Uint8Array | null;
    } = { work: null, begun: false, fresh: null, record: null, firstPcap: null };
    let serverCut: () => void = () => {};
    const cut = new Promise<null>((resolve) => serverCut = () => resolve(null));
    if (plan.restart && freshHolder && client) {
      const { afterClientStep, pcapFile } = plan.restart;
      const fresh = freshHolder;
      const work = atStep({ side: "client", step: afterClientStep }, async () => {
        restart.begun = true;
        const first = holders[0]!;
        // Cut off, its address is free for the fresh namespace at once; the first one is ended after that.
        await first.disconnect(plan.network);
        // The client has started: one of its steps has just returned.
        const cutMs = Math.round(performance.now() - clientStart!);
        const cutRealNs = String(BigInt(Date.now()) * 1_000_000n);
        serverCut();
        await fresh.start();
        restart.fresh = fresh;
        await Promise.all([
          snapshotDone(fresh, 1, timeouts.start),
          captureListening(fresh, timeouts.start),
          (async () => {
            await stopCapture(first, timeouts.flush).catch(() => {});
            restart.firstPcap = await first.readFile("/cap/server.pcap").catch(() => null);
            await first.remove();
          })(),
        ]);
        restart.record = {
          side: "server",
          atMs: cutMs,
          cutRealNs,
          holder: fresh.name,
          pcapFile,
          pcap: null,
          captureStats: null,
          holderLog: "",
        };
        progress.step(
          "run",
          `the server's namespace was replaced at ${cutMs} ms: same address, nothing listening`,
        );
      });
      work.catch(() => {}); // awaited after the programs end, if it began
      restart.work = work;
    }
    await Promise.all(ruleWork);
    if (refused !== null) throw refusedError(refused);
    clientStart = performance.now();
    // A rule's moments: a time from the client's start, or a side's held step (its work is awaited before the
    // side goes on); once the programs are done, nothing more is added or deleted. A window's end waits for its
    // beginning.
    let programsDone = false;
    const stepProgram = (side: Side) => (side === "server" ? server : client)!;
    const afterMs = (ms: number): Promise<void> =>
      new Promise((resolve) => timers.push(setTimeout(resolve, ms)));
    for (const rule of rules) {
      const add = (): Promise<boolean> => {
        if (programsDone) return Promise.resolve(false);
        const work = iptables(rule.add, `add ${rule.comment}${_afterStep(rule.fromStep)}`);
        ruleWork.push(work);
        return work;
      };
      const added = now(rule)
        ? Promise.resolve(true)
        : rule.fromStep
        ? atStep(rule.fromStep, add)
        : afterMs(rule.fromMs).then(add);
      added.catch(() => {}); // a step that never came: the rule was never added
      if (rule.untilMs === null && !rule.untilStep) continue;
      const remove = async (): Promise<void> => {
        if (!(await added) || programsDone) return;
        const work = iptables(rule.delete, `delete ${rule.comment}${_afterStep(rule.untilStep)}`);
        ruleWork.push(work);
        await work;
      };
      (rule.untilStep ? atStep(rule.untilStep, remove) : afterMs(rule.untilMs ?? 0).then(remove)).catch(
        () => {},
      );
    }
    // Each held step: once it returned, the lab's work there; then the side goes on, whatever came of it.
    for (const side of SIDES) {
      for (const step of plan.holds[side]) {
        const program = stepProgram(side);
        const works = heldWork.get(`${side} ${step}`) ?? [];
        const what = `the lab's work once the ${side}'s step ${step} returned`;
        stepReturned(program, step, timeouts.run, side).then(
          async () => {
            await withTimeout(Promise.all(works.map((w) => w.run())), timeouts.start, what, options.signal)
              .catch((error) => holdFailed ??= `${what} failed: ${(error as Error).message}`);
            if (!programsDone) await program.release().catch(() => {});
          },
          (error) => works.forEach((w) => w.fail(error)),
        );
      }
    }
    await client?.go();
    const programs = [server, client];
    await reach("run:programs", null);

    const exitCodes: Record<Side, number | null> = { server: null, client: null };
    const serverStop = _stopCommand(scenario);
    try {
      await withTimeout(
        Promise.all(programs.map(async (p, i) => {
          if (!p) return;
          // A server that never exits by itself: its scenario's stop command, once the client has exited.
          if (sides[i] === "server" && serverStop && p.exec) {
            await client?.exited();
            // A server that has exited already has no container to run it in: the run goes on to its end.
            const said = await p.exec(serverStop, STEPS_USER).then(
              (r) => `exit ${r.exitCode}`,
              (error) => `failed: ${(error as Error).message}`,
            );
            progress.step(
              "run",
              `client exited; ran ${serverStop.join(" ")} in the server's container: ${said}`,
            );
          }
          // A restarted server's program goes with its namespace: it has no exit code of its own.
          exitCodes[sides[i]!] =
            await (i === 0 && plan.restart ? Promise.race([p.exited(), cut]) : p.exited());
        })),
        timeouts.run,
        "run: programs to exit",
        options.signal,
      );
    } catch (error) {
      if (!(error instanceof PhaseTimeout)) throw error;
      timedOut = error.message;
      progress.step("run", `timed out: ${error.message}; keeping the evidence so far`);
      await Promise.all(programs.map((p) => p?.kill()));
      // The steps' "exited" line (or the container's exit) comes once they are killed.
      await Promise.all(programs.map(async (p, i) => {
        if (p) exitCodes[sides[i]!] = await withTimeout(p.exited(), 5_000, "killed programs", undefined);
      })).catch(() => {});
    }
    programsDone = true;
    for (const timer of timers) clearTimeout(timer);
    await withTimeout(Promise.allSettled(ruleWork), timeouts.start, "run: the path's rules", options.signal);
    // The queue program gives back what it still holds before the captures stop.
    let queueLog: string | null = null;
    if (queue && queueRun) {
      await withTimeout(
        queueCommand(queue.stop, "stop the queue program"),
        timeouts.flush,
        "run: the queue program to stop",
        options.signal,
      );
      queueLog = await withTimeout(queueRun, timeouts.flush, "run: the queue program to end", options.signal)
        .then((r) => r.stdout + (r.stderr.trim() ? `${r.stderr.trim()}\n` : "") + `exit ${r.exitCode}\n`);
    }
    if (refused !== null) throw refusedError(refused);
    // A restart that failed leaves no run to judge.
    if (restart.work && restart.begun) {
      await withTimeout(restart.work, timeouts.start, "run: the server's restart", options.signal);
    }
    // Nor does a hold whose work failed or never ended: the side went on without it.
    if (holdFailed !== null) {
      throw new LabEnvironmentError(
        `The run could not hold a side for the lab's work: ${holdFailed}`,
        "check that the Docker engine answers (docker ps) and run again; TCPLAB_DEBUG=1 shows more",
      );
    }
    // From here on, the server's holder is the fresh one when the server was restarted.
    const live = (i: number) => (i === 0 && restart.fresh ? restart.fresh : holders[i]!);
    const liveHolders = [live(0), live(1), ...(middlebox ? [middlebox] : [])];
    let ruleCounters = "";
    for (const listing of middlebox ? ruleListings(plan.middlebox!.nat, shaper.setup.length > 0) : []) {
      ruleCounters += (await middlebox!.exec(listing, "0:0")).stdout;
    }
    phase("run");
    await reach("flush", "counters after the run, then stopping the captures");

    // 4. Each holder takes the "after" snapshot, while its namespace still exists, then stops
    // tcpdump and waits for it (SIGUSR2); it stays, so that its pcap can be read.
    await withTimeout(
      Promise.all(liveHolders.map((h) => stopCapture(h, timeouts.flush))),
      timeouts.flush,
      "flush: tcpdump to write its last packets and stop",
      options.signal,
    );
    phase("flush");
    await reach("collect", null);
    const pcaps = await withTimeout(
      Promise.all(
        sides.map((side, i) =>
          i === 0 && restart.fresh
            ? Promise.resolve(restart.firstPcap)
            : holders[i]!.readFile(`/cap/${side}.pcap`).catch(() => null)
        ),
      ),
      timeouts.collect,
      "collect: the captures",
      options.signal,
    );
    if (restart.fresh && restart.record) {
      const fresh = restart.fresh;
      restart.record.pcap = await fresh.readFile(`/cap/${restart.record.pcapFile}`).catch(() => null);
      restart.record.captureStats = parseCaptureStats(captureStderr(fresh.logs.text("stderr")));
      restart.record.holderLog = holderOwnLog(fresh.logs.text("stdout"));
    }
    const middleboxPcap = middlebox
      ? await middlebox.readFile("/cap/middlebox.pcap").catch(() => null)
      : null;
    // The holders are done: let them exit now, so that removing them needs no kill.
    await Promise.all(liveHolders.map((h) => h.signal("SIGTERM")));
    phase("collect");

    const syscallTraces = await Promise.all([server, client].map((p) => p?.syscallTrace() ?? null));
    const sideArtifacts = (side: Side, i: number, p: ProgramHandle | null): SideArtifacts => ({
      side,
      address: addresses[side],
      pcapFile: `${side}.pcap`,
      pcap: pcaps[i] ?? null,
      captureStats: parseCaptureStats(captureStderr(holders[i]!.logs.text("stderr"))),
      program: p === null ? "none" : isStepsSide(scenario[side]) ? "tcplab" : "user",
      command: commands[side],
      programLog: p?.stdout() ?? "",
      programStderr: p?.stderr() ?? "",
      programExitCode: exitCodes[side],
      ...(syscallTraces[i] != null ? { syscallTrace: syscallTraces[i]! } : {}),
      ...(p?.straceMessages() ? { straceMessages: p.straceMessages() } : {}),
      ...(untraced[side] ?? plan.untraced[side] ? { untraced: untraced[side] ?? plan.untraced[side]! } : {}),
      holderLog: holderOwnLog(holders[i]!.logs.text("stdout")),
    });
    const traceArtifacts = ownEvents(await trace.finish(), Object.values(addresses), plan.probe);
    artifacts = {
      runId,
      scenario,
      startedAt,
      sides: { server: sideArtifacts("server", 0, server), client: sideArtifacts("client", 1, client) },
      trace: traceArtifacts,
      ...(plan.probe !== null ? { probePort: plan.probe } : {}),
      ...(restart.record ? { restart: restart.record } : {}),
      ...(middlebox
        ? {
          middlebox: {
            address: middleboxAddress,
            pcapFile: "middlebox.pcap",
            pcap: middleboxPcap,
            captureStats: parseCaptureStats(captureStderr(middlebox.logs.text("stderr"))),
            holderLog: holderOwnLog(middlebox.logs.text("stdout")),
            ruleLog,
            counters: ruleCounters,
            ...(queueLog !== null ? { queueLog } : {}),
          },
        }
        : {}),
      environment: {
        kernel: engine.kernelVersion,
        dockerVersion: engine.version,
        dockerApiVersion: engine.apiVersion,
        arch: engine.arch,
        labVersion: LAB_VERSION,
        denoVersion: Deno.version.deno,
        images: {
          [images.endpoint]: images.id,
          ...Object.fromEntries(Object.values(programImages).map((i) => [i.tag, i.id])),
          ...(middleboxImage ? { [middleboxImage.endpoint]: middleboxImage.id } : {}),
        },
        imageSizes: Object.fromEntries(Object.values(programImages).map((i) => [i.tag, i.size])),
        containers: planContainers(scenario, plan, planned).environment,
        network: { name: prefix, subnet },
        ...(scenario.path && kernelConfig
          ? { pathKernel: pathKernelRecord(scenario.path, kernelConfig) }
          : {}),
      },
      timedOut,
      phases,
    };
  } catch (error) {
    if (error instanceof RunInterrupted) error.collected = await collectedSoFar(containers, 3_000, ruleLog);
    throw error;
  } finally {
    for (const timer of timers) clearTimeout(timer);
    await trace.finish().catch(() => {});
    progress.step(
      "clean",
      `removing ${containers.length} containers, ${volumes.length} volumes, the network`,
    );
    // An abort here changes nothing: what the run made is removed all the same.
    await Promise.resolve(options.at?.("clean", runId)).catch(() => {});
    // What was being made when the run failed is waited for, so that it is removed too. An engine that stops
    // answering (seen once here: a deadlock inside Docker 20.10's libnetwork held every call on a run's
    // containers) is given CLEAN_LIMIT_MS; then the run ends saying what it could not remove.
    const removal = (async () => {
      const network = await networking.catch(() => null);
      await volumesMade.catch(() => {});
      await Promise.allSettled(creating);
      await Promise.allSettled(containers.map((c) => c.remove()));
      await Promise.allSettled([
        ...volumes.map((v) => docker.removeVolume(v)),
        network ? docker.removeNetwork(network.id) : Promise.resolve(),
      ]);
    })();
    removedAll = await withTimeout(removal, CLEAN_LIMIT_MS, "clean", undefined).then(() => true, () => false);
    phase("clean");
    if (!removedAll) progress.step("clean", `the engine did not remove it all within ${CLEAN_LIMIT_MS} ms`);
  }
  // A run that failed keeps its own error (above); one that did not fails here.
  if (!removedAll) {
    throw new LabEnvironmentError(
      `The Docker engine did not remove run ${runId}'s containers, volumes and network within ${
        CLEAN_LIMIT_MS / 1000
      } s`,
      `check that it answers (docker inspect ${prefix}-client-ns); restart it if it does not, then run "deno task lab clean"`,
    );
  }
  return artifacts!;
}

/** How long the end of a run waits for the engine to remove what the run made. */
const CLEAN_LIMIT_MS = 60_000;

/**
 * What an interrupted run had collected: the programs' logs and the holders'
 * snapshots as they are now, then, if that takes less than `ms`, the same
 * after the captures are stopped, and the captures; with a middlebox, its
 * own log, its capture and the log of its rules (`ruleLog`). Nothing here
 * may keep the interrupted user waiting long.
 */
async function collectedSoFar(
  containers: ContainerHandle[],
  ms: number,
  ruleLog: string,
): Promise<Record<string, string | Uint8Array>> {
  const files: Record<string, string | Uint8Array> = {};
  const box = containers.find((c) => c.name.endsWith("-middlebox"));
  const keepBox = () => {
    files["evidence/middlebox-namespace.log"] = holderOwnLog(box!.logs.text("stdout"));
    files["evidence/middlebox-capture.stderr"] = captureStderr(box!.logs.text("stderr"));
    files["evidence/middlebox-rules.log"] = ruleLog;
  };
  const boxWork = box
    ? (async () => {
      keepBox();
      await stopCapture(box, ms);
      keepBox();
      const pcap = await box.readFile("/cap/middlebox.pcap").catch(() => null);
      if (pcap) files["middlebox.pcap"] = pcap;
    })()
    : Promise.resolve();
  const keepLogs = (c: ContainerHandle, side: string, holder: boolean) => {
    const stdout = c.logs.text("stdout");
    const stderr = c.logs.text("stderr");
    if (holder) {
      files[`evidence/${side}-namespace.log`] = holderOwnLog(stdout);
      files[`evidence/${side}-capture.stderr`] = captureStderr(stderr);
      if (stepsLog(stdout)) {
        files[`evidence/${side}-program.log`] = stepsLog(stdout);
        files[`evidence/${side}-program.stderr`] = stepsStderr(stderr);
      }
    } else {
      files[`evidence/${side}-program.log`] = stdout;
      files[`evidence/${side}-program.stderr`] = stderr;
    }
  };
  const work = containers.map(async (c) => {
    const m = /-(server|client)(-ns)?$/.exec(c.name);
    if (!m) return;
    const [, side, holder] = m as unknown as [string, string, string | undefined];
    keepLogs(c, side, holder !== undefined);
    if (!holder) return;
    await stopCapture(c, ms);
    keepLogs(c, side, true);
    const pcap = await c.readFile(`/cap/${side}.pcap`).catch(() => null);
    if (pcap) files[`${side}.pcap`] = pcap;
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    Promise.allSettled([...work, boxWork]),
    new Promise((r) => timer = setTimeout(r, ms)),
  ]);
  clearTimeout(timer);
  return { ...files };
}

/**
 * Have a holder take its last snapshot and stop tcpdump (SIGUSR2); wait until it is done, so that
 * the pcap is complete, and for tcpdump's statistics (a tcpdump that died says none).
 */
async function stopCapture(holder: ContainerHandle, timeoutMs: number): Promise<void> {
  await holder.signal("SIGUSR2");
  await Promise.all([
    holder.logs.waitFor(
      "stdout",
      (t) => t.includes("=== tcplab-hold: done\n"),
      timeoutMs,
      `${holder.name}: done`,
    ),
    holder.logs.waitFor("stderr", (t) => t.includes("dropped by kernel"), 2_000, `${holder.name}: statistics`)
      .catch(() => {}),
  ]);
}

/** Wait for tcpdump's "listening on" in a holder; fail at once if tcpdump exits first. */
function captureListening(holder: ContainerHandle, timeoutMs: number): Promise<void> {
  const listening = holder.logs.waitFor(
    "stderr",
    (t) => t.includes("listening on"),
    timeoutMs,
    `${holder.name}: tcpdump "listening on"`,
  );
  const stopped = holder.logs
    .waitFor("stdout", (t) => t.includes("=== tcplab-hold: program exited"), timeoutMs, "tcpdump's exit")
    .then(
      () => {
        const said = holder.logs.text("stderr").trim().split("\n").slice(-2).join(" / ");
        throw new LabEnvironmentError(
          `${holder.name}: tcpdump stopped before it listened${said ? ` (${said})` : ""}`,
          "check that this host's tcpdump runs (tcpdump --version); TCPLAB_DEBUG=1 shows more",
        );
      },
      () => new Promise<void>(() => {}), // it did not stop: `listening` decides
    );
  return Promise.race([listening, stopped]);
}

/** The server's holder listens for the probe (or says why it cannot): before the client's holder starts. */
async function probeListening(server: ContainerHandle, timeoutMs: number): Promise<void> {
  await server.logs.waitFor(
    "stdout",
    (t) => probeState(t) !== null,
    timeoutMs,
    `${server.name}: probe listening`,
  );
  if (!server.logs.text("stdout").includes("=== tcplab-hold: probe: listening on port ")) {
    throw new LabEnvironmentError(
      `${server.name} could not listen for the probe of the path (${_lastProbeLine(server)})`,
      "TCPLAB_DEBUG=1 shows the holders' output",
    );
  }
}

/**
 * Wait for the client's holder's verdict on the probe of the path, once the
 * server's holder listens ({@link probeListening}) (it tries for PROBE_WINDOW_MS on its own
 * clock; the lab waits for its line as long as the phase may take). A
 * client that got no answer is a host that drops traffic between the lab's
 * containers: say so, with what the lab can read about the host's bridge
 * filtering.
 */
async function pathProbed(
  docker: DockerClient,
  engine: EngineInfo,
  client: ContainerHandle,
  target: string,
  timeoutMs: number,
): Promise<void> {
  const said = () => probeState(client.logs.text("stdout"));
  const answered = await client.logs
    .waitFor("stdout", () => said() !== null, timeoutMs, `${client.name}: probe`)
    .then(said, () => null);
  if (answered === "connected") return;
  if (answered === "failed") {
    throw new LabEnvironmentError(
      `${client.name} could not probe the path (${_lastProbeLine(client)})`,
      "TCPLAB_DEBUG=1 shows the holders' output",
    );
  }
  throw brokenPathError(target, PROBE_WINDOW_MS, await bridgeFacts(docker, engine));
}

/** A holder's last line about its probe, for an error. */
function _lastProbeLine(h: ContainerHandle): string {
  return h.logs.text("stdout").split("\n").filter((l) => l.startsWith("=== tcplab-hold: probe:")).at(-1) ??
    "";
}

/** What the lab can read of the engine's host's bridge filtering; nothing here may fail. */
async function bridgeFacts(docker: DockerClient, engine: EngineInfo): Promise<BridgeFacts> {
  const [sysctl, engineSetting] = await Promise.all([
    readHostBridgeSysctl(docker, engine.kernelVersion),
    docker.bridgeNfIptables().catch(() => null),
  ]);
  return { bridgeNfCallIptables: sysctl, engineBridgeNfIptables: engineSetting };
}

/** Wait until a holder has printed snapshot `n` in full. */
function snapshotDone(holder: ContainerHandle, n: number, timeoutMs: number): Promise<void> {
  return holder.logs.waitFor(
    "stdout",
    (t) => t.includes(`=== tcplab-snapshot END ${n}\n`),
    timeoutMs,
    `${holder.name}: snapshot ${n}`,
  );
}

/** Ask a holder for one more snapshot of its namespace and wait for it; return its text. */
async function takeSnapshot(holder: ContainerHandle, timeoutMs: number): Promise<string> {
  const taken = [...holder.logs.text("stdout").matchAll(/=== tcplab-snapshot END (\d+)\n/g)].length;
  await holder.signal("SIGUSR1");
  await snapshotDone(holder, taken + 1, timeoutMs);
  const text = holder.logs.text("stdout");
  return text.slice(text.lastIndexOf(`=== tcplab-snapshot BEGIN ${taken + 1} `));
}

/** How the rule log names a moment of a step: " (the client's step 3 returned)", or nothing for a time. */
function _afterStep(step: StepMoment | undefined): string {
  return step ? ` (the ${step.side}'s step ${step.step} returned)` : "";
}

/** The server's stop command: a program of this host that never exits by itself names one; null otherwise. */
function _stopCommand(scenario: Scenario): string[] | null {
  const spec = scenario.server;
  return !isStepsSide(spec) && isHostProgram(spec.program) ? spec.program.stop ?? null : null;
}

/**
 * Wait until a socket listens on `port` in a holder's namespace: how the lab
 * knows a user's own server is ready, without knowing what it prints.
 */
async function waitForListener(
  holder: ContainerHandle,
  port: number,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline && !signal?.aborted) {
    const snapshot = parseSnapshots(await takeSnapshot(holder, timeoutMs))[0];
    const sockets = [
      ...parseProcNetTcp(snapshot?.files["/proc/net/tcp"] ?? ""),
      ...parseProcNetTcp(snapshot?.files["/proc/net/tcp6"] ?? ""),
    ];
    if (sockets.some((s) => s.state === "LISTEN" && s.local.endsWith(`:${port}`))) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new PhaseTimeout(`start: nothing listened on port ${port} within ${timeoutMs} ms`);
}

/**
 * Keep the trace lines that name one of the run's addresses: trace events
 * are global to the host, and other runs may be going on at the same time.
 */
function ownEvents(trace: TraceArtifacts, addresses: string[], probe: number | null): TraceArtifacts {
  const patterns = addresses.map((a) => new RegExp(`(?<![\\d.])${a.replaceAll(".", "\\.")}(?![\\d])`));
  const text = trace.text
    .split("\n")
    .filter((line) =>
      line.startsWith("#") ||
      (patterns.some((p) => p.test(line)) && (probe === null || !isProbeEvent(line, probe)))
    )
    .join("\n");
  return { ...trace, text };
}

async function withTimeout<T>(
  promise: Promise<T>,
  ms: number,
  what: string,
  signal: AbortSignal | undefined,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort: (() => void) | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new PhaseTimeout(`${what} took longer than ${ms} ms`)), ms);
        onAbort = () => reject(new RunInterrupted(`interrupted during ${what}`));
        if (signal?.aborted) onAbort();
        signal?.addEventListener("abort", onAbort);
      }),
    ]);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener("abort", onAbort);
    promise.catch(() => {}); // a loser's later failure is not unhandled
  }
}

/**
 * Create the run's network on a random /28 of 10.200.0.0/16; the engine
 * refuses overlapping subnets, so on a collision with another run, try another.
 */
async function createNetwork(
  docker: DockerClient,
  name: string,
  labels: Record<string, string>,
): Promise<{ id: string; subnet: string }> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 20; attempt++) {
    const block = crypto.getRandomValues(new Uint16Array(1))[0]! % 4096;
    const third = block >> 4;
    const fourth = (block & 15) * 16;
    const subnet = `10.200.${third}.${fourth}/28`;
    try {
      const id = await docker.createNetwork(name, subnet, labels);
      return { id, subnet };
    } catch (error) {
      lastError = error;
      const text = String((error as Error).message);
      if (statusOf(error) === 409 && /already exists/.test(text)) throw error;
      if (!/overlap|pool/i.test(text)) throw error;
    }
  }
  throw new Error(`Cannot create network ${name}: no free /28 in 10.200.0.0/16 after 20 tries`, {
    cause: lastError,
  });
}
