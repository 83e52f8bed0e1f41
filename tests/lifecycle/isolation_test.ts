/**
 * What users rely on for isolation, checked in real containers while a run
 * goes on: the containers' network namespaces reach nothing but the lab's
 * subnet, the host holds no address on the lab's bridge, the containers see
 * none of the host's interfaces, and every container is locked down as the
 * README says. Needs a running Docker daemon, and root: the namespaces are
 * read from the host, in /proc/PID/net (with cat: Deno wants --allow-all
 * for /proc), and the host's interfaces in /sys/class/net.
 *
 * No packet is sent by these tests: they read routing tables, interface
 * lists and the engine's inspect results.
 */
import assert from "node:assert/strict";
import { DockerClient } from "../../lab/docker/client.ts";
import { parseDockerHost } from "../../lab/docker/host.ts";
import { ensureImages } from "../../lab/docker/images.ts";
import type { ContainerInspection, NetworkInspection } from "../../lab/docker/inspection.ts";
import { LAB_LABEL, OWNER_LABEL, RUN_LABEL } from "../../lab/docker/labels.ts";
import type { ContainerHandle, ContainerSpec } from "../../lab/docker/types.ts";
import { HOLDER_CAPABILITIES } from "../../lab/run/plan.ts";
import { runScenario } from "../../lab/run/run_scenario.ts";
import { silentProgress } from "../../lab/util/progress.ts";
import { loadCatalog } from "../../lab/scenario/catalog.ts";
import {
  createRunNetwork,
  docker,
  dockerTest,
  hostCommand,
  hostFile,
  names,
  removeRun,
  testRunId,
} from "./_lab.ts";

// ---------------------------------------------------------------- what a namespace looks like

/** An IPv4 route of /proc/net/route. */
interface Route4 {
  iface: string;
  destination: string;
  gateway: string;
  flags: number;
}

/** An IPv6 route of /proc/net/ipv6_route. */
interface Route6 {
  iface: string;
  destination: string;
  prefixLength: number;
  flags: number;
}

const RTF_GATEWAY = 0x2;
const RTF_REJECT = 0x200;

/** /proc/net/route prints addresses as native 32-bit words: little-endian on the hosts the lab runs on. */
function ipv4FromProcHex(hex: string): string {
  const n = parseInt(hex, 16);
  return [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, n >>> 24].join(".");
}

function prefixLength(maskHex: string): number {
  let n = parseInt(maskHex, 16) >>> 0;
  let bits = 0;
  while (n) {
    bits += n & 1;
    n >>>= 1;
  }
  return bits;
}

/** The IPv4 routes of a /proc/net/route file. */
function parseRoutes4(text: string): Route4[] {
  return text.trim().split("\n").slice(1).filter((l) => l.trim() !== "").map((line) => {
    const [iface, destination, gateway, flags, , , , mask] = line.trim().split(/\s+/);
    return {
      iface: iface!,
      destination: `${ipv4FromProcHex(destination!)}/${prefixLength(mask!)}`,
      gateway: ipv4FromProcHex(gateway!),
      flags: parseInt(flags!, 16),
    };
  });
}

/** The IPv6 routes of a /proc/net/ipv6_route file. */
function parseRoutes6(text: string): Route6[] {
  return text.trim().split("\n").filter((l) => l.trim() !== "").map((line) => {
    const f = line.trim().split(/\s+/);
    return {
      iface: f[9]!,
      destination: f[0]!.replace(/(.{4})(?!$)/g, "$1:"),
      prefixLength: parseInt(f[1]!, 16),
      flags: parseInt(f[8]!, 16),
    };
  });
}

/** The interface names of a /proc/net/dev file. */
function parseDevices(text: string): string[] {
  return text.split("\n").slice(2).map((l) => l.split(":")[0]!.trim()).filter((n) => n !== "").sort();
}

/** The interfaces tcpdump -D lists that are network devices (pseudo-devices come with a description). */
function parseTcpdumpDevices(text: string): { devices: string[]; all: string[] } {
  const entries = text.split("\n").map((l) => /^\d+\.(\S+)( \(.*\))? \[.*\]$/.exec(l.trim())).filter((m) =>
    m !== null
  );
  return {
    devices: entries.filter((m) => !m[2]).map((m) => m[1]!).sort(),
    all: entries.map((m) => m[1]!).sort(),
  };
}

