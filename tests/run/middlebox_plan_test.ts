/**
 * The plan of a run whose scenario has a `path:`: a third container, the
 * middlebox, on the run's network; each side routes the other's address
 * through it; its rules as iptables commands. Without `path:`, nothing of it.
 */
import assert from "node:assert/strict";
import { loadCatalog } from "../../lab/scenario/catalog.ts";
import { parseScenario } from "../../lab/scenario/parse.ts";
import {
  MIDDLEBOX_CAPABILITIES,
  natCommands,
  pathRuleCommands,
  planContainers,
  planRun,
  ruleListings,
  shaperCommands,
} from "../../lab/run/plan.ts";

const RUN = { runId: "0a1b2c3d4e", owner: "box:42" };
const ADDRESSES = { server: "10.200.5.2", client: "10.200.5.3" };
const catalog = loadCatalog();

Deno.test("a scenario with a path: a middlebox, and each side routes the other's /32 through it", () => {
  const scenario = catalog.get("firewall-reset")!;
  const plan = planRun(scenario, RUN);
  assert.deepEqual(plan.middlebox, {
    volume: "tcplab-0a1b2c3d4e-middlebox-cap",
    rules: scenario.path!.rules,
    nat: false,
    sysctls: {},
  });
  const made = planContainers(scenario, plan, {
    image: "tcplab-endpoint:abc",
    addresses: ADDRESSES,
    middlebox: { image: "tcplab-middlebox:def", address: "10.200.5.4" },
  });
  assert.deepEqual(made.sides.client.holder.cmd.slice(0, 3), ["hold", "--route", "10.200.5.2=10.200.5.4"]);
  assert.deepEqual(made.sides.server.holder.cmd.slice(0, 3), ["hold", "--route", "10.200.5.3=10.200.5.4"]);
  const box = made.middlebox!;
  assert.equal(box.name, "tcplab-0a1b2c3d4e-middlebox");
  assert.equal(box.image, "tcplab-middlebox:def");
  assert.deepEqual(box.attachment, { network: "tcplab-0a1b2c3d4e", ipv4: "10.200.5.4" });
  assert.deepEqual(box.volumes, { "/cap": "tcplab-0a1b2c3d4e-middlebox-cap" });
  assert.equal(box.cmd.at(-1), "/cap/middlebox.pcap");
  assert.deepEqual(box.capAdd, MIDDLEBOX_CAPABILITIES);
  assert.ok(box.capAdd.includes("NET_ADMIN"));
  assert.equal(box.sysctls?.["net.ipv4.ip_forward"], "1");
  assert.equal(box.sysctls?.["net.ipv4.conf.all.send_redirects"], "0");
  assert.equal(box.sysctls?.["net.ipv4.conf.eth0.send_redirects"], "0");
  const record = made.environment.find((c) => c.name === box.name)!;
  assert.match(record.user, /keeps NET_ADMIN/);
});

Deno.test("a scenario without a path: two containers, no route, no middlebox", () => {
  const seed = catalog.get("seed")!;
  const plan = planRun(seed, RUN);
  assert.equal("middlebox" in plan, false);
  const made = planContainers(seed, plan, { image: "tcplab-endpoint:abc", addresses: ADDRESSES });
  assert.equal(made.middlebox, undefined);
  assert.ok(!made.sides.client.holder.cmd.includes("--route"));
  assert.equal(made.environment.length, 6);
});

Deno.test("a planned middlebox needs its image and address", () => {
  const scenario = catalog.get("firewall-reset")!;
  assert.throws(
    () => planContainers(scenario, planRun(scenario, RUN), { image: "x", addresses: ADDRESSES }),
    TypeError,
  );
});

