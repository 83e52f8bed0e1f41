/**
 * Decoding TCP segments from capture records: the link layer (every link
 * type of link_types.ts, with 802.1Q/802.1ad VLAN tags), IPv4 (options
 * skipped; a fragment other than the first is not TCP as far as this
 * module can tell), IPv6 (extension headers stepped over) and TCP.
 *
 * An ICMP error (ICMPv4 or ICMPv6 destination unreachable, time exceeded
 * or parameter problem) that quotes a TCP header is
 * not a segment, but it belongs to the connection whose packet it quotes:
 * the decoder reads its type, code and sender, and the quoted header's
 * addresses, ports and sequence number (see {@link TcpHeaderFields.icmpType}).
 *
 * One decoder reads the fields: {@link TcpHeaderFields} writes the numbers
 * a connection tracker needs into one reusable object, without allocating.
 * {@link decodeTcp} builds the whole packet (text addresses, options,
 * payload, checksum, link details) on top of it, for the packets a report
 * shows.
 *
 * @module
 */

import { formatAddress } from "./addresses.ts";
import type { IcmpErrorPacket } from "./icmp_errors.ts";
import { LINK_LAYERS, LinkType } from "./link_types.ts";
import type { CaptureRecord, Ipv6Extension, LinkInfo, TcpOption, TcpPacket } from "./types.ts";

const _PROTO_TCP = 6;
const _PROTO_ICMP = 1;
const _PROTO_ICMPV6 = 58;

// How the IP header is found (LinkLayer.framing, as numbers for the per-packet switch).
const _NONE = 0;
const _ETHERTYPE = 1;
const _FAMILY_HOST = 2;
const _FAMILY_NETWORK = 3;
const _IP = 4;
const _FRAMING_CODES = {
  "ethertype": _ETHERTYPE,
  "family-host-order": _FAMILY_HOST,
  "family-network-order": _FAMILY_NETWORK,
  "ip": _IP,
} as const;

/**
 * The decoded fields of the last record given to {@link TcpHeaderFields.decode}.
 * Addresses are 32-bit words in network order: IPv4 uses `src0`/`dst0`
 * only (the others are 0); IPv6 uses all four. Addresses, `seq` and `ack`
 * are signed 32-bit integers (`x | 0`), which V8 keeps without allocating;
 * `x >>> 0` gives the unsigned value.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { TcpHeaderFields } from "./tcp_decoder.ts";
 * // A raw-IP (link type 101) SYN from 10.0.0.1:40000 to 10.0.0.2:9999.
 * const data = new Uint8Array(40);
 * data.set([0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
 * data.set([0x9c, 0x40, 0x27, 0x0f, 0, 0, 0, 100, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff], 20);
 * const f = new TcpHeaderFields();
 * assert.equal(f.decode(data, 0, 40, 40, 101), true);
 * assert.equal(f.src0, 0x0a000001);
 * assert.equal(f.dstPort, 9999);
 * assert.equal(f.seq, 100);
 * assert.equal(f.ack >>> 0, 0);
 * assert.equal(f.flags, 0x02);
 * ```
 */
