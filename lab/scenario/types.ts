/**
 * What a scenario is: what each side runs (the lab's own program with
 * steps, or a user's program), and the outcome the lab expects.
 *
 * @module
 */

import type { CauseId } from "../analysis/causes.ts";
import type { ConnState } from "../analysis/types.ts";
import type { Step } from "./step_table.ts";

/** A side that runs the lab's own program, step by step. */
export interface StepsSide {
  /** The steps, in order; lab/scenario/step_table.ts lists them. */
  steps: Step[];
  /** net.* sysctls of this side's network namespace, e.g. { "net.ipv4.tcp_fin_timeout": "5" }. */
  sysctls?: Record<string, string>;
}

/** A user's program that comes as a local image. */
export interface ImageProgram {
  image: string;
  command: string[];
  env?: Record<string, string>;
}

/**
 * A program from this host, without a Dockerfile: the lab builds a
 * FROM-scratch image of the binary, the shared libraries it links to and
 * `files`, and runs it under strace, which logs its system calls.
 */
export interface HostProgram {
  /** The program's absolute path on this host, e.g. /usr/bin/socat. */
  binary: string;
  args: string[];
  /** Files ldd does not see (config, NSS, modules): path in the image -> path on this host (relative to the scenario file). */
  files?: Record<string, string>;
  /** Folders the program writes to: tmpfs, while the root stays read-only. */
  writable?: string[];
  env?: Record<string, string>;
  /** Whether strace logs the program's system calls; default true. */
  trace?: boolean;
  /**
   * For a server that never exits by itself: a command the lab runs in its container once the
   * client has exited, e.g. `nginx -s quit` (a graceful stop, which finishes open connections first).
   */
  stop?: string[];
  /**
   * A seccomp profile (Docker's JSON, a path on this host, relative to the scenario file) the
   * program runs under instead of Docker's default: its production's, say. One that denies ptrace
   * leaves the program untraced, and the report says so.
   */
  seccomp?: string;
}

/**
 * A side that runs the user's own program: from a local image, or a binary
 * of this host. In `command`, `args` and `env`, `{server}` and `{port}`
 * stand for the server's address and port.
 */
export interface ProgramSide {
  program: ImageProgram | HostProgram;
  sysctls?: Record<string, string>;
}

/** What one side of a scenario runs. */
export type SideSpec = StepsSide | ProgramSide;

/** "client" or "server": which container a fact belongs to. */
export type Side = "client" | "server";

/** Both sides, in the order reports show them. */
export const SIDES: readonly Side[] = ["client", "server"];

/** What a scenario's run must show. Absent fields are not checked. */
export interface Expectation {
  /** Which connection the checks (and the verdict and report) are about, from 1 in the order of their SYNs; default 1. */
  connection?: number;
  /** How many connections between the two programs the capture must show. */
  connections?: number;
  state?: ConnState;
  resetBy?: Side | null;
  closedFirstBy?: Side | null;
  /** The cause, or several a run may show (the report says which happened). */
  cause?: CauseId | CauseId[];
  /** Kernel RST reasons that must appear (checked only where the kernel gives them); a list of alternatives per entry. */
  resetReasons?: Array<string | string[]>;
  /** Counter changes per side, e.g. { client: { "TcpExt.TCPAbortOnClose": 1 } }. */
  counters?: Partial<Record<Side, Record<string, number>>>;
  /** Sockets a side must still hold after the run, e.g. { client: ["TIME_WAIT"] }. */
  socketsLeft?: Partial<Record<Side, string[]>>;
  /** TCP states each side's socket must pass through (from the kernel's state-change events). */
  statesSeen?: Partial<Record<Side, string[]>>;
}

/** Run again when a timing-dependent outcome did not happen, up to a bound. */
export interface RetryRule {
  /** The outcome to wait for: both FINs crossing on the wire. */
  until: "fins-cross";
  attempts: number;
}

/**
 * What a path rule does to the packets it matches: drop them all, answer TCP with a firewall's reset, answer
 * with an ICMP host-unreachable error, drop only the first few TCP segments that carry a flag (`drop`), drop
 * each packet of the scenario's connection with a probability (`loss`), send no faster than a rate (`rate`),
 * or hold the scenario's segments a while before they go on (`delay` and `reorder`: NFQUEUE and the lab's
 * queue program in the middlebox).
 */
export type PathAction =
  | "blackhole"
  | "reject-tcp-reset"
  | "reject-icmp-host-unreachable"
  | "drop-first"
  | "loss"
  | "rate"
  | "hold";

