/**
 * The plan of a run, without Docker: what each container is (name, image,
 * command, user, capabilities, volumes, sysctls, labels, network), where
 * each program runs, and each phase's bound.
 */
import assert from "node:assert/strict";
import { loadCatalog } from "../../lab/scenario/catalog.ts";
import type { Scenario } from "../../lab/scenario/types.ts";
import {
  DEFAULT_TIMEOUTS,
  HOLDER_CAPABILITIES,
  planContainers,
  planRun,
  subnetAddress,
} from "../../lab/run/plan.ts";

const catalog = loadCatalog();
const scenario = (name: string): Scenario => catalog.get(name)!;
const RUN = { runId: "0a1b2c3d4e", owner: "box:42" };
const ON_NETWORK = {
  image: "tcplab-endpoint:abc",
  addresses: { server: "10.200.5.2", client: "10.200.5.3" },
};
const LABELS = { tcplab: "1", "tcplab.run": "0a1b2c3d4e", "tcplab.owner": "box:42" };
const TCPDUMP = [
  "/usr/bin/tcpdump",
  "-i",
  "eth0",
  "-p",
  "-nn",
  "-U",
  "--immediate-mode",
  "--time-stamp-precision=nano",
  "-B",
  "16384",
  "-s",
  "262144",
  "-Z",
  "tcpdump",
  "-w",
];

Deno.test("the run's resources: named and labelled after the run", () => {
  const plan = planRun(scenario("seed"), RUN);
  assert.equal(plan.name, "tcplab-0a1b2c3d4e");
  assert.equal(plan.network, "tcplab-0a1b2c3d4e");
  assert.deepEqual(plan.labels, LABELS);
  assert.deepEqual(plan.volumes, {
    server: "tcplab-0a1b2c3d4e-server-cap",
    client: "tcplab-0a1b2c3d4e-client-cap",
  });
});

Deno.test("phase bounds: the command line's, then the scenario's, then the defaults", async (t) => {
  await t.step("defaults", () => {
    assert.deepEqual(planRun(scenario("seed"), RUN).timeouts, DEFAULT_TIMEOUTS);
  });
  const slow = { ...scenario("seed"), timeouts: { run: 60_000, flush: 20_000 } };
  await t.step("the scenario's over the defaults", () => {
    assert.deepEqual(planRun(slow, RUN).timeouts, { ...DEFAULT_TIMEOUTS, run: 60_000, flush: 20_000 });
  });
  await t.step("the command line's over the scenario's", () => {
    const plan = planRun(slow, { ...RUN, timeouts: { run: 5_000 } });
    assert.equal(plan.timeouts.run, 5_000);
    assert.equal(plan.timeouts.flush, 20_000);
  });
});

Deno.test("the lab's own steps: run by the holders, locked down", () => {
  const seed = scenario("seed");
  const plan = planRun(seed, RUN);
  assert.deepEqual(plan.programs, { server: "holder", client: "holder" });
  assert.equal(plan.serverReadiness, "listen-call");
  assert.equal(plan.sharedMoment, false);
  const { sides, environment } = planContainers(seed, plan, ON_NETWORK);
  assert.deepEqual(sides.server.holder, {
    name: "tcplab-0a1b2c3d4e-server-ns",
    image: "tcplab-endpoint:abc",
    cmd: [
      "hold",
      "--probe",
      "listen=61999",
      "--capture",
      ...TCPDUMP,
      "/cap/server.pcap",
      "--steps",
      ...sides.server.command.slice(1),
    ],
    labels: { ...LABELS, "tcplab.role": "server-ns" },
    attachment: { network: "tcplab-0a1b2c3d4e", ipv4: "10.200.5.2" },
    capAdd: HOLDER_CAPABILITIES,
    user: "0:0",
    volumes: { "/cap": "tcplab-0a1b2c3d4e-server-cap" },
    sysctls: { "net.ipv6.conf.all.disable_ipv6": "1", "net.ipv6.conf.default.disable_ipv6": "1" },
  });
  assert.deepEqual(sides.client.holder.attachment, { network: "tcplab-0a1b2c3d4e", ipv4: "10.200.5.3" });
  assert.equal(sides.server.program, null);
  assert.equal(sides.client.program, null);
  assert.deepEqual(sides.server.command.slice(0, 2), ["run", "listen=0.0.0.0:9999"]);
  assert.deepEqual(sides.client.command.slice(0, 2), ["run", "connect=10.200.5.2:9999"]);
  assert.deepEqual(
    environment.map((c) => [c.name, c.role, c.user]),
    [
      [
        "tcplab-0a1b2c3d4e-server-ns",
        "server namespace holder",
        "0:0; after starting tcpdump and the steps it keeps CAP_KILL only",
      ],
      [
        "tcplab-0a1b2c3d4e-server-ns",
        "server capture (tcpdump, started by the holder)",
        "0:0 until its socket is open, then 101:101 with no capabilities",
      ],
      ["tcplab-0a1b2c3d4e-server-ns", "server program (steps, started by the holder)", "65534:65534"],
      [
        "tcplab-0a1b2c3d4e-client-ns",
        "client namespace holder",
        "0:0; after starting tcpdump and the steps it keeps CAP_KILL only",
      ],
      [
        "tcplab-0a1b2c3d4e-client-ns",
        "client capture (tcpdump, started by the holder)",
        "0:0 until its socket is open, then 101:101 with no capabilities",
      ],
      ["tcplab-0a1b2c3d4e-client-ns", "client program (steps, started by the holder)", "65534:65534"],
    ],
  );
});

