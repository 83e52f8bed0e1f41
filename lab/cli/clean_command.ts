/**
 * `deno task lab clean [--run ID]...`: remove every container, volume and
 * network labelled for the lab (or for the named runs only), then the lab's
 * tracefs instances, and list what was removed (lab/session/clean.ts).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { UsageError } from "../errors.ts";
import { cleanLab } from "../session/clean.ts";
import { EXIT } from "./exit.ts";

/** Remove what the lab left behind and list it. */
export async function cleanCommand(args: string[]): Promise<number> {
  const runs = parseCleanArgs(args);
  const removed = await cleanLab(runs, (line) => console.log(line));
  if (removed === 0) console.log("nothing to remove");
  return EXIT.ok;
}

/**
 * The run ids to clean (none: everything of the lab). A run id is what
 * follows "tcplab-" in the names of a run's network and containers.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(parseCleanArgs([]), []);
 * assert.deepEqual(parseCleanArgs(["--run", "3f9a0c1b2d", "--run=0a1b2c3d4e"]), ["3f9a0c1b2d", "0a1b2c3d4e"]);
 * assert.throws(() => parseCleanArgs(["--run", "../x"]), /not a run id/);
 * ```
 */
export function parseCleanArgs(args: string[]): string[] {
  let runs: string[];
  try {
    const { values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: { run: { type: "string", multiple: true } },
    });
    runs = values.run ?? [];
  } catch (error) {
    throw new UsageError((error as Error).message, 'see "deno task lab clean --help"', { cause: error });
  }
  for (const run of runs) {
    // The same characters as the lab's tracefs instance names ("tcplab-" + at most 57).
    if (!/^[a-z0-9][a-z0-9-]{0,56}$/.test(run)) {
      throw new UsageError(
        `"${run}" is not a run id`,
        'a run id is what follows "tcplab-" in the names of a run\'s network and containers, e.g. ' +
          "deno task lab clean --run 3f9a0c1b2d",
      );
    }
  }
  return runs;
}
