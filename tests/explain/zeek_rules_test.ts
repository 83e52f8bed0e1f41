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
import { ZEEK_DIFFERENCES, ZEEK_VERSION } from "../../lab/analysis/zeek_tcp_state.ts";
import { fixtureBytes } from "../analysis/_helpers.ts";

function explain(name: string, checksums?: "verify" | "ignore") {
  return explainCapture(fixtureBytes(name), `${name}.pcap`, checksums ? { checksums } : {});
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
    assert.match(report, /\| missed \|/);
    assert.match(report, /\| 5 \/ 14 \| 19 \| SF \| ShAaGFgf \|/);
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

Deno.test("the Zeek version and every documented difference, in JSON and report", () => {
  const x = explain("read_then_close");
  assert.equal(x.zeek.version, ZEEK_VERSION);
  assert.equal(ZEEK_VERSION, "8.2");
  assert.deepEqual(x.zeek.differences, ZEEK_DIFFERENCES);
  assert.ok(ZEEK_DIFFERENCES.some((d) => d.startsWith("Attempt timer:")));
  assert.ok(ZEEK_DIFFERENCES.some((d) => d.startsWith("SYN after a close:")));
  const report = renderCaptureReport(x);
  assert.match(report, /## Zeek 8\.2/);
  for (const d of ZEEK_DIFFERENCES) assert.ok(report.includes(`- ${d}`), d);
  const json = JSON.parse(JSON.stringify(x));
  assert.equal(json.zeek.version, "8.2");
});
