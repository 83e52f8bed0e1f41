/**
 * A scenario's programs of this host: checked before a run makes anything,
 * and their images (lab/docker/program_image.ts) made for the run.
 *
 * @module
 */

import { ensureProgramImage, type ProgramImage, programInputs } from "../docker/program_image.ts";
import { isHostProgram, isStepsSide, type Scenario, type Side, SIDES } from "../scenario/types.ts";
import type { Progress } from "../util/progress.ts";

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
 * path and what to do. Called before a run makes anything.
 */
export async function checkHostPrograms(scenario: Scenario): Promise<void> {
  for (const { side, program } of _hostSides(scenario)) {
    await programInputs(program, side, scenarioFolder(scenario));
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
