/**
 * The plan of a run, as pure data: from a scenario and the run's id, what
 * the run creates (its network, its capture volumes, their names and
 * labels), how long each phase may take, and what runs where; then, once
 * the image and the network's addresses are known, every container (name,
 * image, command, user, capabilities, volumes, sysctls, labels, network)
 * and how the report describes it. The Docker side (lab/run/run_scenario.ts)
 * carries the plan out; nothing here touches Docker, the clock or the disk.
 *
 * @module
 */

import type { ContainerRecord } from "../evidence/artifacts.ts";
import {
  CAPTURE_UID,
  IPTABLES_IN_IMAGE,
  STRACE_IN_IMAGE,
  STRACE_LOG,
  STRACE_LOG_DIR,
  TC_IN_IMAGE,
  TCPLAB_IN_IMAGE,
} from "../docker/image_layout.ts";
import { LAB_LABEL, OWNER_LABEL, RUN_LABEL } from "../docker/labels.ts";
import type { ContainerSpec } from "../docker/types.ts";
import { sideCommand, sideEnv } from "../scenario/steps.ts";
import type { StepTarget } from "../scenario/step_table.ts";
import {
  isHostProgram,
  isStepsSide,
  type PathRule,
  type Scenario,
  type Side,
  SIDES,
  type SideSpec,
  type StepMoment,
} from "../scenario/types.ts";
import { STRACE_OPTIONS, UNTRACED_BECAUSE } from "../evidence/syscall_trace.ts";
import { plannedProbe, probeArgs } from "./path_probe.ts";

/** How long each phase may take, in ms. */
export interface PhaseTimeouts {
  /** Building the images that are missing. */
  build: number;
  /** Starting the network, the namespace holders, and the server until it listens. */
  start: number;
  /** tcpdump printing "listening on" in both namespaces. */
  capture: number;
  /** The programs doing their steps and exiting. */
  run: number;
  /** tcpdump writing out its last packets and exiting. */
  flush: number;
  /** The counters after the run, and the pcaps fetched. */
  collect: number;
}

/** The phases, in the order a run goes through them. */
export const PHASES: ReadonlyArray<keyof PhaseTimeouts> = [
  "build",
  "start",
  "capture",
  "run",
  "flush",
  "collect",
];

/** Defaults that hold with 8 runs at once on a 2-core machine. */
export const DEFAULT_TIMEOUTS: PhaseTimeouts = {
  build: 120_000,
  start: 30_000,
  capture: 15_000,
  run: 30_000,
  flush: 10_000,
  collect: 15_000,
};

/**
 * What the holder needs at its start, and no more: NET_ADMIN to delete the
 * default route that Docker before 25 adds on Internal networks; NET_RAW for
 * tcpdump to open its packet socket; CHOWN for tcpdump to hand its savefile to
 * the unprivileged "tcpdump" user; SETUID and SETGID for tcpdump to become
 * that user and the steps to become nobody; KILL, the only one the holder
 * keeps once its children are started, to stop them (they have other uids).
 */
export const HOLDER_CAPABILITIES = ["NET_ADMIN", "NET_RAW", "SETUID", "SETGID", "CHOWN", "KILL"];

/** The user the lab's own steps run as, in a container of their own or started by the holder. */
export const STEPS_USER = "65534:65534";

/** Each side's address in the run's subnet: its offset from the subnet's first address. */
export const ADDRESS_OFFSETS: Readonly<Record<Side, number>> = { server: 2, client: 3 };

/** The middlebox's address in the run's subnet (a scenario with `path:`), as an offset like ADDRESS_OFFSETS. */
export const MIDDLEBOX_OFFSET = 4;

/**
 * What the middlebox keeps: NET_ADMIN for iptables (run in it after its
 * start), NET_RAW, SETUID, SETGID and CHOWN for tcpdump, KILL for its holder.
 */
export const MIDDLEBOX_CAPABILITIES = ["NET_ADMIN", "NET_RAW", "SETUID", "SETGID", "CHOWN", "KILL"];

/** The middlebox of a run whose scenario has a `path:`. */
export interface MiddleboxPlan {
  /** Its capture volume, mounted at /cap. */
  volume: string;
  /** Its rules, in the scenario's order. */
  rules: PathRule[];
  /** Whether it rewrites the client's address to its own (MASQUERADE, with conntrack). */
  nat: boolean;
  /** The scenario's net.netfilter.nf_conntrack_* sysctls for its namespace. */
  sysctls: Record<string, string>;
}

/**
 * Where a side's program runs: started by the namespace holder (the lab's
 * own steps: telling a process to go is quicker than starting a container),
 * in a container of its own (a user's program, or steps with `at` moments,
 * which are fixed when the program is made), or nowhere (no steps: the
 * namespace is there, but nothing listens).
 */
export type ProgramPlace = "holder" | "container" | "none";

/**
 * How the run knows the server is ready for the client: the steps' log
 * says listen() returned, there is no listen step to wait for, or (a
 * user's program, whose output the lab does not know) a socket listens on
 * the scenario's port in the server's namespace.
 */
