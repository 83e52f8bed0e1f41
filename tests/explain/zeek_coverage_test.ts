/**
 * Every conn_state and every history letter `lab explain` can write, each
 * on a real capture (tests/testdata/README.md says how each was recorded,
 * and which were cut with editcap or written with a raw socket). The
 * tables are checked against the source: a state or letter the analyzer
 * can write without a row here fails the first tests.
 */

import assert from "node:assert/strict";
import { explainCapture, type ExplainOptions } from "../../lab/explain/explain_capture.ts";
import { fixtureBytes } from "../analysis/_helpers.ts";

/** A fixture, its options, and the connection (by id) whose "state history" is expected. */
interface Case {
  fixture: string;
  options?: ExplainOptions;
  conn: number;
  expected: string;
}

/**
 * One row per conn_state (base/protocols/conn/main.zeek, Conn::conn_state),
 * with the Zeek rule that decides it.
 */
const STATES: Record<string, Case & { rule: string }> = {
  S0: { fixture: "refused_syn_only", conn: 1, expected: "S0 S", rule: "SYN seen, no reply" },
  S1: { fixture: "retransmit_timeout", conn: 1, expected: "S1 ShADT", rule: "established, not closed" },
  SF: { fixture: "read_then_close", conn: 1, expected: "SF ShAdFf", rule: "both closed" },
  REJ: { fixture: "refused", conn: 1, expected: "REJ Sr", rule: "SYN answered by RST" },
  S2: { fixture: "half_close_unanswered", conn: 1, expected: "S2 ShADaF", rule: "originator closed only" },
  S3: { fixture: "server_close_unanswered", conn: 1, expected: "S3 ShAdf", rule: "responder closed only" },
  RSTO: { fixture: "founding_rst_unread", conn: 1, expected: "RSTO ShAdR", rule: "originator reset" },
  RSTR: { fixture: "server_rst_unread", conn: 1, expected: "RSTR ShADar", rule: "responder reset" },
  RSTOS0: {
    fixture: "linger_zero_syn_rst",
    conn: 1,
    expected: "RSTOS0 SR",
    rule: "originator SYN then RST, no SYN-ACK",
  },
  RSTRH: {
    fixture: "server_rst_unread_server_only",
    conn: 1,
    expected: "RSTRH ^har",
    rule: "responder SYN-ACK then RST, no SYN",
  },
  SH: {
    fixture: "read_then_close_client_only",
    conn: 1,
    expected: "SH SAF",
    rule: "SYN then FIN, no SYN-ACK",
  },
  SHR: {
    fixture: "read_then_close_server_only",
    conn: 1,
    expected: "SHR ^hdf",
    rule: "responder SYN-ACK then FIN, no SYN",
  },
  OTH: {
    fixture: "linger_zero_client_only",
    conn: 1,
    expected: "OTH SAR",
    rule: "no SYN-only pattern fits (an ACK before the RST)",
  },
};

/** One row per history letter (Zeek's conn.log `history`): upper case the originator, lower case the responder. */
const LETTERS: Record<string, Case> = {
  "S": { fixture: "refused", conn: 1, expected: "REJ Sr" },
  "s": { fixture: "crafted_flags", conn: 3, expected: "REJ SrsRH" },
  "H": { fixture: "crafted_flags", conn: 3, expected: "REJ SrsRH" },
  "h": { fixture: "read_then_close", conn: 1, expected: "SF ShAdFf" },
  "A": { fixture: "read_then_close", conn: 1, expected: "SF ShAdFf" },
  "a": { fixture: "server_rst_unread", conn: 1, expected: "RSTR ShADar" },
  "D": { fixture: "server_rst_unread", conn: 1, expected: "RSTR ShADar" },
  "d": { fixture: "read_then_close", conn: 1, expected: "SF ShAdFf" },
  "F": { fixture: "read_then_close", conn: 1, expected: "SF ShAdFf" },
  "f": { fixture: "read_then_close", conn: 1, expected: "SF ShAdFf" },
  "R": { fixture: "founding_rst_unread", conn: 1, expected: "RSTO ShAdR" },
  "r": { fixture: "refused", conn: 1, expected: "REJ Sr" },
  "C": { fixture: "refused_syn_only", options: { checksums: "verify" }, conn: 1, expected: "OTH C" },
  "c": { fixture: "founding_rst_unread", options: { checksums: "verify" }, conn: 2, expected: "OTH ^cC" },
  "G": { fixture: "shutdown_drain_gaps", conn: 1, expected: "SF ShAaGFgf" },
  "g": { fixture: "shutdown_drain_gaps", conn: 1, expected: "SF ShAaGFgf" },
  "T": { fixture: "retransmit_timeout", conn: 1, expected: "S1 ShADT" },
  "t": { fixture: "responder_retransmit", conn: 1, expected: "SF ShAdtFf" },
  "W": { fixture: "zero_window", conn: 1, expected: "SF ShADawdWFf" },
  "w": { fixture: "zero_window", conn: 1, expected: "SF ShADawdWFf" },
  "I": { fixture: "crafted_flags", conn: 2, expected: "REJ SrhRIi" },
  "i": { fixture: "crafted_flags", conn: 2, expected: "REJ SrhRIi" },
  "Q": { fixture: "crafted_flags", conn: 1, expected: "RSTR Qrq" },
  "q": { fixture: "crafted_flags", conn: 1, expected: "RSTR Qrq" },
  "^": { fixture: "read_then_close_server_only", conn: 1, expected: "SHR ^hdf" },
};

