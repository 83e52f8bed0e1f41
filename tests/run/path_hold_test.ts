/**
 * A path's `delay:` and `reorder:` rules: their written forms, the NFQUEUE rule that sends the scenario's
 * segments to the middlebox's queue program, that program's commands, the middlebox's record in the report,
 * and what the verdict makes of the program's log.
 */
import assert from "node:assert/strict";
import { loadCatalog } from "../../lab/scenario/catalog.ts";
import { parseScenario } from "../../lab/scenario/parse.ts";
import { pathRuleCommands, planContainers, planRun, queueCommands } from "../../lab/run/plan.ts";
import { parseHeldPackets } from "../../lab/evidence/held_packets.ts";
import { pathHolds } from "../../lab/verdict/path_holds.ts";
import { analyseRun } from "../../lab/verdict/analyse_run.ts";
import { renderReport } from "../../lab/report/run_report.ts";
import type { PathKernelRecord } from "../../lab/evidence/kernel_config.ts";
import { recordedRun } from "../_fixtures.ts";

const RUN = { runId: "0a1b2c3d4e", owner: "box:42" };
const ADDRESSES = { server: "10.200.5.2", client: "10.200.5.3" };
const BASE =
  "name: p\ntitle: t\nserver: { steps: [listen] }\nclient: { steps: [connect] }\nexpect: { state: SF }\n";

Deno.test("delay: and reorder: in a scenario file, alone or together, and what they refuse", async (t) => {
  const cases: Array<[string, string, { delayMs: number; every: number; extraMs: number }]> = [
    ["delay alone", "{ to: server, delay: { ms: 50 } }", { delayMs: 50, every: 0, extraMs: 0 }],
    ["reorder alone", "{ to: client, reorder: { every: 5, extra-ms: 30 } }", {
      delayMs: 0,
      every: 5,
      extraMs: 30,
    }],
    [
      "both",
      "{ to: server, delay: { ms: 10 }, reorder: { every: 3, extra-ms: 40 } }",
      { delayMs: 10, every: 3, extraMs: 40 },
    ],
  ];
  for (const [name, rule, hold] of cases) {
    await t.step(name, () => {
      const [parsed] = parseScenario(`${BASE}path:\n  - ${rule}\n`, "p.yaml").path!.rules;
      assert.equal(parsed!.action, "hold");
      assert.deepEqual(parsed!.hold, hold);
    });
  }
  const bad = [
    "{ to: server, delay: { ms: 0 } }",
    "{ to: server, delay: {} }",
    "{ to: server, delay: { ms: 50, every: 2 } }",
    "{ to: server, reorder: { every: 5 } }",
    "{ to: server, reorder: { extra-ms: 30 } }",
    "{ to: server, reorder: { every: 1, extra-ms: 30 } }",
    "{ to: server, delay: { ms: 50 }, blackhole: true }",
    "{ to: server, delay: 50 }",
  ];
  for (const rule of bad) {
    await t.step(`refused: ${rule}`, () => {
      assert.throws(() => parseScenario(`${BASE}path:\n  - ${rule}\n`, "p.yaml"), SyntaxError);
    });
  }
});

Deno.test("a hold rule sends the scenario's segments to NFQUEUE queue N, N its place in path:", () => {
  const rules = parseScenario(
    `${BASE}path:\n  - { to: client, blackhole: true, from-ms: 900 }\n` +
      "  - { to: server, reorder: { every: 3, extra-ms: 40 } }\n",
    "p.yaml",
  ).path!.rules;
  const [, hold] = pathRuleCommands(rules, ADDRESSES, 9999);
  assert.deepEqual(hold!.add.slice(2), [
    "-A",
    "FORWARD",
    "-d",
    "10.200.5.2/32",
    "-p",
    "tcp",
    "--dport",
    "9999",
    "-m",
    "comment",
    "--comment",
    "tcplab-path-2",
    "-j",
    "NFQUEUE",
    "--queue-num",
    "2",
    "--queue-bypass",
  ]);
  const queue = queueCommands(rules)!;
  assert.deepEqual(queue.start, ["/tcplab", "queue", "2:delay=0,every=3,extra=40"]);
  assert.deepEqual(queue.wait, ["/tcplab", "queue", "--wait", "2"]);
  assert.deepEqual(queue.stop, ["/tcplab", "queue", "--stop"]);
  // Segments to the client: picked by their source port.
  const [toClient] = pathRuleCommands(
    [{ to: "client", action: "hold", fromMs: 0, untilMs: null, hold: { delayMs: 50, every: 0, extraMs: 0 } }],
    ADDRESSES,
    9999,
  );
  assert.deepEqual(toClient!.add.slice(5, 10), ["10.200.5.3/32", "-p", "tcp", "--sport", "9999"]);
});

