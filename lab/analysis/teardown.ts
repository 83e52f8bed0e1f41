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

import type { CauseCandidate, Confidence } from "./causes.ts";
import { icmpErrorMeaning } from "./icmp_errors.ts";
import {
  type Connection,
  type ConnectionIcmpError,
  type Direction,
  type Endpoint,
  TCP_ACK,
  TCP_FIN,
  TCP_RST,
  TCP_SYN,
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
  /** The ICMP errors that quoted this connection's packets, or null when none did. */
  icmpErrors: TeardownIcmpErrors | null;
  /** The candidate causes, most likely first. */
  candidates: CauseCandidate[];
}

/** The ICMP errors that quoted a connection's packets (see {@link TeardownTracker.icmpError}). */
export interface TeardownIcmpErrors {
  /** How many in all. */
  count: number;
  /** How many quoted the originator's SYN before any SYN-ACK: errors for the connection attempt. */
  duringAttempt: number;
  /** The last one. */
  last: TeardownIcmpError;
  /** The last one of the connection attempt, or null when none came during it. */
  lastOfAttempt: TeardownIcmpError | null;
  /** Whether the originator sent no SYN after the last error of the attempt (false without one). */
  answeredLastSyn: boolean;
}

/** One ICMP error of a connection. */
export interface TeardownIcmpError {
  /** Its name: "ICMP destination unreachable (host unreachable)". */
  name: string;
  /** 4 for ICMPv4, 6 for ICMPv6. */
  ipVersion: 4 | 6;
  /** The kernel's counter of such messages received (see `icmpErrorMeaning`), or null. */
  counter: string | null;
  /** The error Linux gives the socket for it, or null when it is none (fragmentation needed). */
  errno: string | null;
  /** Its sender's address. */
  from: string;
  /** Whether its sender is the host the quoted packet was for (else a router or firewall between). */
  fromPeer: boolean;
  /** Whose packet it quoted. */
  quoted: Direction;
  /** Whether it came during the connection attempt (see {@link TeardownIcmpErrors.duringAttempt}). */
  duringAttempt: boolean;
  /** Whether it came after the handshake (a SYN-ACK, and an ACK from the originator). */
  afterHandshake: boolean;
}

const _SETTLE_UNREAD_VS_LINGER =
  "the closer's TcpExt counters (TCPAbortOnClose for unread data, TCPAbortOnData for SO_LINGER {1, 0}) " +
  "or the tcp_send_reset tracepoint's reason (TCP_ABORT_ON_CLOSE vs TCP_STATE)";

const _SETTLE_TIMEOUT =
  "tcp_send_reset reason TCP_KEEPALIVE_TIMEOUT (keepalive) on the sender, its TcpExt.TCPAbortOnTimeout counter " +
  "(retransmissions), or the socket's keepalive and TCP_USER_TIMEOUT settings";

/**
 * Classify how `conn` ended, from its packets only.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readConnections } from "./connections.ts";
 * import { classifyTeardown } from "./teardown.ts";
 * const bytes = Deno.readFileSync(new URL("../../tests/testdata/refused.pcap", import.meta.url));
 * const [conn] = readConnections(bytes, "refused.pcap").connections;
 * const teardown = classifyTeardown(conn!);
 * assert.equal(teardown.kind, "refused");
 * assert.deepEqual(teardown.candidates.map((c) => c.cause), ["refused"]);
 * ```
 */
export function classifyTeardown(conn: Connection): Teardown {
  const tracker = new TeardownTracker();
  const packets = conn.packets;
  const icmp = conn.icmpErrors ?? [];
  let next = 0;
  for (let i = 0; i < packets.length; i++) {
    const p = packets[i]!;
    for (; next < icmp.length && icmp[next]!.index < p.index; next++) _icmpError(tracker, icmp[next]!);
    tracker.add(
      conn.directions[i] === "orig",
      p.flags,
      p.seq,
      p.ack,
      p.payloadLength,
      p.ttl ?? -1,
      p.ipId ?? -1,
    );
  }
  for (; next < icmp.length; next++) _icmpError(tracker, icmp[next]!);
  return tracker.classify({
    isnOrig: conn.isn.orig,
    isnResp: conn.isn.resp,
    handshakeCompleted: conn.handshakeCompleted,
    responder: conn.responder,
  });
}

function _icmpError(tracker: TeardownTracker, icmp: ConnectionIcmpError): void {
  tracker.icmpError(
    icmp.quotes === "orig",
    icmp.ipVersion,
    icmp.type,
    icmp.code,
    icmp.from,
    icmp.fromDestination,
  );
}

/** What {@link TeardownTracker.classify} needs besides the segments: the handshake as Zeek saw it. */
export interface TeardownContext {
  isnOrig: number | null;
  isnResp: number | null;
  handshakeCompleted: boolean;
  responder: Endpoint;
}

/** Sequence number `a` is after `b` (modulo 2^32). */
function _after(a: number, b: number): boolean {
  return ((a - b) | 0) > 0;
}

/**
 * The facts of one direction. Sequence numbers are absolute and kept as
 * signed 32-bit integers (`| 0`, stored by V8 without allocating); each
 * optional one has a `has...` flag beside it.
 */
