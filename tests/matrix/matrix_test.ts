/**
 * The matrix over two Docker hosts: a second daemon on this machine (its own
 * socket, data root, exec root and pidfile, --bridge=none, an address pool
 * disjoint from the first's, its output in a log file) stands in for a second
 * host. Real containers on both.
 */
import assert from "node:assert/strict";
import type { Matrix } from "../../lab/matrix/types.ts";
import { runTask } from "../_cli.ts";
import { secondDaemon } from "../_second_daemon.ts";

const dockerTest = { sanitizeOps: false, sanitizeResources: false };

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
      // Each cell's report reproduces that cell: its column's sysctl as a --vary of one value.
      for (const cell of matrix.cells) {
        const variant = matrix.columns[cell.column]!.variant["net.ipv4.tcp_fin_timeout"];
        const command = `./tcplab run scenario.yaml --vary net.ipv4.tcp_fin_timeout=${variant}`;
        assert.equal(cell.reproduce, command);
        assert.ok(
          (await Deno.readTextFile(`${out}/${cell.report}`)).includes(`\`\`\`sh\n${command}\n\`\`\``),
        );
      }
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});
