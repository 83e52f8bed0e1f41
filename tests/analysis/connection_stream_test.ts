import assert from "node:assert/strict";
import { generateCapture } from "../../bench/gen_capture.ts";
import { CaptureReader } from "../../lab/analysis/capture_reader.ts";
import { readConnections } from "../../lab/analysis/connections.ts";
import {
  ConnectionStream,
  type ConnectionStreamOptions,
  type EndReason,
  StreamConnection,
} from "../../lab/analysis/connection_stream.ts";
import { parseAddress } from "../../lab/analysis/addresses.ts";
import { readCapture } from "../../lab/analysis/capture_reader.ts";
import { classifyTeardown } from "../../lab/analysis/teardown.ts";
import type { Connection } from "../../lab/analysis/types.ts";
import { buildPcap, fixtureBytes, FIXTURES, ipv4Segment, type SegmentSpec, TESTDATA } from "./_helpers.ts";

/** What both ways of building connections must agree on. */
function viewOfBuilt(c: Connection) {
  const t = classifyTeardown(c);
  return {
    id: c.id,
    originator: c.originator,
    responder: c.responder,
    state: c.state,
    history: c.history,
    bytes: c.bytes,
    isn: c.isn,
    handshakeCompleted: c.handshakeCompleted,
    packets: c.packets.length,
    teardown: t,
  };
}

function viewOfStreamed(c: StreamConnection) {
  const context = {
    isnOrig: c.zeek.isnOrig,
    isnResp: c.zeek.isnResp,
    handshakeCompleted: c.zeek.handshakeCompleted,
    responder: c.responder,
  };
  return {
    id: c.id,
    originator: c.originator,
    responder: c.responder,
    state: c.zeek.connState(),
    history: c.zeek.history,
    bytes: { orig: c.zeek.bytesOrig(), resp: c.zeek.bytesResp() },
    isn: { orig: c.zeek.isnOrig, resp: c.zeek.isnResp },
    handshakeCompleted: c.zeek.handshakeCompleted,
    packets: c.packets,
    teardown: c.teardown.classify(context),
  };
}

/** Stream `bytes` and collect every connection as it ends. */
function stream(
  bytes: Uint8Array,
  options: ConnectionStreamOptions = {},
  keep = false,
): {
  ended: Array<{ conn: ReturnType<typeof viewOfStreamed>; why: EndReason; raw: StreamConnection }>;
  tracker: ConnectionStream;
} {
  const ended: Array<{ conn: ReturnType<typeof viewOfStreamed>; why: EndReason; raw: StreamConnection }> = [];
  const tracker = new ConnectionStream({
    ended: (conn, why) => {
      ended.push({ conn: viewOfStreamed(conn), why, raw: conn });
      return keep;
    },
  }, options);
  new CaptureReader("test", tracker).readAll(bytes);
  tracker.finish();
  ended.sort((a, b) => a.conn.id - b.conn.id);
  return { ended, tracker };
}

function built(bytes: Uint8Array) {
  return readConnections(bytes, "test").connections.map(viewOfBuilt);
}

Deno.test("ConnectionStream agrees with readConnections (every packet kept) and classifyTeardown on every fixture", async (t) => {
  for (const name of FIXTURES) {
    await t.step(name, () => {
      const bytes = fixtureBytes(name);
      assert.deepEqual(stream(bytes).ended.map((e) => e.conn), built(bytes));
    });
  }
  await t.step("multi_interface.pcapng", () => {
    const bytes = Deno.readFileSync(new URL("multi_interface.pcapng", TESTDATA));
    const { ended } = stream(bytes);
    assert.equal(ended.length, 3);
    assert.deepEqual(ended.map((e) => e.conn), built(bytes));
  });
});