class _Side {
  // The fields most packets touch come first (they share cache lines).
  /** Packets sent. */
  packets = 0;
  /** Packets sent before the first RST of the connection. */
  packetsBeforeReset = 0;
  hasFirstSeq = false;
  hasFirstAck = false;
  /** Highest ack sent. */
  hiAck = 0;
  hasAck = false;
  /** Highest sequence end of any non-RST segment (SYN and FIN count one). */
  hiSegment = 0;
  hasSegment = false;
  /** The last two distinct ack numbers sent, and the index of the last packet that carried each (-1: none). */
  lastAck = 0;
  lastAckIndex = -1;
  /** Highest end of payload sent (seq + SYN + length). */
  hiSent = 0;
  hasSent = false;
  /** Whether this side sent payload, and the peer's hiSent (if any) when it last did. */
  sentPayload = false;
  peerSentAtOwnPayload = 0;
  peerHadSentAtOwnPayload = false;
  previousAck = 0;
  previousAckIndex = -1;
  firstFin = -1;
  firstRst = -1;
  firstSeq = 0;
  /** The ack of this side's first ACK-bearing segment that is not a RST: the peer's ISN + 1, or a stand-in. */
  firstAck = 0;
  /** The peer's hiSent (if any) when this side sent its first FIN. */
  peerSentAtFin = 0;
  peerHadSentAtFin = false;
  /** Pure SYNs sent. */
  syns = 0;
  synAcks = 0;
  /** The IP TTL of this side's packets before the first RST (-1: unknown), and whether it varied. */
  ttl = -1;
  ttlMixed = false;
  /**
   * The IP ID of this side's last packet before the first RST whose ID was not 0 (-1: none), how many
   * such packets there were, and whether each followed the one before by a small step (a socket's counter).
   */
  ipId = -1;
  ipIds = 0;
  ipIdCounting = true;

  /** Back to a fresh side (for reuse). */
  reset(): void {
    this.packets = this.packetsBeforeReset = 0;
    this.firstFin = this.firstRst = -1;
    this.firstSeq =
      this.firstAck =
      this.hiSent =
      this.hiAck =
      this.hiSegment =
        0;
    this.hasFirstSeq =
      this.hasFirstAck =
      this.hasSent =
      this.hasAck =
      this.hasSegment =
        false;
    this.sentPayload = this.peerHadSentAtOwnPayload = this.peerHadSentAtFin = false;
    this.peerSentAtOwnPayload = this.peerSentAtFin = 0;
    this.syns = this.synAcks = 0;
    this.ttl = -1;
    this.ttlMixed = false;
    this.ipId = -1;
    this.ipIds = 0;
    this.ipIdCounting = true;
    this.lastAck = this.previousAck = 0;
    this.lastAckIndex = this.previousAckIndex = -1;
  }

  rememberAck(ack: number, index: number): void {
    if (ack !== this.lastAck || this.lastAckIndex === -1) {
      this.previousAck = this.lastAck;
      this.previousAckIndex = this.lastAckIndex;
      this.lastAck = ack;
    }
    this.lastAckIndex = index;
  }

  /** The latest packet index (before now) whose ack was `ack` (among the last two distinct acks), or null. */
  lastAckOf(ack: number): number | null {
    if (this.lastAckIndex !== -1 && this.lastAck === ack) return this.lastAckIndex;
    if (this.previousAckIndex !== -1 && this.previousAck === ack) return this.previousAckIndex;
    return null;
  }
}

/** A sequence number that may be missing. */
interface _Seq {
  value: number;
  has: boolean;
}

/**
 * The teardown facts of one connection, gathered one segment at a time in
 * constant memory (no packet list), then classified: the streaming form of
 * {@link classifyTeardown}, which uses it. Packet indices in the result
 * count the segments given to {@link add}, from 0.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { TeardownTracker } from "./teardown.ts";
 * const t = new TeardownTracker();
 * t.add(true, 0x02, 100, 0, 0); // SYN
 * t.add(false, 0x12, 500, 101, 0); // SYN-ACK
 * t.add(true, 0x10, 101, 501, 0); // ACK
 * t.add(false, 0x18, 501, 101, 1); // 1 byte
 * t.add(true, 0x10, 101, 502, 0); // ACKed...
 * t.add(true, 0x14, 101, 502, 0); // ...then RST,ACK without reading it
 * const teardown = t.classify({
 *   isnOrig: 100, isnResp: 500, handshakeCompleted: true, responder: { address: "10.0.0.2", port: 80 },
 * });
 * assert.deepEqual(teardown.candidates.map((c) => c.cause), ["close-with-unread-data", "linger-zero"]);
 * assert.equal(teardown.unreadBytes, 1);
 * ```
 */
export class TeardownTracker {
  readonly #orig = new _Side();
  readonly #resp = new _Side();
  #count = 0;
  // The first RST of the connection and what was true just before it.
  #resetIndex = -1;
  #resetOrig = false;
  #resetFlags = 0;
  #resetSeq = 0;
  #resetAck = 0;
  #sentAtResetOrig = 0;
  #hadSentAtResetOrig = false;
  #sentAtResetResp = 0;
  #hadSentAtResetResp = false;
  #ackedAtReset = 0;
  #hadAckedAtReset = false;
  #resetAnswers: number | null = null;
  #resetTtl = -1;
  #resetIpId = -1;
  // Trailing unanswered retransmissions (frozen at the first RST), and whether all of them resent one segment.
  #runOrig = false;
  #runCount = 0;
  #hasRun = false;
  #runSeq = 0;
  #runSegment = false;
  // ICMP errors that quoted the connection's packets (rare: an object only when one came).
  #icmp: TeardownIcmpErrors | null = null;

