/**
 * Turn a scenario's steps into the arguments of `tcplab run`.
 *
 * @module
 */

import type { Step } from "./types.ts";

/** Where the server listens, as the client's program must name it. */
export interface StepTarget {
  serverAddress: string;
  port: number;
}

/**
 * The argument of `tcplab run` for one step.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const target = { serverAddress: "10.200.0.2", port: 9999 };
 * assert.equal(stepArgument({ op: "connect" }, target), "connect=10.200.0.2:9999");
 * assert.equal(stepArgument({ op: "epoll", events: ["in", "out"], until: ["out"] }, target), "epoll=in|out:out");
 * ```
 */
export function stepArgument(step: Step, target: StepTarget): string {
  switch (step.op) {
    case "listen":
      return `listen=0.0.0.0:${target.port}${step.backlog === undefined ? "" : `,${step.backlog}`}`;
    case "connect":
      return `connect=${target.serverAddress}:${target.port}`;
    case "epoll":
      return `epoll=${step.events.join("|")}${step.until ? `:${step.until.join("|")}` : ""}`;
    case "poll":
      return `poll=${step.events.join("|")}`;
    case "wait-unread":
      return `wait-unread=${step.bytes}`;
    case "write":
    case "read":
    case "rcvbuf":
    case "sndbuf":
      return `${step.op}=${step.bytes}`;
    case "shutdown":
      return `shutdown=${step.how}`;
    case "linger":
      return `linger=${step.on ? 1 : 0},${step.seconds}`;
    case "nodelay":
      return `nodelay=${step.on ? 1 : 0}`;
    case "sleep":
      return `sleep=${step.ms}`;
    case "accept":
    case "fionread":
    case "siocoutq":
    case "read-eof":
    case "close":
    case "exit":
      return step.op;
  }
}

/** Human text for a step, as the report lists a scenario. */
export function describeStep(step: Step): string {
  return stepArgument(step, { serverAddress: "SERVER", port: 0 }).replace(/=0\.0\.0\.0:0|=SERVER:0/, "");
}
