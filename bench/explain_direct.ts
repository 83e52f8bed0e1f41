/**
 * `lab explain` without the rest of the lab: the same command
 * (lab/cli/explain_command.ts), started without lab/main.ts, which loads
 * the Docker client for every command. The benchmark times both, to show
 * what the analysis itself costs.
 *
 *     deno run --allow-read bench/explain_direct.ts FILE [OPTIONS]
 *
 * @module
 */

import { explainCommand } from "../lab/cli/explain_command.ts";

if (import.meta.main) {
  try {
    Deno.exit(await explainCommand(Deno.args));
  } catch (error) {
    const e = error as Error & { hint?: string };
    console.error(`tcplab: ${e.message}${e.hint ? `\n  what to do: ${e.hint}` : ""}`);
    Deno.exit(2);
  }
}
