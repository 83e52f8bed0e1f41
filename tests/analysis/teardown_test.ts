import assert from "node:assert/strict";
import { readConnections } from "../../lab/analysis/connections.ts";
import type { CauseId, Confidence } from "../../lab/analysis/causes.ts";
import { classifyTeardown, type Teardown, type TeardownKind } from "../../lab/analysis/teardown.ts";
import type { Connection, TcpPacket } from "../../lab/analysis/types.ts";
import { connectionsOf, type Fixture, fixtureBytes, fixturePackets, FIXTURES } from "./_helpers.ts";

interface Expected {
  kind: TeardownKind;
  closedFirstBy: "orig" | "resp" | null;
  resetBy: "orig" | "resp" | null;
  halfClose: boolean;
  causes: Array<[CauseId, Confidence]>;
}

const UNREAD_OR_LINGER: Array<[CauseId, Confidence]> = [
  ["close-with-unread-data", "likely"],
  ["linger-zero", "possible"],
];
const FOUNDING: Expected = {
  kind: "reset",
  closedFirstBy: "orig",
  resetBy: "orig",
  halfClose: false,
  causes: UNREAD_OR_LINGER,
};
const GRACEFUL_BY_ORIG: Expected = {
  kind: "graceful",
  closedFirstBy: "orig",
  resetBy: null,
  halfClose: false,
  causes: [["graceful-close", "certain"]],
};

const EXPECTED: Record<Fixture, Expected[]> = {
  founding_rst_unread: [FOUNDING],
  founding_any_sll: [FOUNDING],
  founding_any_sll2: [FOUNDING],
  read_then_close: [GRACEFUL_BY_ORIG],
  ipv6_read_then_close: [GRACEFUL_BY_ORIG],
  refused: [{
    kind: "refused",
    closedFirstBy: "resp",
    resetBy: "resp",
    halfClose: false,
    causes: [["refused", "certain"]],
  }],
  linger_zero: [{
    kind: "reset",
    closedFirstBy: "orig",
    resetBy: "orig",
    halfClose: false,
    causes: [["linger-zero", "likely"]],
  }],
  // Data after the first FIN, then both FINs: a half-close, named as one cause.
  shutdown_drain: [{ ...GRACEFUL_BY_ORIG, halfClose: true, causes: [["half-close", "certain"]] }],
  data_after_close: [{
    kind: "reset",
    closedFirstBy: "orig",
    resetBy: "orig",
    halfClose: false,
    causes: [["data-after-close", "certain"]],
  }],
  port_reuse: [{ ...GRACEFUL_BY_ORIG, closedFirstBy: "resp" }, FOUNDING],
  server_rst_unread: [{
    kind: "reset",
    closedFirstBy: "resp",
    resetBy: "resp",
    halfClose: false,
    causes: UNREAD_OR_LINGER,
  }],
  retransmit_timeout: [{
    kind: "open",
    closedFirstBy: null,
    resetBy: null,
    halfClose: false,
    causes: [["retransmission-timeout", "likely"], ["unknown", "possible"]],
  }],
  keepalive_timeout: [{
    kind: "reset",
    closedFirstBy: "orig",
    resetBy: "orig",
    halfClose: false,
    // The client never received a byte: nothing was unread, so one cause (a timeout), not two.
    causes: [["abort-after-retransmissions", "likely"]],
  }],
};

function summary(t: Teardown): Expected {
  return {
    kind: t.kind,
    closedFirstBy: t.closedFirstBy,
    resetBy: t.resetBy,
    halfClose: t.halfClose,
    causes: t.candidates.map((c) => [c.cause, c.confidence]),
  };
}

function teardowns(name: string): Teardown[] {
  return readConnections(fixtureBytes(name), name).connections.map(classifyTeardown);
}

Deno.test("classifyTeardown: every fixture", async (t) => {
  for (const name of FIXTURES) {
    await t.step(name, () => {
      const all = teardowns(name);
      assert.deepEqual(all.map(summary), EXPECTED[name]);
      for (const teardown of all) {
        for (const candidate of teardown.candidates) {
          assert.ok(candidate.reason.length > 20, candidate.reason);
          assert.ok(!candidate.reason.includes("\n"));
        }
      }
    });
  }
});