export type ServerReadiness = "listen-call" | "none" | "listening-socket";

/** What a run creates and how it goes, known from the scenario and the run's id alone. */
export interface RunPlan {
  runId: string;
  /** `tcplab-<runId>`: the network's name, and the prefix of every container and volume. */
  name: string;
  /** The labels of every resource of the run (containers add their role). */
  labels: Record<string, string>;
  /** The run's Internal network. */
  network: string;
  /** Each side's capture volume, mounted at /cap in its holder. */
  volumes: Record<Side, string>;
  /** Each phase's bound: the options', then the scenario's, then DEFAULT_TIMEOUTS. */
  timeouts: PhaseTimeouts;
  /** Where each side's program runs. */
  programs: Record<Side, ProgramPlace>;
  serverReadiness: ServerReadiness;
  /**
   * The scenario has `at` steps: moments shared by both sides, counted from
   * when the server's program is made (or the client's, without a server
   * program). Its programs' commands are planned again at that moment.
   */
  sharedMoment: boolean;
  /** The port of the holders' probe of the path (lab/run/path_probe.ts), or null to skip it. */
  probe: number | null;
  /** The middlebox, for a scenario with a `path:` (absent without one: two containers, as always). */
  middlebox?: MiddleboxPlan;
  /** Each side whose program of this host strace is to trace: the volume for strace's log. */
  straceVolumes: Partial<Record<Side, string>>;
  /** Each side that runs a user's program the run will not trace, and why (UNTRACED_BECAUSE). */
  untraced: Partial<Record<Side, string>>;
  /** The server's restart, for a scenario with `restart-server:` (absent: its namespace lives the whole run). */
  restart?: RestartPlan;
  /** The steps after which each side waits until the lab's work there is done ({@link heldSteps}). */
  holds: Record<Side, number[]>;
}

/**
 * A restarted server: once the client's step `afterClientStep` returned, the
 * server's holder is cut off the network and removed, and a fresh namespace
 * with the same address and nothing listening takes its place. Its capture
 * goes to `pcapFile` on the server's capture volume.
 */
export interface RestartPlan {
  afterClientStep: number;
  /** The fresh namespace's capture, beside the first one's on the server's volume. */
  pcapFile: string;
}

/** What {@link planRun} needs besides the scenario. */
export interface RunPlanOptions {
  runId: string;
  /** The process that makes the run, "host:pid", for the owner label. */
  owner: string;
  /** Phase timeouts given for this run (the command line's). */
  timeouts?: Partial<PhaseTimeouts>;
  /** Run every program of this host untraced (`--untraced`). */
  untraced?: boolean;
}

/**
 * Plan a run: its resources, its bounds, and where each side's program runs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadCatalog } from "../scenario/catalog.ts";
 * const plan = planRun(loadCatalog().get("seed")!, { runId: "abc", owner: "box:1", timeouts: { run: 5 } });
 * assert.equal(plan.network, "tcplab-abc");
 * assert.deepEqual(plan.volumes, { server: "tcplab-abc-server-cap", client: "tcplab-abc-client-cap" });
 * assert.equal(plan.timeouts.run, 5);
 * assert.deepEqual(plan.programs, { server: "holder", client: "holder" });
 * ```
 */
export function planRun(scenario: Scenario, options: RunPlanOptions): RunPlan {
  const name = `tcplab-${options.runId}`;
  const sharedMoment = _usesAt(scenario);
  const place = (side: Side): ProgramPlace => {
    const spec = scenario[side];
    if (!isStepsSide(spec)) return "container";
    if (spec.steps.length === 0) return "none";
    return sharedMoment ? "container" : "holder";
  };
  const server = scenario.server;
  const straceVolumes: Partial<Record<Side, string>> = {};
  const untraced: Partial<Record<Side, string>> = {};
  for (const side of SIDES) {
    const spec = scenario[side];
    if (isStepsSide(spec)) continue;
    if (!isHostProgram(spec.program)) untraced[side] = UNTRACED_BECAUSE.image;
    else if (spec.program.trace === false) untraced[side] = UNTRACED_BECAUSE.traceOff;
    else if (options.untraced) untraced[side] = UNTRACED_BECAUSE.untracedRun;
    else straceVolumes[side] = `${name}-${side}-strace`;
  }
  return {
    runId: options.runId,
    name,
    labels: { [LAB_LABEL]: "1", [RUN_LABEL]: options.runId, [OWNER_LABEL]: options.owner },
    network: name,
    volumes: { server: `${name}-server-cap`, client: `${name}-client-cap` },
    timeouts: { ...DEFAULT_TIMEOUTS, ...scenario.timeouts, ...options.timeouts },
    programs: { server: place("server"), client: place("client") },
    serverReadiness: !isStepsSide(server)
      ? "listening-socket"
      : server.steps.some((s) => s.op === "listen")
      ? "listen-call"
      : "none",
    sharedMoment,
    probe: plannedProbe(scenario),
    ...(scenario.path
      ? {
        middlebox: {
          volume: `${name}-middlebox-cap`,
          rules: scenario.path.rules,
          nat: scenario.path.nat === "masquerade",
          sysctls: scenario.path.sysctls ?? {},
        },
      }
      : {}),
    straceVolumes,
    untraced,
    ...(scenario.restart
      ? { restart: { afterClientStep: scenario.restart.afterClientStep, pcapFile: RESTARTED_CAPTURE } }
      : {}),
    holds: heldSteps(scenario),
  };
}