export class TcpHeaderFields {
  /** 4 or 6. */
  ipVersion = 4;
  src0 = 0;
  src1 = 0;
  src2 = 0;
  src3 = 0;
  dst0 = 0;
  dst1 = 0;
  dst2 = 0;
  dst3 = 0;
  srcPort = 0;
  dstPort = 0;
  flags = 0;
  seq = 0;
  ack = 0;
  window = 0;
  /** Payload bytes, from the IP header (0 when the TCP header length is invalid). */
  payloadLength = 0;
  /** The TCP header length the header states (data offset x 4). */
  headerLength = 0;
  /** TCP header plus payload, from the IP header. */
  tcpLength = 0;
  /** Offset of the TCP header in the record's buffer. */
  tcpOffset = 0;
  /** Offset of the IP header in the record's buffer. */
  ipOffset = 0;
  /** Part of a fragmented datagram (only a first fragment gets this far). */
  fragmented = false;
  /** Whether Zeek would analyse the segment: a valid header length, all of it captured. */
  wellFormed = false;
  /** Whether the whole segment (header and payload) was captured: the snapshot length did not cut it. */
  wholeSegment = false;
  /**
   * -1, or the record was an ICMP error that quotes a TCP header: its type (ICMPv4 3, 11 or 12,
   * ICMPv6 1, 3 or 4; `ipVersion` says which). Then {@link decode} returned false, and the address,
   * port and `seq` fields hold the quoted header's (a packet the connection sent), `flags` its flags
   * or -1 when the quote stops before them; `icmpFrom0`..`icmpFrom3` the ICMP's sender and
   * `ipOffset` its IP header.
   */
  icmpType = -1;
  /** The ICMP error's code (see {@link icmpType}). */
  icmpCode = 0;
  /** The ICMP error's sender (its IP source address), as the address words above: the first word. */
  icmpFrom0 = 0;
  /** The sender's second word (0 for IPv4; see {@link icmpFrom0}). */
  icmpFrom1 = 0;
  /** The sender's third word (0 for IPv4; see {@link icmpFrom0}). */
  icmpFrom2 = 0;
  /** The sender's fourth word (0 for IPv4; see {@link icmpFrom0}). */
  icmpFrom3 = 0;
  /** Offset of the quoted IP header in the record's buffer (see {@link icmpType}). */
  icmpQuoteOffset = 0;
  // The link layer of the last link type seen (records of one file rarely change it).
  #linkType = -1;
  #framing = _NONE;
  #headerBytes = 0;
  #ethertypeAt = 0;

  /**
   * Decode the record `data[start, start + capturedLength)`; false when it
   * is not a TCP segment this module reads: another protocol, a link type
   * not in link_types.ts, a non-first IP fragment, or a record too short to
   * hold the IP and 20-byte TCP headers.
   */
  decode(
    data: Uint8Array,
    start: number,
    capturedLength: number,
    originalLength: number,
    linkType: number,
  ): boolean {
    if (linkType !== this.#linkType) this.#link(linkType);
    this.icmpType = -1;
    const end = start + capturedLength;
    let at: number;
    switch (this.#framing) {
      case _ETHERTYPE: {
        if (capturedLength < this.#headerBytes) return false;
        const e = start + this.#ethertypeAt;
        at = this.#ethertype(data, start + this.#headerBytes, end, (data[e]! << 8) | data[e + 1]!);
        break;
      }
      case _FAMILY_HOST:
      case _FAMILY_NETWORK: {
        if (capturedLength < 4) return false;
        // NULL stores the family in the capturing host's byte order, LOOP in network order.
        const bigEndian = this.#framing === _FAMILY_NETWORK || (data[start] === 0 && data[start + 1] === 0);
        const family = bigEndian
          ? ((data[start]! << 24) | (data[start + 1]! << 16) | (data[start + 2]! << 8) | data[start + 3]!) >>>
            0
          : ((data[start + 3]! << 24) | (data[start + 2]! << 16) | (data[start + 1]! << 8) | data[start]!) >>>
            0;
        if (family === 2) this.ipVersion = 4;
        else if (family === 10 || family === 24 || family === 28 || family === 30) this.ipVersion = 6;
        else return false;
        at = start + 4;
        break;
      }
      case _IP: {
        if (capturedLength < 1) return false;
        const version = data[start]! >> 4;
        if (version !== 4 && version !== 6) return false;
        this.ipVersion = version;
        at = start;
        break;
      }
      default:
        return false;
    }
    if (at < 0 || at >= end || data[at]! >> 4 !== this.ipVersion) return false;
    this.ipOffset = at;
    const wireLength = originalLength - (at - start);
    return this.ipVersion === 4
      ? this.#ipv4(data, at, end, wireLength)
      : this.#ipv6(data, at, end, wireLength);
  }

  #link(linkType: number): void {
    const layer = LINK_LAYERS.get(linkType);
    this.#linkType = linkType;
    this.#framing = layer === undefined ? _NONE : _FRAMING_CODES[layer.framing];
    this.#headerBytes = layer?.headerBytes ?? 0;
    this.#ethertypeAt = layer?.ethertypeAt ?? 0;
  }

  /** The network layer's offset after an ethertype (and VLAN tags), or -1; sets ipVersion. */
  #ethertype(data: Uint8Array, at: number, end: number, type: number): number {
    while (type === 0x8100 || type === 0x88a8 || type === 0x9100) {
      if (end < at + 4) return -1;
      type = (data[at + 2]! << 8) | data[at + 3]!;
      at += 4;
    }
    if (type === 0x0800) this.ipVersion = 4;
    else if (type === 0x86dd) this.ipVersion = 6;
    else return -1;
    return at;
  }

