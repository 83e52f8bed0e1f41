/**
 * A matrix: the same scenarios on several Docker hosts and sysctl variants.
 * Each host runs its column's scenarios at most `perHost` at a time; a host
 * that cannot be reached, is of another architecture, or fails midway gets
 * its columns marked, and the others go on. Returns the matrix (and writes
 * matrix.json and matrix.md); the command prints it.
 *
 * @module
 */

import { DockerClient } from "../docker/client.ts";
import type { DockerEndpoint } from "../docker/host.ts";
import { ensureImages } from "../docker/images.ts";
import type { EngineInfo } from "../docker/types.ts";
import { findDifferences } from "../matrix/differences.ts";
import { kernelLacking } from "../evidence/kernel_config.ts";
import { BROKEN_PATH, brokenPath, markBrokenColumns, matrixComplete } from "../matrix/result.ts";
import { readHostKernelConfig } from "../run/host_proc.ts";
import type { Matrix, MatrixCell, MatrixColumn } from "../matrix/types.ts";
import { renderMatrix } from "../report/matrix_report.ts";
import type { PhaseTimeouts } from "../run/plan.ts";
import type { Scenario } from "../scenario/types.ts";
import { saveText } from "./run_files.ts";
import { type Progress, silentProgress, stderrProgress } from "../util/progress.ts";
import { focusConnection } from "../verdict/focus.ts";
import { reproductionOf } from "../verdict/reproduction.ts";
import { runLimited } from "./pool.ts";
import { runWithRetries, saveRun } from "./scenario_run.ts";

/** What a matrix runs, and where. */
export interface MatrixOptions {
  scenarios: Scenario[];
  /** The hosts, as the user named them, with where each listens. */
  hosts: Array<{ name: string; endpoint: DockerEndpoint }>;
  /** Sysctls per column (one empty variant: the hosts' defaults). */
  variants: Array<Record<string, string>>;
  /** At most this many runs at once on one host. */
  perHost: number;
  /** The folder of matrix.md, matrix.json and the runs' folders. */
  out: string;
  quiet: boolean;
  timeouts: Partial<PhaseTimeouts>;
  signal: AbortSignal;
}

