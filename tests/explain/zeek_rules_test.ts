/**
 * Zeek's rules that `lab explain` follows (Zeek 8.2), each on a real
 * capture: content gaps (G/g, missed_bytes) and checksums (C/c with
 * `--checksums verify`). The captures are the lab's own loopback fixtures,
 * cut with editcap where a case needs packets the kernel never loses on
 * loopback (see tests/testdata/README.md).
 */

import assert from "node:assert/strict";
import { explainCapture } from "../../lab/explain/explain_capture.ts";
import { renderCaptureReport } from "../../lab/report/capture_report.ts";
import { readConnections } from "../../lab/analysis/connections.ts";
import { ZEEK_VERSION, zeekDifferences } from "../../lab/analysis/zeek_tcp_state.ts";
import { fixtureBytes } from "../analysis/_helpers.ts";

function explain(name: string, checksums?: "verify" | "ignore", zeekBoundaries = false) {
  return explainCapture(fixtureBytes(name), `${name}.pcap`, {
    ...(checksums ? { checksums } : {}),
    ...(zeekBoundaries ? { zeekBoundaries } : {}),
  });
}

/** Each row as "state history", in order of id. */
function states(name: string, zeekBoundaries: boolean): string[] {
  const x = explain(name, undefined, zeekBoundaries);
  return [...x.rows].sort((a, b) => a.id - b.id).map((r) => `${r.state} ${r.history}`);
}

Deno.test("content gaps: G/g and missed_bytes from sequence accounting", async (t) => {
  // Rule: TCP_Reassembler::AckReceived/Undelivered/Gap and TCP_Endpoint::Gap, Zeek 8.2
  // (src/analyzer/protocol/tcp/TCP_Reassembler.cc, TCP_Endpoint.cc); missed_bytes from the
  // content_gap handler of base/protocols/conn/main.zeek.
  await t.step("shutdown_drain with both data segments cut out (editcap ... 4 7)", () => {
    const x = explain("shutdown_drain_gaps");
    const row = x.rows[0]!;
    // The server acks 5 client bytes never captured (G), the client acks 14 server bytes never captured (g).
    assert.equal(row.history, "ShAaGFgf");
    assert.equal(row.state, "SF");
    assert.equal(row.missedBytes, 19);
    assert.deepEqual(row.bytes, { orig: 5, resp: 14 });
  });
  await t.step("the whole capture: no gap, missed_bytes 0", () => {
    const row = explain("shutdown_drain").rows[0]!;
    assert.equal(row.history, "ShADaFdf");
    assert.equal(row.missedBytes, 0);
  });
  await t.step("the report's table and facts carry missed bytes", () => {
    const report = renderCaptureReport(explain("shutdown_drain_gaps"));
    assert.match(report, /\| bytes o→r \/ r→o \(missed\) \|/);
    assert.match(report, /\| 5 \/ 14 \(19 missed\) \| SF, ShAaGFgf \|/);
  });
});

Deno.test("checksums: --checksums verify|ignore", async (t) => {
  // Rule: TCPAnalyzer::ValidateChecksum (src/packet_analysis/protocol/tcp/TCP.cc) and
  // TCP_Endpoint::ChecksumError, as Zeek 8.2 documents them (doc/devel/conn.rst,
  // "Checksum Behavior"): the connection is made, C/c is logged, nothing else.
  await t.step("a lone SYN with a bad checksum (refused.pcap cut to its SYN, editcap -r ... 1)", () => {
    const verified = explain("refused_syn_only", "verify").rows[0]!;
    assert.equal(`${verified.state} ${verified.history}`, "OTH C");
    assert.deepEqual(verified.packets, { orig: 0, resp: 0 });
    const ignored = explain("refused_syn_only").rows[0]!;
    assert.equal(`${ignored.state} ${ignored.history}`, "S0 S");
  });
  await t.step("the founding case: every loopback checksum is offloaded", () => {
    const verified = explain("founding_rst_unread", "verify");
    // The bad SYN leaves both sides inactive, so the SYN-ACK is a reuse (IsReuse: its sequence number is
    // not the responder's start) and opens a second, flipped connection: Zeek logs the same, e.g. the
    // loopback conn.log of zeek/zeek#1939 (`OTH`, history `^cC`, no packets counted).
    assert.deepEqual(
      verified.rows.map((r) => `${r.state} ${r.history} ${r.packets.orig}/${r.packets.resp}`),
      [
        "OTH C 0/0",
        "OTH ^cC 0/0",
      ],
    );
    assert.equal(verified.badChecksums, 6);
    const ignored = explain("founding_rst_unread");
    assert.equal(ignored.rows[0]?.state, "RSTO");
    assert.equal(ignored.badChecksums, null); // not checked, so not counted: the default mode reads no payload
    assert.equal(ignored.zeek.checksums, "ignore");
    assert.equal(verified.zeek.checksums, "verify");
  });
  await t.step("the report says how many and what was done with them", () => {
    assert.doesNotMatch(renderCaptureReport(explain("founding_rst_unread")), /bad checksum/);
    assert.match(
      renderCaptureReport(explain("founding_rst_unread", "verify")),
      /6 TCP packets have a bad checksum: each is logged as history C\/c/,
    );
  });
});