  #ipv4(data: Uint8Array, at: number, end: number, wireLength: number): boolean {
    if (end < at + 20) return false;
    const headerLength = (data[at]! & 0x0f) * 4;
    if (headerLength < 20 || end < at + headerLength) return false;
    const fragment = (data[at + 6]! << 8) | data[at + 7]!;
    if ((fragment & 0x1fff) !== 0) return false; // not the first fragment
    if (data[at + 9] !== _PROTO_TCP) {
      if (data[at + 9] === _PROTO_ICMP) this.#icmp(data, at, at + headerLength, end);
      return false;
    }
    let total = (data[at + 2]! << 8) | data[at + 3]!;
    if (total === 0) total = wireLength; // TSO/GSO on the sender
    if (total < headerLength) return false;
    this.fragmented = (fragment & 0x2000) !== 0;
    this.src0 = _i32(data, at + 12);
    this.dst0 = _i32(data, at + 16);
    this.src1 =
      this.src2 =
      this.src3 =
      this.dst1 =
      this.dst2 =
      this.dst3 =
        0;
    return this.#tcp(data, at + headerLength, end, total - headerLength);
  }

  #ipv6(data: Uint8Array, at: number, end: number, wireLength: number): boolean {
    if (end < at + 40) return false;
    let payloadLength = (data[at + 4]! << 8) | data[at + 5]!;
    if (payloadLength === 0) payloadLength = wireLength - 40; // jumbogram or GSO
    let next = data[at + 6]!;
    let p = at + 40;
    let fragmented = false;
    while (_isIpv6Extension(next)) {
      if (end < p + 8) return false;
      if (next === 44) {
        if ((((data[p + 2]! << 8) | data[p + 3]!) & 0xfff8) !== 0) return false; // not the first fragment
        fragmented = true;
      }
      const length = _ipv6ExtensionLength(data, p, next);
      next = data[p]!;
      p += length;
    }
    if (next !== _PROTO_TCP) {
      if (next === _PROTO_ICMPV6 && !fragmented) this.#icmp(data, at, p, end);
      return false;
    }
    const tcpLength = payloadLength - (p - at - 40);
    if (tcpLength < 0) return false;
    this.fragmented = fragmented;
    this.src0 = _i32(data, at + 8);
    this.src1 = _i32(data, at + 12);
    this.src2 = _i32(data, at + 16);
    this.src3 = _i32(data, at + 20);
    this.dst0 = _i32(data, at + 24);
    this.dst1 = _i32(data, at + 28);
    this.dst2 = _i32(data, at + 32);
    this.dst3 = _i32(data, at + 36);
    return this.#tcp(data, p, end, tcpLength);
  }

  /**
   * An ICMP message at `m` inside the IP packet at `ip` (of `ipVersion`): when it is an error that
   * quotes the start of a TCP segment (the 8 bytes with its ports and sequence number, at least), set
   * {@link icmpType} and the quoted header's fields.
   */
  #icmp(data: Uint8Array, ip: number, m: number, end: number): void {
    if (end < m + 8) return;
    const type = data[m]!;
    const v4 = this.ipVersion === 4;
    if (v4 ? type !== 3 && type !== 11 && type !== 12 : type !== 1 && type !== 3 && type !== 4) return;
    const q = m + 8; // the quoted IP header
    let t: number;
    if (v4) {
      if (end < q + 20 || data[q]! >> 4 !== 4 || data[q + 9] !== _PROTO_TCP) return;
      if ((((data[q + 6]! << 8) | data[q + 7]!) & 0x1fff) !== 0) return;
      t = q + (data[q]! & 0x0f) * 4;
    } else {
      if (end < q + 40 || data[q]! >> 4 !== 6 || data[q + 6] !== _PROTO_TCP) return;
      t = q + 40; // a quoted packet with extension headers is left out
    }
    if (end < t + 8) return;
    this.icmpFrom0 = _i32(data, ip + (v4 ? 12 : 8));
    this.icmpFrom1 = v4 ? 0 : _i32(data, ip + 12);
    this.icmpFrom2 = v4 ? 0 : _i32(data, ip + 16);
    this.icmpFrom3 = v4 ? 0 : _i32(data, ip + 20);
    this.src0 = _i32(data, q + (v4 ? 12 : 8));
    this.dst0 = _i32(data, q + (v4 ? 16 : 24));
    this.src1 = v4 ? 0 : _i32(data, q + 12);
    this.src2 = v4 ? 0 : _i32(data, q + 16);
    this.src3 = v4 ? 0 : _i32(data, q + 20);
    this.dst1 = v4 ? 0 : _i32(data, q + 28);
    this.dst2 = v4 ? 0 : _i32(data, q + 32);
    this.dst3 = v4 ? 0 : _i32(data, q + 36);
    this.srcPort = (data[t]! << 8) | data[t + 1]!;
    this.dstPort = (data[t + 2]! << 8) | data[t + 3]!;
    this.seq = _i32(data, t + 4);
    this.flags = end >= t + 14 ? data[t + 13]! : -1;
    this.icmpQuoteOffset = q;
    this.ipOffset = ip;
    this.icmpCode = data[m + 1]!;
    this.icmpType = type;
  }

  /**
   * After an ICMP error (see {@link icmpType}): whether its sender is the
   * quoted packet's destination, the peer itself rather than a host between.
   */
  icmpFromDestination(): boolean {
    return this.icmpFrom0 === this.dst0 && this.icmpFrom1 === this.dst1 && this.icmpFrom2 === this.dst2 &&
      this.icmpFrom3 === this.dst3;
  }

  #tcp(data: Uint8Array, t: number, end: number, tcpLength: number): boolean {
    if (end < t + 20) return false;
    const headerLength = (data[t + 12]! >> 4) * 4;
    const valid = headerLength >= 20 && headerLength <= tcpLength;
    this.tcpOffset = t;
    this.srcPort = (data[t]! << 8) | data[t + 1]!;
    this.dstPort = (data[t + 2]! << 8) | data[t + 3]!;
    this.seq = _i32(data, t + 4);
    this.ack = _i32(data, t + 8);
    this.flags = data[t + 13]!;
    this.window = (data[t + 14]! << 8) | data[t + 15]!;
    this.headerLength = headerLength;
    this.tcpLength = tcpLength;
    this.payloadLength = valid ? tcpLength - headerLength : 0;
    this.wellFormed = valid && end - t >= headerLength;
    this.wholeSegment = end - t >= tcpLength;
    return true;
  }
}

