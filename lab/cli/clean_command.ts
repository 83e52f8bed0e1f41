/**
 * `deno task lab clean`: remove every container, network and volume
 * labelled for the lab, and the lab's tracefs instances.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { DockerClient, parseDockerHost } from "../shell/docker.ts";
import { removeTraceInstances } from "../shell/tracefs.ts";
import { EXIT, UsageError } from "./exit.ts";

/** Remove what the lab left behind and list it. */
export async function cleanCommand(args: string[]): Promise<number> {
  try {
    parseArgs({ args, strict: true, allowPositionals: false, options: {} });
  } catch (error) {
    throw new UsageError((error as Error).message, "run: deno task lab clean");
  }
  const docker = new DockerClient(parseDockerHost(Deno.env.get("DOCKER_HOST")));
  await docker.info();
  const resources = await docker.listLabelled();
  // Containers first: a network or volume in use cannot be removed.
  const order = { container: 0, volume: 1, network: 2 };
  resources.sort((a, b) => order[a.kind] - order[b.kind]);
  for (const kind of ["container", "volume", "network"] as const) {
    const batch = resources.filter((r) => r.kind === kind);
    await Promise.all(batch.map(async (r) => {
      await docker.removeResource(r);
      console.log(`removed ${r.kind} ${r.name}`);
    }));
  }
  for (const name of await removeTraceInstances(() => false)) {
    console.log(`removed tracefs instance ${name}`);
  }
  if (resources.length === 0) console.log("nothing to remove");
  return EXIT.ok;
}