Deno.test("ConnectionStream agrees with readConnections (every packet kept) on a generated capture of every teardown kind", async () => {
  const file = await Deno.makeTempFile({ suffix: ".pcap" });
  try {
    const made = generateCapture(file, { size: 3_000_000, concurrency: 64, seed: 3 });
    assert.ok(made.connections > 300, `${made.connections} connections`);
    assert.equal(Object.keys(made.kinds).length, 14, "every kind of connection the generator makes");
    const bytes = Deno.readFileSync(file);
    const streamed = stream(bytes).ended.map((e) => e.conn);
    const expected = built(bytes);
    assert.equal(streamed.length, expected.length);
    for (let i = 0; i < expected.length; i++) {
      assert.deepEqual(streamed[i], expected[i], `connection ${i + 1}`);
    }
    // Captures that start mid-connection, and connections still open when the capture ends.
    assert.ok(
      streamed.some((c) => c.state === "OTH" || c.history.startsWith("D") || c.history.startsWith("d")),
    );
    assert.ok(stream(bytes).ended.some((e) => e.why === "capture-end"));
  } finally {
    await Deno.remove(file);
  }
});

/** A raw-IP capture of segments between 10.0.0.1:40000 and 10.0.0.2:80, at the given seconds. */
function capture(segments: Array<[number, boolean, number, number, number, number?]>, clientPort = 40000) {
  return buildPcap(
    101,
    segments.map(([seconds, fromClient, flags, seq, ack, payload = 0]) => {
      const spec: SegmentSpec = fromClient
        ? { src: [10, 0, 0, 1], dst: [10, 0, 0, 2], srcPort: clientPort, dstPort: 80, seq, ack, flags }
        : { src: [10, 0, 0, 2], dst: [10, 0, 0, 1], srcPort: 80, dstPort: clientPort, seq, ack, flags };
      if (payload) spec.payload = new Uint8Array(payload);
      return { seconds, data: ipv4Segment(spec) };
    }),
  );
}

const SYN = 0x02, ACK = 0x10, FIN = 0x01, RST = 0x04, PSH = 0x08;
const handshake = (t: number): Array<[number, boolean, number, number, number]> => [
  [t, true, SYN, 100, 0],
  [t, false, SYN | ACK, 500, 101],
  [t, true, ACK, 101, 501],
];

Deno.test("ConnectionStream: when connections end", async (t) => {
  await t.step("a close: after the close delay, with its stragglers", () => {
    const bytes = capture([
      ...handshake(1),
      [2, true, FIN | ACK, 101, 501],
      [2, false, FIN | ACK, 501, 102],
      [3, true, ACK, 102, 502], // the last ACK: still this connection
      [20, true, ACK, 102, 502], // long after: a new (mid-stream) connection
    ]);
    const { ended } = stream(bytes);
    assert.deepEqual(ended.map((e) => [e.conn.id, e.conn.state, e.conn.packets, e.why]), [
      [1, "SF", 6, "closed"],
      [2, "OTH", 1, "capture-end"],
    ]);
  });
  await t.step("port reuse: a new SYN on the four-tuple starts a new connection", () => {
    const { ended } = stream(fixtureBytes("port_reuse"));
    assert.deepEqual(ended.map((e) => [e.conn.state, e.why]), [["SF", "reused"], ["RSTO", "closed"]]);
  });
  await t.step("idle: no packet for the idle timeout", () => {
    const bytes = capture([...handshake(1), [400, true, ACK | PSH, 101, 501, 10]]);
    const { ended } = stream(bytes, { idleTimeout: 300 });
    assert.deepEqual(ended.map((e) => [e.conn.id, e.conn.state, e.why]), [[1, "S1", "idle"], [
      2,
      "OTH",
      "capture-end",
    ]]);
  });
  await t.step("evicted: more connections open at once than allowed", () => {
    const bytes = buildPcap(101, [
      ...[1, 2, 3].map((i) => ({
        seconds: i,
        data: ipv4Segment({ srcPort: 40000 + i, dstPort: 80, seq: i, flags: SYN }),
      })),
    ]);
    const { ended, tracker } = stream(bytes, { maxTracked: 2 });
    assert.deepEqual(ended.map((e) => e.why), ["evicted", "capture-end", "capture-end"]);
    assert.equal(tracker.evicted, 1);
    assert.equal(tracker.peakTracked, 2);
  });
  await t.step("a reset: the peer's answering RST still belongs to it", () => {
    const bytes = capture([...handshake(1), [2, true, RST | ACK, 101, 501], [2, false, RST, 501, 0]]);
    const { ended } = stream(bytes);
    assert.deepEqual(ended.map((e) => [e.conn.packets, e.conn.history, e.why]), [[5, "ShARr", "closed"]]);
    assert.deepEqual(ended.map((e) => e.conn), built(bytes)); // Zeek calls it REJ: both reset, no data
  });
});