Deno.test("the /proc/net parsers read what the kernel prints", () => {
  const route = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n" +
    "eth0\t00000000\t01FAC80A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n" +
    "eth0\t00FAC80A\t00000000\t0001\t0\t0\t0\tF0FFFFFF\t0\t0\t0\n";
  assert.deepEqual(parseRoutes4(route), [
    { iface: "eth0", destination: "0.0.0.0/0", gateway: "10.200.250.1", flags: 3 },
    { iface: "eth0", destination: "10.200.250.0/28", gateway: "0.0.0.0", flags: 1 },
  ]);
  const v6 = "00000000000000000000000000000000 00 00000000000000000000000000000000 00 " +
    "00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n";
  assert.deepEqual(parseRoutes6(v6), [{
    iface: "lo",
    destination: "0000:0000:0000:0000:0000:0000:0000:0000",
    prefixLength: 0,
    flags: 0x200200,
  }]);
  const dev = "Inter-|   Receive |  Transmit\n face |bytes |bytes\n    lo: 0 0\n  eth0: 1516 18\n";
  assert.deepEqual(parseDevices(dev), ["eth0", "lo"]);
  const listed =
    "1.eth0 [Up, Running, Connected]\n2.any (Pseudo-device that captures on all interfaces) [Up, Running]\n" +
    "3.lo [Up, Running, Loopback]\n4.nflog (Linux netfilter log (NFLOG) interface) [none]\n";
  assert.deepEqual(parseTcpdumpDevices(listed), {
    devices: ["eth0", "lo"],
    all: ["any", "eth0", "lo", "nflog"],
  });
});

/** The host's interfaces: name, MAC address, IPv4 addresses. */
type HostInterface = { name: string; mac: string; ipv4: string[] };

/**
 * A namespace holder's network namespace, read from the host while the
 * holder runs; with its network and the host's interfaces at that time.
 */
interface NamespaceView {
  holder: ContainerInspection;
  network: NetworkInspection;
  engineApi: string;
  host: HostInterface[];
  /** The network's bridge on the host: its name, and its IPv4 addresses (null when it is not there). */
  bridge: { name: string; ipv4: string[] | null };
  routes4: Route4[];
  routes6: Route6[];
  /** IPv6 addresses: [address, scope, interface]. */
  addresses6: Array<[string, string, string]>;
  devices: string[];
  /** eth0's MAC address as the namespace's own sysfs shows it. */
  eth0Mac: string;
}

async function viewNamespace(docker: DockerClient, holder: ContainerInspection): Promise<NamespaceView> {
  assert.ok(holder.running && holder.pid > 0, `${holder.name} runs`);
  const proc = `/proc/${holder.pid}`;
  // The pid is the engine's: make sure it is the holder in this host's pid namespace.
  assert.match((await hostFile(`${proc}/cmdline`)).replaceAll("\0", " ").trim(), /^\/tcplab hold\b/);
  const network = await docker.inspectNetwork(holder.networkMode);
  assert.ok(network, `${holder.name}'s network ${holder.networkMode} exists`);
  const bridge = bridgeName(network);
  const host = await hostInterfaces();
  return {
    holder,
    network,
    engineApi: (await docker.info()).apiVersion,
    host,
    bridge: { name: bridge, ipv4: host.find((i) => i.name === bridge)?.ipv4 ?? null },
    routes4: parseRoutes4(await hostFile(`${proc}/net/route`)),
    routes6: parseRoutes6(await hostFile(`${proc}/net/ipv6_route`)),
    addresses6: (await hostFile(`${proc}/net/if_inet6`)).trim().split("\n").filter((l) => l !== "")
      .map((l) => {
        const f = l.trim().split(/\s+/);
        return [f[0]!, f[3]!, f[5]!] as [string, string, string];
      }),
    devices: parseDevices(await hostFile(`${proc}/net/dev`)),
    eth0Mac: (await hostFile(`${proc}/root/sys/class/net/eth0/address`)).trim(),
  };
}

/**
 * The host's interfaces: every one in /sys/class/net with its MAC address,
 * and the IPv4 addresses the kernel gives for it (getifaddrs, what
 * `ip -4 addr show` prints). No iproute2 needed.
 */