/** IPv6 extension headers the decoder steps over (ESP cannot be). */
function _isIpv6Extension(next: number): boolean {
  return next === 0 || next === 43 || next === 44 || next === 51 || next === 60 || next === 135 ||
    next === 139 || next === 140;
}

/** The length of the IPv6 extension header of type `type` at `p`. */
function _ipv6ExtensionLength(data: Uint8Array, p: number, type: number): number {
  if (type === 44) return 8;
  return type === 51 ? (data[p + 1]! + 2) * 4 : (data[p + 1]! + 1) * 8;
}

/** A big-endian 32-bit word as a signed int32 (which V8 stores without allocating). */
function _i32(data: Uint8Array, at: number): number {
  return (data[at]! << 24) | (data[at + 1]! << 16) | (data[at + 2]! << 8) | data[at + 3]!;
}

/**
 * Whether the TCP checksum of the segment that `f` decoded last from
 * `data` is right; null when it cannot be checked (the segment was not
 * captured whole, or is a fragment). Computed in place, without copying.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tcpChecksumOk, TcpHeaderFields } from "./tcp_decoder.ts";
 * // A raw-IP (link type 101) SYN from 10.0.0.1:40000 to 10.0.0.2:9999, its checksum 0xd82c.
 * const data = new Uint8Array(40);
 * data.set([0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
 * data.set([0x9c, 0x40, 0x27, 0x0f, 0, 0, 0, 100, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0xd8, 0x2c], 20);
 * const f = new TcpHeaderFields();
 * f.decode(data, 0, 40, 40, 101);
 * assert.equal(tcpChecksumOk(data, f), true);
 * data[37] = 0; // as the sender's checksum offload leaves it: a partial sum
 * assert.equal(tcpChecksumOk(data, f), false);
 * ```
 */