Deno.test("a hold rule from a step: added once the step returned, checked with iptables -C before", () => {
  const rules = parseScenario(
    `${BASE.replace("[connect]", "[connect, close]")}path:\n` +
      "  - { to: server, delay: { ms: 20 }, from-step: { client: 1 } }\n",
    "p.yaml",
  ).path!.rules;
  const [hold] = pathRuleCommands(rules, ADDRESSES, 9999);
  assert.deepEqual(hold!.fromStep, { side: "client", step: 1 });
  assert.deepEqual(hold!.check, [...hold!.add.slice(0, 2), "-C", ...hold!.add.slice(3)]);
  assert.deepEqual(hold!.check!.slice(-5), ["-j", "NFQUEUE", "--queue-num", "1", "--queue-bypass"]);
});

Deno.test("'Held on the path' says who held the packets, and whether the host's kernel has netem", async (t) => {
  const result = analyseRun(await recordedRun("reordered-segments"));
  const firstLine = (pathKernel: PathKernelRecord) => {
    const report = renderReport({ ...result, environment: { ...result.environment, pathKernel } });
    return report.split("### Held on the path\n\n")[1]!.split("\n")[0]!;
  };
  const by = "Delay and reordering were made by the lab's queue program in the middlebox (`tcplab queue`, " +
    "which keeps NET_ADMIN), not by netem: ";
  await t.step("recorded here: no netem in the kernel's config", () => {
    assert.equal(
      firstLine(result.environment.pathKernel!),
      `${by}this kernel has no netem (its config, \`/proc/config.gz\`, lacks \`CONFIG_NET_SCH_NETEM\`).`,
    );
  });
  await t.step("a kernel with netem", () => {
    const pathKernel = { ...result.environment.pathKernel!, lacking: [] };
    assert.equal(
      firstLine(pathKernel),
      `${by}this kernel has netem (\`CONFIG_NET_SCH_NETEM\`), which the lab does not use.`,
    );
  });
  await t.step("a config that could not be read", () => {
    const pathKernel = { source: null, unreadable: "a remote Docker host", used: [], lacking: [] };
    assert.equal(
      firstLine(pathKernel),
      `${by}whether this kernel has netem is unknown (a remote Docker host).`,
    );
  });
});

Deno.test("a path without hold rules starts no queue program, and its middlebox's record does not name one", () => {
  const scenario = loadCatalog().get("firewall-reset")!;
  assert.equal(queueCommands(scenario.path!.rules), null);
  const record = planContainers(scenario, planRun(scenario, RUN), {
    image: "tcplab-endpoint:abc",
    addresses: ADDRESSES,
    middlebox: { image: "tcplab-middlebox:def", address: "10.200.5.4" },
  }).environment.find((c) => c.role.startsWith("middlebox"))!;
  assert.doesNotMatch(record.user, /queue/);
});

Deno.test("reordered-segments: the middlebox keeps NET_ADMIN for its queue program, and the report says so", () => {
  const scenario = loadCatalog().get("reordered-segments")!;
  const record = planContainers(scenario, planRun(scenario, RUN), {
    image: "tcplab-endpoint:abc",
    addresses: ADDRESSES,
    middlebox: { image: "tcplab-middlebox:def", address: "10.200.5.4" },
  }).environment.find((c) => c.role.startsWith("middlebox"))!;
  assert.match(record.user, /keeps NET_ADMIN .* queue program \(`tcplab queue`, run as 0:0\)/);
  assert.ok(record.capabilities.includes("NET_ADMIN"));
});