/**
 * The steps after which a side waits for the lab, in order: every moment of the
 * scenario that is a side's step (a path rule's `from-step` or `until-step`, the
 * restart's `after-client-step`) is work the lab does once that step returned, and
 * the side does not begin its next step until that work is done (`tcplab run
 * --hold-after`: the program waits for SIGUSR1). Only the lab's own steps can be
 * held; parsing allows step moments on no other side.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadCatalog } from "../scenario/catalog.ts";
 * assert.deepEqual(heldSteps(loadCatalog().get("peer-restart")!), { server: [], client: [3] });
 * assert.deepEqual(heldSteps(loadCatalog().get("seed")!), { server: [], client: [] });
 * ```
 */
export function heldSteps(scenario: Scenario): Record<Side, number[]> {
  const moments: StepMoment[] = [
    ...(scenario.path?.rules ?? []).flatMap((r) => [r.fromStep, r.untilStep].filter((m) => m !== undefined)),
    ...(scenario.restart ? [{ side: "client" as const, step: scenario.restart.afterClientStep }] : []),
  ];
  const held = (side: Side) =>
    [...new Set(moments.filter((m) => m.side === side).map((m) => m.step))].sort((a, b) => a - b);
  return { server: held("server"), client: held("client") };
}

/** `tcplab run`'s words with the side's held steps: `run --hold-after 3,5 STEP...`; unchanged with none. */
function _withHolds(command: string[], held: number[]): string[] {
  return held.length === 0 ? command : [command[0]!, "--hold-after", held.join(","), ...command.slice(1)];
}

/** The capture file of a restarted server's fresh namespace. */
export const RESTARTED_CAPTURE = "server-restarted.pcap";

/** What {@link planContainers} needs once the image and the network exist. */
export interface ContainersPlanOptions {
  /** The tag of the lab's endpoint image. */
  image: string;
  /** Each side's IPv4 address on the run's network. */
  addresses: Record<Side, string>;
  /** The shared moment of `at` steps, ns since the epoch; 0 when the scenario has none. */
  atBaseNs?: bigint;
  /** The image built for each side that runs a program of this host. */
  programImages?: Partial<Record<Side, string>>;
  /** The middlebox's image and address, when the plan has one. */
  middlebox?: { image: string; address: string };
  /** The seccomp profile (JSON) a side's program of this host runs under, from its `seccomp:`. */
  seccomp?: Partial<Record<Side, string>>;
  /** Sides the plan meant to trace that go untraced after all, and why (no strace, ptrace refused). */
  untraced?: Partial<Record<Side, string>>;
}

/** A side's containers, as the run creates them. */
export interface SideContainers {
  /** The namespace holder: it owns the network namespace, takes the snapshots and starts tcpdump. */
  holder: ContainerSpec;
  /**
   * The program's container, when it has one of its own. It joins the
   * holder's namespace: `attachment.namespaceOf` names the holder, and the
   * run passes the holder's id in its place.
   */
  program: ContainerSpec | null;
  /** What the program runs (the arguments of `tcplab run`, or the user's command); empty without one. */
  command: string[];
  /**
   * For a program to be traced: a container like the program's that runs strace on `strace -V`,
   * to learn before the program starts whether strace may trace there (lab/run/host_programs.ts).
   */
  traceCheck: ContainerSpec | null;
}

/** Every container of a run, and how the report describes them. */
export interface ContainersPlan {
  sides: Record<Side, SideContainers>;
  /** The middlebox's holder (its capture, and iptables run in it), when the plan has one. */
  middlebox?: ContainerSpec;
  /** The holder of the server's fresh namespace, when the plan restarts the server. */
  restarted?: ContainerSpec;
  /** The report's list of the run's containers and processes, with their users and capabilities. */
  environment: ContainerRecord[];
}

/**
 * Plan a run's containers: locked down (every capability dropped but the
 * listed ones), labelled with the run and their role.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadCatalog } from "../scenario/catalog.ts";
 * const seed = loadCatalog().get("seed")!;
 * const plan = planRun(seed, { runId: "abc", owner: "box:1" });
 * const { sides } = planContainers(seed, plan, {
 *   image: "tcplab-endpoint:x",
 *   addresses: { server: "10.200.0.2", client: "10.200.0.3" },
 * });
 * assert.equal(sides.client.holder.name, "tcplab-abc-client-ns");
 * assert.deepEqual(sides.client.holder.attachment, { network: "tcplab-abc", ipv4: "10.200.0.3" });
 * assert.equal(sides.client.program, null); // the holder runs the steps
 * assert.equal(sides.client.command[1], "connect=10.200.0.2:9999");
 * ```
 */
