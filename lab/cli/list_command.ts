/**
 * `deno task lab list`: the shipped scenarios and what each shows.
 *
 * @module
 */

import { loadCatalog } from "../scenario/catalog.ts";
import { hostBinaries, type HostBinary } from "../run/host_programs.ts";
import type { Expectation } from "../scenario/types.ts";
import { UsageError } from "../errors.ts";
import { EXIT } from "./exit.ts";

/** Print the catalog: name, title, expected outcome, and the programs of this host a scenario runs. */
export function listCommand(args: string[]): number {
  if (args.length > 0) {
    throw new UsageError(`"list" takes no arguments, got "${args[0]}"`, "run: deno task lab list");
  }
  const catalog = loadCatalog();
  const width = Math.max(...[...catalog.keys()].map((name) => name.length));
  for (const scenario of catalog.values()) {
    console.log(`${scenario.name.padEnd(width)}  ${scenario.title}`);
    console.log(`${" ".repeat(width)}  expects: ${describeExpectation(scenario.expect)}`);
    const binaries = hostBinaries(scenario);
    if (binaries.length > 0) {
      console.log(`${" ".repeat(width)}  real programs: ${describeBinaries(binaries)}`);
    }
  }
  return EXIT.ok;
}

/** An expectation in a few words: "RSTO, RST by client, close-with-unread-data". */
export function describeExpectation(e: Expectation): string {
  const cause = Array.isArray(e.cause) ? e.cause.join(" or ") : e.cause;
  return [e.state, e.resetBy ? `RST by ${e.resetBy}` : e.resetBy === null ? "no RST" : "", cause]
    .filter(Boolean).join(", ");
}

/**
 * The programs of this host a scenario runs, the missing ones marked:
 * "/usr/bin/curl (client), /bin/busybox (server, MISSING on this host: run --all skips it)".
 */
export function describeBinaries(binaries: HostBinary[]): string {
  return binaries.map((b) =>
    `${b.binary} (${b.side}${b.present ? "" : ", MISSING on this host: run --all skips it"})`
  ).join(", ");
}
