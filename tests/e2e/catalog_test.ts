/**
 * The whole catalog in real containers, run side by side as `run --all`
 * does (the scenarios with programs of this host among them), and a user's own program (a static busybox nobody here wrote) as
 * one side. Needs a running Docker daemon (CI starts one).
 */
import assert from "node:assert/strict";
import { DockerClient } from "../../lab/docker/client.ts";
import { parseDockerHost } from "../../lab/docker/host.ts";
import { LAB_LABEL } from "../../lab/docker/labels.ts";
import { makeTar } from "../../lab/util/tar.ts";
import type { SummaryEntry } from "../../lab/report/summary.ts";
import type { RunResult } from "../../lab/verdict/types.ts";
import { lab } from "../_cli.ts";
import { focusConnection as focused } from "../../lab/verdict/focus.ts";
import { loadCatalog } from "../../lab/scenario/catalog.ts";
import { hostBinaries } from "../../lab/run/host_programs.ts";

const docker = new DockerClient(parseDockerHost(Deno.env.get("DOCKER_HOST")));
const dockerTest = { sanitizeOps: false, sanitizeResources: false };

/** The causes the kernel's RST reason allows, where it says any (TCP_STATE is tcp_disconnect()'s: two causes). */
const REASON_CAUSES: Record<string, string[]> = {
  TCP_ABORT_ON_CLOSE: ["close-with-unread-data"],
  TCP_STATE: ["linger-zero", "listener-closed"],
  TCP_TIMEWAIT_SOCKET: ["data-after-close"],
  TCP_ABORT_ON_DATA: ["data-after-close"],
  // No socket: a closed port, a NAT's middlebox whose mapping expired, a peer that restarted.
  NO_SOCKET: ["refused", "nat-mapping-expired", "peer-lost-state"],
  TCP_KEEPALIVE_TIMEOUT: ["keepalive-timeout"],
};