export function planContainers(
  scenario: Scenario,
  plan: RunPlan,
  options: ContainersPlanOptions,
): ContainersPlan {
  const target: StepTarget = {
    serverAddress: options.addresses.server,
    port: scenario.port,
    atBaseNs: options.atBaseNs ?? 0n,
  };
  const middlebox = plan.middlebox ? options.middlebox : undefined;
  if (plan.middlebox && !middlebox) {
    throw new TypeError("The plan has a middlebox, but no image or address for it");
  }
  const side = (side: Side): SideContainers => {
    const spec = scenario[side];
    const place = plan.programs[side];
    const command = place === "none"
      ? []
      : isStepsSide(spec)
      ? _withHolds(sideCommand(spec, target), plan.holds[side])
      : sideCommand(spec, target);
    const holder: ContainerSpec = {
      name: `${plan.name}-${side}-ns`,
      image: options.image,
      cmd: [
        "hold",
        ...(middlebox ? ["--route", `${options.addresses[_other(side)]}=${middlebox.address}`] : []),
        ...probeArgs(side, options.addresses.server, plan.probe),
        "--capture",
        ..._tcpdumpCommand(`${side}.pcap`),
        ...(place === "holder" ? ["--steps", ...command.slice(1)] : []),
      ],
      labels: { ...plan.labels, "tcplab.role": `${side}-ns` },
      attachment: { network: plan.network, ipv4: options.addresses[side] },
      // Root with HOLDER_CAPABILITIES for its first moment, then root with CAP_KILL only.
      capAdd: HOLDER_CAPABILITIES,
      user: "0:0",
      volumes: { "/cap": plan.volumes[side] },
      // The namespace owner carries the scenario's sysctls; IPv6 is off so that
      // no link-local chatter mixes into the captures of this IPv4 network.
      sysctls: {
        "net.ipv6.conf.all.disable_ipv6": "1",
        "net.ipv6.conf.default.disable_ipv6": "1",
        ...spec.sysctls,
      },
    };
    const host = !isStepsSide(spec) && isHostProgram(spec.program) ? spec.program : null;
    const straceVolume = options.untraced?.[side] === undefined ? plan.straceVolumes[side] : undefined;
    const program: ContainerSpec | null = place !== "container" ? null : {
      name: `${plan.name}-${side}`,
      image: programImage(spec, side),
      cmd: straceVolume === undefined
        ? command
        : [STRACE_IN_IMAGE, ...STRACE_OPTIONS, "-o", STRACE_LOG, ...command],
      env: sideEnv(spec, target),
      labels: { ...plan.labels, "tcplab.role": side },
      attachment: { namespaceOf: holder.name },
      capAdd: [],
      ...(isStepsSide(spec) || host ? { user: STEPS_USER } : {}),
      ...(host?.writable ? { tmpfs: host.writable } : {}),
      ...(straceVolume === undefined ? {} : { volumes: { [STRACE_LOG_DIR]: straceVolume } }),
      ...(options.seccomp?.[side] === undefined ? {} : { securityOpt: [`seccomp=${options.seccomp[side]}`] }),
    };
    // The check runs wherever strace is in the image, and stays in the plan whatever it found.
    const checked = plan.straceVolumes[side] !== undefined &&
      options.untraced?.[side] !== UNTRACED_BECAUSE.noStrace;
    const traceCheck: ContainerSpec | null = program === null || !checked ? null : {
      ...program,
      name: `${plan.name}-${side}-trace-check`,
      cmd: [STRACE_IN_IMAGE, "-qq", "-o", "/dev/null", STRACE_IN_IMAGE, "-V"],
      labels: { ...plan.labels, "tcplab.role": `${side}-trace-check` },
      volumes: {},
    };
    return { holder, program, command, traceCheck };
  };
  const programImage = (spec: SideSpec, side: Side): string => {
    if (isStepsSide(spec)) return options.image;
    if (!isHostProgram(spec.program)) return spec.program.image;
    const image = options.programImages?.[side];
    if (image === undefined) {
      throw new TypeError(`No image was built for the ${side}'s ${spec.program.binary}`);
    }
    return image;
  };
  const sides = { server: side("server"), client: side("client") };
  // The server's fresh namespace: the first one's holder, with its own capture, no probe and no program.
  const first = sides.server.holder;
  const restarted: ContainerSpec | null = plan.restart
    ? {
      ...first,
      name: `${plan.name}-server-ns-restarted`,
      cmd: [
        "hold",
        ...(middlebox ? ["--route", `${options.addresses.client}=${middlebox.address}`] : []),
        "--capture",
        ..._tcpdumpCommand(plan.restart.pcapFile),
      ],
      labels: { ...plan.labels, "tcplab.role": "server-ns-restarted" },
    }
    : null;
  const environment = (["server", "client"] as const).flatMap((s): ContainerRecord[] => {
    const spec = scenario[s];
    const place = plan.programs[s];
    return [
      {
        name: sides[s].holder.name,
        role: `${s} namespace holder`,
        image: options.image,
        user: "0:0; after starting tcpdump and the steps it keeps CAP_KILL only",
        capabilities: HOLDER_CAPABILITIES,
      },
      {
        name: sides[s].holder.name,
        role: `${s} capture (tcpdump, started by the holder)`,
        image: options.image,
        user: `0:0 until its socket is open, then ${CAPTURE_UID}:${CAPTURE_UID} with no capabilities`,
        capabilities: [],
      },
      ...(place === "none" ? [] : [{
        name: place === "holder" ? sides[s].holder.name : `${plan.name}-${s}`,
        role: (place === "holder"
          ? `${s} program (steps, started by the holder)`
          : sides[s].program?.cmd[0] === STRACE_IN_IMAGE
          ? `${s} program (${sides[s].command[0]}, system calls traced by strace as its parent)`
          : `${s} program`) +
          (options.seccomp?.[s] === undefined ? "" : ", under the scenario's seccomp profile"),
        image: sides[s].program?.image ?? options.image,
        user: sides[s].program?.user ?? (isStepsSide(spec) ? STEPS_USER : "the image's own"),
        capabilities: [],
      }]),
      ...(sides[s].traceCheck === null ? [] : [{
        name: sides[s].traceCheck!.name,
        role: `${s} trace check (strace tracing \`strace -V\`, before the program: may strace trace here?)`,
        image: sides[s].traceCheck!.image,
        user: sides[s].traceCheck!.user ?? STEPS_USER,
        capabilities: [],
      }]),
    ];
  });
  if (restarted) {
    environment.push({
      name: restarted.name,
      role: `server namespace holder after the restart, once the client's step ${
        plan.restart!.afterClientStep
      } returned (same address; tcpdump, no program)`,
      image: options.image,
      user: "0:0; after starting tcpdump it keeps CAP_KILL only",
      capabilities: HOLDER_CAPABILITIES,
    });
  }
  const withRestart = restarted ? { restarted } : {};
  if (!plan.middlebox || !middlebox) return { sides, environment, ...withRestart };
  const box: ContainerSpec = {
    name: `${plan.name}-middlebox`,
    image: middlebox.image,
    cmd: ["hold", "--capture", ..._tcpdumpCommand("middlebox.pcap")],
    labels: { ...plan.labels, "tcplab.role": "middlebox" },
    attachment: { network: plan.network, ipv4: middlebox.address },
    capAdd: MIDDLEBOX_CAPABILITIES,
    user: "0:0",
    volumes: { "/cap": plan.middlebox.volume },
    // It forwards between the sides, and sends no redirect that would let them bypass it.
    sysctls: {
      "net.ipv6.conf.all.disable_ipv6": "1",
      "net.ipv6.conf.default.disable_ipv6": "1",
      "net.ipv4.ip_forward": "1",
      "net.ipv4.conf.all.send_redirects": "0",
      "net.ipv4.conf.default.send_redirects": "0",
      "net.ipv4.conf.eth0.send_redirects": "0",
      ...plan.middlebox.sysctls,
    },
  };
  return {
    sides,
    middlebox: box,
    ...withRestart,
    environment: [
      ...environment,
      {
        name: box.name,
        role: "middlebox (routes between the sides; its holder starts tcpdump; iptables runs in it)",
        image: middlebox.image,
        user: `0:0; it keeps NET_ADMIN for the path's iptables rules${
          plan.middlebox.nat ? " (and its NAT, with connection tracking)" : ""
        }${plan.middlebox.rules.some((r) => r.action === "rate") ? " and tc's shaper (its rates)" : ""}${
          plan.middlebox.rules.some((r) => r.action === "hold")
            ? " and for its queue program (`tcplab queue`, run as 0:0), which holds the packets of the delay rules (NFQUEUE)"
            : ""
        }`,
        capabilities: MIDDLEBOX_CAPABILITIES,
      },
    ],
  };
}