Deno.test("classifyTeardown: the founding case's facts", () => {
  const [conn] = readConnections(fixtureBytes("founding_rst_unread"), "f").connections;
  const t = classifyTeardown(conn!);
  assert.equal(t.resetPacket, 5);
  assert.equal(t.closePacket, 5);
  assert.equal(t.resetHasAck, true);
  assert.equal(t.resetAnswers, null);
  // seq 1 = ISN + 1: no FIN consumed a sequence number; ack 2: the server's byte.
  assert.equal(t.resetSeqRelative, 1);
  assert.equal(t.resetAckRelative, 2);
  assert.deepEqual(t.finBeforeReset, { orig: false, resp: false });
  assert.equal(t.sentByResetter, 0);
  assert.equal(t.receivedByResetter, 1);
  assert.equal(t.ackedByResetter, 1);
  assert.equal(t.unreadBytes, 1);
  const [unread, linger] = t.candidates;
  assert.match(unread!.reason, /acknowledging 1 byte/);
  for (const c of [unread!, linger!]) {
    assert.match(c.settledBy!, /TCPAbortOnClose/);
    assert.match(c.settledBy!, /TCPAbortOnData/);
    assert.match(c.settledBy!, /tcp_send_reset/);
  }
});

Deno.test("classifyTeardown: facts of the other resets", async (t) => {
  await t.step("SO_LINGER {1, 0}: nothing received, nothing unread", () => {
    const [td] = teardowns("linger_zero");
    assert.equal(td?.resetSeqRelative, 1);
    assert.equal(td?.resetAckRelative, 1);
    assert.equal(td?.receivedByResetter, 0);
    assert.equal(td?.unreadBytes, 0);
    assert.match(td!.candidates[0]!.settledBy!, /TCPAbortOnData/);
  });
  await t.step("data after close: a RST without ACK answering the data", () => {
    const [td] = teardowns("data_after_close");
    assert.equal(td?.resetHasAck, false);
    assert.equal(td?.resetAnswers, 5);
    assert.equal(td?.resetAckRelative, null);
    assert.equal(td?.resetSeqRelative, 2); // after the FIN
    assert.deepEqual(td?.finBeforeReset, { orig: true, resp: false });
    assert.deepEqual(td?.dataAfterPeerFin, { orig: 0, resp: 1 });
  });
  await t.step("the server resets with the request unread", () => {
    const [td] = teardowns("server_rst_unread");
    assert.equal(td?.resetAckRelative, 8);
    assert.equal(td?.receivedByResetter, 7);
    assert.equal(td?.unreadBytes, 7);
  });
  await t.step("refused: RST,ACK to the SYN", () => {
    const [td] = teardowns("refused");
    assert.equal(td?.resetHasAck, true);
    assert.equal(td?.resetAckRelative, 1);
    assert.match(td!.candidates[0]!.reason, /ECONNREFUSED/);
  });
  await t.step("shutdown(SHUT_WR) then a reply: a half-close inside a graceful close", () => {
    const [td] = teardowns("shutdown_drain");
    assert.deepEqual(td?.dataAfterPeerFin, { orig: 0, resp: 14 });
    assert.match(td!.candidates[0]!.reason, /half-close/);
  });
  await t.step("timeouts: the unanswered tries are counted", () => {
    assert.deepEqual(teardowns("retransmit_timeout")[0]?.unansweredRetransmissions, { by: "orig", count: 3 });
    assert.deepEqual(teardowns("keepalive_timeout")[0]?.unansweredRetransmissions, { by: "orig", count: 2 });
  });
});

function classifyFirst(packets: TcpPacket[]): Teardown {
  const [conn] = connectionsOf(packets) as [Connection];
  return classifyTeardown(conn);
}

