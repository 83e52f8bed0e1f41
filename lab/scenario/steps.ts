/**
 * Turn a scenario's sides into what their containers run: the arguments of
 * `tcplab run`, or a user's command with its placeholders filled in.
 *
 * @module
 */

import { isStepsSide, type SideSpec, type Step } from "./types.ts";

/** What a side's program must know of the run. */
export interface StepTarget {
  serverAddress: string;
  port: number;
  /** The shared moment of `at` steps, ns since the epoch (CLOCK_REALTIME). */
  atBaseNs?: bigint;
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
 * assert.equal(stepArgument({ op: "at", ms: 5 }, { ...target, atBaseNs: 1_000_000_000n }), "at=1005000000");
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
    case "wait-unsent-below":
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
    case "use":
      return `use=${step.conn}`;
    case "at":
      return `at=${(target.atBaseNs ?? 0n) + BigInt(Math.round(step.ms * 1e6))}`;
    case "accept":
    case "fionread":
    case "siocoutq":
    case "read-eof":
    case "close":
    case "close-listener":
    case "wait-pending":
    case "exit":
      return step.op;
  }
}

/** The container command of a side: `run STEP...` for the lab's program, the user's command otherwise. */
export function sideCommand(side: SideSpec, target: StepTarget): string[] {
  if (isStepsSide(side)) return ["run", ...side.steps.map((step) => stepArgument(step, target))];
  return side.program.command.map((word) => fillPlaceholders(word, target));
}

/** The environment of a user's program, placeholders filled in. */
export function sideEnv(side: SideSpec, target: StepTarget): string[] {
  if (isStepsSide(side)) return [];
  return Object.entries(side.program.env ?? {}).map(([k, v]) => `${k}=${fillPlaceholders(v, target)}`);
}

function fillPlaceholders(text: string, target: StepTarget): string {
  return text.replaceAll("{server}", target.serverAddress).replaceAll("{port}", String(target.port));
}