/** The TCP flags a `drop` rule can pick segments by. */
export const TCP_FLAG_NAMES = ["SYN", "FIN", "RST", "PSH", "ACK", "URG"] as const;

/** One of {@link TCP_FLAG_NAMES}. */
export type TcpFlagName = typeof TCP_FLAG_NAMES[number];

/** A moment of a run: once a side's step `step` (1-based, as its log counts them) has returned. */
export interface StepMoment {
  side: Side;
  step: number;
}

/**
 * One rule of a scenario's `path:`: what the middlebox does to the packets
 * going `to` one side, over a window counted from the moment the client's
 * program starts (`from-ms`, and `until-ms` or to the end of the run), or
 * from a side's step onward (`from-step`, `until-step`).
 */
export interface PathRule {
  to: Side;
  action: PathAction;
  /** Ms from the client's start; 0 with `fromStep`. */
  fromMs: number;
  /** Ms from the client's start; null with `untilStep`, or to the end of the run. */
  untilMs: number | null;
  /** The window begins once this step has returned (instead of at `fromMs`). */
  fromStep?: StepMoment;
  /** The window ends once this step has returned (instead of at `untilMs`), and never before it began. */
  untilStep?: StepMoment;
  /**
   * For "drop-first": the flag a segment of the scenario's connection carries, how many such segments to let
   * through first (`skip`), and how many after them to drop.
   */
  segments?: { flag: TcpFlagName; skip: number; count: number };
  /** For "loss": the chance, in percent (1 to 99), that the middlebox drops a packet of the connection. */
  lossPercent?: number;
  /** For "rate": the middlebox's egress to the side, in kbit/s, with a bucket of `burstBytes` (a TBF). */
  rate?: { kbit: number; burstBytes: number };
  /**
   * For "hold": every segment of the scenario's connection is held `delayMs`, and every `every`-th one that
   * carries new data (the every-th, the 2*every-th...; retransmissions are not counted) `extraMs` more, so
   * that the segments after it overtake it.
   */
  hold?: PathHold;
}

/** How long a "hold" rule keeps each segment before it goes on. */
export interface PathHold {
  delayMs: number;
  /** Every this many segments with new data, one is held `extraMs` more (0: none is). */
  every: number;
  extraMs: number;
}

/** A scenario's path: a middlebox between the sides, and its rules. */
export interface PathSpec {
  rules: PathRule[];
  /**
   * "masquerade": the middlebox rewrites the client's address to its own
   * (connection tracking with NAT), and drops what conntrack calls INVALID.
   */
  nat?: "masquerade";
  /** net.netfilter.nf_conntrack_* sysctls of the middlebox's namespace, e.g. the established timeout. */
  sysctls?: Record<string, string>;
}

/**
 * A restarted peer: once the client's step `afterClientStep` has returned
 * (1-based, as its log counts them), the side's network namespace is cut
 * off the network and removed with everything in it, and a fresh one takes
 * its address, with nothing listening: the other side keeps its
 * connection, which the fresh kernel does not know.
 */
export interface RestartSpec {
  side: "server";
  afterClientStep: number;
}

/** A scenario: two sides and what must come of them. */
export interface Scenario {
  name: string;
  /** One line for `lab list` and the report's title. */
  title: string;
  /** A few sentences: what the programs do and what Linux does about it. */
  description: string;
  port: number;
  server: SideSpec;
  client: SideSpec;
  expect: Expectation;
  /** A scenario that differs in one step and ends otherwise, for the report's contrast. */
  contrast?: string;
  retry?: RetryRule;
  /** A middlebox between the sides, with its rules; absent: the sides talk directly. */
  path?: PathSpec;
  /** The server's namespace replaced by a fresh one during the run (`restart-server:`); absent: never. */
  restart?: RestartSpec;
  /** Phase timeouts in ms (build, start, capture, run, flush, collect), for a scenario that needs other bounds. */
  timeouts?: Partial<Record<"build" | "start" | "capture" | "run" | "flush" | "collect", number>>;
  /** Where the scenario came from: "catalog" or the file's path. */
  source?: string;
  /** The scenario file's text as written, saved with the run and embedded in its report. */
  text?: string;
}

/** Whether a side runs the lab's own program. */
export function isStepsSide(side: SideSpec): side is StepsSide {
  return "steps" in side;
}

/** Whether a user's program is a binary of this host (not an image). */
export function isHostProgram(program: ImageProgram | HostProgram): program is HostProgram {
  return "binary" in program;
}