/** One path rule as iptables commands in the middlebox: adding it, and deleting it at its window's end. */
export interface PathRuleCommands {
  /** The rule's comment, by which its counter is found in `iptables -L -v -x -n`. */
  comment: string;
  add: string[];
  delete: string[];
  /**
   * Asks iptables whether it understands the rule without adding it (`-C`: exit 0 or 1), so that a rule of a
   * later moment that it refuses ends the run before the client starts; null for a tc filter, which has none.
   */
  check: string[] | null;
  fromMs: number;
  untilMs: number | null;
  /** Added once this step has returned instead of at `fromMs` (the rule's `from-step`). */
  fromStep?: StepMoment;
  /** Deleted once this step has returned instead of at `untilMs` (the rule's `until-step`). */
  untilStep?: StepMoment;
}

/**
 * The iptables commands of a path's rules, in the FORWARD chain of the
 * middlebox: a blackhole drops every packet to the side, a reject answers
 * TCP with a reset (REJECT --reject-with tcp-reset) or any packet with an
 * ICMP error (--reject-with icmp-host-unreachable), and a drop of N
 * segments with a flag, after letting S through, is N rules that each drop
 * only the (S+1)th segment it sees (`-m statistic --mode nth --every 1000000
 * --packet S`; a segment one rule drops never reaches the next, so the next
 * drops the one after it), a loss drops each segment with its chance
 * (`-m statistic --mode random --probability 0.20`), and a hold (`delay:`,
 * `reorder:`) sends the scenario's segments to the side to NFQUEUE queue N
 * (N: the rule's place in `path:`, from 1), where `tcplab queue` holds them
 * ({@link queueCommands}; `--queue-bypass` lets them through undelayed if no
 * program is bound). A drop, a loss or a hold matches only the scenario's
 * connection (its port), so the lab's probe of the path is never what it
 * drops or holds. A rate is no iptables rule (see {@link shaperCommands}).
 * Every command of one rule carries the rule's comment.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const addresses = { server: "10.200.0.2", client: "10.200.0.3" };
 * const [rule] = pathRuleCommands(
 *   [{ to: "server", action: "reject-tcp-reset", fromMs: 500, untilMs: null }],
 *   addresses,
 *   9999,
 * );
 * assert.deepEqual(rule!.add, [
 *   "/usr/sbin/iptables", "-w", "-A", "FORWARD", "-d", "10.200.0.2/32", "-p", "tcp",
 *   "-m", "comment", "--comment", "tcplab-path-1", "-j", "REJECT", "--reject-with", "tcp-reset",
 * ]);
 * assert.equal(rule!.delete[2], "-D");
 * const drops = pathRuleCommands(
 *   [{ to: "server", action: "drop-first", fromMs: 0, untilMs: null, segments: { flag: "FIN", skip: 0, count: 2 } }],
 *   addresses,
 *   9999,
 * );
 * assert.equal(drops.length, 2);
 * assert.deepEqual(drops[0]!.add.slice(3), [
 *   "FORWARD", "-d", "10.200.0.2/32", "-p", "tcp", "--dport", "9999", "--tcp-flags", "FIN", "FIN",
 *   "-m", "statistic", "--mode", "nth", "--every", "1000000", "--packet", "0",
 *   "-m", "comment", "--comment", "tcplab-path-1", "-j", "DROP",
 * ]);
 * ```
 */
