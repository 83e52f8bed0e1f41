/**
 * The scenarios the lab ships, one YAML file each in catalog/ (they are
 * also examples of the scenario file format). `seed` is the founding case.
 *
 * @module
 */

import { parseScenario } from "./parse.ts";
import type { Scenario } from "./types.ts";

const CATALOG_DIR = new URL("./catalog/", import.meta.url);

/** The scenario `deno task lab` runs without arguments. */
export const DEFAULT_SCENARIO = "seed";

let cached: ReadonlyMap<string, Scenario> | null = null;

/** Every shipped scenario, by name, in the order `lab list` shows them. */
export function loadCatalog(): ReadonlyMap<string, Scenario> {
  if (cached) return cached;
  const files = [...Deno.readDirSync(CATALOG_DIR)]
    .filter((e) => e.isFile && e.name.endsWith(".yaml"))
    .map((e) => e.name)
    .sort();
  const catalog = new Map<string, Scenario>();
  for (const file of files) {
    const text = Deno.readTextFileSync(new URL(file, CATALOG_DIR));
    const scenario = parseScenario(text, `lab/scenario/catalog/${file}`);
    scenario.source = "catalog";
    if (catalog.has(scenario.name)) throw new Error(`Two catalog scenarios are named "${scenario.name}"`);
    catalog.set(scenario.name, scenario);
  }
  cached = catalog;
  return catalog;
}
