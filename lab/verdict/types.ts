/**
 * The result of a run, as result.json holds it and the report renders it.
 *
 * @module
 */

import type { PacketLine } from "../analysis/packet_lines.ts";
import type { ConnState } from "../analysis/types.ts";
import type { CaptureStats, EnvironmentRecord } from "../evidence/artifacts.ts";
import type { SocketEntry } from "../evidence/sockets.ts";
import type { PathRuleRecord } from "../evidence/path_rules.ts";
import type { CauseCandidate, CauseId, Confidence } from "../analysis/causes.ts";
import type { Expectation, Side } from "../scenario/types.ts";
import type { Reproduction } from "./reproduction.ts";

/** Where a run captures: each side's namespace, and the middlebox of a scenario with a `path:`. */
export type CapturePoint = Side | "middlebox";

/** One packet, as the report and the JSON show it: its line (flags, numbers, tcpdump's text) and where it was seen. */
export interface PacketRecord
  extends Pick<PacketLine, "flags" | "seq" | "ack" | "window" | "length" | "tcpdump"> {
  /** Which capture it comes from. */
  capture: CapturePoint;
  /** 1-based record number in that capture. */
  index: number;
  /** Capture time, ns since the epoch, as a decimal string. */
  timeNs: string;
  /** Milliseconds since the connection's first SYN. */
  ms: number;
  from: Side | "other";
}

/** One capture of a run: its file, how many TCP packets it holds, tcpdump's statistics. */
export interface CaptureRecord {
  /** The capture point's own address: the middlebox's (its report lines name it); absent for a side's. */
  address?: string;
  file: string;
  /** Its packets (a restarted side's: both namespaces'). */
  packets: number;
  stats: CaptureStats | null;
  /** A restarted side's capture continues in this file: its fresh namespace's. */
  restartedFile?: string;
}

/** One system call, as the report and the JSON show it. */
export interface CallRecord {
  side: Side;
  step: number;
  call: string;
  /** The descriptor the call worked on, when it took one. */
  fd?: number | null;
  args: string | null;
  /** Milliseconds since the connection's first SYN (negative before it). */
  enterMs: number;
  returnMs: number | null;
  ret: number | null;
  errno: string | null;
  detail: Record<string, string | number>;
}

/** One RST the kernel says it sent, with its reason. */
export interface ResetReasonRecord {
  /** Whose kernel sent it: a side's, the middlebox's (its own address), or another's. */
  side: Side | "middlebox" | "other";
  ms: number | null;
  state: string | null;
  reason: string | null;
  text: string;
}

/** One TCP state change the kernel recorded. */
export interface StateChangeRecord {
  side: Side | "other";
  ms: number | null;
  local: string;
  remote: string;
  change: string;
}

/** The kernel's evidence about one connection. */
export interface KernelEvidence {
  /** Whether the trace was recorded; when not, `traceNote` says why. */
  traceAvailable: boolean;
  traceNote: string | null;
  activeResetReasons: boolean;
  resetReasons: ResetReasonRecord[];
  stateChanges: StateChangeRecord[];
  /** Counter changes per side (after - before), only those that moved. */
  counters: Record<Side, Record<string, number>>;
  /** Sockets each side's namespace held after the run. */
  socketsLeft: Record<Side, SocketEntry[]>;
}

/** One TCP connection of the run, explained. */
export interface ConnectionResult {
  id: number;
  client: string;
  server: string;
  state: ConnState;
  history: string;
  handshakeCompleted: boolean;
  resetBy: Side | null;
  closedFirstBy: Side | null;
  /**
   * The capture whose packets give the state, the history and the reset: the client's, unless (through a
   * path) only the server's saw an RST.
   */
  seenFrom: Side;
  cause: CauseId;
  confidence: Confidence;
  /** Every cause considered, the chosen one first. */
  candidates: CauseCandidate[];
  /** Facts the explanation quotes. */
  facts: {
    /**
     * Bytes the resetting side had received and never read when its socket closed: `unreadCount`'s
     * difference, or from the packets alone when its calls are unknown.
     */
    unreadBytes: number | null;
    /** The count behind `unreadBytes`: bytes the closer acknowledged (its ACKs) and bytes its program read. */
    unreadCount: { delivered: number; read: number } | null;
    /** How the closer's program let go of its socket: close(), or exit (the kernel closed it); null: unknown. */
    closedBy: "close" | "exit" | null;
    resetSeq: number | null;
    resetAck: number | null;
    resetFlags: string | null;
    /** Whether FINs went both ways and each was sent before its sender saw the other's (a simultaneous close). */
    finsCrossed: boolean;
    /**
     * How many times the first closer's own capture shows its FIN sent in all, when more than once (its kernel
     * sent it again because no ACK came); absent when once, or unknown.
     */
    finSent?: number;
  };
  packets: PacketRecord[];
  /** The ICMP errors in the captures that quote the connection's packets, by capture and time; absent when none. */
  icmpErrors?: IcmpErrorRecord[];
  kernel: KernelEvidence;
}