Deno.test("path rules as iptables commands: blackhole drops everything, reject answers TCP with a reset", () => {
  const [reject, blackhole] = pathRuleCommands(
    [
      { to: "server", action: "reject-tcp-reset", fromMs: 500, untilMs: null },
      { to: "client", action: "blackhole", fromMs: 0, untilMs: 2000 },
    ],
    ADDRESSES,
    9999,
  );
  assert.deepEqual(reject!.add.slice(2), [
    "-A",
    "FORWARD",
    "-d",
    "10.200.5.2/32",
    "-p",
    "tcp",
    "-m",
    "comment",
    "--comment",
    "tcplab-path-1",
    "-j",
    "REJECT",
    "--reject-with",
    "tcp-reset",
  ]);
  assert.deepEqual(blackhole!.add.slice(3), [
    "FORWARD",
    "-d",
    "10.200.5.3/32",
    "-m",
    "comment",
    "--comment",
    "tcplab-path-2",
    "-j",
    "DROP",
  ]);
  assert.deepEqual(blackhole!.delete.slice(2, 4), ["-D", "FORWARD"]);
  assert.equal(blackhole!.untilMs, 2000);
});

Deno.test("path: in a scenario file, and what it refuses", () => {
  const base = "name: p\ntitle: t\nserver: { steps: [listen] }\nclient: { steps: [connect] }\n" +
    "expect: { state: SF }\n";
  const parsed = parseScenario(
    `${base}path:\n  - { to: server, reject: tcp-reset, from-ms: 500 }\n`,
    "p.yaml",
  );
  assert.deepEqual(parsed.path, {
    rules: [{ to: "server", action: "reject-tcp-reset", fromMs: 500, untilMs: null }],
  });
  assert.deepEqual(
    parseScenario(`${base}path:\n  - { to: server, drop: { flags: FIN, count: 1 } }\n`, "p.yaml").path,
    {
      rules: [{
        to: "server",
        action: "drop-first",
        fromMs: 0,
        untilMs: null,
        segments: { flag: "FIN", skip: 0, count: 1 },
      }],
    },
  );
  const bad = [
    "path:\n  - { to: server, drop: { flags: FIN, count: 0 } }\n",
    "path:\n  - { to: server, drop: { flags: PSH, skip: -1 } }\n",
    "path:\n  - { to: server, drop: { flags: FOO } }\n",
    "path:\n  - { to: server, drop: { count: 1 } }\n",
    "path:\n  - { to: server, drop: { flags: FIN }, blackhole: true }\n",
    "path: {}\n",
    "path: { nat: snat }\n",
    "path: { nat: masquerade, sysctls: { net.ipv4.ip_forward: 0 } }\n",
    "path: { sysctls: { net.netfilter.nf_conntrack_tcp_loose: 0 } }\n",
    "path:\n  - { to: server, reject: icmp-port-unreachable }\n",
    "path: []\n",
    "path:\n  - { to: server }\n",
    "path:\n  - { to: server, blackhole: true, reject: tcp-reset }\n",
    "path:\n  - { to: middle, blackhole: true }\n",
    "path:\n  - { to: server, blackhole: yes please }\n",
    "path:\n  - { to: server, blackhole: true, from-ms: 900, until-ms: 100 }\n",
  ];
  for (const text of bad) assert.throws(() => parseScenario(base + text, "p.yaml"), SyntaxError, text);
});

