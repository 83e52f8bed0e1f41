/**
 * The step table (lab/scenario/step_table.ts) and the C program's
 * (`step_defs` in containers/endpoint/*.c) name the same steps, and a step
 * takes an argument in one exactly when it does in the other; every step is
 * written for the program as the table says.
 */

import assert from "node:assert/strict";
import {
  type Step,
  STEP_NAMES,
  type StepArguments,
  type StepName,
  STEPS,
} from "../../lab/scenario/step_table.ts";
import { stepArgument } from "../../lab/scenario/steps.ts";

const ENDPOINT = new URL("../../containers/endpoint/", import.meta.url);

/** The rows of the C program's step table: each step's name, and whether it parses an argument. */
function _programSteps(): Map<string, { takesArgument: boolean }> {
  const sources = [...Deno.readDirSync(ENDPOINT)]
    .filter((e) => e.isFile && e.name.endsWith(".c"))
    .map((e) => Deno.readTextFileSync(new URL(e.name, ENDPOINT)));
  const tables = sources.flatMap((text) => {
    const m = /\bstep_defs\[\]\s*=\s*\{([\s\S]*?)\n\};/.exec(text);
    return m ? [m[1]!] : [];
  });
  assert.equal(tables.length, 1, "exactly one step_defs table in containers/endpoint/*.c");
  const steps = new Map<string, { takesArgument: boolean }>();
  for (const row of tables[0]!.split(/(?=\{\s*\.name\s*=)/).filter((r) => r.includes(".name"))) {
    const name = /\.name\s*=\s*"([^"]+)"/.exec(row)![1]!;
    assert.ok(!steps.has(name), `step "${name}" twice in the C table`);
    steps.set(name, { takesArgument: /\.parse\s*=/.test(row) });
  }
  return steps;
}

/** An argument of each kind, for writing every step. */
const SAMPLES: { [K in keyof StepArguments]: StepArguments[K] } = {
  none: {},
  bytes: { bytes: 7 },
  ms: { ms: 5 },
  listen: { backlog: 4 },
  events: { events: ["in", "rdhup"] },
  epoll: { events: ["in", "out"], until: ["out"] },
  shutdown: { how: "wr" },
  switch: { on: true },
  linger: { on: true, seconds: 0 },
  seconds: { seconds: 3 },
  count: { count: 4 },
  connection: { conn: 2 },
};

/** What the program gets for each step with its sample argument. */
const WRITTEN: Record<StepName, string> = {
  "listen": "listen=0.0.0.0:9999,4",
  "accept": "accept",
  "connect": "connect=10.200.0.2:9999",
  "epoll": "epoll=in|out:out",
  "poll": "poll=in|rdhup",
  "wait-unread": "wait-unread=7",
  "wait-unsent-below": "wait-unsent-below=7",
  "fionread": "fionread",
  "siocoutq": "siocoutq",
  "write": "write=7",
  "read": "read=7",
  "read-eof": "read-eof",
  "shutdown": "shutdown=wr",
  "linger": "linger=1,0",
  "nodelay": "nodelay=1",
  "rcvbuf": "rcvbuf=7",
  "sndbuf": "sndbuf=7",
  "keepalive": "keepalive=1",
  "keepidle": "keepidle=3",
  "keepintvl": "keepintvl=3",
  "keepcnt": "keepcnt=4",
  "user-timeout": "user-timeout=5",
  "sleep": "sleep=5",
  "at": "at=1005000000",
  "close": "close",
  "close-listener": "close-listener",
  "wait-pending": "wait-pending",
  "use": "use=2",
  "exit": "exit",
};

const TARGET = { serverAddress: "10.200.0.2", port: 9999, atBaseNs: 1_000_000_000n };

function _sample(name: StepName): Step {
  return { op: name, ...SAMPLES[STEPS[name].argument] } as Step;
}

Deno.test("the C program's step table names exactly the steps of lab/scenario/step_table.ts", () => {
  assert.deepEqual([..._programSteps().keys()].sort(), [...STEP_NAMES]);
});

Deno.test("a step takes an argument in the program exactly when the table writes one", async (t) => {
  const program = _programSteps();
  for (const name of STEP_NAMES) {
    await t.step(name, () => {
      const written = stepArgument(_sample(name), TARGET);
      assert.equal(written.includes("="), program.get(name)?.takesArgument, written);
    });
  }
});

Deno.test("every step is written for the program as the table says", async (t) => {
  for (const name of STEP_NAMES) {
    await t.step(name, () => assert.equal(stepArgument(_sample(name), TARGET), WRITTEN[name]));
  }
});