async function hostInterfaces(): Promise<HostInterface[]> {
  const listed = await hostCommand("sh", [
    "-c",
    'for i in /sys/class/net/*; do echo "${i##*/} $(cat "$i/address" 2>/dev/null)"; done',
  ]);
  const addresses = Deno.networkInterfaces().filter((a) => a.family === "IPv4");
  return listed.trim().split("\n").map((line) => {
    const [name = "", mac = ""] = line.split(" ");
    return { name, mac, ipv4: addresses.filter((a) => a.name === name).map((a) => a.address) };
  });
}

/** The bridge behind a bridge network: its name option, or Docker's default br-<id12>. */
function bridgeName(network: NetworkInspection): string {
  return network.options["com.docker.network.bridge.name"] ?? `br-${network.id.slice(0, 12)}`;
}

/** Every address in a /28 (or other IPv4 subnet) as a test. */
function inSubnet(subnet: string): (address: string) => boolean {
  const [base, bits] = subnet.split("/");
  const toInt = (a: string) => a.split(".").reduce((n, b) => (n << 8) + Number(b), 0) >>> 0;
  const mask = bits === "0" ? 0 : (~0 << (32 - Number(bits))) >>> 0;
  return (address) => ((toInt(address) & mask) >>> 0) === ((toInt(base!) & mask) >>> 0);
}

/**
 * (a) the namespace routes only the lab's subnet; (b) the host has no IPv4
 * address on the bridge, nor anywhere in the subnet; (c) the namespace has
 * lo and eth0 only, and its eth0 is the lab's endpoint, not a host interface.
 */
function assertIsolated(view: NamespaceView): void {
  const { network, engineApi, host } = view;
  const who = view.holder.name;
  const subnet = network.subnets[0]!;
  const endpoint = view.holder.networks[network.name];
  assert.ok(endpoint, `${who} is on ${network.name}`);

  // (a) IPv4: the subnet on eth0, and no route out (before engine API 1.44: none that leads anywhere).
  const own = view.routes4.filter((r) => r.destination !== "0.0.0.0/0");
  assert.deepEqual(
    own.map((r) => `${r.destination} dev ${r.iface} via ${r.gateway}`),
    [`${subnet} dev eth0 via 0.0.0.0`],
    `${who}: only the lab's subnet is routed`,
  );
  // No route out. Engines before API 1.44 (Docker 25, moby#46603) add a default route via the
  // network's gateway even on an Internal network; the lab's namespace holder deletes it at start.
  const defaults = view.routes4.filter((r) => r.destination === "0.0.0.0/0");
  assert.deepEqual(
    defaults,
    [],
    `${who}: no default route (engine API ${engineApi}; gateway ${endpoint.gateway})`,
  );
  assert.ok(
    !host.some((i) => i.ipv4.includes(endpoint.gateway)),
    `${who}: no host interface holds the gateway address ${endpoint.gateway}`,
  );
  // IPv6: nothing but the kernel's unreachable placeholders, no global address.
  const routes6 = view.routes6.filter((r) => (r.flags & RTF_REJECT) === 0);
  assert.ok(
    !routes6.some((r) => r.prefixLength === 0 || (r.flags & RTF_GATEWAY) !== 0),
    `${who}: no IPv6 route out: ${JSON.stringify(routes6)}`,
  );
  assert.ok(
    !view.addresses6.some(([, scope]) => scope === "00"),
    `${who}: no global IPv6 address: ${JSON.stringify(view.addresses6)}`,
  );

  // (b) The host holds no IPv4 address on the lab's bridge, nor in the lab's subnet anywhere.
  assert.ok(view.bridge.ipv4 !== null, `the bridge ${view.bridge.name} exists on the host`);
  assert.deepEqual(view.bridge.ipv4, [], `the host has no IPv4 address on ${view.bridge.name}`);
  const hostInSubnet = host.flatMap((i) => i.ipv4.filter(inSubnet(subnet)).map((a) => `${i.name} ${a}`));
  assert.deepEqual(hostInSubnet, [], `the host has no address in ${subnet}`);

  // (c) lo and eth0 only; eth0 is the lab's endpoint (the MAC the engine gave it), not the host's eth0.
  assert.deepEqual(view.devices, ["eth0", "lo"], `${who}: interfaces`);
  assert.equal(view.eth0Mac, endpoint.mac, `${who}: eth0 is the endpoint the engine made on ${network.name}`);
  assert.ok(!host.some((i) => i.mac === view.eth0Mac), `${who}: eth0 is not one of the host's interfaces`);
}

// ---------------------------------------------------------------- a run, watched from the engine

