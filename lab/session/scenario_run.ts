/**
 * One scenario, run to a result: its attempts (a timing-dependent outcome
 * is tried again, up to the scenario's bound), its analysis, the command
 * that reproduces it, and its folder (evidence, result.json, report.md,
 * scenario.yaml); an
 * interrupted run keeps what it had collected, with INTERRUPTED.md.
 *
 * @module
 */

import { RunInterrupted } from "../errors.ts";
import { renderReport } from "../report/run_report.ts";
import type { Scenario } from "../scenario/types.ts";
import { newRunId, type RunOptions, runScenario } from "../run/run_scenario.ts";
import { saveArtifacts, saveCollected, saveResult } from "./run_files.ts";
import { analyseRun } from "../verdict/analyse_run.ts";
import { focusConnection } from "../verdict/focus.ts";
import type { RunResult } from "../verdict/types.ts";

/**
 * Run a scenario, again when its timing-dependent outcome did not happen
 * (a simultaneous close whose FINs did not cross), up to its bound. The
 * evidence of the last attempt is saved in `dir` and the result says how
 * many it took. The result is not saved: a batch adds its contrast first.
 */
export async function runWithRetries(
  scenario: Scenario,
  options: RunOptions,
  dir: string,
): Promise<RunResult> {
  const attempts = scenario.retry?.attempts ?? 1;
  for (let attempt = 1;; attempt++) {
    const artifacts = await runScenario(scenario, options, newRunId());
    const result = analyseRun(artifacts);
    const crossed = focusConnection(result)?.facts.finsCrossed ?? false;
    if (scenario.retry) {
      result.attempts = {
        count: attempt,
        note: crossed
          ? `the FINs crossed on attempt ${attempt} of at most ${attempts}`
          : attempt < attempts
          ? null
          : `the FINs never crossed in ${attempts} attempts: one close() always came a round trip late on this machine`,
      };
    }
    if (!scenario.retry || crossed || attempt >= attempts) {
      await saveArtifacts(dir, artifacts);
      return result;
    }
    options.progress.step("run", `attempt ${attempt}: the FINs did not cross; trying again`);
  }
}

/**
 * {@link runWithRetries}; when the run is interrupted, what it had
 * collected is kept in `dir` (see {@link interruptedNote}) and `kept` is
 * told the folder, before the interruption goes on up.
 */
export async function runKeepingCollected(
  scenario: Scenario,
  options: RunOptions,
  dir: string,
  kept: (dir: string) => void,
): Promise<RunResult> {
  try {
    return await runWithRetries(scenario, options, dir);
  } catch (error) {
    if (error instanceof RunInterrupted && Object.keys(error.collected).length > 0) {
      await saveCollected(dir, error.collected, interruptedNote(scenario.name, error.message));
      kept(dir);
    }
    throw error;
  }
}

/** Write a run's result.json and its report. */
export async function saveRun(dir: string, result: RunResult): Promise<void> {
  await saveResult(dir, result, renderReport(result));
}

/**
 * INTERRUPTED.md: what an interrupted run's folder holds, and why there is no report.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.match(interruptedNote("seed", "interrupted during capture"), /^# seed: interrupted\n/);
 * ```
 */
export function interruptedNote(scenario: string, why: string): string {
  return `# ${scenario}: interrupted\n\nThe run was interrupted (${why}) before it finished. ` +
    "What it had collected is here: the programs' logs, the kernel snapshots and the captures so far. " +
    "There is no report: the evidence is incomplete.\n";
}
