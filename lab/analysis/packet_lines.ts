/**
 * One packet of a connection as reports show it: tcpdump's flags, the
 * sequence and ack numbers, the payload length and tcpdump's line. The
 * run report and `lab explain` build their packet lines here, with one
 * numbering rule ({@link SequenceNumbering}).
 *
 * @module
 */

import { TCP_ACK, type TcpPacket } from "./types.ts";
import { tcpdumpFlags } from "./tcpdump_format.ts";

/**
 * How a connection's sequence and ack numbers are shown, one rule for every
 * report: each side's numbers count from the first one seen of that side
 * (shown as 0). That is its ISN when its SYN was captured (the SYN is seq
 * 0, the first byte 1); without the SYN, it is the first sequence number
 * the side sent or the first ack the other side sent it, whichever came
 * first (a refused connection's RST shows seq 0, as on the wire). An ack
 * number is shown only with the ACK bit (0 without it). Feed the packets in
 * capture order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SequenceNumbering } from "./packet_lines.ts";
 * // A SYN from the originator (ISN 100), answered by a RST,ACK: the responder sent no SYN.
 * const numbering = new SequenceNumbering(100, null);
 * assert.deepEqual(numbering.number(true, 0x02, 100, 0), { seq: 0, ack: 0 });
 * assert.deepEqual(numbering.number(false, 0x14, 0, 101), { seq: 0, ack: 1 });
 * // Mid-stream: the first numbers seen count as 0.
 * const midStream = new SequenceNumbering(null, null);
 * assert.deepEqual(midStream.number(true, 0x18, 5000, 9000), { seq: 0, ack: 0 });
 * assert.deepEqual(midStream.number(false, 0x10, 9000, 5010), { seq: 0, ack: 10 });
 * ```
 */
export class SequenceNumbering {
  readonly #base: { orig: number; resp: number };

  /** Numbering for a connection whose ISNs (from its SYNs) are these, or null where no SYN was seen. */
  constructor(isnOrig: number | null, isnResp: number | null) {
    this.#base = { orig: isnOrig ?? -1, resp: isnResp ?? -1 };
  }

  /** The numbers of one packet, from the originator or not, as shown. */
  number(fromOrig: boolean, flags: number, seq: number, ack: number): { seq: number; ack: number } {
    const base = this.#base;
    const own = fromOrig ? "orig" : "resp";
    const peer = fromOrig ? "resp" : "orig";
    if (base[own] === -1) base[own] = seq >>> 0;
    const acks = (flags & TCP_ACK) !== 0;
    if (base[peer] === -1 && acks) base[peer] = ack >>> 0;
    return { seq: (seq - base[own]) >>> 0, ack: acks ? (ack - base[peer]) >>> 0 : 0 };
  }
}

/** One packet, as reports list it. */
export interface PacketLine {
  /** 1-based record number in its capture file (Wireshark's frame number). */
  index: number;
  /** Whether the connection's originator sent it. */
  fromOrig: boolean;
  /** tcpdump's flags: "S", "S.", ".", "P.", "F.", "R.", "R". */
  flags: string;
  /** Sequence and ack numbers as {@link SequenceNumbering} shows them. */
  seq: number;
  ack: number;
  /** The raw window field. */
  window: number;
  /** Payload bytes. */
  length: number;
  /** What `tcpdump -nn` prints after the timestamp. */
  tcpdump: string;
}

/**
 * The line of `packet`, a packet of the connection whose originator is
 * `originator`; `tcpdump` is its line from a {@link TcpdumpFormatter} that
 * saw the capture's packets in order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { packetLine, SequenceNumbering } from "./packet_lines.ts";
 * const packet = {
 *   index: 3, timeNs: 0n, ipVersion: 4 as const, src: "10.0.0.1", dst: "10.0.0.2",
 *   srcPort: 40000, dstPort: 80, flags: 0x18, seq: 1101, ack: 5001, window: 502,
 *   payloadLength: 10, options: [], payload: new Uint8Array(), checksumOk: null,
 * };
 * const numbering = new SequenceNumbering(1100, 5000);
 * const line = packetLine(packet, { address: "10.0.0.1", port: 40000 }, numbering, "...");
 * assert.deepEqual([line.fromOrig, line.flags, line.seq, line.ack, line.length], [true, "P.", 1, 1, 10]);
 * ```
 */
