/**
 * `deno task lab run NAME...`: run scenarios in containers, explain them,
 * write their reports.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { CATALOG, DEFAULT_SCENARIO } from "../scenario/catalog.ts";
import type { Scenario } from "../scenario/types.ts";
import { DockerClient, parseDockerHost } from "../shell/docker.ts";
import { newRunId, runScenario } from "../shell/run.ts";
import { ensureImages } from "../shell/images.ts";
import { type Progress, silentProgress, stderrProgress } from "../shell/progress.ts";
import { analyseRun } from "../verdict/analyse_run.ts";
import { saveArtifacts } from "../shell/run_files.ts";
import { renderReport } from "../report/markdown.ts";
import type { RunResult } from "../verdict/types.ts";
import { EXIT, UsageError } from "./exit.ts";

/** Run the scenarios the arguments name (the founding case by default). */
export async function runCommand(
  args: string[],
  signal: AbortSignal,
  isDefault: boolean,
): Promise<number> {
  const { values, positionals } = parseOptions(args);
  const names = positionals.length > 0 ? positionals : [DEFAULT_SCENARIO];
  if (isDefault && positionals.length > 0) {
    throw new UsageError(
      `Unexpected argument "${positionals[0]}"`,
      'name scenarios after "run": deno task lab run seed',
    );
  }
  const scenarios = names.map(findScenario);
  const quiet = values.quiet || values.json || !Deno.stderr.isTerminal() && !Deno.env.get("TCPLAB_PROGRESS");
  const progressFor = (name: string): Progress =>
    quiet
      ? silentProgress
      : stderrProgress(scenarios.length > 1 || !values["no-contrast"] ? `${name}: ` : "");

  // Each scenario's contrast runs beside it, so the report can quote its real outcome.
  const toRun = new Map<string, Scenario>(scenarios.map((s) => [s.name, s]));
  if (!values["no-contrast"]) {
    for (const s of scenarios) {
      if (s.contrast && !toRun.has(s.contrast)) toRun.set(s.contrast, findScenario(s.contrast));
    }
  }

  const docker = new DockerClient(parseDockerHost(Deno.env.get("DOCKER_HOST")));
  await docker.info();
  const stamp = new Date().toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
  const outRoot = values.out ?? null;
  const dirFor = (name: string) =>
    outRoot === null ? `runs/${stamp}-${name}` : toRun.size === 1 ? outRoot : `${outRoot}/${name}`;

  // Build the images once, before the runs start side by side.
  await ensureImages(docker, quiet ? silentProgress : stderrProgress());

  const settled = await Promise.allSettled(
    [...toRun.values()].map(async (scenario) => {
      const artifacts = await runScenario(
        scenario,
        { docker, progress: progressFor(scenario.name), signal },
        newRunId(),
      );
      return { scenario, artifacts };
    }),
  );
  const failure = settled.find((s) => s.status === "rejected");
  if (failure && failure.status === "rejected") throw failure.reason;
  const runs = settled.map((s) =>
    (s as PromiseFulfilledResult<{ scenario: Scenario; artifacts: Awaited<ReturnType<typeof runScenario>> }>)
      .value
  );

  const results = new Map<string, { result: RunResult; dir: string }>();
  for (const { scenario, artifacts } of runs) {
    const dir = dirFor(scenario.name);
    results.set(scenario.name, { result: analyseRun(artifacts, reproduceCommand(scenario)), dir });
    await saveArtifacts(dir, artifacts);
  }
  for (const [name, { result, dir }] of results) {
    const contrastName = toRun.get(name)?.contrast;
    const contrast = contrastName ? results.get(contrastName) : undefined;
    if (contrast) {
      const c = contrast.result.connections[0];
      result.contrast = {
        name: contrastName!,
        state: c?.state ?? "none",
        resetBy: c?.resetBy ?? null,
        cause: c?.cause ?? "unknown",
        report: relativePath(dir, `${contrast.dir}/report.md`),
      };
    }
    await Deno.writeTextFile(`${dir}/result.json`, JSON.stringify(result, null, 2) + "\n");
    await Deno.writeTextFile(`${dir}/report.md`, renderReport(result));
  }

  const asked = scenarios.map((s) => results.get(s.name)!);
  if (values.json) {
    console.log(JSON.stringify(asked.length === 1 ? asked[0]!.result : asked.map((a) => a.result), null, 2));
  } else {
    for (const { result, dir } of asked) {
      console.log(`${result.expectation.met ? "ok  " : "FAIL"} ${result.scenario.name}: ${result.verdict}`);
      console.log(`     report: ${dir}/report.md`);
    }
  }
  return asked.every((a) => a.result.expectation.met) ? EXIT.ok : EXIT.expectationNotMet;
}

function parseOptions(args: string[]) {
  try {
    return parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        out: { type: "string" },
        json: { type: "boolean", default: false },
        quiet: { type: "boolean", default: false },
        "no-contrast": { type: "boolean", default: false },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message, 'see "deno task lab --help"');
  }
}

function findScenario(name: string): Scenario {
  const scenario = CATALOG.get(name);
  if (!scenario) {
    throw new UsageError(
      `No scenario named "${name}"`,
      `choose one of: ${[...CATALOG.keys()].join(", ")} (deno task lab list)`,
    );
  }
  return scenario;
}

function reproduceCommand(scenario: Scenario): string {
  return `deno task lab run ${scenario.name}`;
}

function relativePath(fromDir: string, to: string): string {
  const from = fromDir.split("/").filter(Boolean);
  const target = to.split("/").filter(Boolean);
  let i = 0;
  while (i < from.length && from[i] === target[i]) i++;
  return [...from.slice(i).map(() => ".."), ...target.slice(i)].join("/");
}