Deno.test("a scenario's sysctls go to its side's holder, the namespace's owner", () => {
  const base = scenario("seed");
  const tuned = { ...base, client: { ...base.client, sysctls: { "net.ipv4.tcp_fin_timeout": "5" } } };
  const { sides } = planContainers(tuned, planRun(tuned, RUN), ON_NETWORK);
  assert.equal(sides.client.holder.sysctls?.["net.ipv4.tcp_fin_timeout"], "5");
  assert.equal(sides.client.holder.sysctls?.["net.ipv6.conf.all.disable_ipv6"], "1");
  assert.equal(sides.server.holder.sysctls?.["net.ipv4.tcp_fin_timeout"], undefined);
});

Deno.test("a side without steps runs no program: nothing listens", () => {
  const refused = scenario("refused");
  const plan = planRun(refused, RUN);
  assert.deepEqual(plan.programs, { server: "none", client: "holder" });
  assert.equal(plan.serverReadiness, "none");
  const { sides, environment } = planContainers(refused, plan, ON_NETWORK);
  assert.deepEqual(sides.server.command, []);
  assert.deepEqual(sides.server.holder.cmd, [
    "hold",
    "--probe",
    "listen=61999",
    "--capture",
    ...TCPDUMP,
    "/cap/server.pcap",
  ]);
  assert.equal(environment.filter((c) => c.role.startsWith("server")).length, 2);
});

Deno.test("`at` steps: the programs get containers of their own, and the shared moment in their commands", () => {
  // Its steps without its path: the holders' commands here are those of two namespaces on one bridge.
  const { path: _path, ...simultaneous } = scenario("simultaneous-close");
  const plan = planRun(simultaneous, RUN);
  assert.equal(plan.sharedMoment, true);
  assert.deepEqual(plan.programs, { server: "container", client: "container" });
  const { sides, environment } = planContainers(simultaneous, plan, {
    ...ON_NETWORK,
    atBaseNs: 1_000_000_000n,
  });
  assert.deepEqual(sides.client.holder.cmd, [
    "hold",
    "--probe",
    "connect=10.200.5.2:61999",
    "--capture",
    ...TCPDUMP,
    "/cap/client.pcap",
  ]);
  assert.deepEqual(sides.client.program, {
    name: "tcplab-0a1b2c3d4e-client",
    image: "tcplab-endpoint:abc",
    cmd: ["run", "connect=10.200.5.2:9999", "at=2500000000", "close"],
    env: [],
    labels: { ...LABELS, "tcplab.role": "client" },
    attachment: { namespaceOf: "tcplab-0a1b2c3d4e-client-ns" },
    capAdd: [],
    user: "65534:65534",
  });
  assert.deepEqual(sides.client.command, sides.client.program?.cmd);
  assert.equal(environment.find((c) => c.role === "server program")?.name, "tcplab-0a1b2c3d4e-server");
});

Deno.test("a user's program: its own image and user, placeholders filled, readiness from the socket table", () => {
  const seed = scenario("seed");
  const mine: Scenario = {
    ...seed,
    server: {
      program: {
        image: "my-server:1",
        command: ["serve", "--port", "{port}"],
        env: { BIND: "{server}:{port}" },
      },
    },
  };
  const plan = planRun(mine, RUN);
  assert.equal(plan.programs.server, "container");
  assert.equal(plan.programs.client, "holder");
  assert.equal(plan.serverReadiness, "listening-socket");
  const { sides, environment } = planContainers(mine, plan, ON_NETWORK);
  assert.deepEqual(sides.server.program, {
    name: "tcplab-0a1b2c3d4e-server",
    image: "my-server:1",
    cmd: ["serve", "--port", "9999"],
    env: ["BIND=10.200.5.2:9999"],
    labels: { ...LABELS, "tcplab.role": "server" },
    attachment: { namespaceOf: "tcplab-0a1b2c3d4e-server-ns" },
    capAdd: [],
  });
  const entry = environment.find((c) => c.role === "server program");
  assert.deepEqual(entry, {
    name: "tcplab-0a1b2c3d4e-server",
    role: "server program",
    image: "my-server:1",
    user: "the image's own",
    capabilities: [],
  });
});