export function pathRuleCommands(
  rules: PathRule[],
  addresses: Record<Side, string>,
  port: number,
): PathRuleCommands[] {
  return rules.flatMap((rule, i) => {
    const comment = `tcplab-path-${i + 1}`;
    if (rule.action === "rate") return [];
    const segments = rule.action === "drop-first" ? rule.segments : undefined;
    const held = rule.action === "hold"
      ? ["-p", "tcp", rule.to === "server" ? "--dport" : "--sport", String(port)]
      : null;
    const select = held ?? (segments
      ? [
        "-p",
        "tcp",
        rule.to === "server" ? "--dport" : "--sport",
        String(port),
        "--tcp-flags",
        segments.flag,
        segments.flag,
        "-m",
        "statistic",
        "--mode",
        "nth",
        "--every",
        String(_NTH_EVERY),
        "--packet",
        String(segments.skip),
      ]
      : rule.action === "loss"
      ? [
        "-p",
        "tcp",
        rule.to === "server" ? "--dport" : "--sport",
        String(port),
        "-m",
        "statistic",
        "--mode",
        "random",
        "--probability",
        (rule.lossPercent! / 100).toFixed(2),
      ]
      : rule.action === "reject-tcp-reset"
      ? ["-p", "tcp"]
      : []);
    const match = [
      "FORWARD",
      "-d",
      `${addresses[rule.to]}/32`,
      ...select,
      "-m",
      "comment",
      "--comment",
      comment,
      "-j",
      ...(rule.action === "hold"
        ? ["NFQUEUE", "--queue-num", String(i + 1), "--queue-bypass"]
        : _TARGETS[rule.action]),
    ];
    return Array.from({ length: segments?.count ?? 1 }, () => ({
      comment,
      add: [IPTABLES_IN_IMAGE, "-w", "-A", ...match],
      delete: [IPTABLES_IN_IMAGE, "-w", "-D", ...match],
      check: [IPTABLES_IN_IMAGE, "-w", "-C", ...match],
      fromMs: rule.fromMs,
      untilMs: rule.untilMs,
      ...(rule.fromStep ? { fromStep: rule.fromStep } : {}),
      ...(rule.untilStep ? { untilStep: rule.untilStep } : {}),
    }));
  });
}

const _TARGETS: Readonly<Record<Exclude<PathRule["action"], "hold">, string[]>> = {
  "blackhole": ["DROP"],
  "reject-tcp-reset": ["REJECT", "--reject-with", "tcp-reset"],
  "reject-icmp-host-unreachable": ["REJECT", "--reject-with", "icmp-host-unreachable"],
  "drop-first": ["DROP"],
  "loss": ["DROP"],
  "rate": [],
};

/** The middlebox's one interface, which carries both directions. */
const _EGRESS = "eth0";

/** The commands of a path's rates: a shaper made once before the rules, and a filter per rate rule. */
export interface ShaperCommands {
  /** The HTB root and, per rate rule, its class and the TBF under it; run in order, before any rule. */
  setup: string[][];
  /** Per rate rule, the filter that sends the packets to its side into its class, over the rule's window. */
  rules: PathRuleCommands[];
}