Deno.test("ConnectionStream: filters and kept packets", async (t) => {
  const bytes = fixtureBytes("port_reuse");
  await t.step("host and port", () => {
    assert.equal(stream(bytes, { filter: { port: 19008 } }).ended.length, 2);
    assert.equal(stream(bytes, { filter: { port: 19009 } }).ended.length, 0);
    assert.equal(stream(bytes, { filter: { host: parseAddress("127.0.0.1")! } }).ended.length, 2);
    const none = stream(bytes, { filter: { host: parseAddress("10.9.9.9")! } });
    assert.equal(none.ended.length, 0);
    assert.equal(none.tracker.filteredOut, none.tracker.records);
  });
  await t.step("the first and last packets, with the count of those between", () => {
    const many: Array<[number, boolean, number, number, number, number?]> = [...handshake(1)];
    for (let i = 0; i < 50; i++) many.push([2, false, ACK | PSH, 501 + i * 10, 101, 10]);
    many.push([3, true, RST | ACK, 101, 1001]);
    const raw = capture(many);
    const { ended } = stream(raw, { keepHead: 3, keepTail: 4 }, true);
    const kept = ended[0]!.raw.keptPackets();
    assert.equal(kept.omitted, 54 - 7);
    assert.equal(kept.omittedAfter, 3);
    assert.deepEqual(kept.packets.map((p) => p.index), [1, 2, 3, 51, 52, 53, 54]);
    // Each position reads back the packet it names.
    const records = [...readCapture(raw, "x")];
    for (const p of kept.packets) {
      const r = records[p.index - 1]!;
      assert.deepEqual(raw.subarray(p.dataOffset, p.dataOffset + p.capturedLength), r.data);
      assert.equal(p.linkType, 101);
      assert.equal(p.originalLength, r.originalLength);
    }
  });
});

Deno.test("ConnectionStream: Zeek's attempt timer, applied or noted", async (t) => {
  // TCPSessionAdapter::AttemptTimer (Zeek 8.2), tcp_attempt_delay 5 s: the real captures are in
  // tests/explain/zeek_rules_test.ts; these are the edges, in whole seconds of capture time.
  const splits = (bytes: Uint8Array, zeekBoundaries: boolean) =>
    stream(bytes, { zeekBoundaries }).ended.map((e) => [
      e.conn.state,
      e.why,
      (e.raw.zeekSplits ?? []).map((z) => `${z.reason}@${z.index}`).join(" "),
    ]);
  await t.step("a SYN retransmitted 6 s later: Zeek's second attempt", () => {
    const bytes = capture([[0, true, SYN, 100, 0], [6, true, SYN, 100, 0]]);
    assert.deepEqual(splits(bytes, false), [["S0", "capture-end", "attempt-timer@2"]]);
    assert.deepEqual(splits(bytes, true), [["S0", "attempt", ""], ["S0", "capture-end", ""]]);
  });
  await t.step("4 s later: before the timer, one attempt either way", () => {
    const bytes = capture([[0, true, SYN, 100, 0], [4, true, SYN, 100, 0]]);
    assert.deepEqual(splits(bytes, false), [["S0", "capture-end", ""]]);
    assert.deepEqual(splits(bytes, true), [["S0", "capture-end", ""]]);
  });
  await t.step("a new ISN 6 s later: a new connection for both, no note", () => {
    const bytes = capture([[0, true, SYN, 100, 0], [6, true, SYN, 900, 0]]);
    assert.deepEqual(splits(bytes, false), [["S0", "reused", ""], ["S0", "capture-end", ""]]);
  });
  await t.step("an answered SYN: no timer", () => {
    const bytes = capture([...handshake(0), [7, true, ACK | PSH, 101, 501, 4]]);
    assert.deepEqual(splits(bytes, false), [["S1", "capture-end", ""]]);
    assert.deepEqual(splits(bytes, true), [["S1", "capture-end", ""]]);
  });
});