Deno.test("the queue program's log: packets held, which ones longer, and a broken line", async (t) => {
  const log = [
    '{"ph":"bound","queues":2,"real":"1","mono":"1"}',
    '{"ph":"held","queue":2,"id":1,"length":60,"held_ms":0,"real":"10","mono":"2"}',
    '{"ph":"held","queue":2,"id":3,"length":152,"held_ms":4,"real":"11","mono":"3"}',
    '{"ph":"held","queue":1,"id":1,"length":52,"held_ms":50,"real":"12","mono":"4"}',
    '{"ph":"held","queue":2,"id":2,"length":152,"held_ms":41,"extra":"reorder","real":"13","mono":"5"}',
    '{"ph":"end","real":"20","mono":"9"}',
    "exit 0",
  ].join("\n");
  const held = parseHeldPackets(log);
  await t.step("parsed in the order they went", () => {
    assert.deepEqual(held.map((p) => [p.queue, p.id, p.extra]), [
      [2, 1, false],
      [2, 3, false],
      [1, 1, false],
      [
        2,
        2,
        true,
      ],
    ]);
  });
  await t.step("each hold rule with its own queue's packets and its counter", () => {
    const rules = parseScenario(
      `${BASE}path:\n  - { to: client, delay: { ms: 50 } }\n  - { to: server, reorder: { every: 2, extra-ms: 40 } }\n`,
      "p.yaml",
    ).path!.rules;
    const holds = pathHolds(rules, held, [
      { comment: "tcplab-path-2", target: "NFQUEUE", packets: 3, bytes: 364, line: "" },
    ], true);
    assert.deepEqual(
      holds.map((h) => [h.comment, h.queued, h.heldCount, h.longestOtherMs, h.heldLongerIds, h.heldLongerMs]),
      [
        ["tcplab-path-1", null, 1, 50, [], null],
        ["tcplab-path-2", 3, 3, 4, [2], { min: 41, max: 41 }],
      ],
    );
  });
  await t.step("a line that is not JSON is a SyntaxError with its line number", () => {
    assert.throws(() => parseHeldPackets('{"ph":"bound"}\n{"ph":"held","queue":1,'), SyntaxError, "line 2");
    assert.throws(() => parseHeldPackets('{"ph":"held","queue":1}'), SyntaxError, 'no number "id"');
  });
});

Deno.test("the recorded reordered-segments: its hold in the result; a queue program that never bound is a warning", async (t) => {
  const artifacts = await recordedRun("reordered-segments");
  await t.step("recorded: one packet held 400 ms longer, no warning", () => {
    const result = analyseRun(artifacts);
    assert.ok(result.expectation.met);
    const [hold] = result.pathHolds!;
    assert.equal(hold!.bound, true);
    assert.equal(hold!.heldLongerIds.length, 1);
    assert.ok(hold!.heldLongerMs!.min >= 400);
    assert.equal(hold!.queued, hold!.heldCount);
    assert.deepEqual(result.warnings, []);
  });
  await t.step("a queue program that could not bind: nothing held, and the report's warning says why", () => {
    const unbound = {
      ...artifacts,
      middlebox: { ...artifacts.middlebox!, queueLog: "tcplab queue: cannot bind queue 1: EPERM\nexit 2\n" },
    };
    const result = analyseRun(unbound);
    assert.equal(result.pathHolds?.[0]?.bound, false);
    assert.equal(result.pathHolds?.[0]?.heldCount, 0);
    assert.match(result.warnings.join("\n"), /did not bind its queues, .*cannot bind queue 1: EPERM; exit 2/);
  });
  await t.step(
    "the report of a queue program that never bound: nothing held, --queue-bypass let it through",
    () => {
      const unbound = {
        ...artifacts,
        middlebox: {
          ...artifacts.middlebox!,
          queueLog: "tcplab queue: cannot bind queue 1: EPERM\nexit 2\n",
        },
      };
      const result = analyseRun(unbound);
      const queued = result.pathHolds![0]!.queued;
      const held = renderReport(result).split("### Held on the path\n\n")[1]!.split("\n\n");
      assert.equal(
        held[0],
        "Delay and reordering were to be made by the lab's queue program in the middlebox (`tcplab queue`, which " +
          "keeps NET_ADMIN), not by netem: this kernel has no netem (its config, `/proc/config.gz`, lacks " +
          "`CONFIG_NET_SCH_NETEM`). The queue program did not bind its queues, so it held nothing (what it said is " +
          "in `evidence/middlebox-queue.log`).",
      );
      assert.equal(
        held[1]!.split("\n")[0],
        "Rule `tcplab-path-1` (to the server: `reorder: {every: 3, extra-ms: 400}`) matched " +
          `${queued} packets (\`-j NFQUEUE --queue-num 1 --queue-bypass\`); with no queue program bound, ` +
          "`--queue-bypass` let each of them through undelayed: nothing was held.",
      );
      assert.doesNotMatch(held.slice(0, 2).join("\n"), /were made by|held 0|at once/);
    },
  );
  await t.step("a queue program that bound and held nothing says so, not that it held 0 at once", () => {
    const idle = {
      ...artifacts,
      middlebox: {
        ...artifacts.middlebox!,
        queueLog:
          '{"ph":"bound","queues":1,"real":"1","mono":"1"}\n{"ph":"end","real":"2","mono":"2"}\nexit 0\n',
      },
    };
    const held = renderReport(analyseRun(idle)).split("### Held on the path\n\n")[1]!.split("\n\n")[1]!;
    assert.match(held, /run as 0:0 with the middlebox's NET_ADMIN\) held none of them\. Each packet's line/);
    assert.doesNotMatch(held, /held 0 of them|0 at once/);
  });
});
