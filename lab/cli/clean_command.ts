/**
 * `deno task lab clean [--run ID]...`: remove every container, volume and
 * network labelled for the lab (or for the named runs only), then the lab's
 * tracefs instances, and list what was removed.
 *
 * Containers go first, and each removal returns only once the resource is
 * gone (a removal someone else started is waited for), so that the volumes
 * and then the networks they used are free. A resource created meanwhile,
 * by a run that was still in progress, is picked up by another round; what
 * cannot be removed is named, with exit code 2.
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  DockerClient,
  type LabelledResource,
  LabEnvironmentError,
  parseDockerHost,
} from "../shell/docker.ts";
import { removeTraceInstances } from "../shell/tracefs.ts";
import { EXIT, UsageError } from "./exit.ts";

/** How many times the resources are listed and removed before what is left counts as a failure. */
const ROUNDS = 3;
/** The pause between rounds, in ms, for removals that were in progress elsewhere. */
const ROUND_PAUSE_MS = 500;

/** Remove what the lab left behind and list it. */
export async function cleanCommand(args: string[]): Promise<number> {
  const runs = parseCleanArgs(args);
  const docker = new DockerClient(parseDockerHost(Deno.env.get("DOCKER_HOST")));
  await docker.info();
  const say = (line: string) => console.log(line);
  const removed = await removeLabelled(docker, runs, say);
  const instances = await removeTraceInstances((name) =>
    runs.length > 0 && !runs.some((run) => name === `tcplab-${run}`)
  );
  for (const name of instances) say(`removed tracefs instance ${name}`);
  if (removed === 0 && instances.length === 0) say("nothing to remove");
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
    throw new UsageError((error as Error).message, "run: deno task lab clean [--run ID]...");
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

/**
 * Remove the lab's containers, then volumes, then networks (of `runs` only,
 * when some are named), in rounds until none is left; say each removal.
 * Returns how many were removed; throws when some could not be.
 */
async function removeLabelled(
  docker: DockerClient,
  runs: string[],
  say: (line: string) => void,
): Promise<number> {
  const list = async () =>
    runs.length === 0
      ? await docker.listLabelled()
      : (await Promise.all(runs.map((run) => docker.listLabelled(run)))).flat();
  let removed = 0;
  let failures: Array<{ resource: LabelledResource; error: unknown }> = [];
  for (let round = 0; round < ROUNDS; round++) {
    if (round > 0 && failures.length > 0) await new Promise((r) => setTimeout(r, ROUND_PAUSE_MS));
    const resources = await list();
    if (resources.length === 0) return removed;
    failures = [];
    for (const kind of ["container", "volume", "network"] as const) {
      await Promise.all(
        resources.filter((r) => r.kind === kind).map(async (resource) => {
          try {
            await docker.removeResource(resource);
            removed++;
            say(`removed ${resource.kind} ${resource.name}`);
          } catch (error) {
            failures.push({ resource, error });
          }
        }),
      );
    }
  }
  const left = await list();
  if (left.length === 0) return removed;
  const names = left.slice(0, 3).map((r) => `${r.kind} ${r.name}`).join(", ") +
    (left.length > 3 ? ` and ${left.length - 3} more` : "");
  const why = failures[0] ? String((failures[0].error as Error)?.message ?? failures[0].error) : null;
  throw new LabEnvironmentError(
    `Cannot remove ${left.length} of the lab's resources (${names}): ${
      why ?? "they were created again while being removed, so a run is still in progress"
    }`,
    'stop the lab runs still in progress, then run "deno task lab clean" again',
    { cause: failures[0]?.error },
  );
}
