/**
 * A batch: several scenarios on one Docker engine, side by side, each with
 * the contrast the report quotes; their folders, and a summary when there
 * are several. Returns what the command prints.
 *
 * @module
 */

import { DockerClient } from "../docker/client.ts";
import { parseDockerHost } from "../docker/host.ts";
import { ensureImages } from "../docker/images.ts";
import { describeLeftovers, findLeftovers } from "../docker/leftovers.ts";
import type { PhaseTimeouts } from "../run/plan.ts";
import { renderSummary, type SummaryRow } from "../report/summary.ts";
import type { Scenario } from "../scenario/types.ts";
import { pauseAt } from "../run/pause.ts";
import { readHostKernelConfig } from "../run/host_proc.ts";
import type { RunOptions } from "../run/run_scenario.ts";
import type { RunMoment } from "../run/moments.ts";
import { saveText } from "./run_files.ts";
import { type Progress, silentProgress, stderrProgress } from "../util/progress.ts";
import { focusConnection } from "../verdict/focus.ts";
import type { RunResult } from "../verdict/types.ts";
import { runLimited } from "./pool.ts";
import { runKeepingCollected, saveRun } from "./scenario_run.ts";
import { saveBundle } from "./run_bundle.ts";

/** What a batch runs, and how. */
export interface BatchOptions {
  /** The scenarios asked for, in order: one row each in the summary. */
  scenarios: Scenario[];
  /** Scenarios run beside them only so that a report can quote their outcome (a contrast). */
  contrasts: Scenario[];
  /** At most this many runs at once (Infinity: all). */
  jobs: number;
  /** The folder to write into; null: runs/<stamp>-<scenario>, or runs/<stamp> for several. */
  out: string | null;
  /** The UTC time in folder names, e.g. 20250101T120000Z. */
  stamp: string;
  timeouts: Partial<PhaseTimeouts>;
  /** Hold each run at this moment until Enter is pressed. */
  pauseAt?: RunMoment;
  /** Run every program of this host untraced (`--untraced`). */
  untraced?: boolean;
  quiet: boolean;
  signal: AbortSignal;
  /** Also pack each run asked for into `<its folder>.tar.gz` (see run_bundle.ts). */
  bundle?: boolean;
  /** Where notes go (leftovers found, a pause, what an interrupted run kept): one line each. */
  note: (line: string) => void;
}

/** One finished run of a batch and its folder. */
export interface BatchRun {
  result: RunResult;
  dir: string;
  /** Its bundle's path, when one was asked for. */
  bundle?: string;
}

/** What a batch did. */
export interface BatchResult {
  /** One row per scenario asked for, in order, with the path of its report. */
  rows: SummaryRow[];
  /** The runs asked for, in order. */
  runs: BatchRun[];
  /** The summary of several scenarios, and the folder its files are in; null for one. */
  summary: { rendered: ReturnType<typeof renderSummary>; dir: string } | null;
}

/**
 * Run the scenarios (and their contrasts) on the engine DOCKER_HOST names,
 * at most `jobs` at once; a timing-dependent scenario runs after the others.
 * Each run's folder gets its evidence, result.json and report.md, with the
 * contrast's outcome; several scenarios get summary.md and summary.json.
 */
export async function runBatch(o: BatchOptions): Promise<BatchResult> {
  const toRun = new Map<string, Scenario>([...o.scenarios, ...o.contrasts].map((s) => [s.name, s]));
  const progressFor = (name: string): Progress =>
    o.quiet ? silentProgress : stderrProgress(toRun.size > 1 ? `${name}: ` : "");

  const docker = new DockerClient(parseDockerHost(Deno.env.get("DOCKER_HOST")));
  // An engine that does not answer fails here, with its own message. The image is checked (and built
  // once if missing) while the runs make their networks; the leftovers note comes when it is ready.
  const engine = await docker.info();
  const images = ensureImages(docker, o.quiet ? silentProgress : stderrProgress());
  images.catch(() => {}); // each run awaits it
  // The engine host's kernel config, read once for the batch's scenarios with a path (it never throws).
  const kernelConfig = [...toRun.values()].some((s) => s.path)
    ? readHostKernelConfig(docker, engine.kernelVersion)
    : undefined;
  const noted = findLeftovers(docker).then((found) => {
    const leftovers = describeLeftovers(found);
    if (leftovers) o.note(`note: ${leftovers}`);
  });

  const many = o.scenarios.length > 1;
  const root = o.out ?? (many ? `runs/${o.stamp}` : null);
  const dirFor = (name: string) =>
    root === null ? `runs/${o.stamp}-${name}` : many || toRun.size > 1 ? `${root}/${name}` : root;

  const at = o.pauseAt === undefined ? undefined : pauseAt(o.pauseAt, o.signal, o.note);
  const results = new Map<string, BatchRun>();
  const run = async (scenario: Scenario) => {
    const dir = dirFor(scenario.name);
    const options: RunOptions = {
      docker,
      progress: progressFor(scenario.name),
      signal: o.signal,
      timeouts: o.timeouts,
      engine,
      images,
      ...(kernelConfig ? { kernelConfig } : {}),
      ...(at ? { at } : {}),
      ...(o.untraced ? { untraced: true } : {}),
    };
    const result = await runKeepingCollected(
      scenario,
      options,
      dir,
      (kept) => o.note(`${scenario.name}: kept what the run had collected in ${kept}`),
    );
    results.set(scenario.name, { result, dir });
  };
  // A timing-dependent scenario (a simultaneous close) runs after the others, on a quieter machine.
  const all = [...toRun.values()];
  await runLimited(all.filter((s) => !s.retry), o.jobs, run);
  await runLimited(all.filter((s) => s.retry), o.jobs, run);
  await noted.catch(() => {}); // a note, never a reason to fail

  for (const [name, { result, dir }] of results) {
    const contrastName = toRun.get(name)?.contrast;
    const contrast = contrastName ? results.get(contrastName) : undefined;
    if (contrast) {
      const c = focusConnection(contrast.result);
      result.contrast = {
        name: contrastName!,
        state: c?.state ?? "none",
        resetBy: c?.resetBy ?? null,
        cause: c?.cause ?? "unknown",
        report: relativePath(dir, `${contrast.dir}/report.md`),
      };
    }
    await saveRun(dir, result);
  }

  const runs = o.scenarios.map((s) => results.get(s.name)!);
  if (o.bundle) {
    for (const run of runs) {
      run.bundle = await saveBundle(run.dir, run.result);
    }
  }
  const rows: SummaryRow[] = runs.map(({ result, dir }) => ({
    result,
    report: root !== null && many ? relativePath(root, `${dir}/report.md`) : `${dir}/report.md`,
  }));
  if (!many) return { rows, runs, summary: null };
  const rendered = renderSummary(rows);
  await saveText(`${root}/summary.md`, rendered.markdown);
  await saveText(`${root}/summary.json`, JSON.stringify(rendered.json, null, 2) + "\n");
  return { rows, runs, summary: { rendered, dir: root! } };
}

/**
 * The path of `to` from the folder `fromDir`, both relative to the same place.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(relativePath("runs/x/seed", "runs/x/seed-read-first/report.md"), "../seed-read-first/report.md");
 * ```
 */
export function relativePath(fromDir: string, to: string): string {
  const from = fromDir.split("/").filter(Boolean);
  const target = to.split("/").filter(Boolean);
  let i = 0;
  while (i < from.length && from[i] === target[i]) i++;
  return [...from.slice(i).map(() => ".."), ...target.slice(i)].join("/");
}