Deno.test("classifyTeardown: cut fixtures and synthetic endings", async (t) => {
  await t.step("half-close: FIN one way, the capture ends", () => {
    const packets = fixturePackets("shutdown_drain").slice(0, 8);
    const td = classifyFirst(packets);
    assert.deepEqual(summary(td), {
      kind: "half-close",
      closedFirstBy: "orig",
      resetBy: null,
      halfClose: true,
      causes: [["half-close", "likely"]],
    });
  });
  await t.step("open: no FIN, no RST", () => {
    const td = classifyFirst(fixturePackets("founding_rst_unread").slice(0, 5));
    assert.deepEqual(summary(td), {
      kind: "open",
      closedFirstBy: null,
      resetBy: null,
      halfClose: false,
      causes: [["unknown", "possible"]],
    });
  });
  await t.step("no handshake: the SYN got no answer", () => {
    const td = classifyFirst(fixturePackets("refused").slice(0, 1));
    assert.equal(td.kind, "no-handshake");
    assert.deepEqual(td.candidates.map((c) => c.cause), ["unknown"]);
    assert.match(td.candidates[0]!.reason, /ListenOverflows/);
  });

  const client = (flags: number, seq: number, ack: number, payload = 0): TcpPacket => ({
    index: 0,
    timeNs: 0n,
    ipVersion: 4,
    src: "10.0.0.1",
    dst: "10.0.0.2",
    srcPort: 40000,
    dstPort: 9999,
    flags,
    seq,
    ack,
    window: 100,
    payloadLength: payload,
    options: [],
    payload: new Uint8Array(),
    checksumOk: null,
  });
  const server = (flags: number, seq: number, ack: number, payload = 0): TcpPacket => ({
    ...client(flags, seq, ack, payload),
    src: "10.0.0.2",
    dst: "10.0.0.1",
    srcPort: 9999,
    dstPort: 40000,
  });
  const handshake = [client(0x02, 100, 0), server(0x12, 500, 101), client(0x10, 101, 501)];

  await t.step("RST after answering everything: linger-zero likely, unread data possible", () => {
    const td = classifyFirst([
      ...handshake,
      server(0x18, 501, 101, 10),
      client(0x18, 101, 511, 20),
      server(0x10, 511, 121),
      client(0x14, 121, 511),
    ]);
    assert.deepEqual(summary(td).causes, [["linger-zero", "likely"], ["close-with-unread-data", "possible"]]);
    assert.equal(td.receivedByResetter, 10);
    assert.equal(td.unreadBytes, 0);
    assert.equal(td.resetSeqRelative, 21);
  });
  await t.step("a RST without ACK, no FIN before it: no socket there", () => {
    const td = classifyFirst([...handshake, server(0x18, 501, 101, 10), client(0x04, 101, 0)]);
    assert.equal(td.kind, "reset");
    assert.equal(td.resetAnswers, 3);
    assert.deepEqual(summary(td).causes, [["peer-lost-state", "possible"], ["unknown", "possible"]]);
  });
  await t.step("the originator gives up on its own SYN", () => {
    const td = classifyFirst([client(0x02, 100, 0), client(0x02, 100, 0), client(0x04, 101, 0)]);
    assert.equal(td.kind, "no-handshake");
    assert.equal(td.resetBy, "orig");
  });
  await t.step("a FIN, unread data after it, then an active RST", () => {
    const td = classifyFirst([
      ...handshake,
      client(0x11, 101, 501),
      server(0x18, 501, 102, 5),
      client(0x10, 102, 506),
      client(0x14, 102, 506),
    ]);
    assert.deepEqual(td.finBeforeReset, { orig: true, resp: false });
    assert.deepEqual(summary(td).causes, UNREAD_OR_LINGER);
    assert.match(td.candidates[0]!.reason, /after its own FIN/);
  });
  await t.step("both FINs and no RST: graceful, whoever starts", () => {
    const td = classifyFirst([
      ...handshake,
      server(0x11, 501, 101),
      client(0x11, 101, 502),
      server(0x10, 502, 102),
    ]);
    assert.equal(td.kind, "graceful");
    assert.equal(td.closedFirstBy, "resp");
    assert.equal(td.halfClose, false);
  });
});
