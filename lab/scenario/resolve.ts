/**
 * Find the scenarios a command line names: catalog names, or paths to
 * scenario files.
 *
 * @module
 */

import { loadCatalog } from "./catalog.ts";
import { parseScenario } from "./parse.ts";
import type { Scenario } from "./types.ts";
import { UnknownScenarioError } from "../errors.ts";

/**
 * A catalog scenario by name, or a scenario file by path (anything with a
 * slash or ending in .yaml, .yml or .json). A malformed file throws the
 * parser's ScenarioError, naming the file, the place and what was expected.
 */
export async function resolveScenario(nameOrPath: string): Promise<Scenario> {
  const catalog = loadCatalog();
  const known = catalog.get(nameOrPath);
  if (known) return known;
  if (!/[/\\\\]|\.(ya?ml|json)$/i.test(nameOrPath)) {
    throw new UnknownScenarioError(
      `No scenario named "${nameOrPath}"; choose one of: ${
        [...catalog.keys()].join(", ")
      }, or give a scenario file's path`,
    );
  }
  let text: string;
  try {
    text = await Deno.readTextFile(nameOrPath);
  } catch (error) {
    const why = error instanceof Deno.errors.NotFound
      ? "no such file"
      : error instanceof Deno.errors.IsADirectory
      ? "it is a directory"
      : (error as Error).message;
    throw new UnknownScenarioError(`Cannot read the scenario file "${nameOrPath}": ${why}`);
  }
  return parseScenario(text, nameOrPath);
}
