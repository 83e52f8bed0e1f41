import assert from "node:assert/strict";
import { readConnections } from "../../lab/analysis/connections.ts";
import { ZeekTcpState } from "../../lab/analysis/zeek_tcp_state.ts";
import type { Connection, ConnState, TcpPacket } from "../../lab/analysis/types.ts";
import { connectionsOf, type Fixture, fixtureBytes, fixturePackets, FIXTURES } from "./_helpers.ts";

interface Expected {
  state: ConnState;
  history: string;
  bytes: { orig: number; resp: number };
  handshakeCompleted: boolean;
  firstFin: { orig: number | null; resp: number | null };
  firstRst: { orig: number | null; resp: number | null };
  packets: number;
}

const NONE = { orig: null, resp: null };
const FOUNDING: Expected = {
  state: "RSTO",
  history: "ShAdR",
  bytes: { orig: 0, resp: 1 },
  handshakeCompleted: true,
  firstFin: NONE,
  firstRst: { orig: 5, resp: null },
  packets: 6,
};

/** Zeek's view of each fixture, connection by connection. */
const EXPECTED: Record<Fixture, Expected[]> = {
  founding_rst_unread: [FOUNDING],
  founding_any_sll: [FOUNDING],
  founding_any_sll2: [FOUNDING],
  read_then_close: [{
    state: "SF",
    history: "ShAdFf",
    bytes: { orig: 0, resp: 1 },
    handshakeCompleted: true,
    firstFin: { orig: 5, resp: 6 },
    firstRst: NONE,
    packets: 8,
  }],
  refused: [{
    state: "REJ",
    history: "Sr",
    bytes: { orig: 0, resp: 0 },
    handshakeCompleted: false,
    firstFin: NONE,
    firstRst: { orig: null, resp: 1 },
    packets: 2,
  }],
  linger_zero: [{
    state: "RSTO",
    history: "ShAR",
    bytes: { orig: 0, resp: 0 },
    handshakeCompleted: true,
    firstFin: NONE,
    firstRst: { orig: 3, resp: null },
    packets: 4,
  }],
  shutdown_drain: [{
    state: "SF",
    history: "ShADaFdf",
    bytes: { orig: 5, resp: 14 },
    handshakeCompleted: true,
    firstFin: { orig: 5, resp: 8 },
    firstRst: NONE,
    packets: 10,
  }],
  data_after_close: [{
    state: "RSTO",
    history: "ShAFadR",
    bytes: { orig: 0, resp: 1 },
    handshakeCompleted: true,
    firstFin: { orig: 3, resp: null },
    firstRst: { orig: 6, resp: null },
    packets: 7,
  }],
  ipv6_read_then_close: [{
    state: "SF",
    history: "ShADadFf",
    bytes: { orig: 4, resp: 4 },
    handshakeCompleted: true,
    firstFin: { orig: 7, resp: 8 },
    firstRst: NONE,
    packets: 10,
  }],
  port_reuse: [
    {
      state: "SF",
      history: "ShAdfFa",
      bytes: { orig: 0, resp: 1 },
      handshakeCompleted: true,
      firstFin: { orig: 6, resp: 5 },
      firstRst: NONE,
      packets: 8,
    },
    FOUNDING,
  ],
  server_rst_unread: [{
    state: "RSTR",
    history: "ShADar",
    bytes: { orig: 7, resp: 0 },
    handshakeCompleted: true,
    firstFin: NONE,
    firstRst: { orig: null, resp: 5 },
    packets: 6,
  }],
  retransmit_timeout: [{
    state: "S1",
    history: "ShADT",
    bytes: { orig: 4, resp: 0 },
    handshakeCompleted: true,
    firstFin: NONE,
    firstRst: NONE,
    packets: 7,
  }],
  keepalive_timeout: [{
    state: "RSTO",
    history: "ShAR",
    bytes: { orig: 0, resp: 0 },
    handshakeCompleted: true,
    firstFin: NONE,
    firstRst: { orig: 5, resp: null },
    packets: 6,
  }],
};

function summary(conn: Connection): Expected {
  return {
    state: conn.state,
    history: conn.history,
    bytes: conn.bytes,
    handshakeCompleted: conn.handshakeCompleted,
    firstFin: conn.firstFin,
    firstRst: conn.firstRst,
    packets: conn.packets.length,
  };
}