Deno.test("a NAT on the path: MASQUERADE of the client's address, INVALID dropped, conntrack's sysctls in the middlebox", () => {
  const scenario = catalog.get("nat-idle-expiry")!;
  const plan = planRun(scenario, RUN);
  assert.equal(plan.middlebox?.nat, true);
  assert.deepEqual(plan.middlebox?.rules, []);
  const box = planContainers(scenario, plan, {
    image: "tcplab-endpoint:abc",
    addresses: ADDRESSES,
    middlebox: { image: "tcplab-middlebox:def", address: "10.200.5.4" },
  }).middlebox!;
  assert.equal(box.sysctls?.["net.netfilter.nf_conntrack_tcp_timeout_established"], "1");
  assert.equal(box.sysctls?.["net.netfilter.nf_conntrack_tcp_loose"], "0");
  assert.equal(box.sysctls?.["net.ipv4.ip_forward"], "1");
  const [nat, invalid] = natCommands(ADDRESSES);
  assert.deepEqual(nat!.add.slice(2), [
    "-t",
    "nat",
    "-A",
    "POSTROUTING",
    "-s",
    "10.200.5.3/32",
    "-d",
    "10.200.5.2/32",
    "-m",
    "comment",
    "--comment",
    "tcplab-nat",
    "-j",
    "MASQUERADE",
  ]);
  // First in FORWARD, before any rule of the scenario's.
  assert.deepEqual(invalid!.add.slice(2, 4), ["-I", "FORWARD"]);
  assert.deepEqual(invalid!.add.slice(-7), [
    "INVALID",
    "-m",
    "comment",
    "--comment",
    "tcplab-invalid",
    "-j",
    "DROP",
  ]);
  assert.deepEqual([nat!.fromMs, nat!.untilMs, invalid!.fromMs, invalid!.untilMs], [0, null, 0, null]);
  assert.deepEqual(ruleListings(true).map((l) => l.slice(2).join(" ")), [
    "-L FORWARD -v -x -n",
    "-t nat -L POSTROUTING -v -x -n",
  ]);
  assert.equal(ruleListings(false).length, 1);
});

Deno.test("path: as a mapping, with nat, conntrack's sysctls and rules; an ICMP reject", () => {
  const base = "name: p\ntitle: t\nserver: { steps: [listen] }\nclient: { steps: [connect] }\n" +
    "expect: { state: SF }\n";
  const parsed = parseScenario(
    `${base}path:\n  nat: masquerade\n  sysctls: { net.netfilter.nf_conntrack_tcp_timeout_established: 2 }\n` +
      "  rules:\n    - { to: server, reject: icmp-host-unreachable }\n",
    "p.yaml",
  );
  assert.deepEqual(parsed.path, {
    rules: [{ to: "server", action: "reject-icmp-host-unreachable", fromMs: 0, untilMs: null }],
    nat: "masquerade",
    sysctls: { "net.netfilter.nf_conntrack_tcp_timeout_established": "2" },
  });
  const [icmp] = pathRuleCommands(parsed.path!.rules, ADDRESSES, 9999);
  assert.deepEqual(icmp!.add.slice(-4), ["-j", "REJECT", "--reject-with", "icmp-host-unreachable"]);
  // Any packet to the server, not TCP alone: the ICMP answers whatever it rejects.
  assert.ok(!icmp!.add.includes("-p"));
});

Deno.test("a drop of segments with a flag: one rule per segment, each letting `skip` through first", () => {
  const rules = pathRuleCommands(
    [
      {
        to: "client",
        action: "drop-first",
        fromMs: 0,
        untilMs: null,
        segments: { flag: "PSH", skip: 1, count: 2 },
      },
    ],
    ADDRESSES,
    9999,
  );
  assert.equal(rules.length, 2);
  for (const rule of rules) {
    const add = rule.add.join(" ");
    assert.match(add, /-d 10\.200\.5\.3\/32 -p tcp --sport 9999 --tcp-flags PSH PSH /);
    assert.match(add, /-m statistic --mode nth --every 1000000 --packet 1 /);
    assert.match(add, /--comment tcplab-path-1 -j DROP$/);
    assert.deepEqual(rule.delete.slice(3), rule.add.slice(3));
  }
});

Deno.test("a loss on the path: one rule, the connection's packets to the side dropped at random", () => {
  const [rule, ...more] = pathRuleCommands(
    [{ to: "server", action: "loss", fromMs: 0, untilMs: 3000, lossPercent: 5 }],
    ADDRESSES,
    8080,
  );
  assert.equal(more.length, 0);
  assert.equal(
    rule!.add.slice(3).join(" "),
    "FORWARD -d 10.200.5.2/32 -p tcp --dport 8080 -m statistic --mode random --probability 0.05 " +
      "-m comment --comment tcplab-path-1 -j DROP",
  );
  assert.deepEqual(rule!.delete.slice(3), rule!.add.slice(3));
  assert.equal(rule!.untilMs, 3000);
  const catalogued = catalog.get("lossy-upload")!;
  assert.deepEqual(catalogued.path!.rules, [
    { to: "server", action: "loss", fromMs: 0, untilMs: null, lossPercent: 20 },
  ]);
  assert.equal(pathRuleCommands(catalogued.path!.rules, ADDRESSES, 9999).length, 1);
  assert.equal(ruleListings(false, false).length, 1);
});

