/**
 * Decoding TCP segments from capture records: link layer, IPv4/IPv6, TCP.
 *
 * Link types: Ethernet (with 802.1Q/802.1ad VLAN tags), raw IP (101, 12,
 * 14, 228, 229), Linux cooked v1 (113) and v2 (276), BSD null (0) and
 * OpenBSD loop (108). IPv4 options are skipped; a fragment other than the
 * first is not TCP as far as this module can tell. IPv6 extension headers
 * are skipped.
 *
 * @module
 */

import type { CaptureRecord, Ipv6Extension, LinkInfo, TcpOption, TcpPacket } from "./types.ts";

/** Link type numbers this module reads (pcap LINKTYPE_* values). */
export const LinkType = {
  NULL: 0,
  ETHERNET: 1,
  /** DLT_RAW as most systems number it. */
  RAW_12: 12,
  /** DLT_RAW on OpenBSD. */
  RAW_14: 14,
  RAW: 101,
  LOOP: 108,
  LINUX_SLL: 113,
  IPV4: 228,
  IPV6: 229,
  LINUX_SLL2: 276,
} as const;

const _ETHERTYPE_IPV4 = 0x0800;
const _ETHERTYPE_IPV6 = 0x86dd;
const _VLAN_ETHERTYPES = new Set([0x8100, 0x88a8, 0x9100]);
const _PROTO_TCP = 6;
/** IPv6 extension headers that this module steps over (ESP cannot be). */
const _IPV6_EXTENSIONS = new Set([0, 43, 44, 51, 60, 135, 139, 140]);

/**
 * Decode one capture record as a TCP segment, or return null when it is not
 * TCP (another protocol, a link type not read here, a non-first IP
 * fragment, or a record too short to hold the IP and 20-byte TCP headers).
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
 * import { decodeTcp } from "./decode.ts";
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
  const located = _locateNetworkLayer(record);
  if (located === null) return null;
  const { offset, version, link } = located;
  const data = record.data;
  // The IP datagram as the wire carried it, for IP headers that give no length.
  const wireIpLength = record.originalLength - offset;
  const ip = version === 4 ? _ipv4(data, offset, wireIpLength) : _ipv6(data, offset, wireIpLength);
  if (ip === null) return null;
  return _tcp(record, ip, link);
}

/**
 * Decode TCP options from the bytes after the fixed 20-byte header.
 * Parsing stops at an end-of-list option or at the first malformed option.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseTcpOptions } from "./decode.ts";
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

interface _Located {
  offset: number;
  version: 4 | 6;
  link: LinkInfo;
}

function _locateNetworkLayer(record: CaptureRecord): _Located | null {
  const data = record.data;
  const linkType = record.linkType;
  const link: LinkInfo = { linkType };
  switch (linkType) {
    case LinkType.ETHERNET: {
      if (data.length < 14) return null;
      return _byEthertype(data, 14, _u16(data, 12), link);
    }
    case LinkType.LINUX_SLL: {
      if (data.length < 16) return null;
      link.packetType = _u16(data, 0);
      return _byEthertype(data, 16, _u16(data, 14), link);
    }
    case LinkType.LINUX_SLL2: {
      if (data.length < 20) return null;
      link.interfaceIndex = _view(data).getUint32(4);
      link.packetType = data[10]!;
      return _byEthertype(data, 20, _u16(data, 0), link);
    }
    case LinkType.NULL:
    case LinkType.LOOP: {
      if (data.length < 4) return null;
      const view = _view(data);
      // NULL stores the family in the capturing host's byte order, LOOP in network order.
      const bigEndian = linkType === LinkType.LOOP ||
        (data[0] === 0 && data[1] === 0);
      const family = view.getUint32(0, !bigEndian);
      if (family === 2) return _byVersion(data, 4, 4, link);
      if (family === 10 || family === 24 || family === 28 || family === 30) {
        return _byVersion(data, 4, 6, link);
      }
      return null;
    }
    case LinkType.RAW:
    case LinkType.RAW_12:
    case LinkType.RAW_14:
    case LinkType.IPV4:
    case LinkType.IPV6: {
      if (data.length < 1) return null;
      const version = data[0]! >> 4;
      if (version !== 4 && version !== 6) return null;
      return _byVersion(data, 0, version, link);
    }
    default:
      return null;
  }
}

function _byEthertype(
  data: Uint8Array,
  offset: number,
  ethertype: number,
  link: LinkInfo,
): _Located | null {
  let type = ethertype;
  let at = offset;
  while (_VLAN_ETHERTYPES.has(type)) {
    if (data.length < at + 4) return null;
    (link.vlanIds ??= []).push(_u16(data, at) & 0x0fff);
    type = _u16(data, at + 2);
    at += 4;
  }
  if (type === _ETHERTYPE_IPV4) return _byVersion(data, at, 4, link);
  if (type === _ETHERTYPE_IPV6) return _byVersion(data, at, 6, link);
  return null;
}

function _byVersion(
  data: Uint8Array,
  offset: number,
  version: number,
  link: LinkInfo,
): _Located | null {
  if (data.length <= offset || data[offset]! >> 4 !== version) return null;
  return { offset, version: version === 4 ? 4 : 6, link };
}

interface _Ip {
  version: 4 | 6;
  src: Uint8Array;
  dst: Uint8Array;
  /** Offset of the TCP header in the record. */
  tcpOffset: number;
  /** TCP header + payload length, from the IP header. */
  tcpLength: number;
  /** Part of a fragmented datagram (only the first fragment gets here). */
  fragmented: boolean;
  /** IPv6 extension headers stepped over. */
  extensions: Ipv6Extension[];
}