function source(path: string): string {
  return Deno.readTextFileSync(new URL(`../../lab/analysis/${path}`, import.meta.url));
}

function row(c: Case): string {
  const x = explainCapture(fixtureBytes(c.fixture), `${c.fixture}.pcap`, c.options ?? {});
  const r = x.rows.find((r) => r.id === c.conn);
  assert.ok(r, `${c.fixture}: no connection ${c.conn}`);
  return `${r.state} ${r.history}`;
}

Deno.test("every conn_state the analyzer can write has a row", () => {
  const union = /export type ConnState =([^;]+);/.exec(source("types.ts"))![1]!;
  const states = [...union.matchAll(/"([A-Z0-9]+)"/g)].map((m) => m[1]!).sort();
  assert.deepEqual(Object.keys(STATES).sort(), states);
});

Deno.test("every history letter the analyzer can write has a row", () => {
  // The letters the analyzer passes to #addHistory/#checkHistory (S and H chosen by the ACK bit), both cases, and ^.
  const code = source("zeek_tcp_state.ts");
  const upper = new Set<string>();
  for (const line of code.split("\n")) {
    if (!/History\(|const code = ack/.test(line)) continue;
    for (const m of line.matchAll(/"([A-Z])"/g)) upper.add(m[1]!);
  }
  const letters = [...upper].flatMap((l) => [l, l.toLowerCase()]).concat("^").sort();
  assert.equal(letters.length, 25);
  assert.deepEqual(Object.keys(LETTERS).sort(), letters);
});

Deno.test("conn_state: each on a real capture", async (t) => {
  for (const [state, c] of Object.entries(STATES)) {
    await t.step(`${state} (${c.rule}): ${c.fixture}`, () => {
      const got = row(c);
      assert.equal(got, c.expected);
      assert.equal(got.split(" ")[0], state);
    });
  }
});

Deno.test("history letters: each on a real capture", async (t) => {
  for (const [letter, c] of Object.entries(LETTERS)) {
    await t.step(`${letter}: ${c.fixture}${c.options ? " " + JSON.stringify(c.options) : ""}`, () => {
      const got = row(c);
      assert.equal(got, c.expected);
      assert.ok(got.split(" ")[1]!.includes(letter), `${letter} in ${got}`);
    });
  }
});

Deno.test("a simultaneous open is two connections, as Zeek's IsReuse makes it (simultaneous_open)", () => {
  // The second side's SYN has another ISN while the first is still SYN_SENT: IsReuse
  // (src/packet_analysis/protocol/tcp/TCPSessionAdapter.cc) starts a new connection, in both modes.
  for (const zeekBoundaries of [false, true]) {
    const x = explainCapture(fixtureBytes("simultaneous_open"), "s.pcap", { zeekBoundaries });
    assert.deepEqual(
      [...x.rows].sort((a, b) => a.id - b.id).map((r) => `${r.state} ${r.history} ${r.ended}`),
      [
        "S0 S reused",
        "SF ShAfFa closed",
      ],
    );
  }
});