Deno.test("a rate on the path: no iptables rule; an HTB class per rate with a TBF, a filter by destination", () => {
  const rules = [
    { to: "server" as const, action: "blackhole" as const, fromMs: 900, untilMs: null },
    {
      to: "client" as const,
      action: "rate" as const,
      fromMs: 100,
      untilMs: 2000,
      rate: { kbit: 512, burstBytes: 8192 },
    },
  ];
  assert.deepEqual(pathRuleCommands(rules, ADDRESSES, 9999).map((r) => r.comment), ["tcplab-path-1"]);
  const shaper = shaperCommands(rules, ADDRESSES);
  assert.deepEqual(shaper.setup.map((c) => c.slice(1).join(" ")), [
    "qdisc add dev eth0 root handle 1: htb",
    "class add dev eth0 parent 1: classid 1:2 htb rate 10gbit quantum 60000",
    "qdisc add dev eth0 parent 1:2 tbf rate 512kbit burst 8192 latency 1000ms",
  ]);
  assert.deepEqual(
    shaper.rules.map((r) => [r.comment, r.add.slice(1).join(" "), r.delete.slice(1).join(" ")]),
    [[
      "tcplab-path-2",
      "filter add dev eth0 parent 1: protocol ip prio 2 u32 match ip dst 10.200.5.3/32 flowid 1:2",
      "filter del dev eth0 parent 1: protocol ip prio 2",
    ]],
  );
  assert.deepEqual([shaper.rules[0]!.fromMs, shaper.rules[0]!.untilMs], [100, 2000]);
  assert.deepEqual(ruleListings(false, true).at(-1)!.slice(1), ["-s", "qdisc", "show", "dev", "eth0"]);
});

Deno.test("loss: and rate: in a scenario file, and what they refuse", () => {
  const base = "name: p\ntitle: t\nserver: { steps: [listen] }\nclient: { steps: [connect] }\n" +
    "expect: { state: SF }\n";
  const path = (text: string) => parseScenario(`${base}path:\n  - ${text}\n`, "p.yaml").path!.rules[0];
  assert.deepEqual(path("{ to: client, loss: { percent: 35 }, until-ms: 800 }"), {
    to: "client",
    action: "loss",
    fromMs: 0,
    untilMs: 800,
    lossPercent: 35,
  });
  for (const [burst, bytes] of [["4k", 4096], ["1m", 1048576], ["16000", 16000], ["2KB", 2048]] as const) {
    assert.deepEqual(path(`{ to: server, rate: { kbit: 256, burst: ${burst} } }`)?.rate, {
      kbit: 256,
      burstBytes: bytes,
    });
  }
  const bad = [
    "{ to: server, loss: { percent: 0 } }",
    "{ to: server, loss: { percent: 100 } }",
    "{ to: server, loss: { percent: 12.5 } }",
    "{ to: server, loss: {} }",
    "{ to: server, loss: { percent: 20, seed: 1 } }",
    "{ to: server, loss: { percent: 20 }, blackhole: true }",
    "{ to: server, rate: { kbit: 256 } }",
    "{ to: server, rate: { burst: 4k } }",
    "{ to: server, rate: { kbit: 0, burst: 4k } }",
    "{ to: server, rate: { kbit: 256, burst: 100 } }",
    "{ to: server, rate: { kbit: 256, burst: 4 gigabytes } }",
    "{ to: server, rate: { kbit: 256, burst: 4k }, loss: { percent: 20 } }",
  ];
  for (const text of bad) {
    assert.throws(() => parseScenario(`${base}path:\n  - ${text}\n`, "p.yaml"), SyntaxError, text);
  }
});