/** An ICMP error that quoted one of a connection's packets, as a report shows it. */
export interface IcmpErrorRecord {
  /** Which capture has it. */
  capture: CapturePoint;
  /** 1-based record number in that capture. */
  index: number;
  /** Milliseconds since the connection's first SYN. */
  ms: number;
  /** What it is: "ICMP destination unreachable (host unreachable)". */
  name: string;
  /** Its sender's address, and which host of the run that is ("other": none of them). */
  from: string;
  sender: CapturePoint | "other";
  /** The side whose packet it quotes. */
  quoted: Side | "other";
  /** One line, with the hosts named: `middlebox > client: ICMP host unreachable, for [S] seq 1408927516`. */
  text: string;
}

/** One expectation of the scenario, checked. */
export interface ExpectationCheck {
  what: string;
  expected: string;
  actual: string;
  ok: boolean;
  /** Not checked, and why (for example: this kernel gives no RST reasons). */
  skipped: string | null;
}

/** A program of this host that ran as one side: what it was, and how it ended. */
export interface HostProgramRun {
  binary: string;
  /** Whether strace logged its system calls. */
  traced: boolean;
  /** Its exit status (strace exits with its child's), or null when the lab could not learn it. */
  exitCode: number | null;
  /** What it wrote to stdout and to stderr (strace's messages taken out). */
  stdout: string;
  stderr: string;
  /** The command the lab ran in its container to stop it once the client had exited (a server that never exits). */
  stop?: string[];
  /** strace's own messages (its errors, e.g. a program it could not start); "" when none. */
  straceMessages: string;
}

/** The outcome of a contrast scenario, quoted by the report. */
export interface ContrastSummary {
  name: string;
  state: string;
  resetBy: Side | null;
  cause: CauseId;
  report: string;
}

/** What result.json holds. */
export interface RunResult {
  tool: "tcplab";
  version: string;
  runId: string;
  startedAt: string;
  scenario: {
    name: string;
    title: string;
    description: string;
    /** What each side's container ran: `run STEP...` for the lab's program, or the user's command. */
    steps: Record<Side, string[]>;
    /** Which side ran the lab's program, the user's own, or nothing. */
    programs: Record<Side, "tcplab" | "user" | "none">;
    /** The image of each side that ran the user's own program. */
    images: Partial<Record<Side, string>>;
    /** Each side that ran a program of this host: its binary, and whether strace logged its calls. */
    hostPrograms?: Partial<Record<Side, HostProgramRun>>;
    /** Each side that ran a user's program (of this host or an image) whose calls were not traced: why. */
    untraced?: Partial<Record<Side, string>>;
    expect: Expectation;
  };
  /** The verdict in one sentence. */
  verdict: string;
  expectation: { met: boolean; checks: ExpectationCheck[] };
  connections: ConnectionResult[];
  /** The id of the connection the verdict and the expectation are about (1 unless the scenario says another). */
  focus: number;
  calls: CallRecord[];
  /** Each capture: the sides' always, the middlebox's with a `path:`. */
  captures: Record<Side, CaptureRecord> & { middlebox?: CaptureRecord };
  /** The path's `loss:` and `rate:` rules with their counters in the middlebox; absent when it has none. */
  pathRules?: PathRuleRecord[];
  environment: EnvironmentRecord;
  timedOut: string | null;
  phases: Record<string, number>;
  contrast: ContrastSummary | null;
  /** What reproduces the run: the lab's version, the command, the scenario file's text. */
  reproduce: Reproduction;
  /** How many runs it took (more than 1 when a timing-dependent outcome was retried), and why. */
  attempts: { count: number; note: string | null };
  /** Problems with the evidence itself (dropped packets, a missing capture...). */
  warnings: string[];
  /** The path's rules that held packets (`delay:`, `reorder:`), and what the middlebox's queue program did. */
  pathHolds?: PathHoldRecord[];
}

/**
 * A path rule that held packets (`delay:`, `reorder:`): what it asked for, how many packets its iptables rule
 * sent to NFQUEUE, and how long the middlebox's queue program (`tcplab queue`) held them.
 */
export interface PathHoldRecord {
  /** "tcplab-path-N": the rule's place in the scenario's `path:`, from 1; also its NFQUEUE queue's number. */
  comment: string;
  /** The side the held packets went to. */
  to: Side;
  /** How long the rule holds every packet, in ms (`delay: {ms}`; 0 without). */
  delayMs: number;
  /** Every this many segments with new data, one was held `extraMs` longer (0: none was). */
  every: number;
  /** How much longer than `delayMs` each of those is held, in ms (`reorder: {extra-ms}`; 0 without). */
  extraMs: number;
  /** The iptables rule's packet counter after the run; null when it was not listed. */
  queued: number | null;
  /**
   * Whether the queue program bound its queues (its `bound` line). Without, the rule's `--queue-bypass` let
   * every packet through undelayed, and nothing was held.
   */
  bound: boolean;
  /** How many packets the queue program held and then let go. */
  heldCount: number;
  /** The longest any of the others (those not held longer) was held, in whole ms; 0 without any. */
  longestOtherMs: number;
  /** The kernel's ids (from 1, in the order they came) of the packets held `extraMs` longer. */
  heldLongerIds: number[];
  /** The shortest and longest of those, in whole ms; null without any. */
  heldLongerMs: { min: number; max: number } | null;
}
