/**
 * How a connection ended, read from its packets alone: the teardown kind,
 * who closed first, who reset, the sequence facts around the reset, and
 * the causes the packets allow, each with a confidence and a reason.
 *
 * Packets cannot see inside a host: where two kernel paths produce the same
 * packets (unread data at close() and SO_LINGER {1, 0} both send `[R.]`),
 * both causes are returned, with the evidence that would settle it.
 *
 * @module
 */

import {
  type Connection,
  type Direction,
  TCP_ACK,
  TCP_FIN,
  TCP_RST,
  TCP_SYN,
  type TcpPacket,
} from "./types.ts";

/** The shape of the teardown. */
export type TeardownKind =
  /** FIN both ways, no RST. */
  | "graceful"
  /** A RST ended the connection (after a handshake, or mid-stream). */
  | "reset"
  /** The responder answered the SYN with RST,ACK: nothing listened there. */
  | "refused"
  /** FIN one way only, no RST. */
  | "half-close"
  /** No FIN and no RST in the capture. */
  | "open"
  /** The SYN got no SYN-ACK and no RST. */
  | "no-handshake";

/** Stable identifiers of the causes the packets can point to. */
export type CauseId =
  | "close-with-unread-data"
  | "linger-zero"
  | "data-after-close"
  | "refused"
  | "graceful-close"
  | "half-close"
  | "abort-after-retransmissions"
  | "unknown";

/** How sure the packets make a cause. */
export type Confidence = "certain" | "likely" | "possible";

/** One possible cause of the teardown. */
export interface CauseCandidate {
  /** Which cause. */
  cause: CauseId;
  /** How sure the packets make it. */
  confidence: Confidence;
  /** One line in plain words: why the packets point here. */
  reason: string;
  /** What evidence outside the packets would confirm or rule this out. */
  settledBy?: string;
}

/** The packet-level verdict on one connection's teardown. */
export interface Teardown {
  /** The shape of the teardown. */
  kind: TeardownKind;
  /**
   * One side sent FIN first and the other kept sending payload after it,
   * which the first side accepted (no RST from it): a half-close, as after
   * shutdown(SHUT_WR).
   */
  halfClose: boolean;
  /** The side that sent the first FIN or RST, or null. */
  closedFirstBy: Direction | null;
  /** Index in `conn.packets` of that first FIN or RST, or null. */
  closePacket: number | null;
  /** The side that sent the first RST, or null. */
  resetBy: Direction | null;
  /** Index in `conn.packets` of the first RST, or null. */
  resetPacket: number | null;
  /** Whether the first RST carries ACK (`[R.]`: an active reset, or the answer to a SYN) or not (`[R]`: the answer to a segment). */
  resetHasAck: boolean | null;
  /**
   * For a RST without ACK: index in `conn.packets` of the peer's segment it
   * answers (its ack number is the RST's sequence number), or null.
   */
  resetAnswers: number | null;
  /**
   * The RST's sequence number relative to the resetter's ISN: 1 + payload
   * bytes sent means no FIN consumed a sequence number (1 when nothing was sent).
   */
  resetSeqRelative: number | null;
  /** The RST's ack number relative to the peer's ISN (1 + peer bytes acknowledged), or null without ACK. */
  resetAckRelative: number | null;
  /** Whether each side had sent a FIN before the first RST; null without RST. */
  finBeforeReset: { orig: boolean; resp: boolean } | null;
  /** Payload bytes the resetter had sent before its RST. */
  sentByResetter: number | null;
  /** Payload bytes (sequence space) the resetter had received before its RST. */
  receivedByResetter: number | null;
  /** Of those, how many the resetter had acknowledged (its highest ack). */
  ackedByResetter: number | null;
  /**
   * Bytes the resetter received and acknowledged after it last sent payload:
   * data it never answered, the upper bound of what was left unread when
   * the cause is close-with-unread-data.
   */
  unreadBytes: number | null;
  /** Payload bytes each side sent after the other side's first FIN. */
  dataAfterPeerFin: { orig: number; resp: number };
  /**
   * Retransmissions or keepalive probes a side sent at the end with no
   * packet from the peer after them (the side that was still trying), or null.
   */
  unansweredRetransmissions: { by: Direction; count: number } | null;
  /** The candidate causes, most likely first. */
  candidates: CauseCandidate[];
}

const _SETTLE_UNREAD_VS_LINGER =
  "the closer's TcpExt counters (TCPAbortOnClose for unread data, TCPAbortOnData for SO_LINGER {1, 0}) " +
  "or the tcp_send_reset tracepoint's reason (TCP_ABORT_ON_CLOSE vs TCP_STATE)";

