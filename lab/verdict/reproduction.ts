/**
 * What reproduces a run from its report alone: the lab's version, the
 * scenario file's text (saved as scenario.yaml in the run's folder and
 * embedded in the report) and a command that names no path of the machine
 * that ran it.
 *
 * @module
 */

import type { Scenario } from "../scenario/types.ts";
import { LAB_VERSION } from "../version.ts";

/** The name a run's scenario file has in its folder (JSON is YAML too). */
export const SCENARIO_FILE = "scenario.yaml";

/** What reproduces a run. */
export interface Reproduction {
  /** The version of the lab that ran it. */
  labVersion: string;
  /** The command, run at the root of a clone of the lab: `./tcplab run NAME` or `./tcplab run scenario.yaml`. */
  command: string;
  /** Whether the command names the catalog's scenario (true) or the saved file. */
  fromCatalog: boolean;
  /** The scenario file's text as written (null when the run did not keep it). */
  scenarioText: string | null;
}

/**
 * How a scenario's run is reproduced: a catalog scenario by its name, a
 * scenario file of one's own by the copy saved beside the report.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadCatalog } from "../scenario/catalog.ts";
 * const seed = loadCatalog().get("seed")!;
 * assert.equal(reproductionOf(seed).command, "./tcplab run seed");
 * const mine = { ...seed, source: "/home/me/cases/mine.yaml" };
 * assert.equal(reproductionOf(mine).command, "./tcplab run scenario.yaml");
 * assert.equal(reproductionOf(mine).scenarioText, seed.text);
 * ```
 */
export function reproductionOf(scenario: Scenario): Reproduction {
  const fromCatalog = !scenario.source || scenario.source === "catalog";
  return {
    labVersion: LAB_VERSION,
    command: `./tcplab run ${fromCatalog ? scenario.name : SCENARIO_FILE}`,
    fromCatalog,
    scenarioText: scenario.text ?? null,
  };
}
