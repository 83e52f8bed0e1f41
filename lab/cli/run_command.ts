/**
 * `deno task lab run NAME|FILE...`: run scenarios in containers, side by
 * side, explain them, write their reports and a summary.
 *
 * @module
 */

import { focusConnection } from "../report/markdown.ts";
import { parseArgs } from "node:util";
import { DEFAULT_SCENARIO, loadCatalog } from "../scenario/catalog.ts";
import { resolveScenario, UnknownScenarioError } from "../scenario/resolve.ts";
import { ScenarioError } from "../scenario/parse.ts";
import type { Scenario } from "../scenario/types.ts";
import { DockerClient, parseDockerHost } from "../shell/docker.ts";
import { ensureImages } from "../shell/images.ts";
import { describeLeftovers, findLeftovers } from "../shell/leftovers.ts";
import {
  newRunId,
  PHASES,
  type PhaseTimeouts,
  RUN_MOMENTS,
  RunInterrupted,
  type RunMoment,
  type RunOptions,
  runScenario,
} from "../shell/run.ts";
import { saveArtifacts, saveResult } from "../shell/run_files.ts";
import { type Progress, silentProgress, stderrProgress } from "../shell/progress.ts";
import { pauseAt } from "../shell/pause.ts";
import { analyseRun } from "../verdict/analyse_run.ts";
import type { RunResult } from "../verdict/types.ts";
import { renderSummary, type SummaryRow } from "../report/summary.ts";
import { EXIT, UsageError } from "./exit.ts";
import { checkMatrixOptions, matrixCommand } from "./matrix_command.ts";