export function tcpChecksumOk(data: Uint8Array, f: TcpHeaderFields): boolean | null {
  if (!f.wholeSegment || f.fragmented || f.tcpLength < 20) return null;
  const ip = f.ipOffset;
  const t = f.tcpOffset;
  const v4 = f.ipVersion === 4;
  let sum = v4 ? _sumRange(data, ip + 12, ip + 20) : _sumRange(data, ip + 8, ip + 40);
  sum += _PROTO_TCP + (f.tcpLength >>> 16) + (f.tcpLength & 0xffff);
  sum += _sumSegment(data, t, t + f.tcpLength);
  return _fold(sum) === 0xffff;
}

function _fold(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return sum;
}

/** Whether this machine stores a Uint32Array's words little-endian. */
const _LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
let _wordsOf: ArrayBufferLike | null = null;
let _words: Uint32Array<ArrayBufferLike> = new Uint32Array(0);

/**
 * The ones' complement sum of the segment data[start, end) as big-endian
 * 16-bit words, read four bytes at a time through a word view of the
 * buffer: a word's bytes fall into 16-bit words in either order, and the
 * sum of byte-swapped words is the byte-swapped sum (RFC 1071, 2.B), so
 * the aligned middle is summed as words and swapped back when its byte
 * order differs from the segment's.
 */
function _sumSegment(data: Uint8Array, start: number, end: number): number {
  // Short segments byte by byte; very large ones (BIG TCP's GSO, past 128 KiB) too, where the small
  // accumulators below could overflow.
  if (end - start < 64 || end - start > 131072) return _sumRange(data, start, end);
  const base = data.byteOffset;
  const first = start + ((4 - ((base + start) & 3)) & 3);
  const last = first + ((end - first) & ~3);
  if (data.buffer !== _wordsOf) {
    _wordsOf = data.buffer;
    _words = new Uint32Array(data.buffer, 0, data.buffer.byteLength >>> 2);
  }
  let sum = _sumRange(data, start, first);
  const words = _words;
  // Each word's halves in small-integer accumulators (at most 16,384 additions of 65,535 each).
  let low = 0, high = 0, low2 = 0, high2 = 0;
  let w = (base + first) >>> 2;
  const stop = (base + last) >>> 2;
  for (const pairs = stop - ((stop - w) & 1); w < pairs; w += 2) {
    const a = words[w]!, b = words[w + 1]!;
    low = (low + (a & 0xffff)) | 0;
    high = (high + (a >>> 16)) | 0;
    low2 = (low2 + (b & 0xffff)) | 0;
    high2 = (high2 + (b >>> 16)) | 0;
  }
  if (w < stop) {
    const a = words[w]!;
    low = (low + (a & 0xffff)) | 0;
    high = (high + (a >>> 16)) | 0;
  }
  let middle = _fold(low + high + low2 + high2);
  // Which bytes of a word land high in a 16-bit word: the even addresses on a little-endian machine
  // land low; the segment wants its even positions high.
  const swap = ((base + start) & 1) === 0 ? _LITTLE_ENDIAN : !_LITTLE_ENDIAN;
  if (swap) middle = ((middle & 0xff) << 8) | (middle >>> 8);
  sum += middle;
  const tail = _sumRange(data, last, end);
  // The tail's first byte is at an even segment position when (last - start) is even.
  sum += ((last - start) & 1) === 0 ? tail : _swapFolded(tail);
  return sum;
}