  /** Start over for a new connection (objects can be reused). */
  reset(): void {
    this.#icmp = null;
    this.#orig.reset();
    this.#resp.reset();
    this.#count = 0;
    this.#resetIndex = -1;
    this.#resetOrig = false;
    this.#resetFlags = this.#resetSeq = this.#resetAck = 0;
    this.#sentAtResetOrig = this.#sentAtResetResp = this.#ackedAtReset = 0;
    this.#hadSentAtResetOrig = this.#hadSentAtResetResp = this.#hadAckedAtReset = false;
    this.#resetAnswers = null;
    this.#resetTtl = this.#resetIpId = -1;
    this.#runOrig = this.#hasRun = this.#runSegment = false;
    this.#runCount = this.#runSeq = 0;
  }

  /** Segments added so far. */
  get packets(): number {
    return this.#count;
  }

  /** Whether a RST was seen. */
  get sawReset(): boolean {
    return this.#resetIndex !== -1;
  }

  /**
   * One segment, in capture order: from the originator or not, its flags, numbers and payload length,
   * its IP TTL and its IPv4 ID (-1 when unknown).
   */
  add(
    fromOrig: boolean,
    flags: number,
    seq: number,
    ack: number,
    payloadLength: number,
    ttl = -1,
    ipId = -1,
  ): void {
    seq |= 0;
    ack |= 0;
    const index = this.#count++;
    const own = fromOrig ? this.#orig : this.#resp;
    const peer = fromOrig ? this.#resp : this.#orig;
    own.packets++;
    if (!own.hasFirstSeq) {
      own.firstSeq = seq;
      own.hasFirstSeq = true;
    }
    const rst = (flags & TCP_RST) !== 0;
    const syn = (flags & TCP_SYN) !== 0;
    const fin = (flags & TCP_FIN) !== 0;
    const hasAck = (flags & TCP_ACK) !== 0;
    if (syn && !hasAck && !rst) {
      own.syns++;
      if (fromOrig && this.#icmp !== null) this.#icmp.answeredLastSyn = false;
    }
    if (syn && hasAck && !rst) own.synAcks++;
    if (hasAck && !rst && !own.hasFirstAck) {
      own.firstAck = ack;
      own.hasFirstAck = true;
    }
    if (this.#resetIndex !== -1) return; // everything after the first RST is left out of the facts

    if (fin && own.firstFin === -1) {
      own.firstFin = index;
      own.peerSentAtFin = peer.hiSent;
      own.peerHadSentAtFin = peer.hasSent;
    }
    if (rst) {
      own.firstRst = index;
      this.#resetIndex = index;
      this.#resetOrig = fromOrig;
      this.#resetFlags = flags;
      this.#resetSeq = seq;
      this.#resetAck = ack;
      this.#sentAtResetOrig = this.#orig.hiSent;
      this.#hadSentAtResetOrig = this.#orig.hasSent;
      this.#sentAtResetResp = this.#resp.hiSent;
      this.#hadSentAtResetResp = this.#resp.hasSent;
      if (hasAck && (!own.hasAck || _after(ack, own.hiAck))) {
        own.hiAck = ack;
        own.hasAck = true;
      }
      this.#ackedAtReset = own.hiAck;
      this.#hadAckedAtReset = own.hasAck;
      this.#resetAnswers = hasAck ? null : peer.lastAckOf(seq);
      this.#resetTtl = ttl;
      this.#resetIpId = ipId;
      return;
    }
    own.packetsBeforeReset++;
    if (ttl >= 0) {
      if (own.ttl === -1) own.ttl = ttl;
      else if (own.ttl !== ttl) own.ttlMixed = true;
    }
    if (ipId > 0) {
      if (own.ipId !== -1 && !_idFollows(ipId, own.ipId)) own.ipIdCounting = false;
      own.ipId = ipId;
      own.ipIds++;
    }
    if (hasAck) {
      if (!own.hasAck || _after(ack, own.hiAck)) {
        own.hiAck = ack;
        own.hasAck = true;
      }
      own.rememberAck(ack, index);
    }
    // Unanswered retransmissions and keepalive probes at the end.
    const end = (seq + payloadLength + (syn ? 1 : 0) + (fin ? 1 : 0)) | 0;
    let again = false;
    let retransmission = false;
    if (own.hasSegment) {
      const occupies = payloadLength > 0 || syn || fin;
      retransmission = occupies && !_after(end, own.hiSegment);
      const probe = payloadLength <= 1 && !syn && !fin && seq === ((own.hiSegment - 1) | 0);
      again = retransmission || probe;
    }
    if (!this.#hasRun || this.#runOrig !== fromOrig) {
      this.#hasRun = true;
      this.#runOrig = fromOrig;
      this.#runCount = 0;
    }
    if (!again) this.#runCount = 0;
    else if (this.#runCount++ === 0) {
      this.#runSeq = seq;
      this.#runSegment = retransmission;
    } else if (!retransmission || seq !== this.#runSeq) this.#runSegment = false;
    if (!own.hasSegment || _after(end, own.hiSegment)) {
      own.hiSegment = end;
      own.hasSegment = true;
    }
    if (payloadLength > 0) {
      const sentEnd = (seq + (syn ? 1 : 0) + payloadLength) | 0;
      if (!own.hasSent || _after(sentEnd, own.hiSent)) {
        own.hiSent = sentEnd;
        own.hasSent = true;
      }
      own.sentPayload = true;
      own.peerSentAtOwnPayload = peer.hiSent;
      own.peerHadSentAtOwnPayload = peer.hasSent;
    }
  }

  /**
   * An ICMP error that quoted one of this connection's packets, in capture
   * order with the segments: whether the quoted packet was the
   * originator's, the IP version, the ICMP type and code, its sender, and
   * whether that sender is the host the quoted packet was for.
   */
  icmpError(
    quotesOrig: boolean,
    ipVersion: 4 | 6,
    type: number,
    code: number,
    from: string,
    fromPeer: boolean,
  ): void {
    const meaning = icmpErrorMeaning(ipVersion, type, code);
    const attempt = quotesOrig && this.#orig.syns > 0 && this.#resp.synAcks === 0 && meaning.endsAttempt;
    const error: TeardownIcmpError = {
      name: meaning.name,
      ipVersion,
      counter: meaning.counter,
      errno: meaning.errno,
      from,
      fromPeer,
      quoted: quotesOrig ? "orig" : "resp",
      duringAttempt: attempt,
      afterHandshake: this.#resp.synAcks > 0 && this.#orig.hasFirstAck,
    };
    const facts = this.#icmp ??= {
      count: 0,
      duringAttempt: 0,
      last: error,
      lastOfAttempt: null,
      answeredLastSyn: false,
    };
    facts.count++;
    facts.last = error;
    if (attempt) {
      facts.duringAttempt++;
      facts.lastOfAttempt = error;
      facts.answeredLastSyn = true;
    }
  }

  /**
   * The teardown, from the facts so far. With `text` false, the candidates'
   * `reason` is empty: the same causes, cheaper, for counting many connections.
   */
  classify(context: TeardownContext, text = true): Teardown {
    // One classifier and one set of facts for every call: nothing here outlives the call.
    const f = _FACTS;
    f.orig = this.#orig;
    f.resp = this.#resp;
    f.resetIndex = this.#resetIndex;
    f.resetOrig = this.#resetOrig;
    f.resetFlags = this.#resetFlags;
    f.resetSeq = this.#resetSeq;
    f.resetAck = this.#resetAck;
    f.sentAtResetOrig.value = this.#sentAtResetOrig;
    f.sentAtResetOrig.has = this.#hadSentAtResetOrig;
    f.sentAtResetResp.value = this.#sentAtResetResp;
    f.sentAtResetResp.has = this.#hadSentAtResetResp;
    f.ackedAtReset.value = this.#ackedAtReset;
    f.ackedAtReset.has = this.#hadAckedAtReset;
    f.resetAnswers = this.#resetAnswers;
    f.resetTtl = this.#resetTtl;
    f.resetIpId = this.#resetIpId;
    f.run = this.#hasRun && this.#runCount > 0
      ? { by: this.#runOrig ? "orig" : "resp", count: this.#runCount }
      : null;
    f.runSegment = f.run !== null && this.#runSegment;
    f.icmp = this.#icmp;
    return _CLASSIFIER.load(context, text, f).classify();
  }
}

interface _Facts {
  orig: _Side;
  resp: _Side;
  resetIndex: number;
  resetOrig: boolean;
  resetFlags: number;
  resetSeq: number;
  resetAck: number;
  sentAtResetOrig: _Seq;
  sentAtResetResp: _Seq;
  ackedAtReset: _Seq;
  resetAnswers: number | null;
  /** The first RST's IP TTL, -1 when unknown. */
  resetTtl: number;
  /** The first RST's IPv4 ID, -1 when unknown. */
  resetIpId: number;
  run: { by: Direction; count: number } | null;
  /** Every packet of the run resent one segment (the same sequence number, data, SYN or FIN). */
  runSegment: boolean;
  icmp: TeardownIcmpErrors | null;
}

const _FACTS: _Facts = {
  orig: new _Side(),
  resp: new _Side(),
  resetIndex: -1,
  resetOrig: false,
  resetFlags: 0,
  resetSeq: 0,
  resetAck: 0,
  sentAtResetOrig: { value: 0, has: false },
  sentAtResetResp: { value: 0, has: false },
  ackedAtReset: { value: 0, has: false },
  resetAnswers: null,
  resetTtl: -1,
  resetIpId: -1,
  run: null,
  runSegment: false,
  icmp: null,
};

class _Classifier {
  context!: TeardownContext;
  text = true;
  facts: _Facts = _FACTS;
  readonly base = { orig: 0, resp: 0 };

  load(context: TeardownContext, text: boolean, facts: _Facts): this {
    this.context = context;
    this.text = text;
    this.facts = facts;
    this.base.orig = this.#base("orig");
    this.base.resp = this.#base("resp");
    return this;
  }

  side(d: Direction): _Side {
    return d === "orig" ? this.facts.orig : this.facts.resp;
  }

  /**
   * The number a side's sequence space is relative to, as uint32: its ISN,
   * or without a SYN (a capture that starts mid-connection) one before the
   * earlier of its first sequence number and the peer's first ack, so that
   * every byte captured counts.
   */
  #base(d: Direction): number {
    const isn = d === "orig" ? this.context.isnOrig : this.context.isnResp;
    if (isn !== null) return isn >>> 0;
    const peer = this.side(_other(d));
    const own = this.side(d);
    if (own.hasFirstSeq && peer.hasFirstAck) {
      return (_after(own.firstSeq, peer.firstAck) ? peer.firstAck - 1 : own.firstSeq - 1) >>> 0;
    }
    if (peer.hasFirstAck) return (peer.firstAck - 1) >>> 0;
    if (own.hasFirstSeq) return (own.firstSeq - 1) >>> 0;
    return 0;
  }

  rel(d: Direction, n: number): number {
    return (n - this.base[d]) >>> 0;
  }

  /** Payload bytes sent, from a highest payload end (if any). */
  sent(d: Direction, hiSent: number, has: boolean): number {
    if (!has) return 0;
    return Math.max(1, (hiSent - this.base[d]) | 0) - 1;
  }

  /** Payload bytes `d` sent before the first RST (or in all, without one). */
  sentBeforeReset(d: Direction): number {
    const f = this.facts;
    if (f.resetIndex === -1) return this.sent(d, this.side(d).hiSent, this.side(d).hasSent);
    const at = d === "orig" ? f.sentAtResetOrig : f.sentAtResetResp;
    return this.sent(d, at.value, at.has);
  }

  /** Payload bytes `d` sent after the other side's first FIN; `beforeReset` stops at the first RST. */
  dataAfterPeerFin(d: Direction, beforeReset: boolean): number {
    const own = this.side(d);
    const peer = this.side(_other(d));
    if (peer.firstFin === -1) return 0;
    const reset = this.facts.resetIndex;
    const total = beforeReset ? this.sentBeforeReset(d) : this.sent(d, own.hiSent, own.hasSent);
    if (beforeReset && reset !== -1 && peer.firstFin > reset) return 0;
    return Math.max(0, total - this.sent(d, peer.peerSentAtFin, peer.peerHadSentAtFin));
  }

  classify(): Teardown {
    const f = this.facts;
    const ctx = this.context;
    const origFin = _index(f.orig.firstFin);
    const respFin = _index(f.resp.firstFin);
    const resetPacket = _index(f.resetIndex);
    const resetBy: Direction | null = resetPacket === null ? null : f.resetOrig ? "orig" : "resp";
    const firstFin = _min(origFin, respFin);
    const finSender: Direction | null = firstFin === null ? null : firstFin === origFin ? "orig" : "resp";
    const closePacket = _min(firstFin, resetPacket);
    const closedFirstBy = closePacket === null ? null : closePacket === resetPacket ? resetBy : finSender;

    const dataAfterPeerFin = {
      orig: this.dataAfterPeerFin("orig", false),
      resp: this.dataAfterPeerFin("resp", false),
    };
    const halfClose = finSender !== null &&
      this.dataAfterPeerFin(_other(finSender), true) > 0 &&
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
      unansweredRetransmissions: f.run,
      icmpErrors: f.icmp === null ? null : { ...f.icmp },
      candidates: [],
    };

    const origSyn = f.orig.syns > 0;
    const respSynAck = f.resp.synAcks > 0;

    if (resetPacket !== null && resetBy !== null) {
      this.#describeReset(teardown, resetPacket, resetBy, origFin, respFin);
      const refused = resetBy === "resp" && origSyn && !respSynAck &&
        (f.resetFlags & TCP_ACK) !== 0 && ctx.isnOrig !== null &&
        f.resetAck === ((ctx.isnOrig + 1) | 0);
      if (refused) {
        teardown.kind = "refused";
        teardown.candidates = [{
          cause: "refused",
          confidence: "certain",
          reason: this.text
            ? `the responder answered the SYN with RST,ACK and never sent a SYN-ACK: nothing was listening on ` +
              `${ctx.responder.address} port ${ctx.responder.port}, so connect() failed with ECONNREFUSED`
            : "",
        }];
        return teardown;
      }
      teardown.kind = origSyn && !respSynAck && resetBy === "orig" && !ctx.handshakeCompleted
        ? "no-handshake"
        : "reset";
      teardown.candidates = this.#resetCauses(teardown, resetBy);
      return teardown;
    }

    if (origSyn && !respSynAck && !ctx.handshakeCompleted && origFin === null && respFin === null) {
      teardown.kind = "no-handshake";
      const synCount = f.orig.syns;
      const icmp = f.icmp;
      if (icmp !== null && icmp.duringAttempt > 0 && icmp.answeredLastSyn) {
        teardown.candidates = [this.#icmpCause(icmp, synCount)];
        return teardown;
      }
      // ICMP errors the SYNs outlived: none ended the attempt, for a reason the packets do not show.
      const softIcmp = icmp !== null && icmp.duringAttempt > 0 && this.text
        ? `; ${_count(icmp.duringAttempt, "ICMP error")} came in between (${icmp.lastOfAttempt!.name} from ${
          icmp.lastOfAttempt!.from
        }) ` +
          "and the SYNs went on: the kernel did not end the attempt there, e.g. because the error met a socket " +
          "that connect() held (TcpExt.LockDroppedIcmps; it is then kept as a soft error, and connect() fails with " +
          `${icmp.lastOfAttempt!.errno} instead of ETIMEDOUT), its quoted sequence number was outside the ` +
          "window (TcpExt.OutOfWindowIcmps), or it never reached the originator's kernel (a capture taken " +
          "elsewhere on the path)"
        : "";
      // A SYN sent again and never answered: connect() was timing out (it gives up after tcp_syn_retries), though
      // the capture may have ended first; why the SYNs went unanswered, the packets do not say.
      teardown.candidates = synCount >= 2
        ? [{
          cause: "syn-timeout",
          confidence: "likely",
          reason: this.text
            ? `the SYN was sent ${synCount} times and never answered, then nothing: connect() gives up after ` +
              "tcp_syn_retries with ETIMEDOUT; a firewall dropping the SYNs, a listener whose accept queue was full " +
              "(ListenOverflows) or an unreachable host look the same" + softIcmp
            : "",
          settledBy:
            "the originator's connect() result (ETIMEDOUT) and TcpExt.TCPAbortOnTimeout; the responder's " +
            "TcpExt.ListenOverflows/ListenDrops counters and the firewall rules say why",
        }]
        : [{
          cause: "unknown",
          confidence: "possible",
          reason: this.text
            ? `the SYN (sent ${synCount} time${synCount === 1 ? "" : "s"}) got no answer: ` +
              "a firewall dropping it, a listener whose accept queue was full (ListenOverflows), or an unreachable host"
            : "",
          settledBy: "the responder's TcpExt.ListenOverflows/ListenDrops counters and its firewall rules",
        }];
      return teardown;
    }

    const retrans = f.run;
    const retransCause: CauseCandidate[] = retrans === null || retrans.count < 2 ? [] : f.runSegment
      ? [{
        cause: "retransmission-timeout",
        confidence: "likely",
        reason: this.text
          ? `the ${
            _side(retrans.by)
          } sent the same segment ${retrans.count} more times at the end and nothing ` +
            `came back from the ${
              _side(_other(retrans.by))
            }: retransmissions until silence; the kernel gives up ` +
            "after tcp_retries2 (or TCP_USER_TIMEOUT) and sends no RST"
          : "",
        settledBy: "the sender's TcpExt.TCPAbortOnTimeout counter and its program's ETIMEDOUT, or a longer " +
          "capture (a connection still retrying when the capture stopped looks the same)",
      }]
      : [{
        cause: "abort-after-retransmissions",
        confidence: "likely",
        reason: this.text
          ? `the ${_side(retrans.by)} retransmitted ${retrans.count} times at the end with no answer: ` +
            "the kernel gives up silently after its retransmission timeout (no RST is sent)"
          : "",
        settledBy: "the sender's TcpExt.TCPAbortOnTimeout counter",
      }];

    if (origFin !== null && respFin !== null) {
      teardown.kind = "graceful";
      const second = _other(finSender!);
      teardown.candidates = [
        halfClose
          ? {
            cause: "half-close",
            confidence: "certain",
            reason: this.text
              ? `the ${_side(finSender!)} sent FIN first (shutdown(SHUT_WR) or close()), the ${
                _side(second)
              } ` +
                `kept sending: ${this.dataAfterPeerFin(second, false)} more byte(s) after that FIN, all ` +
                "accepted, then both sides had sent FIN and no RST followed: a half-close that ended in a normal close"
              : "",
          }
          : {
            cause: "graceful-close",
            confidence: "certain",
            reason: this.text
              ? `both sides sent FIN and no RST followed: a normal close, the ${_side(finSender!)} first`
              : "",
          },
      ];
      return teardown;
    }

    if (finSender !== null) {
      teardown.kind = "half-close";
      teardown.candidates = [
        ...retransCause,
        {
          cause: "half-close",
          confidence: retransCause.length ? "possible" : "likely",
          reason: this.text
            ? `the ${_side(finSender)} sent FIN (close() or shutdown(SHUT_WR)); the ${
              _side(_other(finSender))
            } ` +
              "never sent its FIN in the capture, so it still had the connection open when the capture ended"
            : "",
          settledBy: "a longer capture, or the other side's socket state (ss -tan: CLOSE_WAIT)",
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
        reason: this.text
          ? "no FIN and no RST in the capture: the connection was still open when the capture stopped, " +
            "or its end was not captured"
          : "",
        settledBy: "a longer capture, or the hosts' socket tables (ss -tan)",
      },
    ];
    return teardown;
  }

  /** icmp-error: the attempt's last SYN was answered by an ICMP error, and no SYN followed. */
  #icmpCause(icmp: TeardownIcmpErrors, synCount: number): CauseCandidate {
    const last = icmp.lastOfAttempt!;
    const sender = last.fromPeer
      ? `${last.from}, the responder itself`
      : `${last.from}, a router or firewall between the two (not the responder, ${this.context.responder.address})`;
    return {
      cause: "icmp-error",
      confidence: "likely",
      reason: this.text
        ? `the SYN (sent ${_count(synCount, "time")}) was answered by ${
          icmp.duringAttempt === 1 ? "an ICMP error" : `${icmp.duringAttempt} ICMP errors`
        }, the last ${last.name} from ${sender}, and no SYN followed it: in SYN_SENT the kernel ends the ` +
          `connection attempt at such an error (${
            icmpErrorHandler(last)
          }), and connect() fails with ${last.errno}, ` +
          "without an RST"
        : "",
      settledBy: `the originator's connect() result (${last.errno}) and its ${last.counter} counter; ` +
        "the sender's firewall rules or routes say why",
    };
  }

  #describeReset(
    t: Teardown,
    resetPacket: number,
    resetBy: Direction,
    origFin: number | null,
    respFin: number | null,
  ): void {
    const f = this.facts;
    const peer = _other(resetBy);
    const own = this.side(resetBy);
    t.resetHasAck = (f.resetFlags & TCP_ACK) !== 0;
    t.finBeforeReset = {
      orig: origFin !== null && origFin < resetPacket,
      resp: respFin !== null && respFin < resetPacket,
    };
    const isn = resetBy === "orig" ? this.context.isnOrig : this.context.isnResp;
    const resetterSentSomething = isn !== null || own.packetsBeforeReset > 0;
    t.resetSeqRelative = resetterSentSomething ? this.rel(resetBy, f.resetSeq) : null;
    t.resetAckRelative = t.resetHasAck ? this.rel(peer, f.resetAck) : null;
    t.sentByResetter = this.sentBeforeReset(resetBy);
    const received = this.sentBeforeReset(peer);
    t.receivedByResetter = received;
    const peerFin = this.side(peer).firstFin;
    const peerFinEnd = peerFin !== -1 && peerFin < resetPacket ? received + 2 : null;
    const ackedAt = f.ackedAtReset;
    let acked = ackedAt.has ? Math.max(0, (ackedAt.value - this.base[peer]) | 0) : 0;
    if (peerFinEnd !== null && acked >= peerFinEnd) acked -= 1; // the FIN's sequence number is no byte
    t.ackedByResetter = Math.max(0, Math.min(received, acked - 1));
    // Data the resetter received after it last sent payload (never answered).
    const receivedEarlier = own.sentPayload
      ? this.sent(peer, own.peerSentAtOwnPayload, own.peerHadSentAtOwnPayload)
      : 0;
    t.unreadBytes = Math.max(0, Math.min(t.ackedByResetter, received) - receivedEarlier);
    if (!t.resetHasAck) t.resetAnswers = f.resetAnswers;
  }

  #resetCauses(t: Teardown, resetBy: Direction): CauseCandidate[] {
    const causes = this.#endpointResetCauses(t, resetBy);
    // An RST whose TTL differs from every other packet of its sender, or whose IP ID breaks the counter its
    // sender's packets follow, was made by a hop between: what its sender's own kernel would have meant by a
    // reset does not apply.
    const sender = this.side(resetBy);
    const side = _side(resetBy);
    const { resetTtl: ttl, resetIpId: id } = this.facts;
    const ttlDiffers = ttl >= 0 && sender.ttl >= 0 && !sender.ttlMixed && ttl !== sender.ttl;
    // Linux sends an RST without a socket with ID 0, as a middlebox's REJECT does: only another nonzero ID tells.
    const idDiffers = id > 0 && sender.ipIds >= 2 && sender.ipIdCounting && !_idFollows(id, sender.ipId);
    if (!ttlDiffers && !idDiffers) return causes;
    const measured = [
      ...(ttlDiffers
        ? [`its IP TTL is ${ttl} where every other packet the ${side} sent had ${sender.ttl}`]
        : []),
      ...(idDiffers
        ? [`its IP ID ${id} does not follow the counter of the ${side}'s other packets (last ${sender.ipId})`]
        : []),
    ];
    const ids = id >= 0 && sender.ipId >= 0 && !idDiffers
      ? ` (IP ID ${id}, the ${side}'s last ${sender.ipId})`
      : "";
    return [{
      cause: "path-reset",
      confidence: ttlDiffers ? "likely" : "possible",
      reason: this.text
        ? `the RST was probably sent by a middlebox: ${measured.join(", and ")}${ids}: a hop between (a ` +
          `firewall's REJECT, a load balancer) made it, not the ${side}'s kernel`
        : "",
      settledBy:
        "the other end's capture (an RST from the path is not there) and the firewall's rule counters",
    }];
  }

