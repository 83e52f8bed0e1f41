/**
 * The command line as users meet it: help, bad input, exit codes. These run
 * `deno task lab` as a user would; none of them needs Docker.
 */
import assert from "node:assert/strict";
import { lab } from "../_cli.ts";

/** A message for the user: a line or two, never a stack trace. */
function assertCleanError(stderr: string, pattern: RegExp): void {
  assert.match(stderr, pattern);
  assert.doesNotMatch(stderr, /\n\s+at |Stack backtrace|Uncaught/, `no stack trace in: ${stderr}`);
  assert.ok(stderr.trim().split("\n").length <= 2, `at most two lines: ${stderr}`);
}

Deno.test("--help teaches the commands and the exit codes", async () => {
  const { code, stdout } = await lab("--help");
  assert.equal(code, 0);
  for (const word of ["run", "list", "explain", "clean", "Exit codes", "DOCKER_HOST"]) {
    assert.ok(stdout.includes(word), word);
  }
});

Deno.test("--help after a command prints that command's help, with an example of each option", async (t) => {
  const options: Record<string, string[]> = {
    run: [
      "--out",
      "--all",
      "--jobs",
      "--timeout",
      "--no-contrast",
      "--pause-at",
      "--json",
      "--quiet",
      "--host",
      "--vary",
      "--per-host",
    ],
    explain: ["--out", "--json", "--host", "--port", "--conn"],
    list: [],
    clean: ["--run"],
  };
  for (const [command, names] of Object.entries(options)) {
    await t.step(`${command} --help`, async () => {
      const { code, stdout, stderr } = await lab(command, "--help");
      assert.equal(code, 0, stderr);
      assert.ok(stdout.startsWith(`deno task lab ${command}`), stdout);
      assert.match(stdout, new RegExp(`^ +deno task lab(:hosts)? ${command}\\b`, "m"), "an example");
      for (const name of names) {
        const lines = stdout.split("\n");
        const at = lines.findIndex((line) => line.trimStart().startsWith(name));
        assert.ok(at >= 0, `${command} --help teaches ${name}`);
        const example = lines.slice(at + 1).find((line) => /^ {20,}deno task lab/.test(line));
        assert.ok(example?.includes(name), `${command} --help shows ${name} in an example`);
      }
    });
  }
  await t.step("after a scenario name, and as -h", async () => {
    const { code, stdout } = await lab("run", "seed", "-h");
    assert.equal(code, 0);
    assert.ok(stdout.startsWith("deno task lab run"));
  });
});

Deno.test("list names the shipped scenarios and their expected outcome", async () => {
  const { code, stdout } = await lab("list");
  assert.equal(code, 0);
  assert.match(stdout, /^seed +close\(\) with one unread byte/m);
  assert.match(stdout, /expects: RSTO, RST by client, close-with-unread-data/);
  assert.match(stdout, /^seed-read-first /m);
  // The scenarios with programs of this host say which, and a missing one is marked.
  const socat = await Deno.stat("/usr/bin/socat").then((i) => i.isFile, () => false);
  assert.match(
    stdout,
    socat
      ? /^socat-linger-zero .*\n.*\n +real programs: \/usr\/bin\/socat \(client\)$/m
      : /real programs: \/usr\/bin\/socat \(client, MISSING on this host: run --all skips it\)/,
  );
  assert.doesNotMatch(stdout, /^seed .*\n.*\n +real programs/m, "the lab's own steps are no real program");
});

Deno.test("bad input gives one clear message and exit code 2", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "tcplab-cli-" });
  const seedPcap = await Deno.readFile(new URL("../testdata/runs/seed/client.pcap", import.meta.url));
  await Deno.writeFile(`${dir}/truncated.pcap`, seedPcap.subarray(0, seedPcap.length - 7));
  await Deno.writeTextFile(`${dir}/notes.pcap`, "these are my notes, not a capture\n");
  await Deno.writeFile(`${dir}/empty.pcap`, new Uint8Array());
  await Deno.writeTextFile(
    `${dir}/typo.yaml`,
    "name: typo\ntitle: t\nserver: {steps: [listen, accept, close]}\nclient: {steps: [connect, {wirte: 1}]}\nexpect: {state: SF}\n",
  );
  const cases: Array<[string, string[], RegExp]> = [
    ["a truncated pcap", ["explain", `${dir}/truncated.pcap`], /truncated\.pcap.*byte \d+/],
    ["a file that is not a pcap", ["explain", `${dir}/notes.pcap`], /notes\.pcap.*not a (pcap|capture)/i],
    ["an empty file", ["explain", `${dir}/empty.pcap`], /empty\.pcap/],
    ["a directory", ["explain", dir], /is a directory/],
    ["a missing file", ["explain", `${dir}/nope.pcap`], /no such file/],
    [
      "a malformed scenario file (before any container starts)",
      ["run", `${dir}/typo.yaml`],
      /typo\.yaml:4:27: client\.steps\[1\]: unknown step "wirte"/,
    ],
    [
      "a missing scenario file",
      ["run", `${dir}/nope.yaml`],
      /Cannot read the scenario file .*nope\.yaml": no such file/,
    ],
    [
      "an unknown scenario",
      ["run", "no-such-scenario"],
      /No scenario named "no-such-scenario"; choose one of: seed, seed-read-first, /,
    ],
    ["an unknown command", ["frobnicate"], /Unknown command "frobnicate"/],
    ["an unknown option", ["run", "seed", "--colour"], /--colour/],
    [
      "--host with the narrow lab task (refused before anything runs)",
      ["run", "seed", "--host", "unix:///other.sock"],
      /^tcplab: --host unix:\/\/\/other\.sock: use deno task lab:hosts /,
    ],
  ];
  try {
    for (const [name, args, pattern] of cases) {
      await t.step(name, async () => {
        const { code, stderr } = await lab(...args);
        assert.equal(code, 2, `exit code for ${name}; stderr: ${stderr}`);
        assertCleanError(stderr, pattern);
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("explain tells a recorded run's story from the packets alone", async () => {
  const { code, stdout } = await lab("explain", "tests/testdata/runs/seed/client.pcap");
  assert.equal(code, 0);
  assert.match(stdout, /\| RSTO \|/);
  assert.match(stdout, /close-with-unread-data/);
  assert.match(stdout, /linger-zero/, "packets alone cannot tell unread data from SO_LINGER {1, 0}");
});