Deno.test("addresses in the run's /28", () => {
  assert.equal(subnetAddress("10.200.0.0/28", 2), "10.200.0.2");
  assert.equal(subnetAddress("10.200.255.240/28", 3), "10.200.255.243");
});

Deno.test("the probe of the path: the server's holder listens, the client's connects; a plan may skip it", () => {
  const seed = scenario("seed");
  const plan = planRun(seed, RUN);
  assert.equal(plan.probe, 61999);
  const { sides } = planContainers(seed, plan, ON_NETWORK);
  assert.deepEqual(sides.server.holder.cmd.slice(0, 3), ["hold", "--probe", "listen=61999"]);
  assert.deepEqual(sides.client.holder.cmd.slice(0, 3), ["hold", "--probe", "connect=10.200.5.2:61999"]);
  const skipped = planContainers(seed, { ...plan, probe: null }, ON_NETWORK);
  assert.deepEqual(skipped.sides.client.holder.cmd.slice(0, 2), ["hold", "--capture"]);
  assert.equal(planRun({ ...seed, port: 61999 }, RUN).probe, 61998);
});

Deno.test("a program of this host: traced by strace into a volume of its own, with a check first; or untraced, and why", async (t) => {
  const socat = scenario("socat-linger-zero");
  const images = { ...ON_NETWORK, programImages: { client: "tcplab-program-socat:abc" } };
  await t.step("traced", () => {
    const plan = planRun(socat, RUN);
    assert.deepEqual(plan.straceVolumes, { client: "tcplab-0a1b2c3d4e-client-strace" });
    assert.deepEqual(plan.untraced, {});
    const { sides, environment } = planContainers(socat, plan, images);
    const program = sides.client.program!;
    const [strace, ...rest] = program.cmd;
    assert.equal(strace, "/usr/bin/strace");
    const log = rest.indexOf("-o");
    assert.equal(rest[log + 1], "/tcplab-strace/calls.strace", "strace's log goes to its own file");
    assert.deepEqual(rest.slice(log + 2), sides.client.command, "then the program's command");
    assert.deepEqual(program.volumes, { "/tcplab-strace": "tcplab-0a1b2c3d4e-client-strace" });
    const check = sides.client.traceCheck!;
    assert.deepEqual(check.cmd, ["/usr/bin/strace", "-qq", "-o", "/dev/null", "/usr/bin/strace", "-V"]);
    assert.deepEqual(
      [check.image, check.user, check.capAdd, check.attachment],
      [program.image, program.user, [], program.attachment],
      "the check runs as the program will",
    );
    assert.ok(environment.some((c) => c.name === "tcplab-0a1b2c3d4e-client-trace-check"));
  });
  await t.step("--untraced", () => {
    const plan = planRun(socat, { ...RUN, untraced: true });
    assert.deepEqual(plan.straceVolumes, {});
    assert.deepEqual(plan.untraced, { client: "the run was untraced (`--untraced`)" });
    const { sides } = planContainers(socat, plan, images);
    assert.deepEqual(sides.client.program!.cmd, sides.client.command);
    assert.equal(sides.client.program!.volumes, undefined);
    assert.equal(sides.client.traceCheck, null);
  });
  await t.step("`trace: false`", () => {
    const client = socat.client as { program: { binary: string; args: string[] } };
    const off = { ...socat, client: { program: { ...client.program, trace: false } } };
    assert.deepEqual(planRun(off, RUN).untraced, { client: "the scenario says `trace: false`" });
  });
  await t.step(
    "ptrace refused in the check: the program runs untraced, the check stays in the environment",
    () => {
      const plan = planRun(socat, RUN);
      const why =
        "strace may not trace in its container (`ptrace(PTRACE_TRACEME, ...): Operation not permitted`)";
      const { sides, environment } = planContainers(socat, plan, { ...images, untraced: { client: why } });
      assert.deepEqual(sides.client.program!.cmd, sides.client.command);
      assert.ok(sides.client.traceCheck);
      assert.ok(environment.some((c) => c.name === "tcplab-0a1b2c3d4e-client-trace-check"));
    },
  );
  await t.step("no strace on this host: no check, untraced", () => {
    const plan = planRun(socat, RUN);
    const why = "this host has no strace to put in its image (apt-get install strace)";
    const { sides } = planContainers(socat, plan, { ...images, untraced: { client: why } });
    assert.deepEqual(sides.client.program!.cmd, sides.client.command);
    assert.equal(sides.client.traceCheck, null);
  });
});