  #endpointResetCauses(t: Teardown, resetBy: Direction): CauseCandidate[] {
    const side = _side(resetBy);
    const peer = _other(resetBy);
    const finFirst = t.finBeforeReset?.[resetBy] ?? false;
    const afterOwnFin = finFirst ? this.dataAfterPeerFin(peer, true) : 0;
    const retrans = this.facts.run;
    const timeout: CauseCandidate | null = retrans !== null && retrans.by === resetBy && retrans.count >= 2
      ? {
        cause: "abort-after-retransmissions",
        confidence: "likely",
        reason: this.text
          ? `the ${side} sent ${retrans.count} unanswered retransmissions or keepalive probes, then RST: ` +
            "a keepalive (or user) timeout gave up on a peer that no longer answered"
          : "",
        settledBy: _SETTLE_TIMEOUT,
      }
      : null;
    const candidates: CauseCandidate[] = timeout ? [timeout] : [];
    const conf = (c: Confidence): Confidence => timeout ? "possible" : c;

    if (!t.resetHasAck) {
      // A RST without ACK answers a segment; the kernel sends it when no open socket wants the segment.
      if (finFirst && afterOwnFin > 0) {
        // The packets show it plainly: one cause.
        return [{
          cause: "data-after-close",
          confidence: "certain",
          reason: this.text
            ? `the ${side} had sent FIN, then ${afterOwnFin} byte(s) of data arrived from the ${
              _side(peer)
            }, ` +
              `and the ${side} answered them with RST (no ACK): data sent after the ${side} had closed`
            : "",
          settledBy:
            "tcp_send_reset reason TCP_TIMEWAIT_SOCKET (closed socket in FIN_WAIT2/TIME_WAIT) or TCP_ABORT_ON_DATA",
        }];
      }
      // Without a FIN before it, the socket vanished unannounced: a host that restarted answers so (NO_SOCKET).
      const lostState: CauseCandidate[] = finFirst ? [] : [{
        cause: "peer-lost-state",
        confidence: "possible",
        reason: this.text
          ? `the ${side} answered a segment with RST (no ACK) without ever having sent a FIN or an RST: its ` +
            "kernel had no socket for a connection it had held, as after a restart that lost its state"
          : "",
        settledBy:
          "the tcp_send_reset tracepoint's reason on that host (NO_SOCKET) and whether it restarted " +
          "(its uptime, or its service's start time)",
      }];
      return [...candidates, ...lostState, {
        cause: "unknown",
        confidence: "possible",
        reason: this.text
          ? `the ${side} answered a segment with RST (no ACK) ` +
            (finFirst
              ? "after its own FIN, though no data had followed the FIN"
              : "without having sent a FIN") +
            ": no socket for this connection existed there any more (closed earlier, or the host lost its state)"
          : "",
        settledBy: "the tcp_send_reset tracepoint's reason on that host (NO_SOCKET, TCP_TIMEWAIT_SOCKET...)",
      }];
    }

