/**
 * Zeek's repetition rule for the history letters C, G, T and W: logged
 * again at the 1st, 10th, 100th... occurrence of each side
 * (Connection::ScaledHistoryEntry, src/Conn.cc, Zeek 8.2; called from
 * TCP_Endpoint::ChecksumError, Gap, DidRxmit and ZeroWindow). A capture
 * with a hundred gaps or bad checksums cannot be made on loopback, so the
 * segments here are built by the test, fed to ZeekTcpState as numbers.
 */

import assert from "node:assert/strict";
import { ZeekTcpState } from "../../lab/analysis/zeek_tcp_state.ts";

const SYN = 0x02, ACK = 0x10, SYNACK = 0x12, PSH = 0x18;
const C_ISN = 1000, S_ISN = 5000;

function established(verify = false): ZeekTcpState {
  const z = new ZeekTcpState(SYN, verify);
  z.add(true, SYN, C_ISN, 0, 0, 512, true, true);
  z.add(false, SYNACK, S_ISN, C_ISN + 1, 0, 512, true, true);
  z.add(true, ACK, C_ISN + 1, S_ISN + 1, 0, 512, true, true);
  return z;
}

function count(text: string, letter: string): number {
  return [...text].filter((c) => c === letter).length;
}

Deno.test("repetition rule: 1, 10, 100 occurrences", async (t) => {
  await t.step("g: 100 gaps in the responder's data, each acked without being seen", () => {
    const z = established();
    let seq = S_ISN + 1;
    for (let i = 0; i < 100; i++) {
      z.add(false, PSH, seq, C_ISN + 1, 10, 512, true, true); // seen
      seq += 20; // 10 bytes never captured
      z.add(true, ACK, C_ISN + 1, seq, 0, 512, true, true); // acked
    }
    assert.equal(count(z.history, "g"), 3);
    assert.equal(z.missedBytes(), 1000);
  });
  await t.step("G: 9 gaps log one letter, the 10th a second", () => {
    const z = established();
    let seq = C_ISN + 1;
    const gaps = (n: number) => {
      for (let i = 0; i < n; i++) {
        seq += 5;
        z.add(false, ACK, S_ISN + 1, seq, 0, 512, true, true);
      }
    };
    gaps(9);
    assert.equal(count(z.history, "G"), 1);
    gaps(1);
    assert.equal(count(z.history, "G"), 2);
  });
  await t.step("a hole filled before the ack is no gap", () => {
    const z = established();
    z.add(true, PSH, C_ISN + 11, S_ISN + 1, 10, 512, true, true); // above a hole
    z.add(true, PSH, C_ISN + 1, S_ISN + 1, 10, 512, true, true); // fills it
    z.add(false, ACK, S_ISN + 1, C_ISN + 21, 0, 512, true, true);
    assert.equal(z.missedBytes(), 0);
    assert.equal(count(z.history, "G"), 0);
  });
  await t.step("a gap revealed by a RST is not logged (the side is not established)", () => {
    const z = established();
    z.add(false, 0x14, S_ISN + 1, C_ISN + 101, 0, 0, true, true);
    assert.equal(z.missedBytes(), 0);
    assert.ok(!z.history.includes("G"));
  });
  await t.step("c: 100 bad checksums from the responder with verify, none without", () => {
    const verified = established(true), ignored = established(false);
    for (let i = 0; i < 100; i++) {
      for (const z of [verified, ignored]) z.add(false, ACK, S_ISN + 1, C_ISN + 1, 0, 512, true, false);
    }
    assert.equal(count(verified.history, "c"), 3);
    assert.equal(count(ignored.history, "c"), 0);
  });
  await t.step("t and w follow the same rule", () => {
    const z = established();
    z.add(false, PSH, S_ISN + 1, C_ISN + 1, 10, 512, true, true);
    for (let i = 0; i < 10; i++) z.add(false, PSH, S_ISN + 1, C_ISN + 1, 10, 512, true, true);
    for (let i = 0; i < 10; i++) z.add(false, ACK, S_ISN + 11, C_ISN + 1, 0, 0, true, true);
    assert.equal(count(z.history, "t"), 2);
    assert.equal(count(z.history, "w"), 2);
  });
});
