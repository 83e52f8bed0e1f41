import assert from "node:assert/strict";
import { readConnections } from "../../lab/analysis/connections.ts";
import {
  numberingNote,
  packetLine,
  SequenceNumbering,
  sidesWithoutSyn,
} from "../../lab/analysis/packet_lines.ts";
import { TcpdumpFormatter } from "../../lab/analysis/tcpdump_format.ts";
import { explainCapture } from "../../lab/explain/explain_capture.ts";
import { renderCaptureReport } from "../../lab/report/capture_report.ts";
import { analyseRun } from "../../lab/verdict/analyse_run.ts";
import { recordedRun } from "../_fixtures.ts";
import { fixtureBytes, FIXTURES } from "./_helpers.ts";

/** The packet lines of every connection of a fixture, as the run road builds them. */
function runLines(name: string): Array<Array<[string, number, number]>> {
  const { packets, connections } = readConnections(fixtureBytes(name), name);
  const formatter = new TcpdumpFormatter();
  const lines = new Map(packets.map((p) => [p, formatter.format(p)]));
  return connections.map((conn) => {
    const numbering = new SequenceNumbering(conn.isn.orig, conn.isn.resp);
    return conn.packets.map((p) => {
      const line = packetLine(p, conn.originator, numbering, lines.get(p)!);
      return [line.flags, line.seq, line.ack];
    });
  });
}

Deno.test("lab run and lab explain number every fixture's packets alike", async (t) => {
  for (const name of FIXTURES) {
    await t.step(name, () => {
      const explained = explainCapture(fixtureBytes(name), name, { maxDetailsPerKind: 100, maxDetails: 100 });
      const byId = runLines(name);
      for (const detail of explained.details) {
        assert.deepEqual(detail.packetLines.map((l) => [l.flags, l.seq, l.ack]), byId[detail.id - 1]);
      }
    });
  }
});

Deno.test("without a SYN, numbers count from the first one seen (0), and the reports say so", async (t) => {
  await t.step("a refused connection: the RST's seq 0 as on the wire", () => {
    const [lines] = runLines("refused");
    assert.deepEqual(lines, [["S", 0, 0], ["R.", 0, 1]]);
    const report = renderCaptureReport(explainCapture(fixtureBytes("refused"), "refused.pcap"));
    assert.match(report, /\(`\[R\.\]`, seq 0, ack 1, at/);
    assert.ok(report.includes(numberingNote(["responder"])!));
  });
  await t.step("a capture that starts mid-stream: both sides from their first numbers", () => {
    const [lines] = runLines("founding_rst_unread");
    const numbering = new SequenceNumbering(null, null);
    const { connections } = readConnections(fixtureBytes("founding_rst_unread"), "f");
    const conn = connections[0]!;
    const midStream = conn.packets.slice(3).map((p) => packetLine(p, conn.originator, numbering, "").seq);
    // The packets after the handshake, numbered as if no SYN had been captured: from 0, not from the ISN.
    assert.equal(midStream[0], 0);
    assert.notDeepEqual(midStream, lines!.slice(3).map((l) => l[1]));
    assert.deepEqual(sidesWithoutSyn([{ from: "client", flags: "P." }, { from: "server", flags: "." }]), [
      "client",
      "server",
    ]);
    assert.match(numberingNote(["client", "server"])!, /client or the server was captured: their/);
  });
  await t.step("the run report of the refused run says it", async () => {
    const result = analyseRun(await recordedRun("refused"));
    const conn = result.connections[0]!;
    assert.deepEqual(conn.packets.filter((p) => p.capture === "client").map((p) => [p.flags, p.seq, p.ack]), [
      ["S", 0, 0],
      ["R.", 0, 1],
    ]);
    assert.deepEqual([conn.facts.resetSeq, conn.facts.resetAck], [0, 1]);
  });
  await t.step(
    "an ack without the ACK bit is 0, as tcpdump leaves it out (write-after-close's bare RST)",
    async () => {
      const result = analyseRun(await recordedRun("write-after-close"));
      const conn = result.connections[0]!;
      const rst = conn.packets.find((p) => p.flags === "R")!;
      assert.equal(rst.ack, 0);
      assert.equal(conn.facts.resetAck, 0);
      for (const p of conn.packets.filter((p) => p.flags === "S")) assert.equal(p.ack, 0);
    },
  );
});