    // An active reset ([R.]): close() with unread data, zero linger, a timeout, or another abort.
    const unread = t.unreadBytes ?? 0;
    const received = t.receivedByResetter ?? 0;
    const finNote = finFirst ? ` (after its own FIN)` : " without a FIN";
    if (received === 0) {
      // Nothing was received, so nothing was left unread: zero linger, or (for a responder that never
      // sent a byte nor a FIN) a listener closed while the connection waited to be accepted.
      if (timeout) return [timeout];
      const couldBeListener = resetBy === "resp" && !finFirst && (t.sentByResetter ?? 0) === 0;
      const lingerZero: CauseCandidate = {
        cause: "linger-zero",
        confidence: "likely",
        reason: this.text
          ? `the ${side} reset the connection${finNote} having received no payload, so nothing was left unread: ` +
            "close() with SO_LINGER {1, 0} sends RST instead of FIN"
          : "",
        settledBy: couldBeListener
          ? _SETTLE_LINGER_VS_LISTENER
          : "the closer's TcpExt.TCPAbortOnData counter or tcp_send_reset reason TCP_STATE",
      };
      if (!couldBeListener) return [lingerZero];
      return [lingerZero, {
        cause: "listener-closed",
        confidence: "possible",
        reason: this.text
          ? `the ${side} had sent nothing before its RST: a server that closes its listening socket resets the ` +
            "connections still waiting to be accepted, and that looks the same on the wire"
          : "",
        settledBy: _SETTLE_LINGER_VS_LISTENER,
      }];
    }
    if (unread > 0) {
      candidates.push(
        {
          cause: "close-with-unread-data",
          confidence: conf("likely"),
          reason: this.text
            ? `the ${side} reset the connection${finNote} after receiving and acknowledging ${unread} byte(s) ` +
              `it never answered: Linux close() sends RST instead of FIN when data is left unread`
            : "",
          settledBy: _SETTLE_UNREAD_VS_LINGER,
        },
        {
          cause: "linger-zero",
          confidence: "possible",
          reason: this.text
            ? `SO_LINGER {1, 0} also makes close() send this RST; the packets look the same either way`
            : "",
          settledBy: _SETTLE_UNREAD_VS_LINGER,
        },
      );
    } else {
      candidates.push(
        {
          cause: "linger-zero",
          confidence: conf("likely"),
          reason: this.text
            ? `the ${side} reset the connection${finNote} after answering all ${received} byte(s) it received: ` +
              "close() with SO_LINGER {1, 0} sends RST instead of FIN"
            : "",
          settledBy: _SETTLE_UNREAD_VS_LINGER,
        },
        {
          cause: "close-with-unread-data",
          confidence: "possible",
          reason: this.text
            ? `the ${side} may not have read everything it received before close(); ` +
              "unread data also makes close() send RST"
            : "",
          settledBy: _SETTLE_UNREAD_VS_LINGER,
        },
      );
    }
    return candidates;
  }
}