/** Run the scenarios the arguments name (the founding case by default). */
export async function runCommand(
  args: string[],
  signal: AbortSignal,
  isDefault: boolean,
): Promise<number> {
  const { values, positionals } = parseOptions(args);
  if (isDefault && positionals.length > 0) {
    throw new UsageError(
      `Unexpected argument "${positionals[0]}"`,
      'name scenarios after "run": deno task lab run seed',
    );
  }
  if (values.all && positionals.length > 0) {
    throw new UsageError("--all runs the whole catalog: name no scenario with it", "deno task lab run --all");
  }
  const jobs = values.jobs === undefined ? Infinity : Number(values.jobs);
  if (jobs !== Infinity && (!Number.isInteger(jobs) || jobs < 1)) {
    throw new UsageError(`--jobs ${values.jobs}: expected a whole number, 1 or more`, "for example --jobs 4");
  }
  const timeouts = parseTimeouts(values.timeout ?? []);
  const pause = values["pause-at"];
  if (pause !== undefined && !(RUN_MOMENTS as readonly string[]).includes(pause)) {
    throw new UsageError(
      `--pause-at ${pause}: not a moment of a run`,
      `name one of ${RUN_MOMENTS.join(", ")}`,
    );
  }
  // Every scenario (files included) is read and checked before any container starts.
  const names = values.all
    ? [...loadCatalog().keys()]
    : positionals.length > 0
    ? positionals
    : [DEFAULT_SCENARIO];
  const asked = await Promise.all(names.map(findScenario));
  const toRun = new Map<string, Scenario>(asked.map((s) => [s.name, s]));
  if (toRun.size !== asked.length) {
    throw new UsageError("The same scenario is named twice", "name each scenario once");
  }
  // A scenario's contrast runs beside it, so the report can quote its real outcome.
  if (!values["no-contrast"] && !values.all && asked.length === 1) {
    const contrast = asked[0]!.contrast;
    if (contrast && !toRun.has(contrast)) toRun.set(contrast, await findScenario(contrast));
  }

  const quiet = values.quiet || values.json ||
    (!Deno.stderr.isTerminal() && !Deno.env.get("TCPLAB_PROGRESS"));
  if ((values.host?.length ?? 0) > 0 || (values.vary?.length ?? 0) > 0) {
    const perHost = values["per-host"] === undefined ? 4 : Number(values["per-host"]);
    checkMatrixOptions(values.host ?? [], perHost);
    if (pause !== undefined) {
      throw new UsageError(
        "--pause-at holds the runs of one host",
        "leave out --host and --vary to pause a run",
      );
    }
    const stamp = new Date().toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
    return await matrixCommand({
      scenarios: asked,
      hosts: values.host ?? [],
      vary: values.vary ?? [],
      perHost,
      out: values.out ?? `runs/${stamp}-matrix`,
      quiet,
      json: values.json,
      timeouts,
      signal,
    });
  }
  const progressFor = (name: string): Progress =>
    quiet ? silentProgress : stderrProgress(toRun.size > 1 ? `${name}: ` : "");

  const docker = new DockerClient(parseDockerHost(Deno.env.get("DOCKER_HOST")));
  // An engine that does not answer fails here, with its own message. The image is checked (and built
  // once if missing) while the runs make their networks; the leftovers note comes when it is ready.
  const engine = await docker.info();
  const images = ensureImages(docker, quiet ? silentProgress : stderrProgress());
  images.catch(() => {}); // each run awaits it
  const noted = findLeftovers(docker).then((found) => {
    const leftovers = describeLeftovers(found);
    if (leftovers) console.error(`tcplab: note: ${leftovers}`);
  });

  const stamp = new Date().toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
  const many = asked.length > 1;
  const root = values.out ?? (many ? `runs/${stamp}` : null);
  const dirFor = (name: string) =>
    root === null ? `runs/${stamp}-${name}` : many || toRun.size > 1 ? `${root}/${name}` : root;

  const at = pause === undefined
    ? undefined
    : pauseAt(pause as RunMoment, signal, (line) => console.error(`tcplab: ${line}`));
  const results = new Map<string, { result: RunResult; dir: string }>();
  const run = async (scenario: Scenario) => {
    const dir = dirFor(scenario.name);
    const options: RunOptions = {
      docker,
      progress: progressFor(scenario.name),
      signal,
      timeouts,
      engine,
      images,
      ...(at ? { at } : {}),
    };
    try {
      results.set(scenario.name, { result: await runWithRetries(scenario, options, dir), dir });
    } catch (error) {
      if (error instanceof RunInterrupted) await keepCollected(dir, scenario, error);
      throw error;
    }
  };
  // A timing-dependent scenario (a simultaneous close) runs after the others, on a quieter machine.
  const all = [...toRun.values()];
  await runLimited(all.filter((s) => !s.retry), jobs, run);
  await runLimited(all.filter((s) => s.retry), jobs, run);
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
    await saveResult(dir, result);
  }

  const rows: SummaryRow[] = asked.map((s) => {
    const { result, dir } = results.get(s.name)!;
    return {
      result,
      report: root !== null && many ? relativePath(root, `${dir}/report.md`) : `${dir}/report.md`,
    };
  });
  if (many) {
    const summary = renderSummary(rows);
    await Deno.writeTextFile(`${root}/summary.md`, summary.markdown);
    await Deno.writeTextFile(`${root}/summary.json`, JSON.stringify(summary.json, null, 2) + "\n");
  }
  if (values.json) {
    console.log(JSON.stringify(many ? renderSummary(rows).json : rows[0]!.result, null, 2));
  } else if (many) {
    console.log(renderSummary(rows).terminal);
    console.log(`summary: ${root}/summary.md`);
  } else {
    const { result, dir } = results.get(asked[0]!.name)!;
    console.log(`${result.expectation.met ? "ok  " : "FAIL"} ${result.scenario.name}: ${result.verdict}`);
    console.log(`     report: ${dir}/report.md`);
  }
  return rows.every((r) => r.result.expectation.met) ? EXIT.ok : EXIT.expectationNotMet;
}

/**
 * Run a scenario, again when its timing-dependent outcome did not happen
 * (a simultaneous close whose FINs did not cross), up to its bound. The
 * evidence of the last attempt is kept and the report says how many it took.
 */
