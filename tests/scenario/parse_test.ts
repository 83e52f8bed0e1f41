import assert from "node:assert/strict";
import { parseScenario, ScenarioError } from "../../lab/scenario/parse.ts";
import { loadCatalog } from "../../lab/scenario/catalog.ts";

const GOOD = `name: my-case
title: my case
port: 9999
server:
  sysctls: { net.ipv4.tcp_fin_timeout: 5 }
  steps:
    - listen: { backlog: 4 }
    - accept
    - epoll: { events: [in, out], until: [out] }
    - write: 1
    - close
client:
  steps:
    - connect
    - wait-unread: 1
    - linger: { on: true, seconds: 0 }
    - close
expect:
  state: RSTO
  resetBy: client
  cause: [linger-zero]
  resetReasons: [[TCP_STATE, NOT_SPECIFIED]]
  counters: { client: { TcpExt.TCPAbortOnData: 1 } }
`;

Deno.test("a well-formed scenario file reads into steps and expectations", () => {
  const s = parseScenario(GOOD, "my.yaml");
  assert.equal(s.name, "my-case");
  assert.deepEqual(s.server, {
    sysctls: { "net.ipv4.tcp_fin_timeout": "5" },
    steps: [
      { op: "listen", backlog: 4 },
      { op: "accept" },
      { op: "epoll", events: ["in", "out"], until: ["out"] },
      { op: "write", bytes: 1 },
      { op: "close" },
    ],
  });
  assert.deepEqual(s.client, {
    steps: [{ op: "connect" }, { op: "wait-unread", bytes: 1 }, { op: "linger", on: true, seconds: 0 }, {
      op: "close",
    }],
  });
  assert.deepEqual(s.expect.resetReasons, [["TCP_STATE", "NOT_SPECIFIED"]]);
});

Deno.test("several connections: `use` picks one again, the expectation names one and the count", () => {
  const text = GOOD.replace("- wait-unread: 1", "- connect\n    - use: 1\n    - wait-unread: 1")
    .replace("  state: RSTO", "  connections: 2\n  connection: 1\n  state: RSTO");
  const s = parseScenario(text, "two.yaml");
  assert.deepEqual((s.client as { steps: unknown[] }).steps.slice(0, 3), [
    { op: "connect" },
    { op: "connect" },
    { op: "use", conn: 1 },
  ]);
  assert.equal(s.expect.connection, 1);
  assert.equal(s.expect.connections, 2);
});

Deno.test("JSON is read too (YAML includes it)", () => {
  const json = JSON.stringify({
    name: "j",
    title: "t",
    server: { steps: ["listen", "accept", "close"] },
    client: { steps: ["connect", { write: 3 }, "close"] },
    expect: { state: "SF" },
  });
  assert.deepEqual(parseScenario(json, "j.json").client, {
    steps: [{ op: "connect" }, { op: "write", bytes: 3 }, { op: "close" }],
  });
});

Deno.test("a user's own program as one side", () => {
  const text = GOOD.replace(
    /server:\n( {2}.*\n)+/,
    'server:\n  program: { image: "my-server:1", command: ["serve", "--port", "{port}"], env: { A: "{server}" } }\n',
  );
  assert.deepEqual(parseScenario(text, "p.yaml").server, {
    program: { image: "my-server:1", command: ["serve", "--port", "{port}"], env: { A: "{server}" } },
  });
});

Deno.test("malformed files are refused with the file, the place and what was expected", async (t) => {
  const cases: Array<[string, string, RegExp]> = [
    [
      "an unknown step",
      GOOD.replace("- write: 1", "- wirte: 1"),
      /^bad\.yaml:10:7: server\.steps\[3\]: unknown step "wirte"; expected one of: .*write/,
    ],
    [
      "a wrong type",
      GOOD.replace("wait-unread: 1", "wait-unread: one"),
      /^bad\.yaml:15:20: client\.steps\[1\]\.wait-unread: expected a whole number .* got string "one"/,
    ],
    ["a missing field", GOOD.replace("title: my case\n", ""), /^bad\.yaml:1:1: missing field "title"/],
    [
      "a port out of range",
      GOOD.replace("port: 9999", "port: 70000"),
      /^bad\.yaml:3:7: port: 70000 is out of range; expected 1 to 65535/,
    ],
    [
      "a YAML syntax error",
      GOOD.replace("- accept", "- accept: [oops"),
      /^bad\.yaml:\d+:\d+: not valid YAML or JSON/,
    ],
    [
      "a JSON syntax error",
      '{"name": "x", "title": "t",\n "server": {"steps": [}',
      /^bad\.yaml:2:\d+: not valid YAML or JSON/,
    ],
    [
      "an unknown field",
      GOOD.replace("port: 9999", "prot: 9999"),
      /^bad\.yaml:3:1: prot: unknown field "prot"; expected one of: name, title/,
    ],
    [
      "an unknown cause",
      GOOD.replace("[linger-zero]", "[linger-0]"),
      /expect\.cause: unknown cause "linger-0"/,
    ],
    [
      "a sysctl that is not per namespace",
      GOOD.replace("net.ipv4.tcp_fin_timeout", "kernel.panic"),
      /server\.sysctls\.kernel\.panic: "kernel\.panic" cannot be set per scenario/,
    ],
    [
      "an unknown event word",
      GOOD.replace("[in, out]", "[in, outt]"),
      /server\.steps\[2\]\.epoll\.events: unknown event "outt"/,
    ],
    [
      "both steps and a program",
      GOOD.replace("client:\n  steps:", "client:\n  program: {image: x, command: [y]}\n  steps:"),
      /client: expected either "steps" .* not both/,
    ],
    ["not a mapping", "- just\n- a list\n", /^bad\.yaml:1:1: expected a mapping/],
    [
      "a connection number below 1",
      GOOD.replace("- wait-unread: 1", "- use: 0"),
      /^bad\.yaml:15:12: client\.steps\[1\]\.use: 0 is out of range; expected 1 to 64/,
    ],
    [
      "an expectation about connection zero",
      GOOD.replace("  state: RSTO", "  connection: 0\n  state: RSTO"),
      /expect\.connection: 0 is out of range; expected 1 to 64/,
    ],
  ];
  for (const [name, text, pattern] of cases) {
    await t.step(name, () => {
      assert.throws(() => parseScenario(text, "bad.yaml"), (e: unknown) => {
        assert.ok(e instanceof ScenarioError, `a ScenarioError, got ${e}`);
        assert.match(e.message, pattern);
        assert.ok(!e.message.includes("\n"), `one line: ${e.message}`);
        return true;
      });
    });
  }
});

