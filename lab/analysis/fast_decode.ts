/**
 * The TCP fields a connection tracker needs, decoded from a capture record
 * without allocating: numbers written into one reusable
 * {@link TcpHeaderFields} object. It reads the same link types, IP versions
 * and headers as {@link decodeTcp} and agrees with it field by field; use
 * {@link decodeTcp} when the whole packet (options, payload, text
 * addresses) is wanted.
 *
 * @module
 */

import { LinkType } from "./decode.ts";

const _PROTO_TCP = 6;

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
 * import { TcpHeaderFields } from "./fast_decode.ts";
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
  /** Offset of the TCP header in the record. */
  tcpOffset = 0;
  /** Whether Zeek would analyse the segment: a valid header length, all of it captured. */
  wellFormed = false;

  /**
   * Decode the record `data[start, start + capturedLength)`; false when it
   * is not a TCP segment this module reads (see {@link decodeTcp}).
   */
  decode(
    data: Uint8Array,
    start: number,
    capturedLength: number,
    originalLength: number,
    linkType: number,
  ): boolean {
    const end = start + capturedLength;
    let at: number;
    let version: number;
    switch (linkType) {
      case LinkType.ETHERNET:
        if (capturedLength < 14) return false;
        at = this.#ethertype(data, start + 14, end, (data[start + 12]! << 8) | data[start + 13]!);
        break;
      case LinkType.LINUX_SLL:
        if (capturedLength < 16) return false;
        at = this.#ethertype(data, start + 16, end, (data[start + 14]! << 8) | data[start + 15]!);
        break;
      case LinkType.LINUX_SLL2:
        if (capturedLength < 20) return false;
        at = this.#ethertype(data, start + 20, end, (data[start]! << 8) | data[start + 1]!);
        break;
      case LinkType.NULL:
      case LinkType.LOOP: {
        if (capturedLength < 4) return false;
        const bigEndian = linkType === LinkType.LOOP || (data[start] === 0 && data[start + 1] === 0);
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
      case LinkType.RAW:
      case LinkType.RAW_12:
      case LinkType.RAW_14:
      case LinkType.IPV4:
      case LinkType.IPV6:
        if (capturedLength < 1) return false;
        version = data[start]! >> 4;
        if (version !== 4 && version !== 6) return false;
        this.ipVersion = version;
        at = start;
        break;
      default:
        return false;
    }
    if (at < 0 || at >= end || data[at]! >> 4 !== this.ipVersion) return false;
    const wireLength = originalLength - (at - start);
    return this.ipVersion === 4
      ? this.#ipv4(data, at, end, wireLength)
      : this.#ipv6(data, at, end, wireLength);
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
    if ((((data[at + 6]! << 8) | data[at + 7]!) & 0x1fff) !== 0) return false; // not the first fragment
    if (data[at + 9] !== _PROTO_TCP) return false;
    let total = (data[at + 2]! << 8) | data[at + 3]!;
    if (total === 0) total = wireLength; // TSO/GSO on the sender
    if (total < headerLength) return false;
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
    while (_isIpv6Extension(next)) {
      if (end < p + 8) return false;
      let length: number;
      if (next === 44) {
        if ((((data[p + 2]! << 8) | data[p + 3]!) & 0xfff8) !== 0) return false; // not the first fragment
        length = 8;
      } else {
        length = next === 51 ? (data[p + 1]! + 2) * 4 : (data[p + 1]! + 1) * 8;
      }
      next = data[p]!;
      p += length;
    }
    if (next !== _PROTO_TCP) return false;
    const tcpLength = payloadLength - (p - at - 40);
    if (tcpLength < 0) return false;
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
    return true;
  }
}

/** IPv6 extension headers the decoder steps over (as decodeTcp; ESP cannot be). */
function _isIpv6Extension(next: number): boolean {
  return next === 0 || next === 43 || next === 44 || next === 51 || next === 60 || next === 135 ||
    next === 139 || next === 140;
}

/** A big-endian 32-bit word as a signed int32 (which V8 stores without allocating). */
function _i32(data: Uint8Array, at: number): number {
  return (data[at]! << 24) | (data[at + 1]! << 16) | (data[at + 2]! << 8) | data[at + 3]!;
}

/**
 * Parse an IPv4 or IPv6 address ("10.0.0.5", "fe80::1", "[::1]",
 * "::ffff:10.0.0.5") into its 4 or 16 bytes, or null.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseAddress } from "./fast_decode.ts";
 * assert.deepEqual(parseAddress("10.0.0.5"), new Uint8Array([10, 0, 0, 5]));
 * assert.deepEqual(parseAddress("::1")?.[15], 1);
 * assert.equal(parseAddress("10.0.0.256"), null);
 * assert.equal(parseAddress("example.com"), null);
 * ```
 */
export function parseAddress(text: string): Uint8Array | null {
  const t = text.trim().replace(/^\[(.*)\]$/, "$1");
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(t);
  if (v4) {
    const bytes = v4.slice(1).map(Number);
    return bytes.every((b) => b <= 255) ? new Uint8Array(bytes) : null;
  }
  if (!t.includes(":") || !/^[0-9a-fA-F:.]+$/.test(t)) return null;
  let head = t;
  const tail: number[] = [];
  const lastColon = t.lastIndexOf(":");
  if (t.slice(lastColon + 1).includes(".")) {
    const embedded = parseAddress(t.slice(lastColon + 1));
    if (embedded === null || embedded.length !== 4) return null;
    tail.push((embedded[0]! << 8) | embedded[1]!, (embedded[2]! << 8) | embedded[3]!);
    head = t.slice(0, lastColon + 1);
    if (head.endsWith(":") && !head.endsWith("::")) head = head.slice(0, -1);
  }
  const halves = head.split("::");
  if (halves.length > 2) return null;
  const words = (s: string) => (s === "" ? [] : s.split(":"));
  const left = words(halves[0]!);
  const right = halves.length === 2 ? words(halves[1]!) : [];
  const groups = [...left, ...right];
  if (groups.some((g) => !/^[0-9a-fA-F]{1,4}$/.test(g))) return null;
  const fill = 8 - groups.length - tail.length;
  if (halves.length === 1 ? fill !== 0 : fill < 1) return null;
  const all = [
    ...left.map((g) => parseInt(g, 16)),
    ...new Array<number>(halves.length === 2 ? fill : 0).fill(0),
    ...right.map((g) => parseInt(g, 16)),
    ...tail,
  ];
  const bytes = new Uint8Array(16);
  all.forEach((w, i) => {
    bytes[i * 2] = w >> 8;
    bytes[i * 2 + 1] = w & 255;
  });
  return bytes;
}
