/**
 * `deno task lab run ... --host H --host H2 --vary SYSCTL=V1,V2`: the same
 * scenarios on several Docker hosts and sysctl variants, one matrix report.
 *
 * @module
 */

import { focusConnection } from "../report/markdown.ts";
import type { Scenario } from "../scenario/types.ts";
import { SCENARIO_SYSCTL } from "../scenario/parse.ts";
import { DockerClient, type EngineInfo, parseHostOption } from "../shell/docker.ts";
import { ensureImages } from "../shell/images.ts";
import { type Progress, silentProgress, stderrProgress } from "../shell/progress.ts";
import type { PhaseTimeouts } from "../shell/run.ts";
import type { Matrix, MatrixCell, MatrixColumn } from "../matrix/types.ts";
import { findDifferences } from "../matrix/differences.ts";
import { renderMatrix } from "../report/matrix_report.ts";
import { saveResult } from "../shell/run_files.ts";
import { runWithRetries } from "./run_command.ts";
import { EXIT, UsageError } from "./exit.ts";

/** What the matrix needs from the command line. */
export interface MatrixOptions {
  scenarios: Scenario[];
  hosts: string[];
  vary: string[];
  perHost: number;
  out: string;
  quiet: boolean;
  json: boolean;
  timeouts: Partial<PhaseTimeouts>;
  signal: AbortSignal;
}

/**
 * The combinations of `--vary SYSCTL=V1,V2` values, one per column; one
 * empty variant (the defaults) without --vary.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(parseVariants(["net.ipv4.tcp_fin_timeout=5,60"]), [
 *   { "net.ipv4.tcp_fin_timeout": "5" },
 *   { "net.ipv4.tcp_fin_timeout": "60" },
 * ]);
 * assert.deepEqual(parseVariants([]), [{}]);
 * ```
 */
export function parseVariants(vary: string[]): Array<Record<string, string>> {
  let variants: Array<Record<string, string>> = [{}];
  for (const spec of vary) {
    const m = /^([^=]+)=(.+)$/.exec(spec);
    if (!m || !SCENARIO_SYSCTL.test(m[1]!)) {
      throw new UsageError(
        `--vary ${spec}: expected SYSCTL=V1,V2 with a net.ipv4.tcp_* sysctl (or net.core.somaxconn)`,
        "for example --vary net.ipv4.tcp_fin_timeout=5,60",
      );
    }
    const values = m[2]!.split(",").map((v) => v.trim()).filter((v) => v !== "");
    if (values.length === 0) {
      throw new UsageError(`--vary ${spec}: no values`, "give values after =, comma-separated");
    }
    variants = variants.flatMap((v) => values.map((value) => ({ ...v, [m[1]!]: value })));
  }
  return variants;
}

/** The architecture of this machine's binaries, as the Engine API names it. */
function engineArch(): string {
  return ({ x86_64: "amd64", aarch64: "arm64" } as Record<string, string>)[Deno.build.arch] ??
    Deno.build.arch;
}

