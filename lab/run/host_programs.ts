/**
 * A scenario's programs of this host: checked before a run makes anything,
 * and their images (lab/docker/program_image.ts) made for the run.
 *
 * @module
 */

import { ensureProgramImage, type ProgramImage, programInputs } from "../docker/program_image.ts";
import type { ContainerHandle, ContainerSpec } from "../docker/types.ts";
import { ptraceRefusal, splitStraceMessages, UNTRACED_BECAUSE } from "../evidence/syscall_trace.ts";
import { isHostProgram, isStepsSide, type Scenario, type Side, SIDES } from "../scenario/types.ts";
import type { Progress } from "../util/progress.ts";
import { UsageError } from "../errors.ts";

const CATALOG_DIR = new URL("../scenario/catalog/", import.meta.url).pathname;

/**
 * The folder a scenario's relative `files` paths start from: its file's, or the catalog's.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadCatalog } from "../scenario/catalog.ts";
 * const seed = loadCatalog().get("seed")!;
 * assert.equal(scenarioFolder({ ...seed, source: "cases/upload.yaml" }), "cases");
 * assert.match(scenarioFolder(seed), /scenario\/catalog\/$/);
 * ```
 */
export function scenarioFolder(scenario: Scenario): string {
  const source = scenario.source ?? "catalog";
  if (source === "catalog") return CATALOG_DIR;
  const slash = source.lastIndexOf("/");
  return slash < 0 ? "." : source.slice(0, slash) || "/";
}

/** The sides of a scenario that run a program of this host. */
function _hostSides(scenario: Scenario) {
  return SIDES.flatMap((side) => {
    const spec = scenario[side];
    return !isStepsSide(spec) && isHostProgram(spec.program) ? [{ side, program: spec.program }] : [];
  });
}

/**
 * Check every host program of a scenario; a UsageError names the side, the
 * path and what to do. Called before a run makes anything. Returns the
 * seccomp profiles they name (`seccomp:`), read, by side.
 */
export async function checkHostPrograms(scenario: Scenario): Promise<Partial<Record<Side, string>>> {
  const profiles: Partial<Record<Side, string>> = {};
  for (const { side, program } of _hostSides(scenario)) {
    await programInputs(program, side, scenarioFolder(scenario));
    if (program.seccomp !== undefined) {
      profiles[side] = await _seccompProfile(program.seccomp, side, scenarioFolder(scenario));
    }
  }
  return profiles;
}

/** A seccomp profile's JSON, one line, from a path relative to `folder`. */
async function _seccompProfile(given: string, side: Side, folder: string): Promise<string> {
  const path = given.startsWith("/") ? given : `${folder}/${given}`;
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new UsageError(
      `The ${side}'s seccomp profile ${given} cannot be read`,
      "create it, or correct `seccomp:` in the scenario",
      { cause: error },
    );
  }
  try {
    return JSON.stringify(JSON.parse(text));
  } catch (error) {
    throw new UsageError(
      `The ${side}'s seccomp profile ${given} is not JSON: ${(error as Error).message}`,
      "give a profile in Docker's seccomp format (JSON)",
      { cause: error },
    );
  }
}

/** The images of a scenario's host programs, by side; built where missing. */
export async function ensureProgramImages(
  docker: Parameters<typeof ensureProgramImage>[0],
  scenario: Scenario,
  progress: Progress,
): Promise<Partial<Record<Side, ProgramImage>>> {
  const images: Partial<Record<Side, ProgramImage>> = {};
  for (const { side, program } of _hostSides(scenario)) {
    images[side] = await ensureProgramImage(docker, program, side, scenarioFolder(scenario), progress);
  }
  return images;
}

/**
 * Why strace may not trace a program in its container, or null when it may: runs the plan's
 * trace check (strace tracing `strace -V`, with the program's image, user and namespace) through
 * `create`, which makes the container and has the run remove it. A refusal (ptrace denied by a
 * seccomp profile, an LSM, Yama's ptrace_scope 3) leaves the program to run untraced, not failed.
 */
export async function traceRefused(
  create: (spec: ContainerSpec) => Promise<ContainerHandle>,
  check: ContainerSpec,
): Promise<string | null> {
  const container = await create(check);
  await container.start();
  const status = await container.wait();
  if (status === 0) return null;
  await container.logs.ended();
  const { messages } = splitStraceMessages(container.logs.text("stderr"));
  const first = messages.split("\n")[0]?.trim() || `exit status ${status}, no message`;
  return UNTRACED_BECAUSE.refused(ptraceRefusal(messages) ?? first);
}

/** A program of this host that a scenario runs, and whether this host has it. */
export interface HostBinary {
  side: Side;
  binary: string;
  /** An executable file at that path on this host. */
  present: boolean;
}

/**
 * The programs of this host a scenario runs (none for the lab's own steps or
 * an image), each with whether it is here: `lab list` marks the missing ones
 * and `run --all` skips their scenarios.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadCatalog } from "../scenario/catalog.ts";
 * assert.deepEqual(hostBinaries(loadCatalog().get("seed")!), []);
 * const socat = loadCatalog().get("socat-linger-zero")!;
 * assert.deepEqual(hostBinaries(socat).map((b) => `${b.side} ${b.binary}`), ["client /usr/bin/socat"]);
 * const missing = { ...socat, client: { program: { binary: "/nonexistent/socat", args: [] } } };
 * assert.equal(hostBinaries(missing)[0]!.present, false);
 * ```
 */
export function hostBinaries(scenario: Scenario): HostBinary[] {
  return _hostSides(scenario).map(({ side, program }) => ({
    side,
    binary: program.binary,
    present: _isExecutable(program.binary),
  }));
}

/**
 * The scenarios whose programs of this host are all here (`run --all`); a
 * note of one line for each one left out.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadCatalog } from "../scenario/catalog.ts";
 * const seed = loadCatalog().get("seed")!;
 * const nginx = { ...seed, name: "upload", server: { program: { binary: "/nonexistent/nginx", args: [] } } };
 * const notes: string[] = [];
 * assert.deepEqual(runnableScenarios([seed, nginx], (n) => notes.push(n)).map((s) => s.name), ["seed"]);
 * assert.deepEqual(notes, ["skipped upload: /nonexistent/nginx is not on this host (install it to run this scenario)"]);
 * ```
 */
export function runnableScenarios(scenarios: Scenario[], note: (line: string) => void): Scenario[] {
  return scenarios.filter((scenario) => {
    const missing = hostBinaries(scenario).filter((b) => !b.present).map((b) => b.binary);
    if (missing.length > 0) {
      const are = missing.length > 1 ? "are" : "is";
      note(
        `skipped ${scenario.name}: ${
          missing.join(", ")
        } ${are} not on this host (install it to run this scenario)`,
      );
    }
    return missing.length === 0;
  });
}

/** Whether `path` is an executable file on this host. */
function _isExecutable(path: string): boolean {
  try {
    const info = Deno.statSync(path);
    return info.isFile && ((info.mode ?? 0) & 0o111) !== 0;
  } catch {
    return false;
  }
}