/**
 * The lab's DockerClient, watching a run from the engine's side: each
 * container is inspected once started, each holder's namespace read once
 * the captures start, and the network inspected, all while the run goes on.
 */
class WatchingDocker extends DockerClient {
  readonly started: ContainerInspection[] = [];
  readonly namespaces: NamespaceView[] = [];
  /** The holders started so far; their namespaces are read by {@link viewHolders}. */
  readonly holders: ContainerInspection[] = [];
  readonly networks: NetworkInspection[] = [];
  readonly problems: string[] = [];

  override async createNetwork(
    name: string,
    subnet: string,
    labels: Record<string, string>,
  ): Promise<string> {
    const id = await super.createNetwork(name, subnet, labels);
    const seen = await this.inspectNetwork(id);
    if (seen) this.networks.push(seen);
    return id;
  }

  override async createContainer(spec: ContainerSpec): Promise<ContainerHandle> {
    const handle = await super.createContainer(spec);
    const start = handle.start;
    handle.start = async () => {
      await start();
      try {
        const seen = await this.inspectContainer(handle.id);
        if (!seen) throw new Error(`${spec.name} is gone right after its start`);
        this.started.push(seen);
        if (spec.cmd[0] === "hold") this.holders.push(seen);
      } catch (error) {
        this.problems.push(`${spec.name}: ${(error as Error).message}`);
      }
    };
    return handle;
  }

  /**
   * Read each holder's namespace. Called at the run's "capture" moment: the
   * holders have deleted the default route (their first act) and taken their
   * first snapshot, and no program has begun.
   */
  async viewHolders(): Promise<void> {
    for (const holder of this.holders) this.namespaces.push(await viewNamespace(this, holder));
  }
}

Deno.test({
  name:
    "a run's namespaces route only the lab's subnet, see only lo and eth0, and the host has no address there",
  ...dockerTest,
  async fn() {
    const watching = new WatchingDocker(parseDockerHost(Deno.env.get("DOCKER_HOST")));
    const seed = loadCatalog().get("seed");
    assert.ok(seed, "the seed scenario is in the catalog");
    const artifacts = await runScenario(seed, {
      docker: watching,
      progress: silentProgress,
      at: (moment) => moment === "capture" ? watching.viewHolders() : undefined,
    });
    try {
      assert.deepEqual(watching.problems, []);
      assert.equal(watching.networks.length, 1, "one network per run");
      assert.equal(watching.namespaces.length, 2, "a namespace holder per side");
      for (const view of watching.namespaces) assertIsolated(view);
    } finally {
      assert.deepEqual(names(await docker.listLabelled(artifacts.runId)), [], "nothing of the run is left");
    }
  },
});

/** What the README promises of every container. */
function assertLockedDown(c: ContainerInspection, expectedCaps: string[]): void {
  const who = c.name;
  assert.deepEqual(c.capDrop, ["ALL"], `${who}: every capability dropped`);
  assert.deepEqual([...c.capAdd].sort(), [...expectedCaps].sort(), `${who}: capabilities added back`);
  assert.equal(c.privileged, false, `${who}: not privileged`);
  assert.equal(c.readonlyRootfs, true, `${who}: read-only root filesystem`);
  assert.ok(
    c.securityOpt.some((o) => /^no-new-privileges(:true|=true)?$/.test(o)),
    `${who}: no-new-privileges in ${c.securityOpt}`,
  );
  assert.ok(c.memoryBytes > 0 && c.memoryBytes <= 256 * 1024 * 1024, `${who}: memory limit ${c.memoryBytes}`);
  assert.ok(
    c.pidsLimit !== null && c.pidsLimit > 0 && c.pidsLimit <= 64,
    `${who}: pids limit ${c.pidsLimit}`,
  );
  assert.equal(c.labels[LAB_LABEL], "1", `${who}: labelled ${LAB_LABEL}`);
}