function _swapFolded(sum: number): number {
  const x = _fold(sum);
  return ((x & 0xff) << 8) | (x >>> 8);
}

/** Ones' complement sum (unfolded) of the 16-bit big-endian words of data[start, end). */
function _sumRange(data: Uint8Array, start: number, end: number): number {
  // High and low bytes summed apart (no 16-bit loads); two words a step. Folded well before 2^53.
  let high = 0, low = 0;
  let i = start;
  const even = start + ((end - start) & ~3);
  for (; i < even; i += 4) {
    high += data[i]! + data[i + 2]!;
    low += data[i + 1]! + data[i + 3]!;
  }
  for (; i + 1 < end; i += 2) {
    high += data[i]!;
    low += data[i + 1]!;
  }
  if (i < end) high += data[i]!;
  return high * 256 + low;
}

const _FIELDS = new TcpHeaderFields();

/**
 * Decode one capture record as a whole TCP packet, or return null when it
 * is not TCP (see {@link TcpHeaderFields.decode}).
 *
 * `payloadLength` comes from the IP header, so it stays right when the
 * snapshot length cut the payload off; `payload` holds what was captured.
 * `checksumOk` is null when the whole segment was not captured or the
 * datagram is a fragment. A false value is common and harmless on the
 * sending side of a veth or loopback capture (checksum offload).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeTcp } from "./tcp_decoder.ts";
 * // A raw-IP (link type 101) SYN from 10.0.0.1:40000 to 10.0.0.2:9999.
 * const data = new Uint8Array(40);
 * data.set([0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
 * data.set([0x9c, 0x40, 0x27, 0x0f, 0, 0, 0, 100, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff], 20);
 * const packet = decodeTcp({
 *   index: 1, offset: 24, timeNs: 0n, linkType: 101, originalLength: 40, data,
 * });
 * assert.equal(packet?.src, "10.0.0.1");
 * assert.equal(packet?.dstPort, 9999);
 * assert.equal(packet?.seq, 100);
 * assert.equal(packet?.payloadLength, 0);
 * ```
 */
export function decodeTcp(record: CaptureRecord): TcpPacket | null {
  const f = _FIELDS;
  const data = record.data;
  if (!f.decode(data, 0, data.length, record.originalLength, record.linkType)) return null;
  const t = f.tcpOffset;
  const ip = f.ipOffset;
  const v4 = f.ipVersion === 4;
  const src = v4 ? data.subarray(ip + 12, ip + 16) : data.subarray(ip + 8, ip + 24);
  const dst = v4 ? data.subarray(ip + 16, ip + 20) : data.subarray(ip + 24, ip + 40);
  const headerLength = f.headerLength;
  const tcpLength = f.tcpLength;
  const capturedEnd = Math.min(data.length, t + tcpLength);
  const headerEnd = Math.min(capturedEnd, t + Math.max(headerLength, 20));
  const valid = headerLength >= 20 && headerLength <= tcpLength;
  const payloadStart = Math.min(capturedEnd, t + headerLength);
  const wholeSegment = data.length >= t + tcpLength;
  const packet: TcpPacket = {
    index: record.index,
    timeNs: record.timeNs,
    ipVersion: v4 ? 4 : 6,
    src: formatAddress(src),
    dst: formatAddress(dst),
    srcPort: f.srcPort,
    dstPort: f.dstPort,
    flags: f.flags,
    ttl: data[v4 ? ip + 8 : ip + 7]!,
    ...(v4 ? { ipId: (data[ip + 4]! << 8) | data[ip + 5]! } : {}),
    seq: f.seq >>> 0,
    ack: f.ack >>> 0,
    window: f.window,
    payloadLength: f.payloadLength,
    options: headerLength > 20
      ? parseTcpOptions(data.subarray(t + 20, Math.min(headerEnd, t + headerLength)))
      : [],
    payload: valid ? data.subarray(payloadStart, capturedEnd) : data.subarray(0, 0),
    checksumOk: wholeSegment && !f.fragmented && tcpLength >= 20
      ? _checksum(src, dst, data.subarray(t, t + tcpLength)) === 0xffff
      : null,
    headerLength,
    tcpLength,
    urgentPointer: (data[t + 18]! << 8) | data[t + 19]!,
    tcpHeader: data.subarray(t, headerEnd),
    link: _linkInfo(data, record.linkType, ip),
  };
  if (!v4 && t > ip + 40) packet.ipv6Extensions = _ipv6Extensions(data, ip, t);
  return packet;
}

