/**
 * `lab explain` names an ICMP error from the packets: a connection attempt
 * whose last SYN was answered by an ICMP error (icmp-reject-connect's
 * recorded client capture, and hand-made ones); the same SYNs without the
 * ICMP keep today's answer (syn-timeout); an ICMP error for an established
 * connection is told, not named as its cause.
 */
import assert from "node:assert/strict";
import { explainCapture } from "../../lab/explain/explain_capture.ts";
import { renderCaptureReport } from "../../lab/report/capture_report.ts";
import { LinkType } from "../../lab/analysis/link_types.ts";
import { decodeIcmpError } from "../../lab/analysis/tcp_decoder.ts";
import {
  buildPcap,
  concat,
  fixIpv4HeaderChecksum,
  fixtureDatagrams,
  ipv4Segment,
} from "../analysis/_helpers.ts";

const RECORDED = "runs/icmp-reject-connect/client";

Deno.test("explain names icmp-error in icmp-reject-connect's client capture, with the ICMP's kind and sender", () => {
  const x = explainCapture(
    Deno.readFileSync(new URL(`../testdata/${RECORDED}.pcap`, import.meta.url)),
    "client.pcap",
  );
  assert.equal(x.connections, 1);
  assert.equal(x.icmpErrors, 2);
  const row = x.rows[0]!;
  assert.equal(row.state, "S0");
  assert.equal(row.cause, "icmp-error");
  assert.equal(row.candidates[0]?.confidence, "likely");
  assert.match(
    row.candidates[0]!.reason,
    /answered by 2 ICMP errors, the last ICMP destination unreachable \(host unreachable\) from 10\.200\.6\.164, a router or firewall between the two \(not the responder, 10\.200\.6\.162\)/,
  );
  assert.match(row.candidates[0]!.reason, /connect\(\) fails with EHOSTUNREACH/);
  const report = renderCaptureReport(x);
  assert.match(report, /8 other records \(not TCP\): 2 ICMP errors that quote a packet of a connection here/);
  assert.match(report, /2 ICMP errors quoted the connection's packets/);
});

Deno.test("the same capture without its ICMP errors keeps today's answer: syn-timeout", () => {
  // The recorded capture's own records, the ICMP errors left out (raw IP: its Ethernet headers stripped).
  const datagrams = fixtureDatagrams(RECORDED).filter((d) =>
    decodeIcmpError({
      index: 1,
      offset: 0,
      timeNs: 0n,
      linkType: LinkType.RAW,
      originalLength: 0,
      data: d.data,
    }) ===
      null
  );
  assert.equal(datagrams.length, 8);
  const x = explainCapture(buildPcap(LinkType.RAW, datagrams), "client-without-icmp.pcap");
  assert.equal(x.icmpErrors, 0);
  assert.equal(x.rows[0]?.cause, "syn-timeout");
  assert.doesNotMatch(renderCaptureReport(x), /ICMP errors? (that quotes?|quoted)/);
});

const CLIENT: [number, number, number, number] = [10, 0, 0, 1];
const SERVER: [number, number, number, number] = [10, 0, 0, 2];

function segment(fromClient: boolean, flags: number, seq: number, ack = 0): Uint8Array {
  return ipv4Segment({
    src: fromClient ? CLIENT : SERVER,
    dst: fromClient ? SERVER : CLIENT,
    srcPort: fromClient ? 40000 : 9999,
    dstPort: fromClient ? 9999 : 40000,
    seq,
    ack,
    flags,
  });
}

/** An ICMPv4 error from `from` to the quoted datagram's sender. */
function icmpError(from: number[], type: number, code: number, quoted: Uint8Array): Uint8Array {
  const ip = new Uint8Array(20);
  ip.set([0x45, 0xc0, 0, 28 + quoted.length, 0, 7, 0, 0, 64, 1, 0, 0]);
  ip.set(from, 12);
  ip.set(quoted.subarray(12, 16), 16);
  fixIpv4HeaderChecksum(ip);
  return concat(ip, new Uint8Array([type, code, 0, 0, 0, 0, 0, 0]), quoted);
}

function explain(...datagrams: Uint8Array[]) {
  const pcap = buildPcap(LinkType.RAW, datagrams.map((data, i) => ({ seconds: 1_700_000_000 + i, data })));
  return explainCapture(pcap, "made.pcap").rows[0]!;
}

Deno.test("explain's ICMP rules, case by case", async (t) => {
  const syn = segment(true, 0x02, 100);
  await t.step("the peer itself answers the only SYN with port unreachable", () => {
    const row = explain(syn, icmpError(SERVER, 3, 3, syn));
    assert.equal(row.cause, "icmp-error");
    assert.match(row.candidates[0]!.reason, /port unreachable\) from 10\.0\.0\.2, the responder itself/);
    assert.match(row.candidates[0]!.reason, /ECONNREFUSED/);
  });
  await t.step("a router's time exceeded", () => {
    const row = explain(syn, icmpError([10, 0, 0, 254], 11, 0, syn));
    assert.equal(row.cause, "icmp-error");
    assert.match(
      row.candidates[0]!.reason,
      /ICMP time exceeded \(TTL exceeded in transit\) from 10\.0\.0\.254/,
    );
  });
  await t.step("the SYNs went on after the ICMP error: syn-timeout, the error a soft one", () => {
    const row = explain(syn, icmpError(SERVER, 3, 1, syn), syn, syn);
    assert.equal(row.cause, "syn-timeout");
    assert.match(row.candidates[0]!.reason, /1 ICMP error came in between .* kept as a soft error/);
  });
  await t.step("fragmentation needed is no error: the SYN stays unanswered", () => {
    const row = explain(syn, icmpError([10, 0, 0, 254], 3, 4, syn));
    assert.equal(row.cause, "unknown");
  });
  await t.step("an ICMP error for an established connection does not end it", () => {
    const data = ipv4Segment({
      src: CLIENT,
      dst: SERVER,
      srcPort: 40000,
      dstPort: 9999,
      seq: 101,
      ack: 501,
      flags: 0x18,
      payload: new Uint8Array([0x61]),
    });
    const x = explainCapture(
      buildPcap(
        LinkType.RAW,
        [
          syn,
          segment(false, 0x12, 500, 101),
          segment(true, 0x10, 101, 501),
          data,
          icmpError([10, 0, 0, 254], 3, 1, data),
          segment(false, 0x10, 501, 102),
          segment(true, 0x11, 102, 501),
          segment(false, 0x11, 501, 103),
          segment(true, 0x10, 103, 502),
        ].map((data, i) => ({ seconds: 1_700_000_000 + i, data })),
      ),
      "established.pcap",
      { conn: 1 }, // a normal connection is told in full only when asked for
    );
    const row = x.rows[0]!;
    assert.equal(row.state, "SF");
    assert.equal(row.cause, "graceful-close");
    const detail = explainCapture(
      buildPcap(
        LinkType.RAW,
        [syn, segment(false, 0x12, 500, 101), icmpError([10, 0, 0, 254], 3, 1, syn)]
          .map((data, i) => ({ seconds: 1_700_000_000 + i, data })),
      ),
      "late.pcap",
    );
    assert.notEqual(detail.rows[0]?.cause, "icmp-error");
    assert.match(
      renderCaptureReport(x),
      /an ICMP error quoted the originator's packets: ICMP destination unreachable \(host unreachable\) from 10\.0\.0\.254, a router or firewall between \(not the responder\); it came after the handshake, and an ICMP error does not end an established connection/,
    );
  });
});

Deno.test("--host keeps an address from 128.0.0.0 up, and the ICMP errors that quote its packets", () => {
  const from = (a: number[], b: number[], flags: number) =>
    ipv4Segment({
      src: a as [number, number, number, number],
      dst: b as [number, number, number, number],
      srcPort: 40000,
      dstPort: 443,
      seq: 5,
      flags,
    });
  const syn = from([192, 168, 0, 1], [203, 0, 113, 7], 0x02);
  const pcap = buildPcap(LinkType.RAW, [
    { seconds: 1_700_000_000, data: syn },
    { seconds: 1_700_000_001, data: icmpError([192, 168, 0, 254], 3, 13, syn) },
  ]);
  for (const host of ["192.168.0.1", "203.0.113.7"]) {
    const x = explainCapture(pcap, "h.pcap", { host });
    assert.equal(x.connections, 1, host);
    assert.equal(x.icmpErrors, 1, host);
    assert.equal(x.rows[0]?.cause, "icmp-error", host);
  }
  assert.equal(explainCapture(pcap, "h.pcap", { host: "192.168.0.2" }).connections, 0);
});
