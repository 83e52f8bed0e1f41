/**
 * Find what killed runs left behind. A run never lasts longer than its phase
 * timeouts, so a resource of the lab older than that is a leftover; younger
 * ones may belong to a run that is going on, in this process or another, and
 * are never touched.
 *
 * @module
 */

import type { DockerClient } from "./client.ts";
import { RUN_LABEL } from "./labels.ts";
import type { LabelledResource } from "./types.ts";

/** Anything of the lab older than this is a leftover (the default timeouts add up to under 4 minutes). */
export const LEFTOVER_AGE_MS = 10 * 60 * 1000;

/** Leftovers of dead runs, by run id. */
export interface Leftovers {
  runs: Map<string, LabelledResource[]>;
  count: number;
}

/** The lab's resources older than `ageMs`, grouped by run. */
export async function findLeftovers(
  docker: DockerClient,
  now = Date.now(),
  ageMs = LEFTOVER_AGE_MS,
): Promise<Leftovers> {
  const runs = new Map<string, LabelledResource[]>();
  let count = 0;
  for (const resource of await docker.listLabelled()) {
    if (!(now - resource.createdMs > ageMs)) continue;
    const run = resource.labels[RUN_LABEL] ?? "(no run id)";
    runs.set(run, [...(runs.get(run) ?? []), resource]);
    count++;
  }
  return { runs, count };
}

/** One line about leftovers, or null when there are none. */
export function describeLeftovers(leftovers: Leftovers): string | null {
  if (leftovers.count === 0) return null;
  const ids = [...leftovers.runs.keys()];
  return `found ${leftovers.count} container(s), network(s) or volume(s) of ${ids.length} earlier run(s) (${
    ids.slice(0, 5).join(", ")
  }${ids.length > 5 ? ", ..." : ""}) older than ${
    LEFTOVER_AGE_MS / 60000
  } minutes: leftovers of killed runs; remove them with "deno task lab clean"`;
}