export async function runWithRetries(
  scenario: Scenario,
  options: RunOptions,
  dir: string,
): Promise<RunResult> {
  const attempts = scenario.retry?.attempts ?? 1;
  for (let attempt = 1;; attempt++) {
    const artifacts = await runScenario(scenario, options, newRunId());
    const result = analyseRun(artifacts, reproduceCommand(scenario));
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

/** Write what an interrupted run had collected, and say where it is. */
async function keepCollected(dir: string, scenario: Scenario, error: RunInterrupted): Promise<void> {
  const files = Object.entries(error.collected);
  if (files.length === 0) return;
  await Deno.mkdir(`${dir}/evidence`, { recursive: true });
  for (const [name, data] of files) {
    if (typeof data === "string") await Deno.writeTextFile(`${dir}/${name}`, data);
    else await Deno.writeFile(`${dir}/${name}`, data);
  }
  await Deno.writeTextFile(
    `${dir}/INTERRUPTED.md`,
    `# ${scenario.name}: interrupted\n\nThe run was interrupted (${error.message}) before it finished. ` +
      "What it had collected is here: the programs' logs, the kernel snapshots and the captures so far. " +
      "There is no report: the evidence is incomplete.\n",
  );
  console.error(`tcplab: ${scenario.name}: kept what the run had collected in ${dir}`);
}

/** Run `work` on every item, at most `limit` at a time; the first failure wins once all have settled. */
async function runLimited<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  const errors: unknown[] = [];
  const worker = async () => {
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) {
      try {
        await work(item);
      } catch (error) {
        errors.push(error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (errors.length > 0) throw errors[0];
}

/** `--timeout run=10 --timeout start=60`: seconds per phase. */
function parseTimeouts(specs: string[]): Partial<PhaseTimeouts> {
  const timeouts: Partial<PhaseTimeouts> = {};
  for (const spec of specs) {
    const m = /^([a-z]+)=(\d+(?:\.\d+)?)$/.exec(spec);
    const phase = m?.[1] as keyof PhaseTimeouts | undefined;
    if (!m || !phase || !PHASES.includes(phase) || Number(m[2]) <= 0) {
      throw new UsageError(
        `--timeout ${spec}: expected PHASE=SECONDS with PHASE one of ${PHASES.join(", ")}`,
        "for example --timeout run=10",
      );
    }
    timeouts[phase] = Number(m[2]) * 1000;
  }
  return timeouts;
}

function parseOptions(args: string[]) {
  try {
    return parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        all: { type: "boolean", default: false },
        jobs: { type: "string" },
        timeout: { type: "string", multiple: true },
        host: { type: "string", multiple: true },
        vary: { type: "string", multiple: true },
        "per-host": { type: "string" },
        out: { type: "string" },
        json: { type: "boolean", default: false },
        quiet: { type: "boolean", default: false },
        "no-contrast": { type: "boolean", default: false },
        "pause-at": { type: "string" },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message, 'see "deno task lab --help"');
  }
}

async function findScenario(name: string): Promise<Scenario> {
  try {
    return await resolveScenario(name);
  } catch (error) {
    if (error instanceof UnknownScenarioError) {
      throw new UsageError(error.message, "list them with: deno task lab list");
    }
    if (error instanceof ScenarioError) {
      throw new UsageError(
        error.message,
        "fix the scenario file; README.md (Scenario files) shows the format",
      );
    }
    throw error;
  }
}

function reproduceCommand(scenario: Scenario): string {
  return scenario.source && scenario.source !== "catalog"
    ? `deno task lab run ${scenario.source}`
    : `deno task lab run ${scenario.name}`;
}

function relativePath(fromDir: string, to: string): string {
  const from = fromDir.split("/").filter(Boolean);
  const target = to.split("/").filter(Boolean);
  let i = 0;
  while (i < from.length && from[i] === target[i]) i++;
  return [...from.slice(i).map(() => ".."), ...target.slice(i)].join("/");
}