Deno.test("readConnections: Zeek's conn_state and history for every fixture", async (t) => {
  for (const name of FIXTURES) {
    await t.step(name, () => {
      const connections = readConnections(fixtureBytes(name), name).connections;
      assert.deepEqual(connections.map(summary), EXPECTED[name]);
      for (const conn of connections) {
        // The client (port 41xxx) sent the SYN: it is the originator.
        assert.ok(conn.originator.port >= 41000 && conn.originator.port < 42000);
        assert.ok(conn.responder.port >= 19000 && conn.responder.port < 20000);
        assert.equal(conn.startNs, conn.packets[0]!.timeNs);
        assert.equal(conn.endNs, conn.packets[conn.packets.length - 1]!.timeNs);
        conn.packets.forEach((p, i) =>
          assert.equal(
            conn.directions[i],
            p.src === conn.originator.address && p.srcPort === conn.originator.port ? "orig" : "resp",
          )
        );
      }
    });
  }
});

Deno.test("readConnections: the founding case in detail", () => {
  const [conn] = readConnections(fixtureBytes("founding_rst_unread"), "f").connections;
  assert.ok(conn);
  assert.equal(conn.id, 1);
  assert.deepEqual(conn.originator, { address: "127.0.0.1", port: 41001 });
  assert.deepEqual(conn.responder, { address: "127.0.0.1", port: 19001 });
  assert.deepEqual(conn.isn, { orig: 2555649339, resp: 509047188 });
  assert.deepEqual(conn.directions, ["orig", "resp", "orig", "resp", "orig", "orig"]);
});

Deno.test("readConnections: port reuse starts a new connection on a new ISN", () => {
  const connections = readConnections(fixtureBytes("port_reuse"), "f").connections;
  assert.equal(connections.length, 2);
  const [first, second] = connections as [Connection, Connection];
  assert.deepEqual([first.id, second.id], [1, 2]);
  assert.deepEqual(first.originator, second.originator);
  assert.notEqual(first.isn.orig, second.isn.orig);
  assert.ok(second.startNs > first.endNs);
});

Deno.test("readConnections: connections from different fixtures stay apart", () => {
  const packets = [
    ...fixturePackets("founding_rst_unread"),
    ...fixturePackets("read_then_close"),
    ...fixturePackets("refused"),
  ].sort((a, b) => (a.timeNs < b.timeNs ? -1 : 1));
  const states = connectionsOf(packets).map((c) => c.state);
  assert.deepEqual(states, ["RSTO", "SF", "REJ"]);
});

// Synthetic conversations between a client C (10.0.0.1:40000) and a server S (10.0.0.2:9999).
type Side = "C" | "S";
function pkt(side: Side, flags: number, seq: number, ack = 0, payload = 0, window = 100): TcpPacket {
  const fromClient = side === "C";
  return {
    index: 0,
    timeNs: 0n,
    ipVersion: 4,
    src: fromClient ? "10.0.0.1" : "10.0.0.2",
    dst: fromClient ? "10.0.0.2" : "10.0.0.1",
    srcPort: fromClient ? 40000 : 9999,
    dstPort: fromClient ? 9999 : 40000,
    flags,
    seq: seq >>> 0,
    ack: ack >>> 0,
    window,
    payloadLength: payload,
    options: [],
    payload: new Uint8Array(),
    checksumOk: null,
  };
}
function numbered(packets: TcpPacket[]): TcpPacket[] {
  return packets.map((p, i) => ({ ...p, index: i + 1, timeNs: BigInt(i + 1) * 1000n }));
}
const SYN = 0x02, SYNACK = 0x12, ACK = 0x10, PSH = 0x18, FIN = 0x11, RST = 0x04, RSTACK = 0x14;
const handshake = [pkt("C", SYN, 100), pkt("S", SYNACK, 500, 101), pkt("C", ACK, 101, 501)];

