/**
 * What a scenario is: the steps each side's program takes, and the outcome
 * the lab expects.
 *
 * @module
 */

import type { ConnState } from "../analysis/types.ts";

/** Epoll and poll event words, as in EPOLLIN... */
export type EventWord = "in" | "out" | "rdhup" | "hup" | "err" | "pri";

/** One step of a side's program. Each maps to one `tcplab run` argument. */
export type Step =
  | { op: "listen"; backlog?: number }
  | { op: "accept" }
  | { op: "connect" }
  | { op: "epoll"; events: EventWord[]; until?: EventWord[] }
  | { op: "poll"; events: EventWord[] }
  | { op: "wait-unread"; bytes: number }
  | { op: "fionread" }
  | { op: "siocoutq" }
  | { op: "write"; bytes: number }
  | { op: "read"; bytes: number }
  | { op: "read-eof" }
  | { op: "shutdown"; how: "wr" | "rd" | "rdwr" }
  | { op: "linger"; on: boolean; seconds: number }
  | { op: "nodelay"; on: boolean }
  | { op: "rcvbuf"; bytes: number }
  | { op: "sndbuf"; bytes: number }
  | { op: "sleep"; ms: number }
  | { op: "close" }
  | { op: "exit" };

/** Stable identifiers of teardown causes, shared by the analysis, the report and the JSON. */
export type { CauseId } from "../analysis/teardown.ts";
import type { CauseId } from "../analysis/teardown.ts";

/** "client" or "server": which container a fact belongs to. */
export type Side = "client" | "server";

/** What a scenario's run must show. Absent fields are not checked. */
export interface Expectation {
  state?: ConnState;
  resetBy?: Side | null;
  closedFirstBy?: Side | null;
  cause?: CauseId;
  /** Kernel RST reasons that must appear (checked only where the kernel gives them). */
  resetReasons?: string[];
  /** Counter changes per side, e.g. { client: { "TcpExt.TCPAbortOnClose": 1 } }. */
  counters?: Partial<Record<Side, Record<string, number>>>;
  /** Sockets a side must still hold after the run, e.g. { client: ["TIME_WAIT"] }. */
  socketsLeft?: Partial<Record<Side, string[]>>;
}

/** A scenario: two programs and what must come of them. */
export interface Scenario {
  name: string;
  /** One line for `lab list` and the report's title. */
  title: string;
  /** A few sentences: what the programs do and what Linux does about it. */
  description: string;
  port: number;
  server: Step[];
  client: Step[];
  expect: Expectation;
  /** A scenario that differs in one step and ends otherwise, for the report's contrast. */
  contrast?: string;
}