Deno.test({
  name: "run --all: every catalog scenario meets its expectation, the kernel agrees, nothing is left",
  ...dockerTest,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "tcplab-all-" });
    try {
      // Six at once: the whole catalog at once on two cores can delay a path rule's docker exec past the
      // client's sleep that the rule's window counts on (bench/run_all_bench.sh runs it at full width).
      const { code, stdout, stderr } = await lab("run", "--all", "--jobs", "6", "--json", "--out", dir);
      const summary: { met: number; total: number; runs: SummaryEntry[] } = JSON.parse(stdout);
      // The one timing-dependent scenario may miss on a loaded machine; then it must say so honestly.
      const simultaneous: RunResult = JSON.parse(
        await Deno.readTextFile(`${dir}/simultaneous-close/result.json`),
      );
      const crossed = simultaneous.connections[0]!.facts.finsCrossed;
      if (!crossed) {
        assert.match(simultaneous.attempts.note ?? "", /never crossed in \d+ attempts/);
        console.log(`simultaneous-close: ${simultaneous.attempts.note}`);
      }
      const failed = summary.runs.filter((r) => !r.met && (crossed || r.scenario !== "simultaneous-close"))
        .map((
          r,
        ) => `${r.scenario}: ${JSON.stringify(r.failedChecks)}`);
      assert.deepEqual(failed, [], `every expectation met; stderr: ${stderr}`);
      assert.equal(code, crossed ? 0 : 1);
      assert.ok(summary.total >= 11);
      // Runs side by side share the tracefs helper: each gets the kernel's trace, or none does (no root, no tracefs).
      const traced = await Promise.all(summary.runs.map(async (run) => {
        const result: RunResult = JSON.parse(await Deno.readTextFile(`${dir}/${run.scenario}/result.json`));
        return `${run.scenario}: ${result.connections[0]?.kernel.traceNote ?? "traced"}`;
      }));
      assert.ok(
        traced.every((t) => t.endsWith(": traced")) || traced.every((t) => !t.endsWith(": traced")),
        traced.join("\n"),
      );
      for (const run of summary.runs) {
        // Where the kernel named a reason, its first names the lab's cause (a real program's peer may
        // send on after the reset, and the kernel answers each such segment with NO_SOCKET).
        const result: RunResult = JSON.parse(await Deno.readTextFile(`${dir}/${run.scenario}/result.json`));
        const first = [...(focused(result)?.kernel.resetReasons ?? [])].sort((a, b) =>
          (a.ms ?? Infinity) - (b.ms ?? Infinity)
        )[0]
          ?.reason;
        if (first && REASON_CAUSES[first]) {
          assert.ok(
            REASON_CAUSES[first].includes(run.cause ?? ""),
            `${run.scenario}: ${first} but ${run.cause}`,
          );
        }
      }
      // The scenarios with programs of this host ran, or were skipped with one line each.
      const ran = new Set(summary.runs.map((r) => r.scenario));
      for (const scenario of loadCatalog().values()) {
        const missing = hostBinaries(scenario).filter((b) => !b.present);
        if (missing.length === 0) assert.ok(ran.has(scenario.name), `${scenario.name} ran`);
        else assert.match(stderr, new RegExp(`skipped ${scenario.name}: `), `${scenario.name} skipped`);
      }
      assert.ok(
        [...loadCatalog().values()].filter((s) => hostBinaries(s).length > 0).length >= 3,
        "real programs in the catalog",
      );
      if (crossed) assert.match(simultaneous.attempts.note ?? "", /crossed on attempt \d+/);
      for (const file of ["summary.md", "summary.json", "seed/report.md", "refused/client.pcap"]) {
        assert.ok((await Deno.stat(`${dir}/${file}`)).size > 0, file);
      }
      for (const run of summary.runs) {
        assert.deepEqual(
          (await docker.listLabelled(run.runId)).map((r) => `${r.kind} ${r.name}`),
          [],
          `nothing of ${run.scenario}'s run is left`,
        );
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "a user's own program (busybox nc -e echo) as the server is explained like the lab's own",
  ...dockerTest,
  async fn() {
    const busybox = await Deno.readFile("/bin/busybox").catch(() => null);
    assert.ok(busybox, "/bin/busybox (Debian's busybox-static) is needed: apt-get install busybox-static");
    const image = "tcplab-test-busybox:1";
    if (!(await docker.imageExists(image))) {
      await docker.buildImage(
        makeTar([
          {
            path: "Dockerfile",
            data: new TextEncoder().encode("FROM scratch\nCOPY rootfs/ /\n"),
            mode: 0o644,
          },
          { path: "rootfs/bin/busybox", data: busybox, mode: 0o755 },
        ]),
        image,
        { [LAB_LABEL]: "1" },
      );
    }
    const dir = await Deno.makeTempDir({ prefix: "tcplab-user-" });
    try {
      await Deno.writeTextFile(
        `${dir}/scenario.yaml`,
        `name: busybox-echo-server
title: a server nobody here wrote answers, then closes
server:
  program:
    image: ${image}
    command: [/bin/busybox, nc, -l, -p, "{port}", -e, /bin/busybox, echo, hello]
client:
  steps: [connect, {wait-unread: 6}, {write: 1}, {poll: [in, rdhup]}, read-eof, close]
expect:
  resetBy: server
  cause: [data-after-close, close-with-unread-data]
`,
      );
      const { code, stdout, stderr } = await lab(
        "run",
        `${dir}/scenario.yaml`,
        "--json",
        "--out",
        `${dir}/out`,
      );
      assert.equal(code, 0, stderr);
      const result: RunResult = JSON.parse(stdout);
      assert.equal(result.scenario.programs.server, "user");
      const conn = result.connections[0]!;
      // busybox wrote "hello\n" before the RST: the client saw 6 bytes waiting.
      const fionread = result.calls.filter((c) => c.side === "client" && c.call === "ioctl").pop();
      assert.equal(fionread?.detail.value, 6);
      assert.ok(conn.packets.some((p) => p.from === "server" && p.length === 6));
      assert.equal(conn.resetBy, "server");
      const report = await Deno.readTextFile(`${dir}/out/report.md`);
      assert.match(report, /The server is the user's own program \(image `tcplab-test-busybox:1`/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