/** What tells zero linger from a listener closed with the connection still queued. */
const _SETTLE_LINGER_VS_LISTENER =
  "the server's calls (an accept() for this peer, SO_LINGER {1, 0}) or its TcpExt.TCPAbortOnData " +
  "counter (zero linger moves it; a closed listener does not); both give tcp_send_reset reason TCP_STATE";

const _CLASSIFIER = new _Classifier();

/** Whether IPv4 ID `id` can come from the same counter soon after `previous` (a step of 1 to 64, mod 2^16). */
function _idFollows(id: number, previous: number): boolean {
  const step = (id - previous + 65536) % 65536;
  return step >= 1 && step <= 64;
}

/** "1 time", "2 times". */
function _count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

function _index(n: number): number | null {
  return n === -1 ? null : n;
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

/**
 * The kernel function that handles an ICMP error for TCP, by the error's IP
 * version: `tcp_v4_err()` (net/ipv4/tcp_ipv4.c) or `tcp_v6_err()` (net/ipv6/tcp_ipv6.c).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { icmpErrorHandler } from "./teardown.ts";
 * assert.equal(icmpErrorHandler({ ipVersion: 6 }), "tcp_v6_err()");
 * ```
 */
export function icmpErrorHandler(error: Pick<TeardownIcmpError, "ipVersion">): string {
  return error.ipVersion === 4 ? "tcp_v4_err()" : "tcp_v6_err()";
}