function _ipv4(data: Uint8Array, at: number, wireLength: number): _Ip | null {
  if (data.length < at + 20) return null;
  const headerLength = (data[at]! & 0x0f) * 4;
  if (headerLength < 20 || data.length < at + headerLength) return null;
  const fragment = _u16(data, at + 6);
  if ((fragment & 0x1fff) !== 0) return null; // not the first fragment
  if (data[at + 9] !== _PROTO_TCP) return null;
  let totalLength = _u16(data, at + 2);
  // TSO/GSO packets captured on the sender may carry 0 here.
  if (totalLength === 0) totalLength = wireLength;
  if (totalLength < headerLength) return null;
  return {
    version: 4,
    src: data.subarray(at + 12, at + 16),
    dst: data.subarray(at + 16, at + 20),
    tcpOffset: at + headerLength,
    tcpLength: totalLength - headerLength,
    fragmented: (fragment & 0x2000) !== 0,
    extensions: [],
  };
}

function _ipv6(data: Uint8Array, at: number, wireLength: number): _Ip | null {
  if (data.length < at + 40) return null;
  let payloadLength = _u16(data, at + 4);
  if (payloadLength === 0) payloadLength = wireLength - 40; // jumbogram or GSO
  let next = data[at + 6]!;
  let p = at + 40;
  let fragmented = false;
  const extensions: Ipv6Extension[] = [];
  while (_IPV6_EXTENSIONS.has(next)) {
    if (data.length < p + 8) return null;
    let length: number;
    if (next === 44) {
      const offset = _u16(data, p + 2) & 0xfff8;
      if (offset !== 0) return null; // not the first fragment
      fragmented = true;
      length = 8;
      extensions.push({ type: next, length, fragmentOffset: offset });
    } else {
      length = next === 51 ? (data[p + 1]! + 2) * 4 : (data[p + 1]! + 1) * 8;
      extensions.push({ type: next, length });
    }
    next = data[p]!;
    p += length;
  }
  if (next !== _PROTO_TCP) return null;
  const tcpLength = payloadLength - (p - at - 40);
  if (tcpLength < 0) return null;
  return {
    version: 6,
    src: data.subarray(at + 8, at + 24),
    dst: data.subarray(at + 24, at + 40),
    tcpOffset: p,
    tcpLength,
    fragmented,
    extensions,
  };
}