/** Run the matrix; write matrix.json and matrix.md into `out`, and return it. */
export async function runMatrix(o: MatrixOptions): Promise<Matrix> {
  const columns: MatrixColumn[] = [];
  const cells: MatrixCell[] = [];
  const log = (host: string): Progress => (o.quiet ? silentProgress : stderrProgress(`${host}: `));

  await Promise.all(o.hosts.map(async ({ name: host, endpoint }) => {
    const progress = log(host);
    const hostColumns = o.variants.map((variant) => {
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
            cells.push(_emptyCell(s.name, index, status, problem));
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
    if (engine.arch !== _engineArch()) {
      return fail(
        "refused",
        `this host is ${engine.arch}; the lab's images are built from this machine's ${_engineArch()} binaries`,
      );
    }
    try {
      // Read once per host: a scenario whose path needs what its kernel lacks is not run there.
      const kernelConfig = o.scenarios.some((s) => s.path)
        ? await readHostKernelConfig(docker, engine.kernelVersion)
        : null;
      const images = await ensureImages(docker, progress);
      const jobs = hostColumns.flatMap(({ index, column }) =>
        o.scenarios.map((scenario) => ({ index, column, scenario }))
      );
      // At most `perHost` runs at once on one host, so a small host is not flooded.
      await runLimited(jobs, o.perHost, async ({ index, column, scenario }) => {
        const lacks = kernelConfig && kernelLacking(scenario.path, kernelConfig);
        if (lacks) {
          progress.step("run", `${scenario.name}: not run: ${lacks}`);
          cells.push(_emptyCell(scenario.name, index, "lacking", lacks));
          return;
        }
        const varied = applyVariant(scenario, column.variant);
        const where = `${_slug(host)}/${_variantSlug(column.variant)}/${scenario.name}`;
        const dir = `${o.out}/${where}`;
        const result = await runWithRetries(varied, {
          docker,
          engine,
          images,
          ...(kernelConfig ? { kernelConfig } : {}),
          progress,
          signal: o.signal,
          timeouts: o.timeouts,
          ...(endpoint.remote
            ? { noTrace: "the kernel trace is read on this machine only; this host is remote" }
            : {}),
        }, dir);
        // The cell's report reproduces the cell: its host and its column's sysctls.
        const reproduce = reproductionOf(scenario, { host, sysctls: column.variant });
        await saveRun(dir, { ...result, reproduce });
        const c = focusConnection(result);
        // A run whose captures saw no handshake measured the lab's path, not the kernel.
        const broken = brokenPath(c?.state ?? null, result.expectation.met);
        cells.push({
          scenario: scenario.name,
          column: index,
          status: broken ? "broken" : "ok",
          problem: broken ? BROKEN_PATH : null,
          state: c?.state ?? null,
          resetBy: c?.resetBy ?? null,
          cause: c?.cause ?? null,
          resetReasons: c && c.kernel.traceAvailable
            ? c.kernel.resetReasons.map((r) => r.reason ?? "").filter(Boolean)
            : null,
          met: result.expectation.met,
          report: `${where}/report.md`,
          reproduce: reproduce.command,
        });
      });
    } catch (error) {
      if (o.signal.aborted) throw error;
      progress.step("run", `failed: ${(error as Error).message}`);
      fail("failed", `failed midway: ${(error as Error).message}`);
    }
  }));

  const scenarios = o.scenarios.map((s) => s.name);
  const marked = markBrokenColumns(columns, cells);
  const matrix: Matrix = {
    scenarios,
    columns: marked,
    cells: cells.sort((a, b) =>
      a.column - b.column || scenarios.indexOf(a.scenario) - scenarios.indexOf(b.scenario)
    ),
    differences: findDifferences(scenarios, marked, cells),
    complete: matrixComplete(marked, cells),
  };
  await saveText(`${o.out}/matrix.json`, JSON.stringify(matrix, null, 2) + "\n");
  await saveText(`${o.out}/matrix.md`, renderMatrix(matrix));
  return matrix;
}

/**
 * The scenario with the variant's sysctls set in both sides' namespaces.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadCatalog } from "../scenario/catalog.ts";
 * const seed = loadCatalog().get("seed")!;
 * const varied = applyVariant(seed, { "net.ipv4.tcp_fin_timeout": "5" });
 * assert.equal(varied.client.sysctls?.["net.ipv4.tcp_fin_timeout"], "5");
 * assert.equal(applyVariant(seed, {}), seed);
 * ```
 */
export function applyVariant(scenario: Scenario, variant: Record<string, string>): Scenario {
  if (Object.keys(variant).length === 0) return scenario;
  const side = (s: Scenario["server"]) => ({ ...s, sysctls: { ...s.sysctls, ...variant } });
  return { ...scenario, server: side(scenario.server), client: side(scenario.client) };
}

/** The architecture of this machine's binaries, as the Engine API names it. */
function _engineArch(): string {
  return ({ x86_64: "amd64", aarch64: "arm64" } as Record<string, string>)[Deno.build.arch] ??
    Deno.build.arch;
}

function _emptyCell(
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
    reproduce: null,
  };
}

function _slug(text: string): string {
  return text.replace(/^[a-z]+:\/+/, "").replace(/[^A-Za-z0-9.-]+/g, "_").replace(/^_+|_+$/g, "") || "host";
}

function _variantSlug(variant: Record<string, string>): string {
  const parts = Object.entries(variant).map(([k, v]) => `${k.replace(/^net\.ipv4\./, "")}=${v}`);
  return parts.length ? _slug(parts.join("_")) : "defaults";
}