Deno.test({
  name: "every container of a run is locked down, and its network is Internal with inhibit_ipv4",
  ...dockerTest,
  async fn() {
    const watching = new WatchingDocker(parseDockerHost(Deno.env.get("DOCKER_HOST")));
    const seed = loadCatalog().get("seed")!;
    const artifacts = await runScenario(seed, {
      docker: watching,
      progress: silentProgress,
      at: (moment) => moment === "capture" ? watching.viewHolders() : undefined,
    });
    try {
      assert.deepEqual(watching.problems, []);
      const runId = artifacts.runId;
      const byRole = new Map(watching.started.map((c) => [c.labels["tcplab.role"] ?? "?", c]));
      assert.deepEqual(
        [...byRole.keys()].sort(),
        ["client-ns", "server-ns"],
        "the two containers of a run (each holder runs tcpdump and its side's steps), inspected while they ran",
      );
      const network = watching.networks[0]!;
      for (const [role, c] of byRole) {
        assert.equal(c.labels[RUN_LABEL], runId, `${c.name}: labelled with its run`);
        assert.match(
          c.labels[OWNER_LABEL] ?? "",
          new RegExp(`:${Deno.pid}$`),
          `${c.name}: labelled with its owner`,
        );
        if (role.endsWith("-ns")) {
          // The holder starts as root to delete the default route and start tcpdump and the steps,
          // then keeps CAP_KILL only (the next test looks at its processes).
          assertLockedDown(c, HOLDER_CAPABILITIES);
        } else {
          assertLockedDown(c, []);
          assert.equal(c.user, "65534:65534", `${c.name}: runs as nobody`);
        }
        const side = role.split("-")[0]!;
        if (role.endsWith("-ns")) {
          assert.equal(c.networkMode, network.name, `${c.name}: on the run's network`);
          assert.deepEqual(Object.keys(c.networks), [network.name], `${c.name}: on no other network`);
        } else {
          assert.equal(
            c.networkMode,
            `container:${byRole.get(`${side}-ns`)!.id}`,
            `${c.name}: in its holder's namespace`,
          );
        }
      }
      assert.equal(network.driver, "bridge");
      assert.equal(network.internal, true, "the network is Internal");
      assert.equal(network.options["com.docker.network.bridge.inhibit_ipv4"], "true", "inhibit_ipv4");
      assert.equal(network.enableIPv6, false, "no IPv6 on the network");
      assert.equal(network.labels[RUN_LABEL], runId);
    } finally {
      assert.deepEqual(names(await docker.listLabelled(artifacts.runId)), [], "nothing of the run is left");
    }
  },
});

// ---------------------------------------------------------------- from inside the namespace

Deno.test({
  name: "a program in a holder's namespace lists lo and eth0 and none of the host's interfaces (tcpdump -D)",
  ...dockerTest,
  async fn() {
    const images = await ensureImages(docker, silentProgress);
    const runId = testRunId("iso");
    const prefix = `tcplab-${runId}`;
    const labels = { [LAB_LABEL]: "1", [RUN_LABEL]: runId, [OWNER_LABEL]: `${Deno.hostname()}:${Deno.pid}` };
    try {
      const net = await createRunNetwork(prefix, labels);
      const holder = await docker.createContainer({
        name: `${prefix}-server-ns`,
        image: images.endpoint,
        cmd: ["hold"],
        labels: { ...labels, "tcplab.role": "server-ns" },
        attachment: { network: prefix, ipv4: net.address(2) },
        capAdd: HOLDER_CAPABILITIES,
        user: "0:0",
      });
      await holder.start();
      await holder.logs.waitFor("stdout", (t) => t.includes("=== tcplab-snapshot END 1"), 30_000, "snapshot");
      // The image's tcpdump, as the unprivileged user it runs as, no capability at all.
      const lister = await docker.createContainer({
        name: `${prefix}-server-list`,
        image: images.endpoint,
        entrypoint: ["/usr/bin/tcpdump"],
        cmd: ["-D"],
        labels: { ...labels, "tcplab.role": "server-list" },
        attachment: { namespaceOf: holder.id },
        capAdd: [],
        user: "101:101",
      });
      await lister.start();
      assert.equal(await lister.wait(), 0, `tcpdump -D: ${lister.logs.text("stderr")}`);
      await lister.logs.ended();
      const listed = parseTcpdumpDevices(lister.logs.text("stdout"));
      assert.deepEqual(listed.devices, ["eth0", "lo"], `devices in: ${lister.logs.text("stdout")}`);
      const hostNames = (await hostInterfaces()).map((i) => i.name).filter((n) => n !== "lo" && n !== "eth0");
      assert.deepEqual(listed.all.filter((n) => hostNames.includes(n)), [], "none of the host's interfaces");

      assertIsolated(await viewNamespace(docker, (await docker.inspectContainer(holder.id))!));
    } finally {
      await removeRun(runId);
      assert.deepEqual(names(await docker.listLabelled(runId)), []);
    }
  },
});