Deno.test("readConnections: every conn_state, on synthetic packets", async (t) => {
  const cases: Array<{ name: string; packets: TcpPacket[]; state: ConnState; history: string }> = [
    { name: "S0: SYN, no answer", packets: [pkt("C", SYN, 100)], state: "S0", history: "S" },
    {
      name: "S0: a retransmitted SYN (same ISN) is the same connection",
      packets: [pkt("C", SYN, 100), pkt("C", SYN, 100), pkt("C", SYN, 100)],
      state: "S0",
      history: "S",
    },
    { name: "S1: handshake only", packets: handshake, state: "S1", history: "ShA" },
    {
      name: "SF: both FINs",
      packets: [...handshake, pkt("C", FIN, 101, 501), pkt("S", FIN, 501, 102), pkt("C", ACK, 102, 502)],
      state: "SF",
      history: "ShAFf",
    },
    {
      name: "SF stays SF when a RST follows both FINs",
      packets: [...handshake, pkt("C", FIN, 101, 501), pkt("S", FIN, 501, 102), pkt("C", RST, 102)],
      state: "SF",
      history: "ShAFfR",
    },
    {
      name: "REJ: SYN answered by RST,ACK",
      packets: [pkt("C", SYN, 100), pkt("S", RSTACK, 0, 101)],
      state: "REJ",
      history: "Sr",
    },
    {
      name: "S2: the originator's FIN, no reply",
      packets: [...handshake, pkt("C", FIN, 101, 501)],
      state: "S2",
      history: "ShAF",
    },
    {
      name: "S3: the responder's FIN, no reply",
      packets: [...handshake, pkt("S", FIN, 501, 101)],
      state: "S3",
      history: "ShAf",
    },
    {
      name: "RSTO: the originator resets",
      packets: [...handshake, pkt("C", RSTACK, 101, 501)],
      state: "RSTO",
      history: "ShAR",
    },
    {
      name: "RSTR: the responder resets",
      packets: [...handshake, pkt("S", RSTACK, 501, 101)],
      state: "RSTR",
      history: "ShAr",
    },
    {
      name: "RSTOS0: SYN then the originator's RST",
      packets: [pkt("C", SYN, 100), pkt("C", RST, 101)],
      state: "RSTOS0",
      history: "SR",
    },
    {
      name: "SH: SYN then the originator's FIN",
      packets: [pkt("C", SYN, 100), pkt("C", FIN, 101)],
      state: "SH",
      history: "SF",
    },
    {
      name: "RSTRH: SYN-ACK then RST from the responder, no SYN seen",
      packets: [pkt("S", SYNACK, 500, 101), pkt("S", RST, 501)],
      state: "RSTRH",
      history: "^hr",
    },
    {
      name: "SHR: SYN-ACK then FIN from the responder, no SYN seen",
      packets: [pkt("S", SYNACK, 500, 101), pkt("S", FIN, 501, 101)],
      state: "SHR",
      history: "^hf",
    },
    {
      name: "OTH: mid-stream data, no SYN",
      packets: [pkt("C", PSH, 1000, 2000, 10), pkt("S", PSH, 2000, 1010, 5), pkt("C", ACK, 1010, 2005)],
      state: "OTH",
      history: "DdA",
    },
    {
      name: "retransmitted data: T once, bytes counted once",
      packets: [
        ...handshake,
        pkt("C", PSH, 101, 501, 10),
        pkt("C", PSH, 101, 501, 10),
        pkt("S", ACK, 501, 111),
      ],
      state: "S1",
      history: "ShADTa",
    },
    {
      name: "zero window: W",
      packets: [...handshake, pkt("C", PSH, 101, 501, 10), pkt("S", ACK, 501, 111, 0, 0)],
      state: "S1",
      history: "ShADaw",
    },
    {
      name: "FIN+RST: I",
      packets: [...handshake, pkt("C", FIN | RST, 101, 501)],
      state: "RSTO",
      history: "ShAI",
    },
    {
      name: "SYN+FIN: Q",
      packets: [pkt("C", 0x03, 100)], // SYN+FIN, no ACK
      state: "SH",
      history: "Q",
    },
    {
      name: "SYN captured after its SYN-ACK",
      packets: [pkt("S", SYNACK, 500, 101), pkt("C", SYN, 100), pkt("C", ACK, 101, 501)],
      state: "S1",
      history: "^hSA",
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const connections = connectionsOf(numbered(c.packets));
      assert.equal(connections.length, 1);
      assert.equal(connections[0]!.state, c.state);
      assert.equal(connections[0]!.history, c.history);
    });
  }
});