Deno.test("a step moment the run could not keep is refused, naming the field", async (t) => {
  const sides = (client: string) =>
    `name: p\ntitle: t\nserver: { steps: [listen, accept, {read: 1}, close] }\nclient: { steps: [${client}] }\n` +
    "expect: { state: SF }\n";
  const cases: Array<[string, string, RegExp]> = [
    [
      // Its one step is its last: the lab's program could not hold the client after it (--hold-after 1 of 1).
      "a restart after a step of a client that runs one",
      `${sides("connect")}restart-server: { after-client-step: 1 }\n`,
      /^p\.yaml:6:\d+: restart-server: expected a client that runs two or more of the lab's steps$/,
    ],
    [
      // The end's hold waits for the beginning: the server could be held until the client reached its step.
      "a window from the client's step until the server's",
      `${sides("connect, {write: 1}, {read: 1}, close")}path:\n` +
      "  - { to: server, blackhole: true, from-step: { client: 2 }, until-step: { server: 3 } }\n",
      /^p\.yaml:7:\d+: path\[0\]\.until-step: expected a step of the client, as "from-step" names, not of the server$/,
    ],
  ];
  for (const [name, text, pattern] of cases) {
    await t.step(name, () => {
      assert.throws(() => parseScenario(text, "p.yaml"), (e: unknown) => {
        assert.ok(e instanceof ScenarioError, `a ScenarioError, got ${e}`);
        assert.match(e.message, pattern);
        return true;
      });
    });
  }
});

Deno.test("every catalog scenario is a valid file with an expectation and a title", () => {
  const catalog = loadCatalog();
  assert.ok(catalog.size >= 11);
  for (
    const name of [
      "seed",
      "seed-read-first",
      "linger-zero",
      "shutdown-drain",
      "write-after-close",
      "refused",
      "close-with-unsent-data",
      "server-unread",
      "half-close",
      "simultaneous-close",
      "close-before-data",
    ]
  ) {
    const s = catalog.get(name);
    assert.ok(s, name);
    assert.ok(Object.keys(s.expect).length >= 2, `${name} expects something`);
    if (s.contrast) assert.ok(catalog.has(s.contrast), `${name}'s contrast exists`);
  }
});

Deno.test("a program of this host as one side", () => {
  const s = parseScenario(
    GOOD.replace(
      /client:\n {2}steps:(\n {4}- .*)*\n/,
      'client:\n  program: { binary: /usr/bin/socat, args: ["-", "TCP:{server}:{port}"], files: { /etc/x: ./x }, writable: [/run], trace: false, seccomp: ./prod.json }\n',
    ),
    "x.yaml",
  );
  assert.deepEqual(s.client, {
    program: {
      binary: "/usr/bin/socat",
      args: ["-", "TCP:{server}:{port}"],
      files: { "/etc/x": "./x" },
      writable: ["/run"],
      trace: false,
      seccomp: "./prod.json",
    },
  });
  assert.throws(
    () =>
      parseScenario(
        GOOD.replace(/client:\n {2}steps:(\n {4}- .*)*\n/, "client:\n  program: { binary: socat }\n"),
        "x.yaml",
      ),
    /client\.program\.binary: expected an absolute path/,
  );
});

Deno.test("a server of this host that never exits names the command that stops it", async (t) => {
  const withServer = (program: string) =>
    GOOD.replace(/server:\n(?: {2}.*\n)*?(?=client:)/, `server:\n  program: ${program}\n`);
  await t.step("read", () => {
    const s = parseScenario(
      withServer("{ binary: /usr/sbin/nginx, stop: [/usr/sbin/nginx, -s, quit] }"),
      "x.yaml",
    );
    assert.deepEqual(s.server, {
      program: { binary: "/usr/sbin/nginx", args: [], stop: ["/usr/sbin/nginx", "-s", "quit"] },
    });
  });
  await t.step("a relative command", () => {
    assert.throws(
      () => parseScenario(withServer("{ binary: /usr/sbin/nginx, stop: [nginx, -s, quit] }"), "x.yaml"),
      /server\.program\.stop: expected a command that starts with an absolute path/,
    );
  });
  await t.step("the client has none", () => {
    assert.throws(
      () =>
        parseScenario(
          GOOD.replace(
            /client:\n {2}steps:(\n {4}- .*)*\n/,
            "client:\n  program: { binary: /usr/bin/socat, stop: [/bin/kill] }\n",
          ),
          "x.yaml",
        ),
      /client\.program\.stop: expected no stop command for the client/,
    );
  });
});