Deno.test({
  name:
    "inside a holder, tcpdump runs as uid 101 and the steps as nobody, with no capability; the holder keeps CAP_KILL",
  ...dockerTest,
  async fn() {
    const images = await ensureImages(docker, silentProgress);
    const runId = testRunId("procs");
    const prefix = `tcplab-${runId}`;
    const labels = { [LAB_LABEL]: "1", [RUN_LABEL]: runId, [OWNER_LABEL]: `${Deno.hostname()}:${Deno.pid}` };
    try {
      const net = await createRunNetwork(prefix, labels);
      await docker.createVolume(`${prefix}-server-cap`, labels);
      const holder = await docker.createContainer({
        name: `${prefix}-server-ns`,
        image: images.endpoint,
        cmd: [
          "hold",
          "--capture",
          ...["/usr/bin/tcpdump", "-i", "eth0", "-Z", "tcpdump", "-w", "/cap/server.pcap"],
          "--steps",
          "listen=0.0.0.0:9999",
          "accept",
        ],
        labels: { ...labels, "tcplab.role": "server-ns" },
        attachment: { network: prefix, ipv4: net.address(2) },
        capAdd: HOLDER_CAPABILITIES,
        user: "0:0",
        volumes: { "/cap": `${prefix}-server-cap` },
      });
      await holder.start();
      await holder.logs.waitFor("stderr", (t) => t.includes("listening on"), 30_000, "tcpdump listening");
      await holder.signal("SIGHUP");
      await holder.logs.waitFor(
        "stdout",
        (t) => /"ph":"enter"[^\n]*"call":"accept"/.test(t),
        30_000,
        "accept()",
      );

      // The host's view of the holder's processes: its own, and its children's.
      const holderPid = (await docker.inspectContainer(holder.id))!.pid;
      const processes = [await processStatus(holderPid), ...await childrenOf(holderPid)];
      const byName = new Map(processes.map((p) => [p.name, p]));
      assert.deepEqual(
        [...byName.keys()].sort(),
        ["tcpdump", "tcplab"],
        `processes: ${processes.map((p) => `${p.pid} ${p.name}`).join(", ")}`,
      );
      const [hold, steps] = processes.filter((p) => p.name === "tcplab");
      assert.equal(hold!.uid, 0, "the holder stays root...");
      assert.equal(hold!.capEff, 1n << 5n, "...with CAP_KILL only, to stop its children");
      assert.equal(byName.get("tcpdump")!.uid, 101, "tcpdump runs as its own user");
      assert.equal(byName.get("tcpdump")!.capEff, 0n, "tcpdump keeps no capability");
      assert.equal(steps!.uid, 65534, "the steps run as nobody");
      assert.equal(steps!.capEff, 0n, "the steps have no capability");
      assert.equal(steps!.capBnd & (1n << 12n), 1n << 12n, "(the bounding set is the container's)");
      assert.equal(steps!.noNewPrivs, 1, "the steps cannot gain privileges");

      // SIGQUIT stops the steps; the holder says so.
      await holder.signal("SIGQUIT");
      await holder.logs.waitFor(
        "stdout",
        (t) => t.includes("steps exited with status 137"),
        10_000,
        "steps killed",
      );
    } finally {
      await removeRun(runId);
      assert.deepEqual(names(await docker.listLabelled(runId)), []);
    }
  },
});

interface ProcessStatus {
  pid: number;
  name: string;
  uid: number;
  capEff: bigint;
  capBnd: bigint;
  noNewPrivs: number;
}

// Deno asks for --allow-all before it reads /proc/PID: cat reads it.
async function processStatus(pid: number): Promise<ProcessStatus> {
  const text = await hostFile(`/proc/${pid}/status`);
  const field = (name: string) => new RegExp(`^${name}:\\s*(\\S+)`, "m").exec(text)?.[1] ?? "";
  return {
    pid,
    name: field("Name"),
    uid: Number(field("Uid")),
    capEff: BigInt(`0x${field("CapEff")}`),
    capBnd: BigInt(`0x${field("CapBnd")}`),
    noNewPrivs: Number(field("NoNewPrivs")),
  };
}

async function childrenOf(pid: number): Promise<ProcessStatus[]> {
  const children = (await hostFile(`/proc/${pid}/task/${pid}/children`)).trim().split(/\s+/).filter(Boolean);
  return await Promise.all(children.map((child) => processStatus(Number(child))));
}