Deno.test("connection boundaries: Zeek's with --zeek-boundaries, a note on the row without", async (t) => {
  await t.step("attempt timer: one-way capture, 5.5 s between two data segments (attempt_timer)", () => {
    // Rule: TCPSessionAdapter::UpdateInactiveState arms AttemptTimer at the originator's first SYN, after
    // tcp_attempt_delay (5 secs, base/init-bare.zeek); AttemptTimer removes the connection when the
    // originator is still SYN_SENT and the responder INACTIVE (src/packet_analysis/protocol/tcp/
    // TCPSessionAdapter.cc); the next packet finds no connection and starts one (IPBasedAnalyzer::AnalyzePacket).
    assert.deepEqual(states("attempt_timer", true), ["S0 SAD", "SH DAF"]);
    assert.deepEqual(explain("attempt_timer", undefined, true).rows.map((r) => r.ended).sort(), [
      "attempt",
      "capture-end",
    ]);
    assert.deepEqual(states("attempt_timer", false), ["SH SADF"]);
    const row = explain("attempt_timer").rows[0]!;
    assert.deepEqual(row.zeekSplits.map((z) => [z.reason, z.packet]), [["attempt-timer", 4]]);
    assert.match(row.zeekNote!, /^Zeek 8\.2 would log 2 connections here: its attempt timer .* frame 4 /);
  });
  await t.step("SYN after a close: a refused SYN retransmitted with the same ISN (syn_after_close)", () => {
    // Rule: TCPSessionAdapter::IsReuse returns true for any SYN once IsClosed() (orig or resp did_close),
    // whatever its sequence number; IPBasedAnalyzer::AnalyzePacket (src/packet_analysis/protocol/ip/
    // IPBasedAnalyzer.cc) then removes the connection and starts a new one.
    assert.deepEqual(states("syn_after_close", true), ["REJ Sr", "REJ Sr", "REJ Sr", "REJ Sr"]);
    assert.deepEqual(states("syn_after_close", false), ["REJ Sr"]);
    const row = explain("syn_after_close").rows[0]!;
    assert.deepEqual(row.zeekSplits.map((z) => [z.reason, z.packet]), [
      ["syn-after-close", 3],
      ["syn-after-close", 5],
      ["syn-after-close", 7],
    ]);
    assert.match(row.zeekNote!, /would log 4 connections here: a SYN after a close .* at frames 3 \(/);
  });
  await t.step("where Zeek agrees there is no note, in either mode", () => {
    // port_reuse: the second SYN has another ISN, a new connection for both.
    for (const zeek of [false, true]) {
      assert.deepEqual(states("port_reuse", zeek), ["SF ShAdfFa", "RSTO ShAdR"]);
      assert.ok(
        explain("port_reuse", undefined, zeek).rows.every((r) =>
          r.zeekNote === null && r.zeekSplits.length === 0
        ),
      );
    }
  });
  await t.step("the note is in the report's table notes, its section and the JSON", () => {
    const x = explain("syn_after_close");
    const report = renderCaptureReport(x);
    assert.match(
      report,
      /Where Zeek would draw other connection boundaries:\n\n- #1: Zeek 8\.2 would log 4 connections/,
    );
    assert.match(report, /Facts: .*Zeek 8\.2 would log 4 connections here/);
    assert.equal(JSON.parse(JSON.stringify(x)).rows[0].zeekSplits.length, 3);
    const zeek = renderCaptureReport(explain("attempt_timer", undefined, true));
    assert.match(zeek, /1 ended by Zeek's attempt timer/);
    assert.doesNotMatch(zeek, /Where Zeek would draw/);
  });
  await t.step("lab run's road keeps explain's boundaries", () => {
    const { connections } = readConnections(fixtureBytes("syn_after_close"), "syn_after_close.pcap");
    assert.deepEqual(connections.map((c) => `${c.state} ${c.history}`), ["REJ Sr"]);
  });
});

Deno.test("the Zeek version and every documented difference, in JSON and report, for each mode", async (t) => {
  for (const zeekBoundaries of [false, true]) {
    await t.step(zeekBoundaries ? "--zeek-boundaries" : "default", () => {
      const x = explain("read_then_close", undefined, zeekBoundaries);
      assert.equal(x.zeek.version, ZEEK_VERSION);
      assert.equal(ZEEK_VERSION, "8.2");
      assert.equal(x.zeek.boundaries, zeekBoundaries ? "zeek" : "explain");
      const differences = zeekDifferences(zeekBoundaries);
      assert.deepEqual(x.zeek.differences, differences);
      assert.equal(differences.some((d) => d.startsWith("Attempt timer:")), !zeekBoundaries);
      assert.equal(differences.some((d) => d.startsWith("SYN after a close:")), !zeekBoundaries);
      assert.equal(
        differences.some((d) => d.startsWith("Connection boundaries follow Zeek")),
        zeekBoundaries,
      );
      const report = renderCaptureReport(x);
      assert.match(report, /## Zeek 8\.2/);
      for (const d of differences) assert.ok(report.includes(`- ${d}`), d);
      const json = JSON.parse(JSON.stringify(x));
      assert.equal(json.zeek.version, "8.2");
    });
  }
});
