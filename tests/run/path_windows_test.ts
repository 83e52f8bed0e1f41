/**
 * Path rules whose windows begin or end at a side's step (`from-step`,
 * `until-step`): what a scenario file may say, what it refuses, and the
 * iptables commands that carry the moments.
 */
import assert from "node:assert/strict";
import { loadCatalog } from "../../lab/scenario/catalog.ts";
import { parseScenario } from "../../lab/scenario/parse.ts";
import { pathRuleCommands } from "../../lab/run/plan.ts";

const BASE = "name: p\ntitle: t\nserver: { steps: [listen, accept, {read: 1}, close] }\n" +
  "client: { steps: [connect, {write: 1}, {read: 1}, close] }\nexpect: { state: SF }\n";

Deno.test("from-step and until-step: the window from a side's step to a later one of its own", () => {
  const parsed = parseScenario(
    `${BASE}path:\n  - { to: server, blackhole: true, from-step: { client: 2 }, until-step: { client: 3 } }\n`,
    "p.yaml",
  );
  assert.deepEqual(parsed.path, {
    rules: [{
      to: "server",
      action: "blackhole",
      fromMs: 0,
      untilMs: null,
      fromStep: { side: "client", step: 2 },
      untilStep: { side: "client", step: 3 },
    }],
  });
  const [commands] = pathRuleCommands(parsed.path!.rules, { server: "10.0.0.2", client: "10.0.0.3" }, 9999);
  assert.deepEqual(commands!.fromStep, { side: "client", step: 2 });
  assert.deepEqual(commands!.untilStep, { side: "client", step: 3 });
});

Deno.test("a window from a step: what a scenario file may not say", async (t) => {
  const bad: Record<string, string> = {
    "a time and a step for the same end":
      "{ to: server, blackhole: true, from-ms: 10, from-step: { client: 1 } }",
    "a step and a time for the window's end":
      "{ to: server, blackhole: true, from-step: { client: 1 }, until-ms: 10 }",
    "both sides in one moment": "{ to: server, blackhole: true, from-step: { client: 1, server: 1 } }",
    "no side": "{ to: server, blackhole: true, from-step: {} }",
    "a side that is no side": "{ to: server, blackhole: true, from-step: { middlebox: 1 } }",
    "step 0": "{ to: server, blackhole: true, from-step: { client: 0 } }",
    "the last step (its end is never seen as the next step's beginning)":
      "{ to: server, blackhole: true, from-step: { client: 4 } }",
    "an end before the beginning":
      "{ to: server, blackhole: true, from-step: { client: 3 }, until-step: { client: 2 } }",
    "not a mapping": "{ to: server, blackhole: true, from-step: 3 }",
  };
  for (const [name, rule] of Object.entries(bad)) {
    await t.step(name, () => {
      assert.throws(() => parseScenario(`${BASE}path:\n  - ${rule}\n`, "p.yaml"), SyntaxError);
    });
  }
  await t.step("a side that runs a user's program", () => {
    const text = BASE.replace(
      "server: { steps: [listen, accept, {read: 1}, close] }",
      "server: { program: { image: x, command: [y] } }",
    );
    assert.throws(
      () =>
        parseScenario(
          `${text}path:\n  - { to: server, blackhole: true, from-step: { server: 1 } }\n`,
          "p.yaml",
        ),
      /two or more of the lab's steps/,
    );
  });
});

Deno.test("firewall-reset starts its firewall once the client's read returned, not at a time", () => {
  const rules = loadCatalog().get("firewall-reset")!.path!.rules;
  assert.equal(rules.length, 2);
  for (const rule of rules) assert.deepEqual(rule.fromStep, { side: "client", step: 3 });
});