/**
 * Decode one capture record as an ICMP error that quotes a TCP header, or
 * return null when it is not one (see {@link TcpHeaderFields.icmpType}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeIcmpError } from "./tcp_decoder.ts";
 * // Raw IP: 10.0.0.9 tells 10.0.0.1 that host 10.0.0.2 is unreachable, quoting its SYN from port 40000.
 * const data = new Uint8Array(56);
 * data.set([0x45, 0, 0, 56, 0, 0, 0, 0, 64, 1, 0, 0, 10, 0, 0, 9, 10, 0, 0, 1]);
 * data.set([3, 1, 0, 0, 0, 0, 0, 0], 20);
 * data.set([0x45, 0, 0, 40, 0, 0, 0x40, 0, 63, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2], 28);
 * data.set([0x9c, 0x40, 0x27, 0x0f, 0, 0, 0, 100], 48);
 * const icmp = decodeIcmpError({
 *   index: 1, offset: 24, timeNs: 0n, linkType: 101, originalLength: 56, data,
 * });
 * assert.equal(icmp?.from, "10.0.0.9");
 * assert.equal(icmp?.code, 1);
 * assert.deepEqual(icmp?.quoted, {
 *   src: "10.0.0.1", dst: "10.0.0.2", srcPort: 40000, dstPort: 9999, seq: 100, flags: null,
 * });
 * ```
 */
export function decodeIcmpError(record: CaptureRecord): IcmpErrorPacket | null {
  const f = _FIELDS;
  const data = record.data;
  if (f.decode(data, 0, data.length, record.originalLength, record.linkType) || f.icmpType === -1) {
    return null;
  }
  const ip = f.ipOffset;
  const v4 = f.ipVersion === 4;
  const q = f.icmpQuoteOffset;
  const address = (at: number) => formatAddress(data.subarray(at, at + (v4 ? 4 : 16)));
  return {
    index: record.index,
    timeNs: record.timeNs,
    ipVersion: v4 ? 4 : 6,
    type: f.icmpType,
    code: f.icmpCode,
    from: address(ip + (v4 ? 12 : 8)),
    to: address(ip + (v4 ? 16 : 24)),
    fromDestination: f.icmpFromDestination(),
    quoted: {
      src: address(q + (v4 ? 12 : 8)),
      dst: address(q + (v4 ? 16 : 24)),
      srcPort: f.srcPort,
      dstPort: f.dstPort,
      seq: f.seq >>> 0,
      flags: f.flags === -1 ? null : f.flags,
    },
  };
}

/** What the link layer in front of the IP header at `ip` says (link_types.ts tells where it is). */
function _linkInfo(data: Uint8Array, linkType: number, ip: number): LinkInfo {
  const link: LinkInfo = { linkType };
  const layer = LINK_LAYERS.get(linkType);
  if (linkType === LinkType.LINUX_SLL) link.packetType = (data[0]! << 8) | data[1]!;
  if (linkType === LinkType.LINUX_SLL2) {
    link.interfaceIndex = _i32(data, 4) >>> 0;
    link.packetType = data[10]!;
  }
  if (layer?.framing === "ethertype") {
    for (let at = layer.headerBytes; at < ip; at += 4) {
      (link.vlanIds ??= []).push(((data[at]! << 8) | data[at + 1]!) & 0x0fff);
    }
  }
  return link;
}

