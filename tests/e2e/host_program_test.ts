/**
 * A program of this host the lab never saw before, as one side, in real
 * containers: socat (from Debian) sends 6 bytes with linger=0 and exits,
 * against the lab's own server. Its system calls, traced by strace, are in
 * result.json beside the server's, and its traced setsockopt makes the
 * cause certain. Needs a running Docker daemon and socat and strace on this host.
 */
import assert from "node:assert/strict";
import type { RunResult } from "../../lab/verdict/types.ts";
import { dockerTest, leftBy, names, runLab } from "../lifecycle/_lab.ts";

const SCENARIO = `name: socat-linger-zero
title: "socat sends 6 bytes with linger=0 and exits"
port: 9999
server:
  steps:
    - listen
    - accept
    - epoll: [in, rdhup, hup]
    - read: 6
    - epoll: { events: [in, rdhup, hup], until: [hup] }
    - read: 1
    - close
client:
  program:
    binary: /usr/bin/socat
    args: ["-u", "OPEN:/etc/hello", "TCP:{server}:{port},linger=0,shut-none"]
    files: { /etc/hello: ./hello.txt }
expect:
  resetBy: client
  cause: linger-zero
`;

Deno.test({
  name:
    "socat as the client: its traced calls in result.json, its SO_LINGER {1, 0} makes linger-zero certain",
  ...dockerTest,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "tcplab-e2e-host-" });
    try {
      await Deno.writeTextFile(`${dir}/hello.txt`, "hello\n");
      await Deno.writeTextFile(`${dir}/socat.yaml`, SCENARIO);
      const { pid, code, stdout, stderr } = await runLab([
        "run",
        `${dir}/socat.yaml`,
        "--json",
        "--out",
        `${dir}/out`,
      ]);
      assert.equal(code, 0, `exit code 0 expected; stderr: ${stderr}`);
      const result: RunResult = JSON.parse(stdout);
      const client = result.calls.filter((c) => c.side === "client");
      const said = client.map((c) => `${c.call}${c.args ? `(${c.args})` : ""}=${c.ret}`);
      assert.ok(said.includes("setsockopt(SO_LINGER=1,0)=0"), said.join(" "));
      assert.ok(said.includes("write=6"), said.join(" "));
      assert.equal(client.find((c) => c.call === "connect")?.detail.peer, result.connections[0]!.server);
      assert.equal(client.at(-1)?.call, "exit_group");
      assert.ok(client.every((c) => c.returnMs !== null && c.enterMs <= c.returnMs), "timed calls");
      assert.ok(
        result.calls.some((c) => c.side === "server" && c.call === "accept"),
        "the lab's own calls beside",
      );
      const conn = result.connections[0]!;
      assert.equal(conn.cause, "linger-zero");
      assert.equal(conn.confidence, "certain");
      assert.deepEqual(result.scenario.hostPrograms, {
        client: {
          binary: "/usr/bin/socat",
          traced: true,
          exitCode: 0,
          stdout: "",
          stderr: "",
          straceMessages: "",
        },
      });
      const report = await Deno.readTextFile(`${dir}/out/report.md`);
      assert.match(report, /its system calls were traced by strace/);
      assert.match(report, /It exited with status 0\./);
      assert.match(report, /<summary>Output of the client's program: exit status, stdout, stderr<\/summary>/);
      assert.match(
        report,
        /`tcplab-program-socat:[0-9a-f]+` sha256:[0-9a-f]{12} \(\d+\.\d MB\)/,
        "the image's size",
      );
      assert.ok(
        Object.keys(result.environment.images).some((tag) => tag.startsWith("tcplab-program-socat:")),
        "the program's image in the environment",
      );
      assert.deepEqual(names(await leftBy(pid)), [], "nothing left behind");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "no strace on this host: the program runs untraced, and the report and result.json say why",
  ...dockerTest,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "tcplab-e2e-host-" });
    try {
      await Deno.writeTextFile(`${dir}/hello.txt`, "hello\n");
      await Deno.writeTextFile(`${dir}/socat.yaml`, SCENARIO);
      // A PATH with every program of /usr/bin but strace (/bin is /usr/bin on Debian: left out).
      await Deno.mkdir(`${dir}/bin`);
      for await (const entry of Deno.readDir("/usr/bin")) {
        if (entry.name !== "strace") await Deno.symlink(`/usr/bin/${entry.name}`, `${dir}/bin/${entry.name}`);
      }
      const { pid, code, stdout, stderr } = await runLab(
        ["run", `${dir}/socat.yaml`, "--json", "--out", `${dir}/out`],
        { env: { PATH: `${dir}/bin:/usr/local/bin:/usr/sbin:/sbin` } },
      );
      assert.equal(code, 0, `exit code 0 expected; stderr: ${stderr}`);
      const result = await _untracedRun(
        stdout,
        dir,
        pid,
        "this host has no strace to put in its image (apt-get install strace)",
      );
      assert.ok(result.calls.some((c) => c.side === "server" && c.call === "accept"), "the lab's own calls");
      assert.ok(
        !result.environment.containers.some((c) => c.role.includes("trace check")),
        "nothing to check",
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "ptrace refused in the program's container (a seccomp profile): the run works, untraced, and says why",
  ...dockerTest,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "tcplab-e2e-host-" });
    try {
      await Deno.writeTextFile(`${dir}/hello.txt`, "hello\n");
      // Everything allowed but ptrace, which fails with EPERM: strace may not trace.
      await Deno.writeTextFile(
        `${dir}/no-ptrace.json`,
        JSON.stringify({
          defaultAction: "SCMP_ACT_ALLOW",
          syscalls: [{ names: ["ptrace"], action: "SCMP_ACT_ERRNO" }],
        }),
      );
      await Deno.writeTextFile(
        `${dir}/socat.yaml`,
        SCENARIO.replace(
          "    files: { /etc/hello: ./hello.txt }",
          "    files: { /etc/hello: ./hello.txt }\n    seccomp: ./no-ptrace.json",
        ),
      );
      const { pid, code, stdout, stderr } = await runLab([
        "run",
        `${dir}/socat.yaml`,
        "--json",
        "--out",
        `${dir}/out`,
      ]);
      assert.equal(code, 0, `exit code 0 expected; stderr: ${stderr}`);
      const result = await _untracedRun(
        stdout,
        dir,
        pid,
        "strace may not trace in its container (`ptrace(PTRACE_TRACEME, ...): Operation not permitted`)",
      );
      assert.equal(result.scenario.hostPrograms?.client?.exitCode, 0, "the program ran, untraced");
      assert.equal(result.connections[0]?.resetBy, "client");
      const roles = result.environment.containers.map((c) => c.role);
      assert.ok(roles.some((r) => r.startsWith("client trace check")), roles.join("; "));
      assert.ok(roles.includes("client program, under the scenario's seccomp profile"), roles.join("; "));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "a binary that does not exist: one line saying what to do, exit 2, nothing created",
  ...dockerTest,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "tcplab-e2e-host-" });
    try {
      await Deno.writeTextFile(
        `${dir}/missing.yaml`,
        SCENARIO.replace("/usr/bin/socat", `${dir}/no-such-program`),
      );
      const { pid, code, stderr } = await runLab(["run", `${dir}/missing.yaml`, "--out", `${dir}/out`]);
      assert.equal(code, 2, stderr);
      assert.match(stderr, /no-such-program does not exist on this host/);
      assert.doesNotMatch(stderr, /\n\s+at |Stack backtrace|Uncaught/);
      assert.ok(stderr.trim().split("\n").length <= 2, stderr);
      assert.deepEqual(names(await leftBy(pid)), [], "nothing created");
      assert.equal(
        await Deno.stat(`${dir}/out`).then(() => "made", () => "none"),
        "none",
        "no output folder",
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** A run whose client program went untraced for `why`: result.json and the report say so, nothing is left. */
async function _untracedRun(stdout: string, dir: string, pid: number, why: string): Promise<RunResult> {
  const result: RunResult = JSON.parse(stdout);
  assert.deepEqual(result.scenario.untraced, { client: why });
  assert.equal(result.scenario.hostPrograms?.client?.traced, false);
  assert.deepEqual(result.calls.filter((c) => c.side === "client"), [], "no calls without a trace");
  const report = await Deno.readTextFile(`${dir}/out/report.md`);
  assert.ok(report.includes(`its system calls were not traced: ${why};`), report.slice(0, 1200));
  assert.deepEqual(names(await leftBy(pid)), [], "nothing left behind");
  return result;
}