/** Run the matrix; exit 3 when a column could not run, 1 when an expectation was not met, else 0. */
export async function matrixCommand(o: MatrixOptions): Promise<number> {
  const variants = parseVariants(o.vary);
  const hostSpecs = o.hosts.length > 0
    ? o.hosts
    : [Deno.env.get("DOCKER_HOST") || "unix:///var/run/docker.sock"];
  const endpoints = hostSpecs.map((spec) =>
    parseHostOption(spec, {
      tlsVerify: Deno.env.get("DOCKER_TLS_VERIFY"),
      readCert: (name) => Deno.readTextFileSync(`${Deno.env.get("DOCKER_CERT_PATH") ?? ""}/${name}`),
    })
  );
  const columns: MatrixColumn[] = [];
  const cells: MatrixCell[] = [];
  const log = (host: string): Progress => (o.quiet ? silentProgress : stderrProgress(`${host}: `));

  await Promise.all(endpoints.map(async (endpoint, h) => {
    const host = hostSpecs[h]!;
    const progress = log(host);
    const hostColumns = variants.map((variant) => {
      const column: MatrixColumn = {
        host,
        variant,
        kernel: null,
        dockerVersion: null,
        arch: null,
        status: "ok",
        problem: null,
        // tracefs is this machine's: a local engine's containers run on this kernel.
        traceAvailable: !endpoint.remote,
      };
      columns.push(column);
      return { column, index: columns.length - 1 };
    });
    const fail = (status: MatrixColumn["status"], problem: string) => {
      for (const { column, index } of hostColumns) {
        if (column.status === "ok") Object.assign(column, { status, problem });
        for (const s of o.scenarios) {
          if (!cells.some((c) => c.scenario === s.name && c.column === index)) {
            cells.push(emptyCell(s.name, index, status, problem));
          }
        }
      }
    };
    let docker: DockerClient;
    let engine: EngineInfo;
    try {
      docker = new DockerClient(endpoint);
      engine = await docker.info();
    } catch (error) {
      progress.step("start", `unreachable: ${(error as Error).message}`);
      return fail("unreachable", (error as Error).message);
    }
    for (const { column } of hostColumns) {
      Object.assign(column, {
        kernel: engine.kernelVersion,
        dockerVersion: engine.version,
        arch: engine.arch,
      });
    }
    if (engine.arch !== engineArch()) {
      return fail(
        "refused",
        `this host is ${engine.arch}; the lab's images are built from this machine's ${engineArch()} binaries`,
      );
    }
    try {
      const images = await ensureImages(docker, progress);
      const jobs: Array<() => Promise<void>> = [];
      for (const { index, column } of hostColumns) {
        for (const scenario of o.scenarios) {
          jobs.push(async () => {
            const varied = applyVariant(scenario, column.variant);
            const dir = `${o.out}/${slug(host)}/${variantSlug(column.variant)}/${scenario.name}`;
            const result = await runWithRetries(varied, {
              docker,
              engine,
              images,
              progress,
              signal: o.signal,
              timeouts: o.timeouts,
              ...(endpoint.remote
                ? { noTrace: "the kernel trace is read on this machine only; this host is remote" }
                : {}),
            }, dir);
            await saveResult(dir, result);
            const c = focusConnection(result);
            cells.push({
              scenario: scenario.name,
              column: index,
              status: "ok",
              problem: null,
              state: c?.state ?? null,
              resetBy: c?.resetBy ?? null,
              cause: c?.cause ?? null,
              resetReasons: c && c.kernel.traceAvailable
                ? c.kernel.resetReasons.map((r) => r.reason ?? "").filter(Boolean)
                : null,
              met: result.expectation.met,
              report: `${slug(host)}/${variantSlug(column.variant)}/${scenario.name}/report.md`,
            });
          });
        }
      }
      // At most `perHost` runs at once on one host, so a small host is not flooded.
      const queue = [...jobs];
      await Promise.all(
        Array.from({ length: Math.min(o.perHost, queue.length) }, async () => {
          for (let job = queue.shift(); job; job = queue.shift()) await job();
        }),
      );
    } catch (error) {
      if (o.signal.aborted) throw error;
      progress.step("run", `failed: ${(error as Error).message}`);
      fail("failed", `failed midway: ${(error as Error).message}`);
    }
  }));

  const scenarios = o.scenarios.map((s) => s.name);
  const matrix: Matrix = {
    scenarios,
    columns,
    cells: cells.sort((a, b) =>
      a.column - b.column || scenarios.indexOf(a.scenario) - scenarios.indexOf(b.scenario)
    ),
    differences: findDifferences(scenarios, columns, cells),
    complete: columns.every((c) => c.status === "ok"),
  };
  await Deno.mkdir(o.out, { recursive: true });
  await Deno.writeTextFile(`${o.out}/matrix.json`, JSON.stringify(matrix, null, 2) + "\n");
  await Deno.writeTextFile(`${o.out}/matrix.md`, renderMatrix(matrix));
  if (o.json) {
    console.log(JSON.stringify(matrix, null, 2));
  } else {
    for (const d of matrix.differences) console.log(`differs: ${d.text}`);
    for (const c of columns.filter((c) => c.status !== "ok")) {
      console.log(`${c.status}: ${c.host}: ${c.problem}`);
    }
    console.log(`matrix: ${o.out}/matrix.md`);
  }
  if (!matrix.complete) return EXIT.incomplete;
  return cells.every((c) => c.met !== false) ? EXIT.ok : EXIT.expectationNotMet;
}

/** The scenario with the variant's sysctls set in both sides' namespaces. */
function applyVariant(scenario: Scenario, variant: Record<string, string>): Scenario {
  if (Object.keys(variant).length === 0) return scenario;
  const side = (s: Scenario["server"]) => ({ ...s, sysctls: { ...s.sysctls, ...variant } });
  return { ...scenario, server: side(scenario.server), client: side(scenario.client) };
}

function emptyCell(
  scenario: string,
  column: number,
  status: MatrixCell["status"],
  problem: string,
): MatrixCell {
  return {
    scenario,
    column,
    status,
    problem,
    state: null,
    resetBy: null,
    cause: null,
    resetReasons: null,
    met: null,
    report: null,
  };
}

function slug(text: string): string {
  return text.replace(/^[a-z]+:\/+/, "").replace(/[^A-Za-z0-9.-]+/g, "_").replace(/^_+|_+$/g, "") || "host";
}

function variantSlug(variant: Record<string, string>): string {
  const parts = Object.entries(variant).map(([k, v]) => `${k.replace(/^net\.ipv4\./, "")}=${v}`);
  return parts.length ? slug(parts.join("_")) : "defaults";
}

/** Thrown when the options of a matrix run cannot work together. */
export function checkMatrixOptions(hosts: string[], perHost: number): void {
  if (!Number.isInteger(perHost) || perHost < 1) {
    throw new UsageError(
      `--per-host ${perHost}: expected a whole number, 1 or more`,
      "for example --per-host 2",
    );
  }
  if (new Set(hosts).size !== hosts.length) {
    throw new UsageError("The same --host is given twice", "name each host once");
  }
}
