/**
 * Zeek's TCP analyzer for one connection ({@link ZeekTcpState}), fed one
 * segment at a time as plain numbers: its conn.log view, `conn_state`,
 * `history` and payload byte counts.
 *
 * The state machine follows Zeek's TCP analyzer (TCPSessionAdapter.cc,
 * TCP_Endpoint.cc) and `Conn::conn_state` (base/protocols/conn/main.zeek):
 * each endpoint moves through INACTIVE, SYN_SENT, SYN_ACK_SENT, PARTIAL,
 * ESTABLISHED, CLOSED and RESET, and conn_state is read from the two final
 * states. History letters are added as Zeek adds them: S h A D F R once per
 * direction (S/H, F and R again when their relative sequence number
 * changes), T and W (retransmission, zero window) on a 1, 10, 100...
 * scale, I (FIN+RST) and Q (SYN+FIN or SYN+RST) once, and `^` when the
 * originator is not the sender of the first packet.
 *
 * Content gaps (G/g, and missed_bytes) come from sequence accounting in
 * place of Zeek's reassembler: which stretches of each side's sequence
 * space the capture showed, and how far the peer acknowledged.
 *
 * The rules are those of Zeek 8.2 ({@link ZEEK_VERSION}); the differences
 * from it are listed by {@link zeekDifferences}. Besides those:
 * - Checksums are not verified by default (like `zeek -C`): loopback and
 *   veth captures carry partial checksums. With `verifyChecksums`, a bad
 *   segment adds C/c and is otherwise ignored, as Zeek does by default.
 * - The originator is the sender of the first pure SYN; a connection seen
 *   first through a SYN-ACK takes the SYN-ACK's receiver as originator
 *   (Zeek would need its server-port heuristic for that), and one seen
 *   mid-stream takes the first packet's sender.
 * - No timers here: the connection tracker of connection_stream.ts adds
 *   Zeek's close delay, inactivity timeout and (with `--zeek-boundaries`)
 *   attempt timer, and asks {@link ZeekTcpState.isReuse} where a
 *   connection ends.
 *
 * @module
 */

