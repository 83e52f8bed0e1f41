import assert from "node:assert/strict";
import { PcapError } from "../../lab/analysis/capture_reader.ts";
import {
  CaptureExplainer,
  type CaptureExplanation,
  explainCapture,
} from "../../lab/explain/explain_capture.ts";
import { renderCaptureReport } from "../../lab/report/capture_report.ts";
import { fixtureBytes, fixtureRecords, FIXTURES, TESTDATA } from "../analysis/_helpers.ts";
import { manyConnections } from "./_captures.ts";

/** Per fixture: each connection's state, cause, who closed or reset first. */
const EXPECTED: Record<string, Array<[string, string, string | null, string | null]>> = {
  founding_rst_unread: [["RSTO", "close-with-unread-data or linger-zero", "originator", "originator"]],
  founding_any_sll: [["RSTO", "close-with-unread-data or linger-zero", "originator", "originator"]],
  founding_any_sll2: [["RSTO", "close-with-unread-data or linger-zero", "originator", "originator"]],
  read_then_close: [["SF", "graceful-close", "originator", null]],
  ipv6_read_then_close: [["SF", "graceful-close", "originator", null]],
  refused: [["REJ", "refused", "responder", "responder"]],
  linger_zero: [["RSTO", "linger-zero", "originator", "originator"]],
  shutdown_drain: [["SF", "half-close", "originator", null]],
  data_after_close: [["RSTO", "data-after-close", "originator", "originator"]],
  port_reuse: [
    ["SF", "graceful-close", "responder", null],
    ["RSTO", "close-with-unread-data or linger-zero", "originator", "originator"],
  ],
  server_rst_unread: [["RSTR", "close-with-unread-data or linger-zero", "responder", "responder"]],
  retransmit_timeout: [["S1", "retransmission-timeout or unknown", null, null]],
  keepalive_timeout: [["RSTO", "abort-after-retransmissions", "originator", "originator"]],
};

function rows(x: CaptureExplanation) {
  return [...x.rows].sort((a, b) => a.id - b.id).map((r) => [r.state, r.cause, r.closedFirstBy, r.resetBy]);
}

Deno.test("explainCapture: every fixture, from the packets alone", async (t) => {
  for (const name of FIXTURES) {
    await t.step(name, () => {
      const x = explainCapture(fixtureBytes(name), `${name}.pcap`);
      assert.deepEqual(rows(x), EXPECTED[name]);
      assert.equal(x.cutShort, null);
      assert.equal(x.format, "pcap");
      // Every abnormal connection has a section with its packets in tcpdump's notation.
      assert.equal(x.details.length, x.abnormal);
      for (const d of x.details) {
        assert.equal(d.packetLines.length, d.packets.orig + d.packets.resp);
        assert.ok(d.packetLines.every((p) => p.tcpdump.startsWith("IP") || p.tcpdump.includes(" IP")));
      }
      JSON.stringify(x); // plain data: no bigint, no cycles
    });
  }
});

Deno.test("explainCapture: the report of the founding case", () => {
  const report = renderCaptureReport(explainCapture(fixtureBytes("founding_rst_unread"), "founding.pcap"));
  for (
    const part of [
      "**1 of 1 connection ended abnormally**",
      "| RSTO | established, the originator reset | 1 |",
      "## Connection 1: 127.0.0.1:41001 → 127.0.0.1:19001 (RSTO)",
      "**The originator reset the connection (`[R.]`, seq 1, ack 2, at 0.303 ms).**",
      "they cannot tell these apart",
      "*Settled by:* the closer's TcpExt counters",
      "Flags [R.], seq 1, ack 2, win 64",
      "```mermaid",
      "    L-xR: [R.] seq 1 ack 2",
      "### Why Linux does this",
    ]
  ) assert.ok(report.includes(part), part);
});

