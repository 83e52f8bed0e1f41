/**
 * Unread bytes are counted at the moment the socket closed (what the peer
 * delivered, from the closer's ACKs, less what its program read, from its
 * calls), and a program that exits without close() is said to exit: the
 * kernel closed its socket, the program did not call close().
 */
import assert from "node:assert/strict";
import { renderReport } from "../../lab/report/run_report.ts";
import { loadArtifacts } from "../../lab/session/run_files.ts";
import { analyseRun } from "../../lab/verdict/analyse_run.ts";
import { recordedRun } from "../_fixtures.ts";

/** A real run of tests/testdata/exit-unread/scenario.yaml: the client waits, takes FIONREAD, sleeps 200 ms, exits. */
const EXIT_UNREAD = new URL("../testdata/exit-unread", import.meta.url).pathname;

Deno.test("a client that exits without close() is said to exit, with the bytes unread at its exit", async () => {
  const result = analyseRun(await loadArtifacts(EXIT_UNREAD));
  const conn = result.connections[0]!;
  assert.equal(conn.cause, "close-with-unread-data");
  assert.equal(conn.facts.closedBy, "exit");
  // Its last FIONREAD said 110048, 200 ms before it exited; its RST acknowledges 127104 bytes, and it read none.
  assert.ok(result.calls.some((c) => c.side === "client" && c.detail.value === 110048));
  assert.equal(conn.facts.resetAck, 127105);
  assert.deepEqual(conn.facts.unreadCount, { delivered: 127104, read: 0 });
  assert.equal(conn.facts.unreadBytes, 127104);
  assert.match(result.verdict, /^The client reset the connection: it exited without calling close\(\) /);
  assert.match(result.verdict, /with 127104 bytes unread in its receive queue/);
  const report = renderReport(result);
  assert.doesNotMatch(report, /client (reset the connection: it )?called close\(\)/);
  assert.doesNotMatch(report, /110048 bytes unread/);
  assert.match(
    report,
    /- Unread when the client's socket closed: 127104 bytes, the 127104 bytes of the server's that the client's kernel had acknowledged \(its ACKs\) less the 0 bytes its program read \(its read calls\); the program exited without calling close\(\)/,
  );
  assert.match(report, /- The client program: .*, then `_exit\(0\)/);
});

Deno.test("the founding case, its client's close() replaced by an exit: the same RST, told as an exit", async () => {
  const artifacts = await recordedRun("seed");
  const log = artifacts.sides.client.programLog.split("\n");
  // The recorded calls, with the close() that ended the client turned into the _exit the lab's program logs.
  const closing = log.findIndex((l) => l.includes('"ph":"enter"') && l.includes('"call":"close"'));
  assert.ok(closing > 0);
  log[closing] = log[closing]!.replace(
    '"call":"close","fd":3,"args":""',
    '"call":"_exit","fd":-1,"args":"0"',
  );
  log.splice(closing + 1, 1); // _exit never returns
  artifacts.sides.client.programLog = log.join("\n");
  const result = analyseRun(artifacts);
  const conn = result.connections[0]!;
  assert.equal(conn.facts.closedBy, "exit");
  assert.equal(conn.facts.unreadBytes, 1);
  assert.match(result.verdict, /it exited without calling close\(\) \(the kernel closes a program's sockets/);
  assert.doesNotMatch(renderReport(result), /The client called close\(\)|it called close\(\)/);
});

Deno.test("the recorded runs count unread bytes at close from their ACKs and their reads", async (t) => {
  const cases: Array<[string, { delivered: number; read: number } | null, "close" | "exit" | null]> = [
    ["seed", { delivered: 1, read: 0 }, "close"],
    ["linger-zero", { delivered: 1, read: 1 }, "close"],
    ["seed-read-first", null, "close"],
  ];
  for (const [name, count, closedBy] of cases) {
    await t.step(name, async () => {
      const conn = analyseRun(await recordedRun(name)).connections[0]!;
      assert.deepEqual(conn.facts.unreadCount, count);
      assert.equal(conn.facts.closedBy, closedBy);
      if (count) assert.equal(conn.facts.unreadBytes, count.delivered - count.read);
    });
  }
});