function _tcp(record: CaptureRecord, ip: _Ip, link: LinkInfo): TcpPacket | null {
  const data = record.data;
  const t = ip.tcpOffset;
  if (data.length < t + 20) return null;
  const view = _view(data);
  const headerLength = (data[t + 12]! >> 4) * 4;
  const capturedEnd = Math.min(data.length, t + ip.tcpLength);
  const headerEnd = Math.min(capturedEnd, t + Math.max(headerLength, 20));
  const valid = headerLength >= 20 && headerLength <= ip.tcpLength;
  const options = headerLength > 20
    ? parseTcpOptions(data.subarray(t + 20, Math.min(headerEnd, t + headerLength)))
    : [];
  const payloadStart = Math.min(capturedEnd, t + headerLength);
  const wholeSegment = data.length >= t + ip.tcpLength;
  const packet: TcpPacket = {
    index: record.index,
    timeNs: record.timeNs,
    ipVersion: ip.version,
    src: formatAddress(ip.src),
    dst: formatAddress(ip.dst),
    srcPort: view.getUint16(t),
    dstPort: view.getUint16(t + 2),
    flags: data[t + 13]!,
    seq: view.getUint32(t + 4),
    ack: view.getUint32(t + 8),
    window: view.getUint16(t + 14),
    payloadLength: valid ? ip.tcpLength - headerLength : 0,
    options,
    payload: valid ? data.subarray(payloadStart, capturedEnd) : data.subarray(0, 0),
    checksumOk: wholeSegment && !ip.fragmented && ip.tcpLength >= 20
      ? _checksum(ip, data.subarray(t, t + ip.tcpLength)) === 0xffff
      : null,
    headerLength,
    tcpLength: ip.tcpLength,
    urgentPointer: view.getUint16(t + 18),
    tcpHeader: data.subarray(t, headerEnd),
    link,
  };
  if (ip.extensions.length > 0) packet.ipv6Extensions = ip.extensions;
  return packet;
}

/** Ones' complement sum over the pseudo header and the segment; 0xffff means valid. */
function _checksum(ip: _Ip, segment: Uint8Array): number {
  let sum = _sum16(ip.src) + _sum16(ip.dst) + _PROTO_TCP;
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

/**
 * Format a 4- or 16-byte IP address as tcpdump -n does: dotted quad, or
 * IPv6 with the longest run of two or more zero groups shortened to "::"
 * and IPv4-mapped/compatible addresses ending in a dotted quad.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatAddress } from "./decode.ts";
 * assert.equal(formatAddress(new Uint8Array([10, 201, 0, 20])), "10.201.0.20");
 * const loop = new Uint8Array(16); loop[15] = 1;
 * assert.equal(formatAddress(loop), "::1");
 * ```
 */
export function formatAddress(bytes: Uint8Array): string {
  if (bytes.length === 4) return bytes.join(".");
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((bytes[i]! << 8) | bytes[i + 1]!);
  // Longest run of zero words (first one wins a tie), only if 2 or longer.
  let bestBase = -1, bestLength = 0, base = -1, length = 0;
  for (let i = 0; i <= 8; i++) {
    if (i < 8 && words[i] === 0) {
      if (base === -1) base = i, length = 1;
      else length++;
    } else if (base !== -1) {
      if (bestBase === -1 || length > bestLength) bestBase = base, bestLength = length;
      base = -1;
    }
  }
  if (bestLength < 2) bestBase = -1;
  let out = "";
  for (let i = 0; i < 8; i++) {
    if (bestBase !== -1 && i >= bestBase && i < bestBase + bestLength) {
      if (i === bestBase) out += ":";
      continue;
    }
    if (i !== 0) out += ":";
    if (
      i === 6 && bestBase === 0 &&
      (bestLength === 6 || (bestLength === 5 && words[5] === 0xffff))
    ) {
      out += bytes.subarray(12, 16).join(".");
      return out;
    }
    out += words[i]!.toString(16);
  }
  if (bestBase !== -1 && bestBase + bestLength === 8) out += ":";
  return out;
}

function _u16(data: Uint8Array, at: number): number {
  return (data[at]! << 8) | data[at + 1]!;
}

function _view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