import { type ConnState, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from "./types.ts";

/** The Zeek release whose TCP rules (state, history, gaps, checksums) this module follows. */
export const ZEEK_VERSION = "8.2";

/**
 * Zeek's `tcp_attempt_delay` (base/init-bare.zeek, 5 secs): seconds after
 * the originator's first SYN before an attempt that got no reply ends
 * (TCPSessionAdapter::AttemptTimer). `lab explain` applies it with
 * `--zeek-boundaries`, and otherwise notes where Zeek would.
 */
export const ZEEK_TCP_ATTEMPT_DELAY = 5;

/**
 * Where `lab explain` parts from Zeek {@link ZEEK_VERSION} on purpose or by
 * necessity, one line each, as the explain report lists them: with its own
 * connection boundaries (the default) or with Zeek's (`zeekBoundaries`).
 */
export function zeekDifferences(zeekBoundaries: boolean): readonly string[] {
  return zeekBoundaries ? _ZEEK_BOUNDARY_DIFFERENCES : _EXPLAIN_BOUNDARY_DIFFERENCES;
}

const _EXPLAIN_BOUNDARIES = [
  "Attempt timer: Zeek ends a connection attempt that got no reply after 5 s (tcp_attempt_delay) and logs " +
  "what follows as a new connection (e.g. S0 SAD, then SH DAF); explain keeps one connection, and notes " +
  "the row (`--zeek-boundaries` splits it as Zeek does).",
  "SYN after a close: Zeek starts a new connection for any SYN after a close on the same four-tuple, even " +
  "with the same ISN; explain starts one only when the ISN differs (a repeated ISN is a retransmission), " +
  "and notes the row (`--zeek-boundaries` splits it as Zeek does).",
];

const _ZEEK_BOUNDARIES = [
  "Connection boundaries follow Zeek (`--zeek-boundaries`), but its attempt timer is applied when the next " +
  "packet of the four-tuple arrives: a connection it would end with no packet after it keeps the same state " +
  "and history, and its end is counted as capture-end or idle rather than attempt.",
];

const _COMMON_DIFFERENCES = [
  "Checksums: Zeek verifies TCP checksums by default; explain ignores them (like `zeek -C`), and does not " +
  "count them, unless `--checksums verify`: captures taken on the sending host carry offloaded, unfinished checksums.",
  "IPv4 header checksums are not checked: Zeek discards such a packet (bad_IP_checksum); explain analyses it.",
  "Originator without a SYN: Zeek guesses the responder by its likely server ports (history `^`); explain " +
  "takes the receiver of a first SYN-ACK, or the sender of the first packet.",
  "Content gaps come from sequence accounting, not reassembly: Zeek stops or trims reassembly past its " +
  "limits (tcp_max_above_hole_without_any_acks, tcp_excessive_data_without_further_acks, " +
  "tcp_max_initial_window) and then reports no more gaps for that side; explain keeps counting.",
  "History x/X (analysis partial, limits exceeded) is never written: explain's own cap on open connections " +
  "ends the least active early (counted as evicted in the summary) instead.",
  "IP fragments are not reassembled: a first fragment is read as far as it goes, later fragments are " +
  "skipped; Zeek reassembles them first.",
];

const _EXPLAIN_BOUNDARY_DIFFERENCES: readonly string[] = [..._EXPLAIN_BOUNDARIES, ..._COMMON_DIFFERENCES];
const _ZEEK_BOUNDARY_DIFFERENCES: readonly string[] = [..._ZEEK_BOUNDARIES, ..._COMMON_DIFFERENCES];

type _State =
  | "inactive"
  | "syn-sent"
  | "syn-ack-sent"
  | "partial"
  | "established"
  | "closed"
  | "reset";

const _TOO_LARGE_SEQ_DELTA = 1048576;
const _TWO_32 = 4294967296;

// History masks (TCP_Endpoint::HistoryMasks); the responder's are shifted by 16.
const _HIST_SYN = 0x1;
const _HIST_FIN = 0x2;
const _HIST_RST = 0x4;
const _HIST_FIN_RST = 0x8;
const _HIST_DATA = 0x10;
const _HIST_ACK = 0x20;
const _HIST_MULTI_FLAG = 0x40;

/** Signed 32-bit difference of two sequence numbers (Zeek's seq_delta). */
function _seqDelta(a: number, b: number): number {
  return (a - b) | 0;
}

/**
 * One side, as Zeek's TCP_Endpoint. Sequence numbers are kept as signed
 * 32-bit integers (`| 0`), which V8 stores without allocating; they are
 * read as unsigned (`>>> 0`) only where an order or a size matters.
 */
class _Endpoint {
  state: _State = "inactive";
  prevState: _State = "inactive";
  startSeq = 0;
  lastSeq = 0;
  ackSeq = 0;
  seqWraps = 0;
  ackWraps = 0;
  finCount = 0;
  didClose = false;
  histLastSyn = 0;
  histLastFin = 0;
  histLastRst = 0;
  rxmtCount = 0;
  rxmtThreshold = 1;
  win0Count = 0;
  win0Threshold = 1;
  checksumCount = 0;
  checksumThreshold = 1;
  gapCount = 0;
  gapThreshold = 1;
  /**
   * Sequence accounting in place of Zeek's TCP_Reassembler (no bytes kept):
   * relative sequence numbers of the first byte not yet delivered
   * (last_reassem_seq), of the last ack taken (trim_seq), of this side's
   * FIN plus one (FIN_seq), and the ranges received above a hole, as
   * [start, end, start, end, ...] in order (null when there is none).
   */
  reassemSeq = 1;
  trimSeq = 1;
  finSeq = 0;
  above: number[] | null = null;
  /** Bytes Zeek would report in content_gap events for this side's data (conn.log missed_bytes). */
  missedBytes = 0;
  /** Set by {@link relativeSeq}: whether the number fell before the start. */
  underflow = false;

  constructor(readonly isOrig: boolean) {}

  /** Back to a fresh endpoint (for reuse). */
  reset(): void {
    this.state = this.prevState = "inactive";
    this.startSeq = this.lastSeq = this.ackSeq = 0;
    this.seqWraps = this.ackWraps = this.finCount = 0;
    this.didClose = false;
    this.histLastSyn = this.histLastFin = this.histLastRst = 0;
    this.rxmtCount =
      this.win0Count =
      this.checksumCount =
      this.gapCount =
        0;
    this.rxmtThreshold =
      this.win0Threshold =
      this.checksumThreshold =
      this.gapThreshold =
        1;
    this.reassemSeq = this.trimSeq = 1;
    this.finSeq = this.missedBytes = 0;
    this.above = null;
    this.underflow = false;
  }

  setState(state: _State): void {
    if (state === this.state) return;
    this.prevState = this.state;
    this.state = state;
  }

  updateLastSeq(seq: number): void {
    if (seq >>> 0 < this.lastSeq >>> 0) this.seqWraps++;
    this.lastSeq = seq | 0;
  }

  updateAckSeq(seq: number): void {
    if (seq >>> 0 < this.ackSeq >>> 0) this.ackWraps++;
    this.ackSeq = seq | 0;
  }

  /**
   * Zeek's get_relative_seq: `base` relative to this endpoint's start; sets
   * `underflow` when it falls before the start (Zeek's underflow; the value
   * is then negative here where Zeek's unsigned one would be huge).
   */
  relativeSeq(base: number, last: number, wraps: number): number {
    const delta = _seqDelta(base, last);
    if (delta < 0) {
      if (wraps && base >>> 0 > last >>> 0) wraps--;
    } else if (delta > 0) {
      if (base >>> 0 < last >>> 0) wraps++;
    }
    if (wraps === 0) {
      const relative = _seqDelta(base, this.startSeq);
      this.underflow = relative < 0;
      return relative;
    }
    this.underflow = false;
    return wraps * _TWO_32 + (base >>> 0) - (this.startSeq >>> 0);
  }

  noDataAcked(): boolean {
    const ack = this.ackWraps * _TWO_32 + (this.ackSeq >>> 0);
    const start = this.startSeq >>> 0;
    return ack === start || ack === start + 1;
  }

  /** Payload bytes in sequence space (TCP_Endpoint::Size). */
  size(peer: _Endpoint): number {
    if (
      this.prevState === "syn-sent" && this.state === "reset" &&
      peer.state === "inactive" && !this.noDataAcked()
    ) return 0;
    const last = this.seqWraps * _TWO_32 + (this.lastSeq >>> 0);
    const ack = this.ackWraps * _TWO_32 + (this.ackSeq >>> 0);
    // Zeek's unsigned arithmetic would wrap below zero; no real count is negative.
    let size = Math.max(0, (last > ack ? last : ack) - (this.startSeq >>> 0));
    if (size !== 0) size--;
    if (this.finCount > 0 && size !== 0) size--;
    return size;
  }
}

/**
 * Zeek's TCP analyzer for one connection, fed one segment at a time as
 * plain numbers (no packet objects): endpoint states, history, byte counts
 * and `conn_state`. The connection tracker of connection_stream.ts
 * gives one to each connection.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ZeekTcpState } from "./zeek_tcp_state.ts";
 * const zeek = new ZeekTcpState(0x02);
 * zeek.add(true, 0x02, 100, 0, 0, 512, true, null); // SYN
 * zeek.add(false, 0x14, 0, 101, 0, 0, true, null); // RST,ACK
 * assert.equal(zeek.connState(), "REJ");
 * assert.equal(zeek.history, "Sr");
 * ```
 */
export class ZeekTcpState {
  readonly orig: _Endpoint = new _Endpoint(true);
  readonly resp: _Endpoint = new _Endpoint(false);
  /** History letters as character codes, reused from connection to connection (no string per letter). */
  #historyCodes: number[] = [];
  #historyLength = 0;
  histSeen = 0;
  #isnOrig = 0;
  #hasIsnOrig = false;
  #isnResp = 0;
  #hasIsnResp = false;
  synAckSeen = false;
  /** The ack number of the first SYN-ACK (to recognise a SYN captured after it), as int32. */
  #synAckAck = 0;
  /** Whether SYN, SYN-ACK and ACK were all seen. */
  handshakeCompleted = false;
  /** TCPSessionAdapter's is_partial and first_packet_seen (1: originator, 2: responder). */
  #partial = false;
  #firstSeen = 0;
  readonly #verifyChecksums: boolean;

  /**
   * A connection whose first segment has `firstFlags`. When that is a
   * SYN-ACK, its receiver is the originator (see {@link originatorIsReceiver}).
   */
  constructor(firstFlags: number, verifyChecksums = false) {
    this.#verifyChecksums = verifyChecksums;
    this.reset(firstFlags);
  }

  /** Start over as a new connection whose first segment has `firstFlags` (objects can be reused). */
  reset(firstFlags: number): void {
    this.orig.reset();
    this.resp.reset();
    this.#historyLength = 0;
    if (ZeekTcpState.originatorIsReceiver(firstFlags)) this.#historyCodes[this.#historyLength++] = 0x5e; // ^
    this.histSeen = 0;
    this.#isnOrig = this.#isnResp = this.#synAckAck = 0;
    this.#hasIsnOrig = this.#hasIsnResp = false;
    this.synAckSeen = this.handshakeCompleted = this.#partial = false;
    this.#firstSeen = 0;
  }

  /** Whether a connection whose first segment has these flags was opened by that segment's receiver (a SYN-ACK). */
  static originatorIsReceiver(firstFlags: number): boolean {
    return (firstFlags & (TCP_SYN | TCP_ACK)) === (TCP_SYN | TCP_ACK);
  }

  /**
   * Zeek's TCPSessionAdapter::IsReuse (Zeek 8.2,
   * src/packet_analysis/protocol/tcp/TCPSessionAdapter.cc), asked by
   * IPBasedAnalyzer::AnalyzePacket for every packet of a known four-tuple:
   * whether this SYN starts a new connection. Zeek answers yes for any SYN
   * once either side closed (IsClosed: did_close), even one repeating the
   * ISN; with `afterClose` false (explain's own boundaries) a SYN that
   * repeats the ISN is a retransmission whatever the state.
   */
  isReuse(flags: number, seq: number, wellFormed: boolean, afterClose = false): boolean {
    seq |= 0;
    if (!(flags & TCP_SYN)) return false;
    if (!wellFormed) return false;
    let connOrig = this.orig;
    if (flags & TCP_ACK) {
      if (this.orig.state !== "inactive") return false;
      connOrig = this.resp;
    }
    if (afterClose && this.closed) return true;
    if (seq === connOrig.startSeq) return false;
    if (
      !(flags & TCP_ACK) && connOrig.state === "syn-ack-sent" &&
      this.resp.state === "inactive" && seq === this.resp.startSeq
    ) return false;
    return true;
  }

  /** Zeek's IsClosed: either side sent a FIN or RST that closed it (did_close). */
  get closed(): boolean {
    return this.orig.didClose || this.resp.didClose;
  }

  /**
   * The condition of Zeek's AttemptTimer (TCPSessionAdapter.cc): the
   * originator sent a SYN (or SYN-ACK) and the responder nothing yet. When
   * it still holds tcp_attempt_delay after that SYN, Zeek logs the
   * connection and forgets it.
   */
  get attempting(): boolean {
    const o = this.orig.state;
    return (o === "syn-sent" || o === "syn-ack-sent") && this.resp.state === "inactive";
  }

  /** Zeek's history letters so far (ShADadFf...). */
  get history(): string {
    let text = "";
    for (let i = 0; i < this.#historyLength; i++) text += String.fromCharCode(this.#historyCodes[i]!);
    return text;
  }

  /** The originator's ISN, from its first SYN, or null. */
  get isnOrig(): number | null {
    return this.#hasIsnOrig ? this.#isnOrig >>> 0 : null;
  }

  /** The responder's ISN, from its first SYN-ACK, or null. */
  get isnResp(): number | null {
    return this.#hasIsnResp ? this.#isnResp >>> 0 : null;
  }

  /** Whether both sides closed or either reset: the connection is over but for stragglers. */
  get finished(): boolean {
    const o = this.orig.state, r = this.resp.state;
    return o === "reset" || r === "reset" || (o === "closed" && r === "closed");
  }

  /** Payload bytes the originator sent (sequence space, retransmissions once). */
  bytesOrig(): number {
    return this.orig.size(this.resp);
  }

  /** Payload bytes the responder sent. */
  bytesResp(): number {
    return this.resp.size(this.orig);
  }

  /**
   * Zeek's conn.log `missed_bytes`: bytes the peers acknowledged that the
   * capture never showed, counted as Zeek's content_gap events count them
   * (base/protocols/conn/main.zeek adds each event's length).
   */
  missedBytes(): number {
    return this.orig.missedBytes + this.resp.missedBytes;
  }

  /**
   * One segment. `checksumOk` matters only with `verifyChecksums`;
   * `wellFormed` false (bad or truncated TCP header) keeps the segment out
   * of the state machine, as in Zeek. `payloadCaptured` false (the
   * snapshot length cut the payload) keeps its bytes out of the sequence
   * accounting, as Zeek's DataSent does, so a later ack of them is a gap.
   */
  add(
    isOrig: boolean,
    flags: number,
    seq: number,
    ack: number,
    payloadLength: number,
    window: number,
    wellFormed: boolean,
    checksumOk: boolean | null,
    payloadCaptured = true,
  ): void {
    seq |= 0;
    ack |= 0;
    const endpoint = isOrig ? this.orig : this.resp;
    const peer = isOrig ? this.resp : this.orig;
    if (
      (flags & (TCP_SYN | TCP_FIN | TCP_RST | TCP_ACK)) === TCP_ACK && window !== 0 && wellFormed &&
      (checksumOk !== false || !this.#verifyChecksums) && peer.ackWraps === 0 &&
      (endpoint.state === "established" || endpoint.state === "partial") &&
      (peer.state === "established" || peer.state === "partial")
    ) {
      // The common case (data or an ACK between two open endpoints): what #process would do, without the rest.
      if (isOrig && !this.handshakeCompleted) this.#trackHandshake(isOrig, flags, seq, ack);
      const mask = payloadLength > 0 ? _HIST_DATA : _HIST_ACK;
      if ((this.histSeen & (isOrig ? mask : mask * 0x10000)) === 0) {
        this.#checkHistory(endpoint, mask, payloadLength > 0 ? "D" : "A");
      }
      // Zeek's get_relative_seq for the ack (peer's ack wraps are 0 here), inlined.
      const deltaAck = _seqDelta(ack, peer.ackSeq);
      const wrapped = deltaAck > 0 && ack >>> 0 < peer.ackSeq >>> 0;
      const relAck = wrapped ? _TWO_32 + (ack >>> 0) - (peer.startSeq >>> 0) : _seqDelta(ack, peer.startSeq);
      if (deltaAck > 0 && relAck >= 0 && !(ack === 0 && deltaAck > _TOO_LARGE_SEQ_DELTA)) {
        peer.updateAckSeq(ack);
      }
      let relSeq = 0;
      if (payloadLength > 0) relSeq = endpoint.relativeSeq(seq, endpoint.lastSeq, endpoint.seqWraps);
      const seqOnePast = (seq + payloadLength) | 0;
      if (_seqDelta(seqOnePast, endpoint.lastSeq) > 0) endpoint.updateLastSeq(seqOnePast);
      else if (payloadLength > 0) {
        endpoint.rxmtCount++;
        if (endpoint.rxmtCount === endpoint.rxmtThreshold) {
          this.#addHistory(endpoint, "T");
          endpoint.rxmtThreshold *= 10;
        }
      }
      if (relAck > peer.trimSeq) this.#ackReceived(peer, relAck);
      if (payloadLength > 0 && payloadCaptured && relSeq >= 0) {
        this.#dataSent(endpoint, relSeq, payloadLength);
      }
      return;
    }
    this.#trackHandshake(isOrig, flags, seq, ack);
    if (!wellFormed) return; // Zeek drops these before its state machine
    if (this.#verifyChecksums && checksumOk === false) {
      // TCPAnalyzer::ValidateChecksum then TCP_Endpoint::ChecksumError (Zeek 8.2, TCP.cc and
      // TCP_Endpoint.cc): C/c on the 1st, 10th, 100th... bad segment of a side, and nothing else.
      endpoint.checksumCount++;
      if (endpoint.checksumCount === endpoint.checksumThreshold) {
        this.#addHistory(endpoint, "C");
        endpoint.checksumThreshold *= 10;
      }
      return;
    }
    // TCPSessionAdapter::SetPartialStatus: partial unless the first packet of each side opened it.
    if (isOrig) {
      if ((this.#firstSeen & 1) === 0) this.#partial = !(flags & TCP_SYN) || (flags & TCP_ACK) !== 0;
    } else if ((this.#firstSeen & 2) === 0 && !this.#partial) this.#partial = !(flags & TCP_SYN);
    this.#firstSeen |= isOrig ? 1 : 2;
    this.#process(isOrig, flags, seq, ack, payloadLength, window, payloadCaptured);
  }

  /**
   * TCP_Reassembler::AckReceived and Undelivered (Zeek 8.2,
   * src/analyzer/protocol/tcp/TCP_Reassembler.cc), by sequence accounting:
   * the peer acknowledged `endpoint`'s data up to `relAck`; every stretch
   * below it that the capture never showed is a content gap.
   */
  #ackReceived(endpoint: _Endpoint, relAck: number): void {
    // A FIN's sequence number is not data.
    if (endpoint.finCount > 0 && relAck >= endpoint.finSeq) relAck = endpoint.finSeq - 1;
    if (relAck <= endpoint.trimSeq) return;
    if (relAck > endpoint.reassemSeq) {
      if (relAck <= 2 && this.#partial) {
        // Zeek: the first ack of a partial connection (its numbers were made up) is no gap,
        // and last_reassem_seq stays where it is.
        endpoint.trimSeq = relAck;
        return;
      }
      const above = endpoint.above;
      while (above !== null && above.length > 0 && above[0]! < relAck) {
        // A stretch received above a hole: the hole is a gap, the stretch is delivered.
        const start = above[0]!, end = above[1]!;
        if (start > endpoint.reassemSeq) this.#gap(endpoint, start - endpoint.reassemSeq);
        if (end > endpoint.reassemSeq) endpoint.reassemSeq = end;
        above.splice(0, 2);
      }
      if (relAck > endpoint.reassemSeq) {
        this.#gap(endpoint, relAck - endpoint.reassemSeq);
        endpoint.reassemSeq = relAck;
      }
    }
    endpoint.trimSeq = relAck;
    const above = endpoint.above;
    while (above !== null && above.length > 0 && above[1]! <= relAck) above.splice(0, 2);
  }

  /**
   * TCP_Reassembler::Gap with TCP_Endpoint::Gap (Zeek 8.2): history G/g on
   * the 1st, 10th, 100th... gap of a side (Connection::ScaledHistoryEntry),
   * and the bytes into missed_bytes, only while both sides are established
   * or closed from established (report_gaps_for_partial is F by default).
   */
  #gap(endpoint: _Endpoint, length: number): void {
    if (!_isClean(endpoint) || !_isClean(endpoint === this.orig ? this.resp : this.orig)) return;
    endpoint.missedBytes += length;
    endpoint.gapCount++;
    if (endpoint.gapCount === endpoint.gapThreshold) {
      this.#addHistory(endpoint, "G");
      endpoint.gapThreshold *= 10;
    }
  }

  /**
   * TCP_Reassembler::DataSent, NewBlock and BlockInserted (Zeek 8.2), by
   * sequence accounting: `length` payload bytes at relative `relSeq` were
   * captured; what joins the delivered stretch moves it on, what lies
   * above a hole waits there for the hole to fill or for an ack.
   */
  #dataSent(endpoint: _Endpoint, relSeq: number, length: number): void {
    let start = relSeq;
    const end = relSeq + length;
    if (end <= endpoint.trimSeq) return;
    if (start < endpoint.trimSeq) start = endpoint.trimSeq;
    if (start <= endpoint.reassemSeq) {
      if (end > endpoint.reassemSeq) endpoint.reassemSeq = end;
      const above = endpoint.above;
      while (above !== null && above.length > 0 && above[0]! <= endpoint.reassemSeq) {
        if (above[1]! > endpoint.reassemSeq) endpoint.reassemSeq = above[1]!;
        above.splice(0, 2);
      }
      return;
    }
    _insertRange(endpoint.above ??= [], start, end);
  }

  #trackHandshake(isOrig: boolean, f: number, seq: number, ack: number): void {
    const bits = f & (TCP_SYN | TCP_ACK | TCP_RST);
    if (isOrig && bits === TCP_SYN && !this.#hasIsnOrig) {
      this.#isnOrig = seq;
      this.#hasIsnOrig = true;
    }
    if (!isOrig && bits === (TCP_SYN | TCP_ACK)) {
      if (!this.#hasIsnResp) {
        this.#isnResp = seq;
        this.#hasIsnResp = true;
        this.#synAckAck = ack;
      }
      if (!this.#hasIsnOrig || ack === ((this.#isnOrig + 1) | 0)) this.synAckSeen = true;
    }
    if (
      isOrig && this.synAckSeen && this.#hasIsnOrig &&
      this.#hasIsnResp && !(f & (TCP_SYN | TCP_RST)) && f & TCP_ACK &&
      ack === ((this.#isnResp + 1) | 0)
    ) this.handshakeCompleted = true;
  }

  #addHistory(endpoint: _Endpoint, code: string): void {
    const c = code.charCodeAt(0);
    // Upper case for the originator, lower case for the responder.
    this.#historyCodes[this.#historyLength++] = endpoint.isOrig ? c : c | 0x20;
  }

  /** Connection::CheckHistory: true if already seen, else record it and return false. */
  #checkHistory(endpoint: _Endpoint, mask: number, code: string): boolean {
    const bit = endpoint.isOrig ? mask : mask * 0x10000;
    if ((this.histSeen & bit) === 0) {
      this.histSeen |= bit;
      this.#addHistory(endpoint, code);
      return false;
    }
    return true;
  }

  #process(
    isOrig: boolean,
    f: number,
    baseSeq: number,
    ackSeq: number,
    len: number,
    window: number,
    payloadCaptured: boolean,
  ): void {
    const endpoint = isOrig ? this.orig : this.resp;
    const peer = isOrig ? this.resp : this.orig;
    const syn = (f & TCP_SYN) !== 0;
    const fin = (f & TCP_FIN) !== 0;
    const rst = (f & TCP_RST) !== 0;
    const ack = (f & TCP_ACK) !== 0;

    let segLen = len + (syn ? 1 : 0) + (fin ? 1 : 0);
    if (rst) segLen -= len;
    const seqOnePast = (baseSeq + segLen) | 0;

    this.#initEndpoint(endpoint, syn, baseSeq, seqOnePast);
    const relSeq = endpoint.relativeSeq(baseSeq, endpoint.lastSeq, endpoint.seqWraps);
    const seqUnderflow = endpoint.underflow;
    if (f & (TCP_SYN | TCP_FIN | TCP_RST) || len || ack) {
      this.#updateHistory(endpoint, syn, fin, rst, ack, relSeq, len);
    }
    if (window === 0 && !rst && peer.state !== "closed" && endpoint.state !== "reset") {
      endpoint.win0Count++;
      if (endpoint.win0Count === endpoint.win0Threshold) {
        this.#addHistory(endpoint, "W");
        endpoint.win0Threshold *= 10;
      }
    }

    if (fin) {
      endpoint.finCount++;
      endpoint.finSeq = relSeq + segLen;
    }

    // Zeek's rel_ack: 1 when the peer starts here, 0 on an underflow.
    let relAck = 0;
    if (ack) {
      if (peer.state === "inactive") {
        const start = (ackSeq - 1) | 0;
        peer.startSeq = start;
        peer.ackSeq = start;
        peer.lastSeq = start;
        relAck = 1;
      } else {
        relAck = peer.relativeSeq(ackSeq, peer.ackSeq, peer.ackWraps);
        if (peer.underflow) relAck = 0;
        if (!peer.underflow && !rst) {
          const deltaAck = _seqDelta(ackSeq, peer.ackSeq);
          if (!(ackSeq === 0 && deltaAck > _TOO_LARGE_SEQ_DELTA) && deltaAck > 0) {
            peer.updateAckSeq(ackSeq);
          }
        }
      }
    }

    this.#updateLastSeq(endpoint, seqOnePast, syn, fin, rst, len);
    const close = this.#stateMachine(endpoint, peer, baseSeq, len, isOrig, f);
    if (close && !endpoint.didClose) endpoint.didClose = true;
    // After the state machine, as Zeek: a gap revealed by a FIN or RST is judged in the state it leaves.
    if (ack && relAck > peer.trimSeq) this.#ackReceived(peer, relAck);
    if (len > 0 && payloadCaptured && !rst && !seqUnderflow) {
      this.#dataSent(endpoint, syn ? relSeq + 1 : relSeq, len);
    }
  }

  #initEndpoint(endpoint: _Endpoint, syn: boolean, first: number, last: number): void {
    let reinit = false;
    switch (endpoint.state) {
      case "inactive":
        if (syn) {
          endpoint.ackSeq = first;
          endpoint.startSeq = first;
          endpoint.lastSeq = last;
        } else {
          const start = (first - 1) | 0;
          endpoint.ackSeq = start;
          endpoint.startSeq = start;
          endpoint.lastSeq = first;
        }
        break;
      case "syn-sent":
      case "syn-ack-sent":
        reinit = syn && first !== endpoint.startSeq;
        break;
      case "established":
      case "partial":
        reinit = syn;
        break;
      case "reset":
        reinit = syn && endpoint.prevState === "inactive";
        break;
      default:
        break;
    }
    if (reinit) {
      endpoint.startSeq = first;
      endpoint.ackSeq = first;
      endpoint.lastSeq = last;
    }
  }

  #updateHistory(
    endpoint: _Endpoint,
    syn: boolean,
    fin: boolean,
    rst: boolean,
    ack: boolean,
    relSeq: number,
    len: number,
  ): void {
    const bits = (syn ? 1 : 0) + (fin ? 1 : 0) + (rst ? 1 : 0);
    if (bits > 1) {
      if (fin && rst) this.#checkHistory(endpoint, _HIST_FIN_RST, "I");
      else this.#checkHistory(endpoint, _HIST_MULTI_FLAG, "Q");
    } else if (bits === 1) {
      if (syn) {
        const code = ack ? "H" : "S";
        if (this.#checkHistory(endpoint, _HIST_SYN, code) && relSeq !== endpoint.histLastSyn) {
          this.#addHistory(endpoint, code);
        }
        endpoint.histLastSyn = relSeq;
      }
      if (fin) {
        if (
          this.#checkHistory(endpoint, _HIST_FIN, "F") && relSeq + len !== endpoint.histLastFin
        ) this.#addHistory(endpoint, "F");
        endpoint.histLastFin = relSeq + len;
      }
      if (rst) {
        if (this.#checkHistory(endpoint, _HIST_RST, "R") && relSeq !== endpoint.histLastRst) {
          this.#addHistory(endpoint, "R");
        }
        endpoint.histLastRst = relSeq;
      }
    } else if (len) {
      const bit = endpoint.isOrig ? _HIST_DATA : _HIST_DATA * 0x10000;
      if ((this.histSeen & bit) === 0) this.#checkHistory(endpoint, _HIST_DATA, "D");
    } else if (ack) {
      const bit = endpoint.isOrig ? _HIST_ACK : _HIST_ACK * 0x10000;
      if ((this.histSeen & bit) === 0) this.#checkHistory(endpoint, _HIST_ACK, "A");
    }
  }

  #updateLastSeq(
    endpoint: _Endpoint,
    lastSeq: number,
    syn: boolean,
    fin: boolean,
    rst: boolean,
    len: number,
  ): void {
    const deltaLast = _seqDelta(lastSeq, endpoint.lastSeq);
    if (
      (syn || rst) &&
      (deltaLast > _TOO_LARGE_SEQ_DELTA || deltaLast < -_TOO_LARGE_SEQ_DELTA)
    ) {
      // Untrusted jump.
    } else if (fin && endpoint.lastSeq === ((endpoint.startSeq + 1) | 0)) {
      endpoint.updateLastSeq(lastSeq);
    } else if (endpoint.state === "reset") {
      // Don't trust sequence numbers after a RST.
    } else if (deltaLast > 0) {
      endpoint.updateLastSeq(lastSeq);
    } else if (len > 0) {
      endpoint.rxmtCount++;
      if (endpoint.rxmtCount === endpoint.rxmtThreshold) {
        this.#addHistory(endpoint, "T");
        endpoint.rxmtThreshold *= 10;
      }
    }
  }

  /** UpdateStateMachine; returns Zeek's do_close. */
  #stateMachine(
    endpoint: _Endpoint,
    peer: _Endpoint,
    baseSeq: number,
    len: number,
    isOrig: boolean,
    f: number,
  ): boolean {
    const syn = (f & TCP_SYN) !== 0;
    const fin = (f & TCP_FIN) !== 0;
    const rst = (f & TCP_RST) !== 0;
    const ack = (f & TCP_ACK) !== 0;
    let doClose = false;
    switch (endpoint.state) {
      case "inactive": {
        if (syn) {
          if (isOrig) {
            if (ack) endpoint.setState("syn-ack-sent");
            else if (
              peer.state === "established" &&
              this.#synAckAck === ((baseSeq + 1) | 0)
            ) {
              // The SYN was captured after its SYN-ACK (reordering): Zeek
              // flips the roles back and counts the connection established.
              endpoint.setState("established");
            } else endpoint.setState("syn-sent");
          } else {
            if (peer.state === "syn-sent") peer.setState("established");
            endpoint.setState("established");
          }
        }
        if (fin) {
          endpoint.setState("closed");
          doClose = true;
        }
        if (rst) {
          endpoint.setState("reset");
          doClose = true;
        }
        if (endpoint.state === "inactive") {
          if (!isOrig && len === 0 && this.orig.state === "syn-sent") {
            // An ACK of the SYN before the SYN-ACK: not a partial connection.
          } else if (ack && peer.state === "established") {
            endpoint.setState("established");
          } else {
            endpoint.setState("partial");
          }
        }
        break;
      }
      case "syn-sent":
      case "syn-ack-sent":
        if (fin) {
          endpoint.setState("closed");
          doClose = true;
        }
        if (rst) {
          endpoint.setState("reset");
          doClose = true;
        }
        break;
      case "established":
      case "partial":
        if (syn && endpoint.state === "partial" && peer.state === "inactive" && !ack) {
          endpoint.setState("syn-sent");
        }
        if (fin && !rst) {
          endpoint.setState("closed");
          if (peer.state === "reset" && peer.prevState === "closed") {
            // The peer sent FIN then RST: count it as a normal close.
            peer.setState("closed");
          }
          doClose = true;
        }
        if (rst) {
          endpoint.setState("reset");
          doClose = true;
        }
        break;
      case "closed":
        if (rst && peer.state !== "closed") {
          endpoint.setState("reset");
          if (!endpoint.didClose) doClose = true;
        }
        break;
      case "reset":
        break;
    }
    return doClose;
  }

  /** Conn::conn_state from base/protocols/conn/main.zeek. */
  connState(): ConnState {
    const os = this.orig.state;
    const rs = this.resp.state;
    const oInactive = os === "inactive" || os === "partial";
    const rInactive = rs === "inactive" || rs === "partial";
    if (rs === "reset") {
      if (
        os === "syn-sent" || os === "syn-ack-sent" ||
        (os === "reset" && this.orig.size(this.resp) === 0 &&
          this.resp.size(this.orig) === 0)
      ) return "REJ";
      return oInactive ? "RSTRH" : "RSTR";
    }
    if (os === "reset") {
      if (rInactive) {
        return /^\^?S[^HAFGIQ]*R.*/.test(this.history) ? "RSTOS0" : "OTH";
      }
      return "RSTO";
    }
    if (rs === "closed" && os === "closed") return "SF";
    if (os === "closed") return rInactive ? "SH" : "S2";
    if (rs === "closed") return oInactive ? "SHR" : "S3";
    if (os === "syn-sent" && rs === "inactive") return "S0";
    if (os === "established" && rs === "established") return "S1";
    return "OTH";
  }
}

/** Zeek's is_clean (TCP_Reassembler.cc): established, or closed from established. */
function _isClean(e: _Endpoint): boolean {
  return e.state === "established" || (e.state === "closed" && e.prevState === "established");
}

/** Add [start, end) to sorted, disjoint ranges held as [start, end, start, end, ...], merging what touches. */
function _insertRange(ranges: number[], start: number, end: number): void {
  let i = 0;
  while (i < ranges.length && ranges[i + 1]! < start) i += 2;
  let j = i;
  while (j < ranges.length && ranges[j]! <= end) {
    if (ranges[j]! < start) start = ranges[j]!;
    if (ranges[j + 1]! > end) end = ranges[j + 1]!;
    j += 2;
  }
  ranges.splice(i, j - i, start, end);
}