/**
 * The tc commands of a path's rates. One interface carries both directions,
 * so a rate for one side shapes only what leaves to that side's address: an
 * HTB root (unclassified packets leave at once, as HTB sends them when no
 * default class is named), a class per rate rule (`1:N`, N the rule's place
 * in `path:`, with a rate no run reaches, so that it shapes nothing itself)
 * and under it a TBF with the rule's rate and bucket that does the shaping
 * (a queue of at most a second's worth); a u32 filter by destination address
 * sends the side's packets into the class, added and deleted at the rule's
 * moments. No rate rule: no commands.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const shaper = shaperCommands(
 *   [{ to: "client", action: "rate", fromMs: 0, untilMs: null, rate: { kbit: 256, burstBytes: 4096 } }],
 *   { server: "10.200.0.2", client: "10.200.0.3" },
 * );
 * assert.deepEqual(shaper.setup[2]!.slice(1), [
 *   "qdisc", "add", "dev", "eth0", "parent", "1:1", "tbf", "rate", "256kbit", "burst", "4096", "latency", "1000ms",
 * ]);
 * assert.deepEqual(shaper.rules[0]!.add.slice(1), [
 *   "filter", "add", "dev", "eth0", "parent", "1:", "protocol", "ip", "prio", "1",
 *   "u32", "match", "ip", "dst", "10.200.0.3/32", "flowid", "1:1",
 * ]);
 * // A rule from a side's step keeps its step: the filter goes in at that moment, not at the client's start.
 * const fromStep = shaperCommands(
 *   [{ to: "client", action: "rate", fromMs: 0, untilMs: null, fromStep: { side: "client", step: 2 }, rate: { kbit: 256, burstBytes: 4096 } }],
 *   { server: "10.200.0.2", client: "10.200.0.3" },
 * );
 * assert.deepEqual(fromStep.rules[0]!.fromStep, { side: "client", step: 2 });
 * assert.deepEqual(shaperCommands([], { server: "a", client: "b" }), { setup: [], rules: [] });
 * ```
 */
export function shaperCommands(rules: PathRule[], addresses: Record<Side, string>): ShaperCommands {
  const rates = rules.flatMap((rule, i) => (rule.rate ? [{ rule, rate: rule.rate, n: i + 1 }] : []));
  if (rates.length === 0) return { setup: [], rules: [] };
  const dev = ["dev", _EGRESS];
  const setup = [
    [TC_IN_IMAGE, "qdisc", "add", ...dev, "root", "handle", "1:", "htb"],
    ...rates.flatMap(({ rate, n }) => [
      [
        TC_IN_IMAGE,
        "class",
        "add",
        ...dev,
        "parent",
        "1:",
        "classid",
        `1:${n}`,
        "htb",
        "rate",
        "10gbit",
        "quantum",
        "60000",
      ],
      [
        TC_IN_IMAGE,
        "qdisc",
        "add",
        ...dev,
        "parent",
        `1:${n}`,
        "tbf",
        "rate",
        `${rate.kbit}kbit`,
        "burst",
        String(rate.burstBytes),
        "latency",
        "1000ms",
      ],
    ]),
  ];
  return {
    setup,
    rules: rates.map(({ rule, n }) => {
      const filter = [...dev, "parent", "1:", "protocol", "ip", "prio", String(n)];
      return {
        comment: `tcplab-path-${n}`,
        add: [
          TC_IN_IMAGE,
          "filter",
          "add",
          ...filter,
          "u32",
          "match",
          "ip",
          "dst",
          `${addresses[rule.to]}/32`,
          "flowid",
          `1:${n}`,
        ],
        delete: [TC_IN_IMAGE, "filter", "del", ...filter],
        check: null,
        fromMs: rule.fromMs,
        untilMs: rule.untilMs,
        ...(rule.fromStep ? { fromStep: rule.fromStep } : {}),
        ...(rule.untilStep ? { untilStep: rule.untilStep } : {}),
      };
    }),
  };
}

/** The commands of the middlebox's queue program (`tcplab queue`), for a path with `delay:` or `reorder:`. */
export interface QueueCommands {
  /** Binds the queues and holds their packets until `stop`; its stdout is the held packets' log. */
  start: string[];
  /** Returns once every queue is bound (so that no packet passes undelayed), or fails after 10 s. */
  wait: string[];
  /** Ends `start`, which gives back what it still holds. */
  stop: string[];
}

/**
 * The queue program's commands for a path's hold rules, or null when it has none: queue N is the rule's place
 * in `path:` (from 1), as in {@link pathRuleCommands}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const queue = queueCommands([
 *   { to: "client", action: "blackhole", fromMs: 0, untilMs: null },
 *   { to: "server", action: "hold", fromMs: 0, untilMs: null, hold: { delayMs: 20, every: 4, extraMs: 30 } },
 * ]);
 * assert.deepEqual(queue!.start, ["/tcplab", "queue", "2:delay=20,every=4,extra=30"]);
 * assert.deepEqual(queue!.wait, ["/tcplab", "queue", "--wait", "2"]);
 * assert.equal(queueCommands([]), null);
 * ```
 */