Deno.test("explainCapture: the report reads as a ticket needs it", async (t) => {
  const report = (name: string, filter = {}) =>
    renderCaptureReport(explainCapture(fixtureBytes(name), `${name}.pcap`, filter));
  await t.step("the verdict first, as a GitHub alert of its kind", () => {
    const founding = report("founding_rst_unread").split("\n");
    assert.deepEqual(founding.slice(2, 4), [
      "> [!CAUTION]",
      "> **1 of 1 connection ended abnormally** (1 close-with-unread-data or linger-zero).",
    ]);
    assert.match(
      report("read_then_close"),
      /^# .*\n\n> \[!NOTE\]\n> \*\*None of the 1 connection ended abnormally/,
    );
    assert.match(
      report("port_reuse", { host: "10.1.2.3" }),
      /^# .*\n\n> \[!WARNING\]\n> \*\*No TCP connection\.\*\*/,
    );
  });
  await t.step("the table, the packet lines and Zeek's differences folded; the diagram open", () => {
    const founding = report("founding_rst_unread");
    const open = founding.replace(/<details>[^]*?<\/details>/g, "");
    assert.match(open, /```mermaid/);
    assert.doesNotMatch(open, /Flags \[|\| # \||- Attempt timer/);
    assert.match(founding, /<summary>Packets: frames 1 to 6 of the file, in tcpdump's notation<\/summary>/);
  });
  await t.step("packet lines as the run report cuts them: the sides by role, no TCP options", () => {
    const founding = report("founding_rst_unread");
    assert.ok(founding.includes("\n+0.000303 orig > resp: Flags [R.], seq 1, ack 2, win 64, length 0\n"));
    assert.ok(
      report("founding_any_sll2").includes(" resp > orig: Flags [S.], seq 3935179862, ack 473049977,"),
    );
    assert.doesNotMatch(founding, /options \[/);
  });
});

Deno.test("explainCapture: pcapng with several interfaces and link types", () => {
  const x = explainCapture(Deno.readFileSync(new URL("multi_interface.pcapng", TESTDATA)), "m.pcapng");
  assert.equal(x.format, "pcapng");
  assert.deepEqual(x.linkTypes, [1, 276]);
  assert.deepEqual(rows(x), [
    ["RSTO", "close-with-unread-data or linger-zero", "originator", "originator"],
    ["SF", "graceful-close", "originator", null],
    ["RSTO", "close-with-unread-data or linger-zero", "originator", "originator"],
  ]);
  assert.match(renderCaptureReport(x), /pcapng, Ethernet, Linux cooked v2/);
});

Deno.test("CaptureExplainer: chunks of any size give the same explanation", () => {
  const bytes = Deno.readFileSync(new URL("multi_interface.pcapng", TESTDATA));
  const whole = explainCapture(bytes, "m.pcapng");
  for (const size of [1, 13, 1000]) {
    const explainer = new CaptureExplainer("m.pcapng");
    for (let i = 0; i < bytes.length; i += size) explainer.reader.push(bytes.subarray(i, i + size));
    explainer.reader.end();
    const streamed = explainer.finish((offset, length) => bytes.subarray(offset, offset + length));
    assert.deepEqual(streamed, whole, `chunks of ${size}`);
  }
});

Deno.test("explainCapture: --host, --port, --conn", async (t) => {
  const bytes = fixtureBytes("port_reuse");
  await t.step("a host or port with no traffic", () => {
    const x = explainCapture(bytes, "p.pcap", { host: "10.1.2.3" });
    assert.equal(x.connections, 0);
    assert.equal(x.filteredOut, x.records);
    assert.match(renderCaptureReport(x), /No TCP connection in the capture matches the filter/);
    assert.equal(explainCapture(bytes, "p.pcap", { port: 19008 }).connections, 2);
  });
  await t.step("one connection in full, even a normal one", () => {
    const x = explainCapture(bytes, "p.pcap", { conn: 1 });
    assert.equal(x.connections, 1);
    assert.deepEqual(x.details.map((d) => [d.id, d.state]), [[1, "SF"]]);
    assert.match(renderCaptureReport(x), /Filter: connection 1/);
  });
  await t.step("a bad host is a TypeError", () => {
    assert.throws(() => explainCapture(bytes, "p.pcap", { host: "example.com" }), TypeError);
  });
});

Deno.test("explainCapture: a capture cut short is explained as far as it goes", () => {
  const bytes = fixtureBytes("read_then_close");
  const sixth = fixtureRecords("read_then_close")[5]!.offset;
  const cut = bytes.subarray(0, sixth + 20); // in the middle of the sixth record: before either FIN
  const x = explainCapture(cut, "cut.pcap");
  assert.deepEqual(x.cutShort, { offset: sixth, problem: "record data truncated (4 of 66 bytes)" });
  assert.equal(x.records, 5);
  assert.equal(x.rows[0]?.ended, "capture-end");
  assert.equal(x.rows[0]?.kind, "open");
  const report = renderCaptureReport(x);
  assert.match(report, /> \*\*Cut short:\*\* the capture could not be read past byte \d+/);
  assert.match(report, /the rest of the capture is missing/);
  // A file that cannot be read at all has no explanation, only the error.
  assert.throws(() => explainCapture(bytes.subarray(0, 10), "x.pcap"), PcapError);
});

Deno.test("explainCapture: 100,000 connections give a readable report", () => {
  const bytes = manyConnections(100_000);
  // How fast is the bench's business (deno task bench), not a test's.
  const x = explainCapture(bytes, "many.pcap");
  assert.equal(x.connections, 100_000);
  assert.deepEqual(x.byState, { SF: 40_000, RSTO: 40_000, REJ: 20_000 });
  assert.deepEqual(x.byCause, {
    "graceful-close": 40_000,
    "close-with-unread-data or linger-zero": 20_000,
    "data-after-close": 20_000,
    "refused": 20_000,
  });
  assert.equal(x.abnormal, 60_000);
  // The abnormal ones first, then the normal ones; the rest counted.
  assert.equal(x.rows.length, 100);
  assert.ok(x.rows.every((r) => r.abnormal));
  assert.deepEqual(x.rowsOmitted, { abnormal: 59_900, normal: 40_000 });
  // A few sections of each kind, not 60,000.
  assert.equal(x.details.length, 9);
  assert.equal(x.detailsOmitted, 60_000 - 9);
  const report = renderCaptureReport(x);
  const lines = report.split("\n").length;
  assert.ok(lines < 800, `${lines} lines`);
  assert.match(report, /\*\*60,000 of 100,000 connections ended abnormally\*\*/);
  assert.match(report, /\.\.\. and 99,900 more connections not listed \(59,900 abnormal, 40,000 normal\)/);
  assert.match(report, /59,991 more abnormal connections not shown in detail/);
  assert.ok(JSON.stringify(x).length < 2_000_000);
});
