/**
 * The steps of the lab's own program, written once: for each step its name,
 * the kind of argument a scenario gives it, and how it is written for the
 * program (`tcplab run NAME` or `tcplab run NAME=VALUE`). The scenario parser
 * reads arguments by their kind, the command builder writes them with the
 * row's `program`, and the {@link Step} type is derived from the table.
 *
 * Adding a step: a row here, its `struct step_def` in the C program
 * (containers/endpoint/steps.c) and its tests; tests/scenario/step_table_test.ts
 * checks that the C table names the same steps, with an argument where this
 * one writes one.
 * No step may make the call `sigwaitinfo` (HOLD_CALL, lab/evidence/calls.ts): stepReturned
 * (lab/run/programs.ts) takes a step's entry into it for the lab's hold after the step.
 *
 * @module
 */

/** Epoll and poll event words, as in EPOLLIN... */
export type EventWord = "in" | "out" | "rdhup" | "hup" | "err" | "pri";

/** Every event word, in the order messages list them. */
export const EVENT_WORDS: readonly EventWord[] = ["in", "out", "rdhup", "hup", "err", "pri"];

/** How shutdown() is asked to close: SHUT_WR, SHUT_RD or SHUT_RDWR. */
export type ShutdownHow = "wr" | "rd" | "rdwr";

/** What a side's program must know of the run to write its steps. */
export interface StepTarget {
  serverAddress: string;
  port: number;
  /** The shared moment of `at` steps, ns since the epoch (CLOCK_REALTIME). */
  atBaseNs?: bigint;
}

/** The fields each kind of argument gives a step, as a scenario writes it. */
export interface StepArguments {
  /** `- close`: no argument. */
  none: Record<never, never>;
  /** `{write: 1}`: a number of bytes. */
  bytes: { bytes: number };
  /** `{sleep: 100}`: milliseconds. */
  ms: { ms: number };
  /** `- listen` or `{listen: {backlog: 4}}`. */
  listen: { backlog?: number };
  /** `{poll: [in, rdhup]}` or `{poll: "in|rdhup"}`. */
  events: { events: EventWord[] };
  /** `{epoll: [in]}` or `{epoll: {events: [in, out], until: [out]}}`. */
  epoll: { events: EventWord[]; until?: EventWord[] };
  /** `{shutdown: wr}`. */
  shutdown: { how: ShutdownHow };
  /** `{nodelay: true}`. */
  switch: { on: boolean };
  /** `{linger: {on: true, seconds: 0}}`. */
  linger: { on: boolean; seconds: number };
  /** `{keepidle: 2}`: whole seconds. */
  seconds: { seconds: number };
  /** `{keepcnt: 3}`: a number of times. */
  count: { count: number };
  /** `{use: 2}`: a connection's number, from 1. */
  connection: { conn: number };
}

/** The kind of argument a step takes. */
export type StepArgumentKind = keyof StepArguments;

/** One row of the step table. */
export interface StepSpec<K extends StepArgumentKind = StepArgumentKind> {
  /** The kind of argument the step takes in a scenario. */
  argument: K;
  /** The smallest and the largest value a numeric argument may have; null for the others. */
  range: readonly [number, number] | null;
  /** The value after `=` in the step's `tcplab run` argument, or null when the program gets the bare name. */
  program(args: StepArguments[K], target: StepTarget): string | null;
}

const _BYTES_MAX = 1 << 30;

function _step<K extends StepArgumentKind>(
  argument: K,
  program: (args: StepArguments[K], target: StepTarget) => string | null = () => null,
  range: readonly [number, number] | null = null,
): StepSpec<K> {
  return { argument, range, program };
}

function _bytes(min: number): StepSpec<"bytes"> {
  return _step("bytes", (a) => String(a.bytes), [min, _BYTES_MAX]);
}

const _STEPS = {
  /** socket, bind to 0.0.0.0 and the scenario's port, listen. */
  "listen": _step("listen", (a, t) => `0.0.0.0:${t.port}${a.backlog === undefined ? "" : `,${a.backlog}`}`),
  "accept": _step("none"),
  /** socket, connect to the server's address and port. */
  "connect": _step("none", (_, t) => `${t.serverAddress}:${t.port}`),
  "epoll": _step("epoll", (a) => `${a.events.join("|")}${a.until ? `:${a.until.join("|")}` : ""}`),
  "poll": _step("events", (a) => a.events.join("|")),
  "wait-unread": _bytes(0),
  "wait-unsent-below": _bytes(1),
  "fionread": _step("none"),
  "siocoutq": _step("none"),
  "write": _bytes(0),
  "read": _bytes(0),
  "read-eof": _step("none"),
  "shutdown": _step("shutdown", (a) => a.how),
  "linger": _step("linger", (a) => `${a.on ? 1 : 0},${a.seconds}`),
  "nodelay": _step("switch", (a) => (a.on ? "1" : "0")),
  "rcvbuf": _bytes(0),
  "sndbuf": _bytes(0),
  /** SO_KEEPALIVE: probes after the connection is idle (TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT). */
  "keepalive": _step("switch", (a) => (a.on ? "1" : "0")),
  /** TCP_KEEPIDLE: seconds of idleness before the first keepalive probe (the kernel allows 1-32767). */
  "keepidle": _step("seconds", (a) => String(a.seconds), [1, 32767]),
  /** TCP_KEEPINTVL: seconds between keepalive probes (1-32767). */
  "keepintvl": _step("seconds", (a) => String(a.seconds), [1, 32767]),
  /** TCP_KEEPCNT: unanswered probes before the connection is dropped (1-127). */
  "keepcnt": _step("count", (a) => String(a.count), [1, 127]),
  /** TCP_USER_TIMEOUT: ms that sent data may stay unacknowledged before the connection is dropped (0: the kernel's default). */
  "user-timeout": _step("ms", (a) => String(a.ms), [0, 2_147_483_647]),
  "sleep": _step("ms", (a) => String(a.ms), [0, 600_000]),
  /** Wait until a moment shared by both sides: `ms` after the lab starts the client (absolute ns for the program). */
  "at": _step("ms", (a, t) => String((t.atBaseNs ?? 0n) + BigInt(Math.round(a.ms * 1e6))), [0, 600_000]),
  "close": _step("none"),
  "close-listener": _step("none"),
  /** Wait until a connection waits in the listener's accept queue, without accepting it. */
  "wait-pending": _step("none"),
  /** Make the N-th connection this side made (by connect or accept, from 1) the current one again. */
  "use": _step("connection", (a) => String(a.conn), [1, 64]),
  "exit": _step("none"),
};

/** The name of a step, as scenarios and the program write it. */
export type StepName = keyof typeof _STEPS;

/** Every step, by name. */
export const STEPS: Readonly<Record<StepName, StepSpec>> = _STEPS;

/** Every step a scenario may use, sorted, as the error messages list them. */
export const STEP_NAMES: readonly StepName[] = (Object.keys(_STEPS) as StepName[]).sort();

type _Flat<T> = { [K in keyof T]: T[K] };

/** One step of a side's program: its name in `op`, and the fields of its kind of argument. */
export type Step = {
  [N in StepName]: _Flat<{ op: N } & StepArguments[(typeof _STEPS)[N]["argument"]]>;
}[StepName];

/**
 * Whether `name` is a step.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.ok(isStepName("write"));
 * assert.ok(!isStepName("wirte"));
 * ```
 */
export function isStepName(name: string): name is StepName {
  return Object.hasOwn(_STEPS, name);
}
