/**
 * `deno task lab list`: the shipped scenarios and what each shows.
 *
 * @module
 */

import { CATALOG } from "../scenario/catalog.ts";
import { EXIT, UsageError } from "./exit.ts";

/** Print the catalog: name, title, expected outcome. */
export function listCommand(args: string[]): number {
  if (args.length > 0) {
    throw new UsageError(`"list" takes no arguments, got "${args[0]}"`, "run: deno task lab list");
  }
  const width = Math.max(...[...CATALOG.keys()].map((name) => name.length));
  for (const scenario of CATALOG.values()) {
    const e = scenario.expect;
    const outcome = [e.state, e.resetBy ? `RST by ${e.resetBy}` : e.resetBy === null ? "no RST" : "", e.cause]
      .filter(Boolean).join(", ");
    console.log(
      `${scenario.name.padEnd(width)}  ${scenario.title}\n${" ".repeat(width)}  expects: ${outcome}`,
    );
  }
  return EXIT.ok;
}
