/**
 * Removing what the lab left behind: every container, volume and network
 * labelled for the lab (or for the named runs only), then the lab's
 * tracefs instances.
 *
 * Containers go first, and each removal returns only once the resource is
 * gone (a removal someone else started is waited for), so that the volumes
 * and then the networks they used are free. A resource created meanwhile,
 * by a run that was still in progress, is picked up by another round; what
 * cannot be removed is named, with exit code 2.
 *
 * @module
 */

import { DockerClient } from "../docker/client.ts";
import { parseDockerHost } from "../docker/host.ts";
import type { LabelledResource } from "../docker/types.ts";
import { LabEnvironmentError } from "../errors.ts";
import { removeTraceInstances } from "../run/tracefs.ts";

/** How many times the resources are listed and removed before what is left counts as a failure. */
const ROUNDS = 3;
/** The pause between rounds, in ms, for removals that were in progress elsewhere. */
const ROUND_PAUSE_MS = 500;

/**
 * Remove what the lab left behind on the engine DOCKER_HOST names (of
 * `runs` only, when some are named), then its tracefs instances; say each
 * removal. Returns how many things were removed; throws when some could not be.
 */
export async function cleanLab(runs: string[], say: (line: string) => void): Promise<number> {
  const docker = new DockerClient(parseDockerHost(Deno.env.get("DOCKER_HOST")));
  await docker.info();
  const removed = await _removeLabelled(docker, runs, say);
  const instances = await removeTraceInstances((name) =>
    runs.length > 0 && !runs.some((run) => name === `tcplab-${run}`)
  );
  for (const name of instances) say(`removed tracefs instance ${name}`);
  return removed + instances.length;
}

/**
 * Remove the lab's containers, then volumes, then networks (of `runs` only,
 * when some are named), in rounds until none is left; say each removal.
 * Returns how many were removed; throws when some could not be.
 */
async function _removeLabelled(
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
