/**
 * `deno task lab run NAME|FILE...`: run scenarios in containers, side by
 * side, explain them, write their reports and a summary.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { UnknownScenarioError, UsageError } from "../errors.ts";
import { PHASES, type PhaseTimeouts } from "../run/plan.ts";
import { DEFAULT_SCENARIO, loadCatalog } from "../scenario/catalog.ts";
import { ScenarioError } from "../scenario/parse.ts";
import { resolveScenario } from "../scenario/resolve.ts";
import type { Scenario } from "../scenario/types.ts";
import { runBatch } from "../session/batch.ts";
import { runMatrix } from "../session/matrix.ts";
import { matrixHeadline } from "../matrix/result.ts";
import { RUN_MOMENTS, type RunMoment } from "../run/moments.ts";
import { runnableScenarios } from "../run/host_programs.ts";
import { EXIT } from "./exit.ts";
import { checkHostPermissions, checkMatrixOptions, parseHosts, parseVariants } from "./matrix_options.ts";

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
    ? runnableScenarios([...loadCatalog().values()], (line) => console.error(`tcplab: ${line}`))
      .map((s) => s.name)
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
  const stamp = new Date().toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
  if ((values.host?.length ?? 0) > 0 || (values.vary?.length ?? 0) > 0) {
    const perHost = values["per-host"] === undefined ? 4 : Number(values["per-host"]);
    checkMatrixOptions(values.host ?? [], perHost);
    if (values.bundle) {
      throw new UsageError("--bundle packs the runs of one host", "leave out --host and --vary");
    }
    if (values.untraced) {
      throw new UsageError("--untraced applies to the runs of one host", "leave out --host and --vary");
    }
    if (pause !== undefined) {
      throw new UsageError(
        "--pause-at holds the runs of one host",
        "leave out --host and --vary to pause a run",
      );
    }
    const variants = parseVariants(values.vary ?? []);
    const hosts = parseHosts(values.host ?? []);
    checkHostPermissions(hosts, (p) => Deno.permissions.querySync(p).state === "granted");
    const out = values.out ?? `runs/${stamp}-matrix`;
    const matrix = await runMatrix({
      scenarios: asked,
      hosts,
      variants,
      perHost,
      out,
      quiet,
      timeouts,
      signal,
    });
    if (values.json) {
      console.log(JSON.stringify(matrix, null, 2));
    } else {
      console.log(`matrix: ${matrixHeadline(matrix)}`);
      for (const d of matrix.differences) console.log(`differs: ${d.text}`);
      for (const c of matrix.columns.filter((c) => c.status !== "ok")) {
        console.log(`${c.status}: ${c.host}: ${c.problem}`);
      }
      for (const c of matrix.cells.filter((c) => c.status === "lacking")) {
        console.log(`not run: ${matrix.columns[c.column]!.host}: ${c.scenario}: ${c.problem}`);
      }
      console.log(`matrix: ${out}/matrix.md`);
    }
    if (!matrix.complete) return EXIT.incomplete;
    return matrix.cells.every((c) => c.met !== false) ? EXIT.ok : EXIT.expectationNotMet;
  }

  const batch = await runBatch({
    scenarios: asked,
    contrasts: [...toRun.values()].filter((s) => !asked.includes(s)),
    jobs,
    out: values.out ?? null,
    stamp,
    timeouts,
    ...(pause === undefined ? {} : { pauseAt: pause as RunMoment }),
    ...(values.untraced ? { untraced: true } : {}),
    quiet,
    signal,
    bundle: values.bundle,
    note: (line) => console.error(`tcplab: ${line}`),
  });
  if (values.json) {
    console.log(JSON.stringify(batch.summary ? batch.summary.rendered.json : batch.rows[0]!.result, null, 2));
  } else if (batch.summary) {
    console.log(batch.summary.rendered.terminal);
    console.log(`summary: ${batch.summary.dir}/summary.md`);
    console.log(bundleLine(batch.runs.flatMap((r) => r.bundle ?? [])));
  } else {
    const { result, dir } = batch.runs[0]!;
    console.log(`${result.expectation.met ? "ok  " : "FAIL"} ${result.scenario.name}: ${result.verdict}`);
    console.log(`     report: ${dir}/report.md`);
    console.log(`     ${bundleLine(batch.runs[0]!.bundle ? [batch.runs[0]!.bundle] : [])}`);
  }
  return batch.rows.every((r) => r.result.expectation.met) ? EXIT.ok : EXIT.expectationNotMet;
}

/** The line that names the bundles made, or says how to make them. */
function bundleLine(bundles: string[]): string {
  return bundles.length > 0
    ? `${bundles.length > 1 ? "bundles" : "bundle"}: ${bundles.join(" ")}`
    : "one file to attach to a ticket: add --bundle (writes the run's folder as <folder>.tar.gz)";
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
        bundle: { type: "boolean", default: false },
        untraced: { type: "boolean", default: false },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message, 'see "deno task lab run --help"', { cause: error });
  }
}

async function findScenario(name: string): Promise<Scenario> {
  try {
    return await resolveScenario(name);
  } catch (error) {
    if (error instanceof UnknownScenarioError) {
      throw new UsageError(error.message, "list them with: deno task lab list", { cause: error });
    }
    if (error instanceof ScenarioError) {
      throw new UsageError(
        error.message,
        "fix the scenario file; README.md (Scenario files) shows the format",
        { cause: error },
      );
    }
    throw error;
  }
}