export function queueCommands(rules: PathRule[]): QueueCommands | null {
  const queues = rules.flatMap((rule, i) =>
    rule.action === "hold" && rule.hold ? [{ num: i + 1, hold: rule.hold }] : []
  );
  if (queues.length === 0) return null;
  return {
    start: [
      TCPLAB_IN_IMAGE,
      "queue",
      ...queues.map(({ num, hold }) =>
        `${num}:delay=${hold.delayMs}${hold.every > 0 ? `,every=${hold.every},extra=${hold.extraMs}` : ""}`
      ),
    ],
    wait: [TCPLAB_IN_IMAGE, "queue", "--wait", ...queues.map(({ num }) => String(num))],
    stop: [TCPLAB_IN_IMAGE, "queue", "--stop"],
  };
}

/**
 * The iptables commands of a path's NAT, in force from the client's start
 * to the end of the run: the client's packets to the server leave the
 * middlebox with the middlebox's address (MASQUERADE in nat POSTROUTING,
 * which turns connection tracking on in its namespace), and a forwarded
 * packet that conntrack calls INVALID (with nf_conntrack_tcp_loose=0: a
 * segment of a connection whose entry expired) is dropped, instead of
 * leaving with the client's own address.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const [nat, invalid] = natCommands({ server: "10.200.0.2", client: "10.200.0.3" });
 * assert.deepEqual(nat!.add.slice(2, 8), ["-t", "nat", "-A", "POSTROUTING", "-s", "10.200.0.3/32"]);
 * assert.equal(invalid!.comment, "tcplab-invalid");
 * ```
 */
export function natCommands(addresses: Record<Side, string>): PathRuleCommands[] {
  const nat = [
    "POSTROUTING",
    "-s",
    `${addresses.client}/32`,
    "-d",
    `${addresses.server}/32`,
    "-m",
    "comment",
    "--comment",
    "tcplab-nat",
    "-j",
    "MASQUERADE",
  ];
  const invalid = [
    "FORWARD",
    "-m",
    "conntrack",
    "--ctstate",
    "INVALID",
    "-m",
    "comment",
    "--comment",
    "tcplab-invalid",
    "-j",
    "DROP",
  ];
  return [
    {
      comment: "tcplab-nat",
      add: [IPTABLES_IN_IMAGE, "-w", "-t", "nat", "-A", ...nat],
      delete: [IPTABLES_IN_IMAGE, "-w", "-t", "nat", "-D", ...nat],
      check: [IPTABLES_IN_IMAGE, "-w", "-t", "nat", "-C", ...nat],
      fromMs: 0,
      untilMs: null,
    },
    {
      comment: "tcplab-invalid",
      add: [IPTABLES_IN_IMAGE, "-w", "-I", ...invalid],
      delete: [IPTABLES_IN_IMAGE, "-w", "-D", ...invalid],
      check: [IPTABLES_IN_IMAGE, "-w", "-C", ...invalid],
      fromMs: 0,
      untilMs: null,
    },
  ];
}

/**
 * The listings whose counters the run keeps: the FORWARD chain, nat POSTROUTING with a NAT, and the
 * shaper's queues (`tc -s qdisc`) with a rate.
 */
export function ruleListings(nat: boolean, rate = false): string[][] {
  return [
    [IPTABLES_IN_IMAGE, "-w", "-L", "FORWARD", "-v", "-x", "-n"],
    ...(nat ? [[IPTABLES_IN_IMAGE, "-w", "-t", "nat", "-L", "POSTROUTING", "-v", "-x", "-n"]] : []),
    ...(rate ? [[TC_IN_IMAGE, "-s", "qdisc", "show", "dev", _EGRESS]] : []),
  ];
}

/** A drop rule matches one segment, then the one this many later: far more than a scenario sends. */
const _NTH_EVERY = 1_000_000;

function _other(side: Side): Side {
  return side === "server" ? "client" : "server";
}

/**
 * The address at `offset` in a /28 subnet written "A.B.C.D/28".
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(subnetAddress("10.200.7.48/28", 3), "10.200.7.51");
 * ```
 */
export function subnetAddress(subnet: string, offset: number): string {
  const [a, b, c, d] = subnet.split("/")[0]!.split(".").map(Number);
  return `${a}.${b}.${c}.${d! + offset}`;
}

/** tcpdump as the holder starts it: nanosecond stamps, every packet written as it comes. */
function _tcpdumpCommand(file: string): string[] {
  return [
    "/usr/bin/tcpdump",
    "-i",
    "eth0",
    "-p",
    "-nn",
    "-U",
    "--immediate-mode",
    "--time-stamp-precision=nano",
    // A 16 MiB ring, so that a starved tcpdump on a busy machine still drops nothing.
    "-B",
    "16384",
    "-s",
    "262144",
    "-Z",
    "tcpdump",
    "-w",
    `/cap/${file}`,
  ];
}

/** Whether a scenario has `at` steps: moments shared by both sides, counted from the server's start. */
function _usesAt(scenario: Scenario): boolean {
  return [scenario.server, scenario.client].some((side) =>
    isStepsSide(side) && side.steps.some((s) => s.op === "at")
  );
}
