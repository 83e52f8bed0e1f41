/** The engine's answers mapped to the lab's types, and --host values read, without Docker. */
import assert from "node:assert/strict";
import { parseDockerHost, parseHostOption } from "../../lab/docker/host.ts";
import {
  toContainerInspection,
  toLabelledResources,
  toNetworkInspection,
} from "../../lab/docker/inspection.ts";
import { LabEnvironmentError } from "../../lab/errors.ts";

Deno.test("a container's inspect result: what the lab asked of it", () => {
  const c = toContainerInspection({
    Id: "c1",
    Name: "/tcplab-x-client",
    Config: { Image: "tcplab-endpoint:1", User: "65534:65534", Labels: { tcplab: "1" } },
    State: { Running: true, Pid: 4242 },
    HostConfig: {
      NetworkMode: "container:h1",
      CapAdd: null,
      CapDrop: ["ALL"],
      ReadonlyRootfs: true,
      SecurityOpt: ["no-new-privileges"],
      Memory: 67108864,
      PidsLimit: 16,
      Sysctls: null,
    },
    NetworkSettings: {
      Networks: { "tcplab-x": { IPAddress: "10.200.0.3", Gateway: "", MacAddress: "02:42" } },
    },
  });
  assert.deepEqual(c, {
    id: "c1",
    name: "tcplab-x-client",
    image: "tcplab-endpoint:1",
    user: "65534:65534",
    labels: { tcplab: "1" },
    running: true,
    pid: 4242,
    networkMode: "container:h1",
    capAdd: [],
    capDrop: ["ALL"],
    privileged: false,
    readonlyRootfs: true,
    securityOpt: ["no-new-privileges"],
    memoryBytes: 67108864,
    pidsLimit: 16,
    sysctls: {},
    networks: { "tcplab-x": { ipv4: "10.200.0.3", gateway: "", mac: "02:42" } },
  });
});

Deno.test("a network's inspect result: Internal, its subnet, its containers", () => {
  const n = toNetworkInspection({
    Id: "n1",
    Name: "tcplab-x",
    Driver: "bridge",
    Internal: true,
    IPAM: { Config: [{ Subnet: "10.200.0.0/28", Gateway: "10.200.0.1" }] },
    Containers: { c1: { IPv4Address: "10.200.0.2/28" } },
  });
  assert.equal(n.internal, true);
  assert.deepEqual(n.gateways, ["10.200.0.1"]);
  assert.deepEqual(n.containers, { c1: "10.200.0.2/28" });
  assert.deepEqual(n.labels, {});
});

Deno.test("labelled resources: containers, networks and volumes with their ages", () => {
  const found = toLabelledResources([], [], { Volumes: null });
  assert.deepEqual(found, []);
});

Deno.test("--host and DOCKER_HOST values", async (t) => {
  await t.step("a unix socket, with or without its scheme", () => {
    assert.deepEqual(parseDockerHost("/tmp/d.sock"), {
      label: "unix:///tmp/d.sock",
      socketPath: "/tmp/d.sock",
    });
    assert.deepEqual(parseHostOption("unix:///tmp/d.sock", {}).socketPath, "/tmp/d.sock");
  });
  await t.step("tcp:// with TLS from the environment", () => {
    const endpoint = parseHostOption("tcp://lab-2", { tlsVerify: "1", readCert: (name) => `PEM ${name}` });
    assert.deepEqual(endpoint.remote, {
      protocol: "https",
      host: "lab-2",
      port: 2376,
      ca: "PEM ca.pem",
      cert: "PEM cert.pem",
      key: "PEM key.pem",
    });
  });
  await t.step("ssh:// with the ssh-agent from the environment", () => {
    assert.deepEqual(parseHostOption("ssh://me@box:2222", { sshAgent: "/a.sock" }).remote, {
      protocol: "ssh",
      host: "box",
      port: 2222,
      username: "me",
      agent: "/a.sock",
    });
    assert.equal(parseHostOption("ssh://me@box", { sshAgent: "" }).remote?.agent, undefined);
  });
  await t.step("an unsupported scheme", () => {
    assert.throws(() => parseHostOption("http://x", {}), LabEnvironmentError);
    assert.throws(() => parseDockerHost("tcp://x:2375"), /talks to a unix socket/);
  });
});
