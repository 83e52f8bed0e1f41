/**
 * Turn a scenario's sides into what their containers run: the arguments of
 * `tcplab run`, or a user's command with its placeholders filled in.
 *
 * @module
 */

import { type Step, STEPS, type StepTarget } from "./step_table.ts";
import { isHostProgram, isStepsSide, type SideSpec } from "./types.ts";

/**
 * The argument of `tcplab run` for one step, as its row in the step table writes it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const target = { serverAddress: "10.200.0.2", port: 9999 };
 * assert.equal(stepArgument({ op: "connect" }, target), "connect=10.200.0.2:9999");
 * assert.equal(stepArgument({ op: "epoll", events: ["in", "out"], until: ["out"] }, target), "epoll=in|out:out");
 * assert.equal(stepArgument({ op: "at", ms: 5 }, { ...target, atBaseNs: 1_000_000_000n }), "at=1005000000");
 * assert.equal(stepArgument({ op: "close" }, target), "close");
 * ```
 */
export function stepArgument(step: Step, target: StepTarget): string {
  const value = STEPS[step.op].program(step, target);
  return value === null ? step.op : `${step.op}=${value}`;
}

/** The container command of a side: `run STEP...` for the lab's program, the user's command otherwise. */
export function sideCommand(side: SideSpec, target: StepTarget): string[] {
  if (isStepsSide(side)) return ["run", ...side.steps.map((step) => stepArgument(step, target))];
  const program = side.program;
  const words = isHostProgram(program) ? [program.binary, ...program.args] : program.command;
  return words.map((word) => fillPlaceholders(word, target));
}

/** The environment of a user's program, placeholders filled in. */
export function sideEnv(side: SideSpec, target: StepTarget): string[] {
  if (isStepsSide(side)) return [];
  return Object.entries(side.program.env ?? {}).map(([k, v]) => `${k}=${fillPlaceholders(v, target)}`);
}

function fillPlaceholders(text: string, target: StepTarget): string {
  return text.replaceAll("{server}", target.serverAddress).replaceAll("{port}", String(target.port));
}