export function packetLine(
  packet: TcpPacket,
  originator: { address: string; port: number },
  numbering: SequenceNumbering,
  tcpdump: string,
): PacketLine {
  const fromOrig = packet.src === originator.address && packet.srcPort === originator.port;
  const { seq, ack } = numbering.number(fromOrig, packet.flags, packet.seq, packet.ack);
  return {
    index: packet.index,
    fromOrig,
    flags: tcpdumpFlags(packet.flags),
    seq,
    ack,
    window: packet.window,
    length: packet.payloadLength,
    tcpdump,
  };
}

/**
 * The sides of `lines` that sent no SYN among them (in order of their
 * first line): the sides {@link SequenceNumbering} numbers from the first
 * number seen.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sidesWithoutSyn } from "./packet_lines.ts";
 * const lines = [{ from: "client", flags: "S" }, { from: "server", flags: "R." }];
 * assert.deepEqual(sidesWithoutSyn(lines), ["server"]);
 * ```
 */
export function sidesWithoutSyn<T extends string>(lines: ReadonlyArray<{ from: T; flags: string }>): T[] {
  const sides: T[] = [];
  const withSyn = new Set<T>();
  for (const line of lines) {
    if (!sides.includes(line.from)) sides.push(line.from);
    if (line.flags.includes("S")) withSyn.add(line.from);
  }
  return sides.filter((side) => !withSyn.has(side));
}

/**
 * The sentence a report gives when some side's SYN was not captured, naming
 * those sides (`names`), or null when every side's numbers count from its SYN.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { numberingNote } from "./packet_lines.ts";
 * assert.equal(numberingNote([]), null);
 * assert.match(numberingNote(["server"])!, /^No SYN from the server was captured/);
 * ```
 */
export function numberingNote(names: string[]): string | null {
  if (names.length === 0) return null;
  const who = names.join(" or the ");
  return `No SYN from the ${who} was captured: ${
    names.length === 1 ? "its" : "their"
  } sequence numbers count from the first one seen, shown as 0 (as a side's SYN is).`;
}

/**
 * A tcpdump line made short enough for a ticket's column (846 px, about 99
 * characters of code): the TCP options left out (the capture has them)
 * and, where `names` are given, the sender and receiver by those names
 * instead of their addresses and ports, with what tcpdump prints before
 * `IP` (a cooked capture's interface and direction) left out too. The one
 * width rule of every report's packet lines.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { shortTcpdumpLine } from "./packet_lines.ts";
 * const line = "IP 10.0.0.2.40000 > 10.0.0.1.9999: Flags [R.], seq 1, ack 2, win 63, " +
 *   "options [nop,nop,TS val 1 ecr 2], length 0";
 * assert.equal(
 *   shortTcpdumpLine(line, { from: "client", to: "server" }),
 *   "client > server: Flags [R.], seq 1, ack 2, win 63, length 0",
 * );
 * const cooked = "lo    In  IP6 ::1.80 > ::1.4000: Flags [.], ack 1, options [nop], length 0";
 * assert.equal(shortTcpdumpLine(cooked, null), "lo    In  IP6 ::1.80 > ::1.4000: Flags [.], ack 1, length 0");
 * assert.equal(shortTcpdumpLine(cooked, { from: "resp", to: "orig" }), "resp > orig: Flags [.], ack 1, length 0");
 * ```
 */
export function shortTcpdumpLine(line: string, names: { from: string; to: string } | null): string {
  const short = line.replace(/, options \[[^\]]*\]/, "");
  return names === null ? short : short.replace(/^(.*?\s)?IP6? \S+ > \S+: /, `${names.from} > ${names.to}: `);
}
