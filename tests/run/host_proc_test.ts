/**
 * The engine's host's kernel files: a remote engine's are never read here,
 * and the lab says why. (A local engine's are read in
 * tests/e2e/host_kernel_test.ts and tests/lifecycle/broken_path_test.ts,
 * through the lab's tasks.) No request is sent: the endpoint alone decides, whatever kernel the engine reports.
 */
import assert from "node:assert/strict";
import { DockerClient } from "../../lab/docker/client.ts";
import { parseHostOption } from "../../lab/docker/host.ts";
import { brokenPathError } from "../../lab/run/path_probe.ts";
import { readHostBridgeSysctl, readHostKernelConfig } from "../../lab/run/host_proc.ts";

Deno.test("a remote engine: its kernel config and bridge sysctl are unknown, and the messages say why", async () => {
  const docker = new DockerClient(parseHostOption("tcp://lab-2.invalid:2375", {}));
  assert.deepEqual(await readHostKernelConfig(docker, "6.1.0"), {
    unreadable: "the Docker engine is on another host, whose kernel config the lab cannot read",
  });
  const sysctl = await readHostBridgeSysctl(docker, "6.1.0");
  assert.deepEqual(sysctl, {
    unreadable: "the Docker engine is on another host, whose /proc the lab cannot read",
  });
  assert.match(
    brokenPathError("10.200.0.2:61999", 4000, { bridgeNfCallIptables: sysctl, engineBridgeNfIptables: null })
      .message,
    /; the lab could not read bridge-nf-call-iptables: the Docker engine is on another host, whose \/proc the lab cannot read; /,
  );
});
