/**
 * Eight runs started at the same moment from separate processes: all succeed,
 * with their own networks and unmixed evidence. Real containers.
 */
import assert from "node:assert/strict";
import { lab } from "../_cli.ts";
import { docker, names } from "../lifecycle/_lab.ts";
import type { RunResult } from "../../lab/verdict/types.ts";

Deno.test({
  name: "8 runs from 8 processes at once: all succeed, each with only its own evidence",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dirs = await Promise.all(
      Array.from({ length: 8 }, () => Deno.makeTempDir({ prefix: "tcplab-8-" })),
    );
    try {
      const outs = await Promise.all(
        dirs.map((dir) => lab("run", "seed", "--no-contrast", "--json", "--out", dir)),
      );
      const results: RunResult[] = outs.map((o, i) => {
        assert.equal(o.code, 0, `run ${i + 1}: ${o.stderr}`);
        return JSON.parse(o.stdout);
      });
      assert.equal(new Set(results.map((r) => r.runId)).size, 8, "8 run ids");
      assert.equal(new Set(results.map((r) => r.environment.network.subnet)).size, 8, "8 subnets");
      for (const r of results) {
        const prefix = r.environment.network.subnet.replace(/\.\d+\/28$/, ".");
        const conn = r.connections[0]!;
        assert.equal(r.connections.length, 1, `${r.runId}: one connection`);
        for (const address of [conn.client, conn.server]) {
          assert.ok(
            address.startsWith(prefix),
            `${r.runId}: ${address} is in ${r.environment.network.subnet}`,
          );
        }
        // The kernel's events are global to the host: each run keeps only its own.
        for (const e of [...conn.kernel.resetReasons, ...conn.kernel.stateChanges]) {
          assert.notEqual(e.side, "other", `${r.runId}: an event of another run: ${JSON.stringify(e)}`);
        }
        assert.equal(
          conn.kernel.counters.client["TcpExt.TCPAbortOnClose"],
          1,
          `${r.runId}: its own counters`,
        );
        const trace = await Deno.readTextFile(`${dirs[results.indexOf(r)]}/evidence/trace.txt`);
        for (const other of results.filter((o) => o !== r)) {
          for (const address of [other.connections[0]!.client, other.connections[0]!.server]) {
            const host = address.replace(/:\d+$/, "").replaceAll(".", "\\.");
            assert.doesNotMatch(
              trace,
              new RegExp(`(?<![\\d.])${host}(?![\\d])`),
              `no event of run ${other.runId}`,
            );
          }
        }
      }
      for (const r of results) {
        assert.deepEqual(names(await docker.listLabelled(r.runId)), [], `${r.runId} left nothing`);
      }
    } finally {
      await Promise.all(dirs.map((d) => Deno.remove(d, { recursive: true })));
    }
  },
});