Deno.test("readConnections: originators, bytes and handshakes on synthetic packets", async (t) => {
  await t.step("the SYN-ACK's receiver is the originator", () => {
    const [conn] = connectionsOf(numbered([pkt("S", SYNACK, 500, 101), pkt("S", RST, 501)]));
    assert.deepEqual(conn?.originator, { address: "10.0.0.1", port: 40000 });
    assert.deepEqual(conn?.isn, { orig: null, resp: 500 });
    assert.deepEqual(conn?.directions, ["resp", "resp"]);
  });
  await t.step("mid-stream: the first packet's sender", () => {
    const [conn] = connectionsOf(numbered([pkt("S", PSH, 2000, 1000, 5)]));
    assert.deepEqual(conn?.originator, { address: "10.0.0.2", port: 9999 });
    assert.equal(conn?.handshakeCompleted, false);
  });
  await t.step("bytes: sequence space, retransmissions once, FIN not counted", () => {
    const [conn] = connectionsOf(numbered([
      ...handshake,
      pkt("C", PSH, 101, 501, 100),
      pkt("C", PSH, 101, 501, 100),
      pkt("C", PSH, 201, 501, 50),
      pkt("S", PSH, 501, 251, 7),
      pkt("C", FIN, 251, 508),
      pkt("S", FIN, 508, 252),
    ]));
    assert.deepEqual(conn?.bytes, { orig: 150, resp: 7 });
    assert.equal(conn?.state, "SF");
  });
  await t.step("a new SYN with another ISN after a RST: two connections", () => {
    const connections = connectionsOf(numbered([
      ...handshake,
      pkt("C", RSTACK, 101, 501),
      pkt("C", SYN, 90000),
      pkt("S", RSTACK, 0, 90001),
    ]));
    assert.deepEqual(connections.map((c) => [c.id, c.state, c.history]), [[1, "RSTO", "ShAR"], [
      2,
      "REJ",
      "Sr",
    ]]);
  });
  await t.step("handshake incomplete without the final ACK", () => {
    const [conn] = connectionsOf(numbered([pkt("C", SYN, 100), pkt("S", SYNACK, 500, 101)]));
    assert.equal(conn?.handshakeCompleted, false);
    assert.equal(conn?.state, "S1");
  });
});

Deno.test("readConnections: bad checksums and bad headers", async (t) => {
  await t.step("ignored by default (offload), like zeek -C", () => {
    const packets = fixturePackets("founding_rst_unread");
    assert.ok(packets.every((p) => p.checksumOk === false));
    assert.equal(connectionsOf(packets)[0]?.state, "RSTO");
  });
  await t.step("with verifyChecksums: C/c and the segments are dropped, as Zeek does", () => {
    const good = (p: TcpPacket) => ({ ...p, checksumOk: true });
    const packets = numbered([
      ...handshake.map(good),
      { ...pkt("C", PSH, 101, 501, 10), checksumOk: false },
      { ...pkt("S", RSTACK, 501, 111), checksumOk: false },
      { ...pkt("C", PSH, 101, 501, 10), checksumOk: null }, // not checkable: kept
    ]);
    const zeek = (verify: boolean) => {
      const state = new ZeekTcpState(SYN, verify);
      for (const p of packets) {
        state.add(p.src === "10.0.0.1", p.flags, p.seq, p.ack, p.payloadLength, p.window, true, p.checksumOk);
      }
      return state;
    };
    assert.equal(zeek(true).history, "ShACcD");
    assert.equal(zeek(true).connState(), "S1");
    assert.equal(zeek(false).history, "ShADrT");
    assert.equal(zeek(false).connState(), "RSTR");
  });
  await t.step("a segment with a bad header length is kept but not analysed", () => {
    const bad = { ...pkt("C", RSTACK, 101, 501), headerLength: 16 };
    const [conn] = connectionsOf(numbered([...handshake, bad]));
    assert.equal(conn?.state, "S1");
    assert.equal(conn?.packets.length, 4);
    assert.deepEqual(conn?.firstRst, { orig: 3, resp: null });
  });
});
