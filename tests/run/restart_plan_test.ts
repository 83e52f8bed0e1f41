/**
 * The plan of a run whose scenario restarts the server (`restart-server:`):
 * a fresh server holder with the same address, its own capture file on the
 * server's volume, no probe and no program; and what the scenario parser
 * accepts for it.
 */
import assert from "node:assert/strict";
import { loadCatalog } from "../../lab/scenario/catalog.ts";
import { parseScenario, ScenarioError } from "../../lab/scenario/parse.ts";
import { planContainers, planRun, RESTARTED_CAPTURE } from "../../lab/run/plan.ts";

const RUN = { runId: "0a1b2c3d4e", owner: "box:42" };
const ADDRESSES = { server: "10.200.5.2", client: "10.200.5.3" };

Deno.test("a restarted server: a fresh holder with the same address, its own capture, nothing else", () => {
  const scenario = loadCatalog().get("peer-restart")!;
  assert.deepEqual(scenario.restart, { side: "server", afterClientStep: 3 });
  const plan = planRun(scenario, RUN);
  assert.deepEqual(plan.restart, { afterClientStep: 3, pcapFile: RESTARTED_CAPTURE });
  const made = planContainers(scenario, plan, { image: "tcplab-endpoint:abc", addresses: ADDRESSES });
  const first = made.sides.server.holder;
  const fresh = made.restarted!;
  assert.equal(fresh.name, "tcplab-0a1b2c3d4e-server-ns-restarted");
  assert.deepEqual(fresh.attachment, first.attachment);
  assert.deepEqual(fresh.volumes, first.volumes);
  assert.deepEqual(fresh.sysctls, first.sysctls);
  assert.equal(fresh.labels["tcplab.run"], first.labels["tcplab.run"]);
  assert.equal(fresh.labels["tcplab.role"], "server-ns-restarted");
  assert.equal(fresh.cmd.at(-1), `/cap/${RESTARTED_CAPTURE}`);
  assert.equal(first.cmd.at(first.cmd.indexOf("-w") + 1), "/cap/server.pcap");
  for (const flag of ["--steps", "--probe"]) assert.ok(!fresh.cmd.includes(flag), flag);
  assert.ok(first.cmd.includes("--probe"));
  assert.ok(made.environment.some((c) => c.name === fresh.name && /after the restart/.test(c.role)));
});

Deno.test("a scenario without restart-server: no fresh holder", () => {
  const seed = loadCatalog().get("seed")!;
  const plan = planRun(seed, RUN);
  assert.equal("restart" in plan, false);
  assert.equal(planContainers(seed, plan, { image: "x", addresses: ADDRESSES }).restarted, undefined);
});

Deno.test("restart-server: what the parser accepts", async (t) => {
  const scenario = (restart: string, server = "steps: [listen, accept, read: 1]") =>
    [
      "name: r",
      "title: t",
      `server: { ${server} }`,
      "client: { steps: [connect, write: 1, sleep: 100, write: 1, close] }",
      "expect: { state: RSTR }",
      restart,
    ].join("\n");
  await t.step("after a client step that is not its last", () => {
    const parsed = parseScenario(scenario("restart-server: { after-client-step: 2 }"), "r.yaml");
    assert.deepEqual(parsed.restart, { side: "server", afterClientStep: 2 });
  });
  for (
    const [name, restart, server, message] of [
      ["no step", "restart-server: {}", undefined, /missing field "after-client-step"/],
      [
        "the client's last step",
        "restart-server: { after-client-step: 5 }",
        undefined,
        /out of range; expected 1 to 4/,
      ],
      ["a time instead", "restart-server: { at-ms: 100 }", undefined, /at-ms/],
      [
        "a server of the user's own",
        "restart-server: { after-client-step: 2 }",
        "program: { image: x, command: [x] }",
        /expected both sides to run the lab's steps/,
      ],
    ] as const
  ) {
    await t.step(name, () => {
      assert.throws(() => parseScenario(scenario(restart, server), "r.yaml"), (e: Error) => {
        assert.ok(e instanceof ScenarioError);
        assert.match(e.message, message);
        return true;
      });
    });
  }
});