/**
 * Classify how `conn` ended, from its packets only.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildConnections } from "./connections.ts";
 * import { classifyTeardown } from "./teardown.ts";
 * const p = (index: number, fromClient: boolean, flags: number, seq: number, ack: number) => ({
 *   index, timeNs: BigInt(index), ipVersion: 4 as const,
 *   src: fromClient ? "10.0.0.1" : "10.0.0.2", dst: fromClient ? "10.0.0.2" : "10.0.0.1",
 *   srcPort: fromClient ? 40000 : 9999, dstPort: fromClient ? 9999 : 40000,
 *   flags, seq, ack, window: 100, payloadLength: 0, options: [],
 *   payload: new Uint8Array(), checksumOk: null,
 * });
 * const [conn] = buildConnections([p(1, true, 0x02, 100, 0), p(2, false, 0x14, 0, 101)]);
 * const teardown = classifyTeardown(conn!);
 * assert.equal(teardown.kind, "refused");
 * assert.deepEqual(teardown.candidates.map((c) => c.cause), ["refused"]);
 * ```
 */
export function classifyTeardown(conn: Connection): Teardown {
  const facts = new _Facts(conn);
  return facts.classify();
}

class _Facts {
  readonly packets: TcpPacket[];
  readonly dirs: Direction[];
  readonly base: { orig: number; resp: number };

  constructor(readonly conn: Connection) {
    this.packets = conn.packets;
    this.dirs = conn.directions;
    this.base = { orig: this.#base("orig"), resp: this.#base("resp") };
  }

  /** The number a side's sequence space is relative to (its ISN, or a stand-in). */
  #base(d: Direction): number {
    const isn = this.conn.isn[d];
    if (isn !== null) return isn;
    for (let i = 0; i < this.packets.length; i++) {
      const p = this.packets[i]!;
      if (this.dirs[i] !== d && p.flags & TCP_ACK && !(p.flags & TCP_RST)) {
        return (p.ack - 1) >>> 0;
      }
    }
    for (let i = 0; i < this.packets.length; i++) {
      if (this.dirs[i] === d) return (this.packets[i]!.seq - 1) >>> 0;
    }
    return 0;
  }

  rel(d: Direction, n: number): number {
    return (n - this.base[d]) >>> 0;
  }

  /** Highest payload end (relative) a side sent in packets [0, end). */
  sentBefore(d: Direction, end: number): number {
    let high = 1;
    for (let i = 0; i < end; i++) {
      const p = this.packets[i]!;
      if (this.dirs[i] !== d || p.payloadLength === 0 || p.flags & TCP_RST) continue;
      const start = this.rel(d, p.seq) + (p.flags & TCP_SYN ? 1 : 0);
      high = Math.max(high, start + p.payloadLength);
    }
    return high - 1;
  }

  /** Highest ack (relative to the peer's space) a side sent in packets [0, end]. */
  ackedBefore(d: Direction, end: number): number {
    const peer = _other(d);
    let high = 0;
    for (let i = 0; i <= end && i < this.packets.length; i++) {
      const p = this.packets[i]!;
      if (this.dirs[i] !== d || !(p.flags & TCP_ACK)) continue;
      high = Math.max(high, this.rel(peer, p.ack));
    }
    return high;
  }

  firstFlag(d: Direction, flag: number, end = this.packets.length): number | null {
    for (let i = 0; i < end; i++) {
      if (this.dirs[i] === d && this.packets[i]!.flags & flag) return i;
    }
    return null;
  }

  /** Payload bytes `d` sent after the other side's first FIN (and before `end`). */
  dataAfterPeerFin(d: Direction, end = this.packets.length): number {
    const peerFin = this.firstFlag(_other(d), TCP_FIN, end);
    if (peerFin === null) return 0;
    return Math.max(0, this.sentBefore(d, end) - this.sentBefore(d, peerFin));
  }

