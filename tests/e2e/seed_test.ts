/**
 * The founding case end to end, in real containers: needs a running Docker
 * daemon (CI starts one). Nothing here is mocked.
 */
import assert from "node:assert/strict";
import { DockerClient } from "../../lab/docker/client.ts";
import { parseDockerHost } from "../../lab/docker/host.ts";
import { runScenario } from "../../lab/run/run_scenario.ts";
import { silentProgress } from "../../lab/util/progress.ts";
import { loadCatalog } from "../../lab/scenario/catalog.ts";
import { analyseRun } from "../../lab/verdict/analyse_run.ts";
import type { RunResult } from "../../lab/verdict/types.ts";
import { lab, runTaskWithEnv } from "../_cli.ts";

const docker = new DockerClient(parseDockerHost(Deno.env.get("DOCKER_HOST")));
const dockerTest = { sanitizeOps: false, sanitizeResources: false };

async function leftovers(runId?: string): Promise<string[]> {
  return (await docker.listLabelled(runId)).map((r) => `${r.kind} ${r.name}`);
}

Deno.test({
  name: "`deno task lab run seed`: the client resets with seq 1, ack 2, and the kernel says why",
  ...dockerTest,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "tcplab-e2e-" });
    try {
      // A secret in the lab's environment must not reach the report or the JSON people attach to tickets.
      const secret = `s3cr3t-${crypto.randomUUID()}`;
      const { code, stdout, stderr } = await runTaskWithEnv(
        { TCPLAB_TEST_TOKEN: secret, AWS_SECRET_ACCESS_KEY: secret },
        "lab",
        ...["run", "seed", "--no-contrast", "--json", "--out", dir],
      );
      assert.equal(code, 0, `exit code 0 expected; stderr: ${stderr}`);
      const result: RunResult = JSON.parse(stdout);
      const conn = result.connections[0]!;
      const clientPackets = conn.packets.filter((p) => p.capture === "client");
      const rst = clientPackets.filter((p) => p.flags.startsWith("R"));
      assert.equal(rst.length, 1, "one RST");
      assert.equal(rst[0]!.from, "client");
      assert.equal(rst[0]!.flags, "R.");
      assert.equal(rst[0]!.seq, 1);
      assert.equal(rst[0]!.ack, 2);
      assert.ok(
        !conn.packets.some((p) => p.from === "client" && p.flags.includes("F")),
        "no FIN from the client",
      );
      assert.equal(conn.kernel.counters.client["TcpExt.TCPAbortOnClose"], 1);
      if (conn.kernel.traceAvailable && conn.kernel.activeResetReasons) {
        assert.deepEqual(conn.kernel.resetReasons.map((r) => r.reason), ["TCP_ABORT_ON_CLOSE"]);
      }
      // The server saw the reset: its epoll_wait after the RST, then read() = ECONNRESET.
      const server = result.calls.filter((c) => c.side === "server");
      const waits = server.filter((c) => c.call === "epoll_wait");
      assert.match(String(waits[waits.length - 1]!.detail.events), /EPOLLHUP/);
      const read = server.find((c) => c.call === "read")!;
      assert.equal(read.errno, "ECONNRESET");
      assert.ok(read.enterMs > rst[0]!.ms, "the server read after the RST");
      for (const file of ["report.md", "result.json", "evidence/run.json"]) {
        assert.ok(!(await Deno.readTextFile(`${dir}/${file}`)).includes(secret), `no secret in ${file}`);
      }
      assert.ok(!stdout.includes(secret));
      // The report and the pcaps are where the lab said.
      for (const file of ["report.md", "result.json", "client.pcap", "server.pcap"]) {
        assert.ok((await Deno.stat(`${dir}/${file}`)).size > 0, `${file} written`);
      }
      assert.deepEqual(await leftovers(result.runId), [], "nothing of the run is left");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "`seed-read-first`: reading the byte first gives a FIN handshake and no RST",
  ...dockerTest,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "tcplab-e2e-" });
    try {
      const { code, stdout, stderr } = await lab(...[
        "run",
        "seed-read-first",
        "--no-contrast",
        "--json",
        "--out",
        dir,
      ]);
      assert.equal(code, 0, `exit code 0 expected; stderr: ${stderr}`);
      const result: RunResult = JSON.parse(stdout);
      const conn = result.connections[0]!;
      const flags = conn.packets.filter((p) => p.capture === "client").map((p) => `${p.from}:${p.flags}`);
      assert.ok(flags.includes("client:F."), `a FIN from the client in ${flags}`);
      assert.ok(flags.includes("server:F."), `a FIN from the server in ${flags}`);
      assert.ok(!flags.some((f) => f.includes(":R")), `no RST in ${flags}`);
      assert.equal(conn.state, "SF");
      assert.ok(conn.kernel.socketsLeft.client.some((s) => s.state === "TIME_WAIT"));
      assert.equal(
        result.calls.find((c) => c.side === "server" && c.call === "read")?.ret,
        0,
        "the server read EOF",
      );
      assert.deepEqual(await leftovers(result.runId), []);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "`seed` gives the same outcome 20 times in a row and leaves nothing behind",
  ...dockerTest,
  async fn() {
    const scenario = loadCatalog().get("seed")!;
    const outcomes = new Map<string, number>();
    for (let i = 0; i < 20; i++) {
      const artifacts = await runScenario(scenario, { docker, progress: silentProgress });
      const result = analyseRun(artifacts);
      const c = result.connections[0];
      const outcome = c
        ? `${c.state} resetBy=${c.resetBy} cause=${c.cause} seq=${c.facts.resetSeq} ack=${c.facts.resetAck} ` +
          `abortOnClose=${c.kernel.counters.client["TcpExt.TCPAbortOnClose"]} met=${result.expectation.met}`
        : "no connection";
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      assert.deepEqual(await leftovers(artifacts.runId), [], `run ${i + 1} left resources`);
    }
    assert.deepEqual(
      [...outcomes],
      [["RSTO resetBy=client cause=close-with-unread-data seq=1 ack=2 abortOnClose=1 met=true", 20]],
    );
  },
});
