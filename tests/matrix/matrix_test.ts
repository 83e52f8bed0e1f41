/**
 * The matrix over two Docker hosts: a second daemon on this machine (its own
 * socket, data root, exec root and pidfile, --bridge=none, an address pool
 * disjoint from the first's, its output in a log file) stands in for a second
 * host. Real containers on both.
 */
import assert from "node:assert/strict";
import type { Matrix } from "../../lab/matrix/types.ts";
import { DockerClient } from "../../lab/docker/client.ts";
import { parseDockerHost } from "../../lab/docker/host.ts";
import { runTask } from "../_cli.ts";

const dockerTest = { sanitizeOps: false, sanitizeResources: false };

/** Start a second dockerd; returns its socket and a function that stops it and removes its files. */
async function secondDaemon(): Promise<{ socket: string; stop: () => Promise<void> }> {
  const dir = await Deno.makeTempDir({ prefix: "tcplab-d2-" });
  const socket = `${dir}/docker.sock`;
  const log = await Deno.open(`${dir}/dockerd.log`, { write: true, create: true });
  const daemon = new Deno.Command("dockerd", {
    args: [
      `--host=unix://${socket}`,
      `--data-root=${dir}/data`,
      `--exec-root=${dir}/exec`,
      `--pidfile=${dir}/docker.pid`,
      "--bridge=none",
      "--default-address-pool=base=10.210.0.0/16,size=24",
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // Its output goes to the log file, never to the test's output.
  daemon.stdout.pipeTo(log.writable, { preventClose: true }).catch(() => {});
  daemon.stderr.pipeTo((await Deno.open(`${dir}/dockerd.err.log`, { write: true, create: true })).writable)
    .catch(() => {});
  const stop = async () => {
    try {
      daemon.kill("SIGTERM");
    } catch {
      // already gone
    }
    await daemon.status;
    log.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  const engine = new DockerClient(parseDockerHost(`unix://${socket}`), { answerTimeoutMs: 2_000 });
  for (let i = 0; i < 100; i++) {
    try {
      await engine.info();
      return { socket, stop };
    } catch {
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  await stop();
  throw new Error("the second dockerd did not start");
}

Deno.test({
  name: "two hosts give matching columns; an unreachable host is a column of its own and the exit code is 3",
  ...dockerTest,
  async fn() {
    const second = await secondDaemon();
    const out = await Deno.makeTempDir({ prefix: "tcplab-matrix-" });
    try {
      const { code, stdout, stderr } = await runTask(
        "lab:hosts",
        "run",
        "seed",
        "refused",
        "--host",
        "unix:///var/run/docker.sock",
        "--host",
        `unix://${second.socket}`,
        "--host",
        `unix://${out}/no-daemon-here.sock`,
        "--json",
        "--out",
        out,
      );
      assert.equal(code, 3, `exit 3: the matrix is incomplete; stderr: ${stderr}`);
      const matrix: Matrix = JSON.parse(stdout);
      assert.equal(matrix.columns.length, 3);
      assert.deepEqual(matrix.columns.map((c) => c.status), ["ok", "ok", "unreachable"]);
      for (const column of matrix.columns.slice(0, 2)) {
        assert.match(column.kernel ?? "", /\d+\.\d+/, "each column names its kernel");
        assert.ok(column.dockerVersion && column.arch);
      }
      assert.deepEqual(matrix.differences, [], "the same kernel gives the same outcomes");
      for (const scenario of ["seed", "refused"]) {
        const cells = matrix.cells.filter((c) => c.scenario === scenario);
        assert.equal(cells[0]!.state, cells[1]!.state);
        assert.equal(cells[0]!.met, true, `${scenario} on the first host`);
        assert.equal(cells[1]!.met, true, `${scenario} on the second host`);
        assert.equal(cells[2]!.status, "unreachable");
      }
      const report = await Deno.readTextFile(`${out}/matrix.md`);
      assert.match(report, /\*\*unreachable\*\*/);
      assert.match(report, /the matrix is incomplete/);
    } finally {
      await second.stop();
      await Deno.remove(out, { recursive: true });
    }
  },
});

Deno.test({
  name: "--vary: a sysctl that changes the outcome shows the difference and explains it",
  ...dockerTest,
  async fn() {
    const out = await Deno.makeTempDir({ prefix: "tcplab-vary-" });
    try {
      const { code, stdout, stderr } = await runTask(
        "lab:hosts",
        "run",
        "tests/testdata/scenarios/late-write.yaml",
        "--vary",
        "net.ipv4.tcp_fin_timeout=1,60",
        "--json",
        "--out",
        out,
      );
      assert.equal(code, 0, stderr);
      const matrix: Matrix = JSON.parse(stdout);
      assert.deepEqual(matrix.columns.map((c) => c.variant), [
        { "net.ipv4.tcp_fin_timeout": "1" },
        { "net.ipv4.tcp_fin_timeout": "60" },
      ]);
      const [difference] = matrix.differences;
      assert.ok(difference, "the two variants differ");
      if (matrix.columns.every((c) => c.traceAvailable)) {
        assert.deepEqual(difference.fields, ["resetReasons"]);
        // With fin_timeout 1 the closed socket is gone when the byte comes; with 60 its mini-socket answers.
        assert.match(
          difference.text,
          /tcp_fin_timeout=1\) it ended RSTO, RST by the client, cause data-after-close \(kernel reason NO_SOCKET/,
        );
        assert.match(difference.text, /tcp_fin_timeout=60\) it ended .* TCP_TIMEWAIT_SOCKET/);
      }
      assert.match(await Deno.readTextFile(`${out}/matrix.md`), /\*\*\(differs\)\*\*/);
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});
