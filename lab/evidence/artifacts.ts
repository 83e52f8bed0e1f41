/**
 * Everything one run collected, as plain data: what the analysis and the
 * report read. Nothing here knows how it was collected.
 *
 * @module
 */

import type { Scenario, Side } from "../scenario/types.ts";
import type { PathKernelRecord } from "./kernel_config.ts";

/** tcpdump's own statistics, printed when it stops. */
export interface CaptureStats {
  captured: number;
  receivedByFilter: number;
  droppedByKernel: number;
}

/** What a container was given, for the report's environment section. */
export interface ContainerRecord {
  name: string;
  role: string;
  image: string;
  user: string;
  capabilities: string[];
}

/** What was collected from one side (server or client). */
export interface SideArtifacts {
  side: Side;
  address: string;
  /** The pcap file's name in the output folder. */
  pcapFile: string;
  pcap: Uint8Array | null;
  captureStats: CaptureStats | null;
  /** What ran on this side: the lab's program, the user's own, or nothing. */
  program: "tcplab" | "user" | "none";
  /** The command its container ran (for tcplab: "run" and the steps' arguments). */
  command: string[];
  /** The program's stdout (JSON lines for tcplab) and stderr. */
  programLog: string;
  programStderr: string;
  programExitCode: number | null;
  /** strace's log of the program's system calls (a traced program of this host); absent otherwise. */
  syscallTrace?: string;
  /** strace's own messages (its errors), apart from the program's stderr; absent when none. */
  straceMessages?: string;
  /** Why a user's program was not traced (UNTRACED_BECAUSE); absent for a traced one or the lab's own. */
  untraced?: string;
  /** The namespace holder's stdout: the snapshots before and after. */
  holderLog: string;
}

/** The kernel trace of the run, or why there is none. */
export interface TraceArtifacts {
  available: boolean;
  /** Why the trace is missing, when it is. */
  note: string | null;
  /** Whether tcp_send_reset has a reason field (6.10+). */
  reasonField: boolean;
  /** Whether the kernel names active-reset reasons such as TCP_ABORT_ON_CLOSE (6.12+). */
  activeResetReasons: boolean;
  /** The instance's `trace` file. */
  text: string;
}

/** The machine the run used. */
export interface EnvironmentRecord {
  kernel: string;
  dockerVersion: string;
  dockerApiVersion: string;
  arch: string;
  labVersion: string;
  denoVersion: string;
  images: Record<string, string>;
  /** The size in bytes of the images built for programs of this host, by tag. */
  imageSizes?: Record<string, number>;
  containers: ContainerRecord[];
  network: { name: string; subnet: string };
  /** For a scenario with `path:`: the kernel features it used, and what the host's kernel config lacks. */
  pathKernel?: PathKernelRecord;
}

/** One run's collected evidence. */
export interface RunArtifacts {
  runId: string;
  scenario: Scenario;
  startedAt: string;
  sides: Record<Side, SideArtifacts>;
  trace: TraceArtifacts;
  environment: EnvironmentRecord;
  /**
   * The port of the holders' probe of the path, when the run probed: a probe connection whose end came
   * after a capture had started is the lab's own, not the scenario's.
   */
  probePort?: number;
  /** The middlebox of a scenario with `path:`; absent without one. */
  middlebox?: MiddleboxArtifacts;
  /** The server's restart of a scenario with `restart-server:`, once it happened; absent otherwise. */
  restart?: RestartArtifacts;
  /** Phase that timed out, if any, and what was waited for. */
  timedOut: string | null;
  /** Wall-clock durations of the phases, ms. */
  phases: Record<string, number>;
}

/**
 * Read tcpdump's closing statistics from its stderr.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const text = "6 packets captured\n6 packets received by filter\n0 packets dropped by kernel\n";
 * assert.deepEqual(parseCaptureStats(text), { captured: 6, receivedByFilter: 6, droppedByKernel: 0 });
 * ```
 */
export function parseCaptureStats(stderr: string): CaptureStats | null {
  const number = (what: string) => {
    const m = new RegExp(`(\\d+) packets? ${what}`).exec(stderr);
    return m ? Number(m[1]) : null;
  };
  const captured = number("captured");
  const receivedByFilter = number("received by filter");
  const droppedByKernel = number("dropped by kernel");
  if (captured === null || receivedByFilter === null || droppedByKernel === null) return null;
  return { captured, receivedByFilter, droppedByKernel };
}

/** What the middlebox of a run collected: its capture, its holder's snapshots, its rules' log and counters. */
export interface MiddleboxArtifacts {
  address: string;
  /** "middlebox.pcap". */
  pcapFile: string;
  pcap: Uint8Array | null;
  captureStats: CaptureStats | null;
  /** Its holder's stdout: the snapshots before and after. */
  holderLog: string;
  /** One line per iptables command run in it: ms after the client's start, the command, its exit code. */
  ruleLog: string;
  /** `iptables -L FORWARD -v -x -n` after the run: each rule's packet counter. */
  counters: string;
  /**
   * With `delay:` or `reorder:` rules: the queue program's output (`tcplab queue`: a JSON line per packet it
   * held, see containers/endpoint/README.md), then its stderr and `exit N`.
   */
  queueLog?: string;
}

/**
 * A restarted server: when its first namespace was cut off the network, and
 * what the fresh namespace that took its address collected. The first
 * namespace's capture and snapshots stay the side's own (`sides.server`):
 * its holder took its last snapshot and stopped tcpdump right after the cut.
 */
export interface RestartArtifacts {
  side: "server";
  /** When the first namespace was cut off, ms after the client's start (the scenario asked for `at-ms`). */
  atMs: number;
  /** The same moment, real time in ns since the epoch, as text (JSON has no bigint). */
  cutRealNs: string;
  /** The fresh namespace's holder. */
  holder: string;
  /** "server-restarted.pcap". */
  pcapFile: string;
  pcap: Uint8Array | null;
  captureStats: CaptureStats | null;
  /** The fresh holder's stdout: its snapshots, at its start and after the run. */
  holderLog: string;
}
