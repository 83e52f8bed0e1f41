/**
 * A second Docker daemon on this machine, standing in for another host or
 * for a host set up differently (tests/matrix, tests/lifecycle).
 *
 * @module
 */

import { DockerClient } from "../lab/docker/client.ts";
import { parseDockerHost } from "../lab/docker/host.ts";

/**
 * Start a second dockerd (its own socket, data root, exec root and pidfile,
 * --bridge=none, an address pool disjoint from the first's, its output in a
 * log file), with `extraArgs` after those; returns its socket and a function
 * that stops it and removes its files.
 */
export async function secondDaemon(
  extraArgs: string[] = [],
): Promise<{ socket: string; stop: () => Promise<void> }> {
  const dir = await Deno.makeTempDir({ prefix: "tcplab-d2-" });
  const socket = `${dir}/docker.sock`;
  const log = await Deno.open(`${dir}/dockerd.log`, { write: true, create: true });
  const daemon = new Deno.Command("dockerd", {
    args: [
      `--host=unix://${socket}`,
      `--data-root=${dir}/data`,
      `--exec-root=${dir}/exec`,
      `--pidfile=${dir}/docker.pid`,
      "--bridge=none",
      "--default-address-pool=base=10.210.0.0/16,size=24",
      ...extraArgs,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // Its output goes to the log file, never to the test's output.
  daemon.stdout.pipeTo(log.writable, { preventClose: true }).catch(() => {});
  daemon.stderr.pipeTo((await Deno.open(`${dir}/dockerd.err.log`, { write: true, create: true })).writable)
    .catch(() => {});
  const stop = async () => {
    try {
      daemon.kill("SIGTERM");
    } catch {
      // already gone
    }
    await daemon.status;
    log.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  const engine = new DockerClient(parseDockerHost(`unix://${socket}`), { answerTimeoutMs: 2_000 });
  for (let i = 0; i < 100; i++) {
    try {
      await engine.info();
      return { socket, stop };
    } catch {
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  await stop();
  throw new Error("the second dockerd did not start");
}