/** The IPv6 extension headers between the IPv6 header at `ip` and the TCP header at `tcp`. */
function _ipv6Extensions(data: Uint8Array, ip: number, tcp: number): Ipv6Extension[] {
  const extensions: Ipv6Extension[] = [];
  let next = data[ip + 6]!;
  for (let p = ip + 40; p < tcp;) {
    const length = _ipv6ExtensionLength(data, p, next);
    extensions.push(
      next === 44
        ? { type: next, length, fragmentOffset: ((data[p + 2]! << 8) | data[p + 3]!) & 0xfff8 }
        : { type: next, length },
    );
    next = data[p]!;
    p += length;
  }
  return extensions;
}

/**
 * Decode TCP options from the bytes after the fixed 20-byte header.
 * Parsing stops at an end-of-list option or at the first malformed option.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseTcpOptions } from "./tcp_decoder.ts";
 * const opts = parseTcpOptions(new Uint8Array([2, 4, 0x05, 0xb4, 1, 3, 3, 7]));
 * assert.deepEqual(opts, [
 *   { kind: "mss", value: 1460 }, { kind: "nop" }, { kind: "wscale", value: 7 },
 * ]);
 * ```
 */
export function parseTcpOptions(bytes: Uint8Array): TcpOption[] {
  const options: TcpOption[] = [];
  let i = 0;
  while (i < bytes.length) {
    const kind = bytes[i]!;
    if (kind === 0) {
      options.push({ kind: "eol" });
      break;
    }
    if (kind === 1) {
      options.push({ kind: "nop" });
      i++;
      continue;
    }
    if (i + 1 >= bytes.length) break;
    const length = bytes[i + 1]!;
    if (length < 2 || i + length > bytes.length) break;
    const body = bytes.subarray(i + 2, i + length);
    options.push(_option(kind, body));
    i += length;
  }
  return options;
}

/** The name tcpdump gives a TCP option kind ("mss", "TS", ..., "unknown-N"). */
export function tcpOptionName(kind: number): string {
  return _OPTION_NAMES.get(kind) ?? `unknown-${kind}`;
}

const _OPTION_NAMES = new Map<number, string>([
  [0, "eol"],
  [1, "nop"],
  [2, "mss"],
  [3, "wscale"],
  [4, "sackOK"],
  [5, "sack"],
  [6, "echo"],
  [7, "echoreply"],
  [8, "TS"],
  [11, "cc"],
  [12, "ccnew"],
  [13, ""],
  [19, "md5"],
  [20, "scps"],
  [28, "uto"],
  [29, "tcp-ao"],
  [30, "mptcp"],
  [34, "tfo"],
  [254, "exp"],
]);

function _option(kind: number, body: Uint8Array): TcpOption {
  const view = _view(body);
  switch (kind) {
    case 2:
      if (body.length === 2) return { kind: "mss", value: view.getUint16(0) };
      break;
    case 3:
      if (body.length === 1) return { kind: "wscale", value: body[0]! };
      break;
    case 4:
      if (body.length === 0) return { kind: "sackOK" };
      break;
    case 5:
      if (body.length % 8 === 0 && body.length > 0) {
        const blocks: Array<[number, number]> = [];
        for (let i = 0; i < body.length; i += 8) {
          blocks.push([view.getUint32(i), view.getUint32(i + 4)]);
        }
        return { kind: "sack", value: blocks };
      }
      break;
    case 8:
      if (body.length === 8) {
        return { kind: "TS", value: [view.getUint32(0), view.getUint32(4)] };
      }
      break;
  }
  return { kind: tcpOptionName(kind), data: body };
}

/** Ones' complement sum over the pseudo header and the segment; 0xffff means valid. */
function _checksum(src: Uint8Array, dst: Uint8Array, segment: Uint8Array): number {
  let sum = _sum16(src) + _sum16(dst) + _PROTO_TCP;
  // Pseudo-header length: 16 bits for IPv4, 32 bits for IPv6; both sum the same way.
  sum += (segment.length >>> 16) + (segment.length & 0xffff);
  sum += _sum16(segment);
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return sum;
}

function _sum16(bytes: Uint8Array): number {
  let sum = 0;
  const even = bytes.length & ~1;
  for (let i = 0; i < even; i += 2) sum += (bytes[i]! << 8) | bytes[i + 1]!;
  if (bytes.length & 1) sum += bytes[even]! << 8;
  return sum;
}

function _view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