  /** Relative end of a segment in its sender's sequence space (SYN and FIN count one). */
  #segmentEnd(d: Direction, p: TcpPacket): number {
    const start = this.rel(d, p.seq);
    if (p.flags & TCP_RST) return start;
    return start + p.payloadLength + (p.flags & TCP_SYN ? 1 : 0) + (p.flags & TCP_FIN ? 1 : 0);
  }

  /** Trailing retransmissions / keepalive probes from one side, unanswered by the other. */
  unansweredRetransmissions(end: number): { by: Direction; count: number } | null {
    let lastIndex = end - 1;
    while (lastIndex >= 0 && this.packets[lastIndex]!.flags & TCP_RST) lastIndex--;
    if (lastIndex < 0) return null;
    const by = this.dirs[lastIndex]!;
    // highest[i]: the highest segment end `by` reached before packet i (null: nothing sent yet).
    const highest: Array<number | null> = [];
    let high: number | null = null;
    for (let i = 0; i <= lastIndex; i++) {
      highest.push(high);
      const p = this.packets[i]!;
      if (this.dirs[i] === by && !(p.flags & TCP_RST)) {
        const e = this.#segmentEnd(by, p);
        high = high === null ? e : Math.max(high, e);
      }
    }
    let count = 0;
    for (let i = lastIndex; i >= 0 && this.dirs[i] === by; i--) {
      const p = this.packets[i]!;
      if (p.flags & TCP_RST) continue;
      const previous = highest[i] ?? null;
      if (previous === null) break;
      const start = this.rel(by, p.seq);
      const occupies = p.payloadLength > 0 || (p.flags & (TCP_SYN | TCP_FIN)) !== 0;
      const isRetransmission = occupies && this.#segmentEnd(by, p) <= previous;
      // A keepalive probe: no new data, one below the next sequence number.
      const isProbe = p.payloadLength <= 1 && !(p.flags & (TCP_SYN | TCP_FIN)) &&
        start === previous - 1;
      if (isRetransmission || isProbe) count++;
      else break;
    }
    return count > 0 ? { by, count } : null;
  }

  classify(): Teardown {
    const conn = this.conn;
    const n = this.packets.length;
    const origFin = this.firstFlag("orig", TCP_FIN);
    const respFin = this.firstFlag("resp", TCP_FIN);
    const origRst = this.firstFlag("orig", TCP_RST);
    const respRst = this.firstFlag("resp", TCP_RST);
    const resetPacket = _min(origRst, respRst);
    const closePacket = _min(_min(origFin, respFin), resetPacket);
    const closedFirstBy = closePacket === null ? null : this.dirs[closePacket]!;
    const resetBy = resetPacket === null ? null : this.dirs[resetPacket]!;
    const firstFin = _min(origFin, respFin);
    const firstFinBy = firstFin === null ? null : this.dirs[firstFin]!;
    const end = resetPacket ?? n;

    const dataAfterPeerFin = {
      orig: this.dataAfterPeerFin("orig"),
      resp: this.dataAfterPeerFin("resp"),
    };
    const finSender = firstFinBy;
    const halfClose = finSender !== null &&
      this.dataAfterPeerFin(_other(finSender), end) > 0 &&
      (resetBy === null || resetBy === _other(finSender));

    const teardown: Teardown = {
      kind: "open",
      halfClose,
      closedFirstBy,
      closePacket,
      resetBy,
      resetPacket,
      resetHasAck: null,
      resetAnswers: null,
      resetSeqRelative: null,
      resetAckRelative: null,
      finBeforeReset: null,
      sentByResetter: null,
      receivedByResetter: null,
      ackedByResetter: null,
      unreadBytes: null,
      dataAfterPeerFin,
      unansweredRetransmissions: this.unansweredRetransmissions(end),
      candidates: [],
    };

    const origSyn = this.packets.some((p, i) =>
      this.dirs[i] === "orig" && (p.flags & (TCP_SYN | TCP_ACK)) === TCP_SYN
    );
    const respSynAck = this.packets.some((p, i) =>
      this.dirs[i] === "resp" && (p.flags & (TCP_SYN | TCP_ACK)) === (TCP_SYN | TCP_ACK)
    );

    if (resetPacket !== null && resetBy !== null) {
      this.#describeReset(teardown, resetPacket, resetBy, origFin, respFin);
      const rst = this.packets[resetPacket]!;
      const refused = resetBy === "resp" && origSyn && !respSynAck &&
        (rst.flags & TCP_ACK) !== 0 && conn.isn.orig !== null &&
        rst.ack === ((conn.isn.orig + 1) >>> 0);
      if (refused) {
        teardown.kind = "refused";
        teardown.candidates = [{
          cause: "refused",
          confidence: "certain",
          reason:
            `the responder answered the SYN with RST,ACK and never sent a SYN-ACK: nothing was listening on ` +
            `${conn.responder.address} port ${conn.responder.port}, so connect() failed with ECONNREFUSED`,
        }];
        return teardown;
      }
      teardown.kind = origSyn && !respSynAck && resetBy === "orig" && !conn.handshakeCompleted
        ? "no-handshake"
        : "reset";
      teardown.candidates = this.#resetCauses(teardown, resetPacket, resetBy);
      return teardown;
    }

    if (origSyn && !respSynAck && !conn.handshakeCompleted && origFin === null && respFin === null) {
      teardown.kind = "no-handshake";
      const synCount = this.packets.filter((p, i) =>
        this.dirs[i] === "orig" && (p.flags & (TCP_SYN | TCP_ACK)) === TCP_SYN
      ).length;
      teardown.candidates = [{
        cause: "unknown",
        confidence: "possible",
        reason: `the SYN (sent ${synCount} time${synCount === 1 ? "" : "s"}) got no answer: ` +
          "a firewall dropping it, a listener whose accept queue was full (ListenOverflows), or an unreachable host",
        settledBy: "the responder's TcpExt.ListenOverflows/ListenDrops counters and its firewall rules",
      }];
      return teardown;
    }

    const retrans = teardown.unansweredRetransmissions;
    const retransCause: CauseCandidate[] = retrans !== null && retrans.count >= 2
      ? [{
        cause: "abort-after-retransmissions",
        confidence: "likely",
        reason: `the ${_side(retrans.by)} retransmitted ${retrans.count} times at the end with no answer: ` +
          "the kernel gives up silently after its retransmission timeout (no RST is sent)",
        settledBy: "the sender's TcpExt.TCPAbortOnTimeout counter",
      }]
      : [];

    if (origFin !== null && respFin !== null) {
      teardown.kind = "graceful";
      const second = _other(finSender!);
      teardown.candidates = [{
        cause: "graceful-close",
        confidence: "certain",
        reason: `both sides sent FIN and no RST followed: a normal close, the ${_side(finSender!)} first` +
          (halfClose
            ? `; the ${_side(second)} sent ${
              this.dataAfterPeerFin(second)
            } more byte(s) after the first FIN (a half-close, as after shutdown(SHUT_WR))`
            : ""),
      }];
      return teardown;
    }

    if (finSender !== null) {
      teardown.kind = "half-close";
      teardown.candidates = [
        ...retransCause,
        {
          cause: "half-close",
          confidence: retransCause.length ? "possible" : "likely",
          reason: `the ${_side(finSender)} sent FIN (close() or shutdown(SHUT_WR)); the ${
            _side(_other(finSender))
          } never sent its FIN in the capture, so it still had the connection open when the capture ended`,
        },
      ];
      return teardown;
    }

    teardown.kind = "open";
    teardown.candidates = [
      ...retransCause,
      {
        cause: "unknown",
        confidence: "possible",
        reason: "no FIN and no RST in the capture: the connection was still open when the capture stopped, " +
          "or its end was not captured",
      },
    ];
    return teardown;
  }

  #describeReset(
    t: Teardown,
    resetPacket: number,
    resetBy: Direction,
    origFin: number | null,
    respFin: number | null,
  ): void {
    const rst = this.packets[resetPacket]!;
    const peer = _other(resetBy);
    t.resetHasAck = (rst.flags & TCP_ACK) !== 0;
    t.finBeforeReset = {
      orig: origFin !== null && origFin < resetPacket,
      resp: respFin !== null && respFin < resetPacket,
    };
    const resetterSentSomething = this.conn.isn[resetBy] !== null ||
      this.dirs.slice(0, resetPacket).includes(resetBy);
    t.resetSeqRelative = resetterSentSomething ? this.rel(resetBy, rst.seq) : null;
    t.resetAckRelative = t.resetHasAck ? this.rel(peer, rst.ack) : null;
    t.sentByResetter = this.sentBefore(resetBy, resetPacket);
    const received = this.sentBefore(peer, resetPacket);
    t.receivedByResetter = received;
    const peerFin = this.firstFlag(peer, TCP_FIN, resetPacket);
    const peerFinEnd = peerFin === null ? null : received + 2; // relative seq after the peer's FIN
    let acked = this.ackedBefore(resetBy, resetPacket);
    if (peerFinEnd !== null && acked >= peerFinEnd) acked -= 1; // the FIN's sequence number is no byte
    t.ackedByResetter = Math.max(0, Math.min(received, acked - 1));
    // Data the resetter received after it last sent payload (never answered).
    let lastOwnPayload = -1;
    for (let i = 0; i < resetPacket; i++) {
      if (this.dirs[i] === resetBy && this.packets[i]!.payloadLength > 0) lastOwnPayload = i;
    }
    const receivedEarlier = lastOwnPayload < 0 ? 0 : this.sentBefore(peer, lastOwnPayload);
    t.unreadBytes = Math.max(0, Math.min(t.ackedByResetter, received) - receivedEarlier);
    if (!t.resetHasAck) {
      for (let i = resetPacket - 1; i >= 0; i--) {
        const p = this.packets[i]!;
        if (this.dirs[i] === peer && p.flags & TCP_ACK && p.ack === rst.seq) {
          t.resetAnswers = i;
          break;
        }
      }
    }
  }

  #resetCauses(t: Teardown, resetPacket: number, resetBy: Direction): CauseCandidate[] {
    const side = _side(resetBy);
    const peer = _other(resetBy);
    const finFirst = t.finBeforeReset?.[resetBy] ?? false;
    const afterOwnFin = finFirst ? this.dataAfterPeerFin(peer, resetPacket) : 0;
    const retrans = this.unansweredRetransmissions(resetPacket);
    const candidates: CauseCandidate[] = [];
    if (retrans !== null && retrans.by === resetBy && retrans.count >= 2) {
      candidates.push({
        cause: "abort-after-retransmissions",
        confidence: "likely",
        reason:
          `the ${side} sent ${retrans.count} unanswered retransmissions or keepalive probes, then RST: ` +
          "a keepalive (or user) timeout gave up on a peer that no longer answered",
        settledBy: "tcp_send_reset reason TCP_KEEPALIVE_TIMEOUT, or the keepalive settings of the socket",
      });
    }
    const weaker = candidates.length > 0;
    const conf = (c: Confidence): Confidence => weaker ? "possible" : c;

    if (!t.resetHasAck) {
      // A RST without ACK answers a segment; the kernel sends it when no open socket wants the segment.
      if (finFirst && afterOwnFin > 0) {
        return [...candidates, {
          cause: "data-after-close",
          confidence: conf("certain"),
          reason: `the ${side} had sent FIN, then ${afterOwnFin} byte(s) of data arrived from the ${
            _side(peer)
          }, and the ${side} answered them with RST (no ACK): data sent after the ${side} had closed`,
          settledBy:
            "tcp_send_reset reason TCP_TIMEWAIT_SOCKET (closed socket in FIN_WAIT2/TIME_WAIT) or TCP_ABORT_ON_DATA",
        }];
      }
      return [...candidates, {
        cause: "unknown",
        confidence: "possible",
        reason: `the ${side} answered a segment with RST (no ACK) ` +
          (finFirst
            ? "after its own FIN, though no data had followed the FIN"
            : "without having sent a FIN") +
          ": no socket for this connection existed there any more (closed earlier, or the host lost its state)",
        settledBy: "the tcp_send_reset tracepoint's reason on that host",
      }];
    }

    // An active reset ([R.]): close() with unread data, zero linger, or another abort.
    const unread = t.unreadBytes ?? 0;
    const received = t.receivedByResetter ?? 0;
    const finNote = finFirst ? ` (after its own FIN)` : " without a FIN";
    if (received > 0 && unread > 0) {
      candidates.push(
        {
          cause: "close-with-unread-data",
          confidence: conf("likely"),
          reason:
            `the ${side} reset the connection${finNote} after receiving and acknowledging ${unread} byte(s) ` +
            `it never answered: Linux close() sends RST instead of FIN when data is left unread`,
          settledBy: _SETTLE_UNREAD_VS_LINGER,
        },
        {
          cause: "linger-zero",
          confidence: "possible",
          reason: `SO_LINGER {1, 0} also makes close() send this RST; the packets look the same either way`,
          settledBy: _SETTLE_UNREAD_VS_LINGER,
        },
      );
    } else if (received > 0) {
      candidates.push(
        {
          cause: "linger-zero",
          confidence: conf("likely"),
          reason:
            `the ${side} reset the connection${finNote} after answering all ${received} byte(s) it received: ` +
            "close() with SO_LINGER {1, 0} sends RST instead of FIN",
          settledBy: _SETTLE_UNREAD_VS_LINGER,
        },
        {
          cause: "close-with-unread-data",
          confidence: "possible",
          reason: `the ${side} may not have read everything it received before close(); ` +
            "unread data also makes close() send RST",
          settledBy: _SETTLE_UNREAD_VS_LINGER,
        },
      );
    } else {
      candidates.push({
        cause: "linger-zero",
        confidence: conf("likely"),
        reason:
          `the ${side} reset the connection${finNote} having received no payload, so nothing was left unread: ` +
          "close() with SO_LINGER {1, 0} sends RST instead of FIN",
        settledBy: "the closer's TcpExt.TCPAbortOnData counter or tcp_send_reset reason TCP_STATE",
      });
    }
    return candidates;
  }
}

function _other(d: Direction): Direction {
  return d === "orig" ? "resp" : "orig";
}

function _side(d: Direction): string {
  return d === "orig" ? "originator" : "responder";
}

function _min(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return Math.min(a, b);
}
