/**
 * Held steps: every moment of a scenario that is a side's step (a path
 * rule's `from-step` or `until-step`, the restart's `after-client-step`)
 * holds that side after the step until the lab's work there is done. The
 * plan lists them, the command of the lab's program carries them
 * (`tcplab run --hold-after N,M`), and parsing refuses a step moment on a
 * side that is not the lab's steps, naming the field.
 */
import assert from "node:assert/strict";
import { loadCatalog } from "../../lab/scenario/catalog.ts";
import { parseScenario, ScenarioError } from "../../lab/scenario/parse.ts";
import { heldSteps, planContainers, planRun } from "../../lab/run/plan.ts";
import { stepReturned } from "../../lab/run/programs.ts";
import type { ProgramHandle } from "../../lab/run/programs.ts";

const RUN = { runId: "0a1b2c3d4e", owner: "box:42" };
const ADDRESSES = { server: "10.200.5.2", client: "10.200.5.3" };
const NETWORK = { image: "tcplab-endpoint:abc", addresses: ADDRESSES };
const SIDES_YAML = "name: p\ntitle: t\nserver: { steps: [listen, accept, {read: 1}, {write: 1}, close] }\n" +
  "client: { steps: [connect, {write: 1}, {read: 1}, {write: 1}, close] }\nexpect: { state: SF }\n";

Deno.test("held steps: each side's step moments, once each and in order", async (t) => {
  const cases: Record<string, [string, { server: number[]; client: number[] }]> = {
    "no path, no restart": ["", { server: [], client: [] }],
    "a rule from a time": ["path:\n  - { to: server, blackhole: true, from-ms: 10 }\n", {
      server: [],
      client: [],
    }],
    "two rules from the same step, one until a later one; one until the other side's step": [
      "path:\n" +
      "  - { to: server, blackhole: true, from-step: { client: 3 }, until-step: { client: 4 } }\n" +
      "  - { to: client, blackhole: true, from-step: { client: 3 } }\n" +
      "  - { to: client, blackhole: true, until-step: { server: 2 } }\n",
      { server: [2], client: [3, 4] },
    ],
    "a restart": ["restart-server: { after-client-step: 2 }\n", { server: [], client: [2] }],
  };
  for (const [name, [extra, held]] of Object.entries(cases)) {
    await t.step(name, () => {
      assert.deepEqual(heldSteps(parseScenario(SIDES_YAML + extra, "p.yaml")), held);
    });
  }
});

Deno.test("the catalog's step moments: firewall-reset and peer-restart hold the client after its read", () => {
  const catalog = loadCatalog();
  for (const name of ["firewall-reset", "peer-restart"]) {
    const scenario = catalog.get(name)!;
    const plan = planRun(scenario, RUN);
    assert.deepEqual(plan.holds, { server: [], client: [3] }, name);
    const { sides } = planContainers(scenario, plan, {
      ...NETWORK,
      ...(plan.middlebox ? { middlebox: { image: "tcplab-middlebox:abc", address: "10.200.5.4" } } : {}),
    });
    // The holder runs the steps: its command ends in them, after --steps.
    assert.deepEqual(sides.client.command.slice(0, 4), [
      "run",
      "--hold-after",
      "3",
      "connect=10.200.5.2:9999",
    ]);
    const cmd = sides.client.holder.cmd;
    assert.deepEqual(cmd.slice(cmd.indexOf("--steps") + 1), sides.client.command.slice(1));
    assert.equal(sides.server.command.includes("--hold-after"), false, name);
  }
  // A scenario without step moments: no option at all.
  const seed = catalog.get("seed")!;
  assert.equal(
    planContainers(seed, planRun(seed, RUN), NETWORK).sides.client.command[1],
    "connect=10.200.5.2:9999",
  );
});

Deno.test("held steps in a container of their own (`at` steps): the option is in the program's command", () => {
  const scenario = parseScenario(
    "name: p\ntitle: t\nserver: { steps: [listen, accept, {at: 500}, close] }\n" +
      "client: { steps: [connect, {write: 1}, {at: 500}, close] }\nexpect: { state: SF }\n" +
      "path:\n  - { to: server, blackhole: true, from-step: { client: 2 } }\n",
    "p.yaml",
  );
  const plan = planRun(scenario, RUN);
  assert.deepEqual(plan.programs, { server: "container", client: "container" });
  const { sides } = planContainers(scenario, plan, {
    ...NETWORK,
    atBaseNs: 1_000_000_000n,
    middlebox: { image: "tcplab-middlebox:abc", address: "10.200.5.4" },
  });
  assert.deepEqual(sides.client.program!.cmd.slice(0, 3), ["run", "--hold-after", "2"]);
});

Deno.test("a step moment on a side that is not the lab's steps: refused, naming the field", async (t) => {
  const program = "program: { image: 'alpine:3', command: [sleep, '1'] }";
  const cases: Record<string, [string, RegExp]> = {
    "a path rule from the server's step": [
      `name: p\ntitle: t\nserver: { ${program} }\nclient: { steps: [connect, {write: 1}, close] }\n` +
      "expect: { state: SF }\npath:\n  - { to: client, blackhole: true, from-step: { server: 1 } }\n",
      /path\[0\]\.from-step.*lab's steps/,
    ],
    "a restart after a user's client's step": [
      `name: p\ntitle: t\nserver: { steps: [listen, accept, close] }\nclient: { ${program} }\n` +
      "expect: { state: SF }\nrestart-server: { after-client-step: 1 }\n",
      /restart-server.*lab's steps/,
    ],
  };
  for (const [name, [yaml, message]] of Object.entries(cases)) {
    await t.step(name, () => {
      assert.throws(
        () => parseScenario(yaml, "p.yaml"),
        (e) => e instanceof ScenarioError && message.test(e.message),
      );
    });
  }
});

Deno.test("a held step has returned once its hold begins, before the next step", async () => {
  const log = (lines: string[]) => lines.map((l) => `${l}\n`).join("");
  let text = "";
  const program = {
    waitForStdout: (test: (t: string) => boolean) =>
      test(text) ? Promise.resolve() : Promise.reject(new Error("not yet")),
  } as unknown as ProgramHandle;
  text = log(['{"ph":"return","step":3,"call":"read","fd":3,"ret":1}']);
  await assert.rejects(stepReturned(program, 3, 1, "client"));
  text += log(['{"ph":"enter","step":3,"call":"sigwaitinfo","args":"SIGUSR1","real":"1","mono":"1"}']);
  await stepReturned(program, 3, 1, "client");
  await assert.rejects(stepReturned(program, 4, 1, "client"), "a hold of step 3 is not step 4's return");
});
