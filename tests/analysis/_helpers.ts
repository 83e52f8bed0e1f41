/**
 * Shared helpers for the analysis tests: fixtures, tcpdump, and small pcap
 * files built in memory.
 *
 * @module
 */

import { readCapture } from "../../lab/analysis/capture_reader.ts";
import { decodeTcp } from "../../lab/analysis/tcp_decoder.ts";
import { parseAddress } from "../../lab/analysis/addresses.ts";
import { readConnections } from "../../lab/analysis/connections.ts";
import type { CaptureRecord, Connection, TcpPacket } from "../../lab/analysis/types.ts";

/** The directory of the fixture captures. */
export const TESTDATA = new URL("../testdata/", import.meta.url);

/** Every fixture capture, by name without ".pcap". */
export const FIXTURES = [
  "founding_rst_unread",
  "read_then_close",
  "refused",
  "linger_zero",
  "shutdown_drain",
  "data_after_close",
  "ipv6_read_then_close",
  "port_reuse",
  "server_rst_unread",
  "founding_any_sll2",
  "founding_any_sll",
  "retransmit_timeout",
  "keepalive_timeout",
] as const;

/** A fixture name. */
export type Fixture = typeof FIXTURES[number];

/** The path of a fixture capture. */
export function fixturePath(name: string): string {
  return new URL(`${name}.pcap`, TESTDATA).pathname;
}

/** The bytes of a fixture capture. */
export function fixtureBytes(name: string): Uint8Array {
  return Deno.readFileSync(fixturePath(name));
}

/** The capture records of a fixture. */
export function fixtureRecords(name: string): CaptureRecord[] {
  return [...readCapture(fixtureBytes(name), `${name}.pcap`)];
}

/** The decoded TCP packets of a fixture. */
export function fixturePackets(name: string): TcpPacket[] {
  return fixtureRecords(name).map(decodeTcp).filter((p) => p !== null);
}

/**
 * Run `tcpdump -nn [extra] -r FILE` (or `-r -` with `stdin`) and return its
 * lines with the timestamp column removed.
 */
export async function tcpdumpLines(
  file: string | Uint8Array,
  extra: string[] = [],
): Promise<string[]> {
  const fromStdin = file instanceof Uint8Array;
  const command = new Deno.Command("tcpdump", {
    args: ["-nn", ...extra, "-r", fromStdin ? "-" : file],
    stdin: fromStdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
    env: { TZ: "UTC" },
  });
  const child = command.spawn();
  if (fromStdin) {
    const writer = child.stdin.getWriter();
    await writer.write(file);
    await writer.close();
  }
  const { code, stdout, stderr } = await child.output();
  const text = new TextDecoder().decode(stdout);
  if (code !== 0) {
    throw new Error(`tcpdump failed (${code}): ${new TextDecoder().decode(stderr)}`);
  }
  return text.split("\n").filter((line) => line !== "");
}

/** A tcpdump line without its leading timestamp column. */
export function afterTimestamp(line: string): string {
  return line.slice(line.indexOf(" ") + 1);
}

/** One record for {@link buildPcap}. */
export interface RecordSpec {
  seconds?: number;
  subsecond?: number;
  data: Uint8Array;
  originalLength?: number;
}

/** A classic pcap file in memory. */
export function buildPcap(
  linkType: number,
  records: RecordSpec[],
  options: { nanosecond?: boolean; littleEndian?: boolean; snapLength?: number } = {},
): Uint8Array {
  const le = options.littleEndian ?? true;
  const size = 24 + records.reduce((n, r) => n + 16 + r.data.length, 0);
  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, options.nanosecond ? 0xa1b23c4d : 0xa1b2c3d4, le);
  view.setUint16(4, 2, le);
  view.setUint16(6, 4, le);
  view.setUint32(16, options.snapLength ?? 262144, le);
  view.setUint32(20, linkType, le);
  let at = 24;
  for (const r of records) {
    view.setUint32(at, r.seconds ?? 0, le);
    view.setUint32(at + 4, r.subsecond ?? 0, le);
    view.setUint32(at + 8, r.data.length, le);
    view.setUint32(at + 12, r.originalLength ?? r.data.length, le);
    bytes.set(r.data, at + 16);
    at += 16 + r.data.length;
  }
  return bytes;
}

/** Concatenate byte arrays. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * The IP datagrams of an Ethernet fixture (its records without the 14-byte
 * Ethernet header), with their times.
 */
export function fixtureDatagrams(name: string): RecordSpec[] {
  return fixtureRecords(name).map((r) => ({
    seconds: Number(r.timeNs / 1_000_000_000n),
    subsecond: Number((r.timeNs % 1_000_000_000n) / 1000n),
    data: r.data.slice(14),
    originalLength: r.originalLength - 14,
  }));
}

/** Recompute an IPv4 header checksum in place (datagram starts at `at`). */
export function fixIpv4HeaderChecksum(data: Uint8Array, at = 0): void {
  const ihl = (data[at]! & 0x0f) * 4;
  data[at + 10] = 0;
  data[at + 11] = 0;
  let sum = 0;
  for (let i = 0; i < ihl; i += 2) sum += (data[at + i]! << 8) | data[at + i + 1]!;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  const checksum = ~sum & 0xffff;
  data[at + 10] = checksum >> 8;
  data[at + 11] = checksum & 0xff;
}

/** A 32-bit number, little-endian. */
export const u32le = (n: number) => new Uint8Array([n & 255, (n >>> 8) & 255, (n >>> 16) & 255, n >>> 24]);
/** A 32-bit number, big-endian. */
export const u32be = (n: number) => new Uint8Array([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);
/** An Ethernet header with this ethertype. */
export const ether = (type: number) =>
  new Uint8Array([0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 1, type >> 8, type & 255]);
const vlanTag = (tpid: number, id: number, type: number) =>
  new Uint8Array([tpid >> 8, tpid & 255, id >> 8, id & 255, type >> 8, type & 255]);

/** Link-layer framings of one IP datagram, with the link type. */
export const FRAMINGS: Array<{
  name: string;
  linkType: number;
  frame: (ip: Uint8Array) => Uint8Array;
  /** Whether libpcap reads this link type from a file (14 is a DLT, never a file link type). */
  tcpdumpReads?: false;
}> = [
  { name: "Ethernet", linkType: 1, frame: (ip) => concat(ether(ip[0]! >> 4 === 4 ? 0x0800 : 0x86dd), ip) },
  {
    name: "802.1Q VLAN 100",
    linkType: 1,
    frame: (ip) =>
      concat(ether(0x8100).subarray(0, 12), vlanTag(0x8100, 100, ip[0]! >> 4 === 4 ? 0x0800 : 0x86dd), ip),
  },
  {
    name: "QinQ 802.1ad 10 / 802.1Q 100",
    linkType: 1,
    frame: (ip) =>
      concat(
        ether(0x88a8).subarray(0, 12),
        vlanTag(0x88a8, 10, 0x8100).subarray(0, 4),
        vlanTag(0x8100, 100, ip[0]! >> 4 === 4 ? 0x0800 : 0x86dd).subarray(0, 4),
        new Uint8Array(ip[0]! >> 4 === 4 ? [0x08, 0x00] : [0x86, 0xdd]),
        ip,
      ),
  },
  { name: "raw IP (101)", linkType: 101, frame: (ip) => ip },
  { name: "raw IP (12)", linkType: 12, frame: (ip) => ip },
  { name: "raw IP (14)", linkType: 14, frame: (ip) => ip, tcpdumpReads: false },
  {
    name: "BSD null, little-endian",
    linkType: 0,
    frame: (ip) => concat(u32le(ip[0]! >> 4 === 4 ? 2 : 30), ip),
  },
  { name: "BSD null, big-endian", linkType: 0, frame: (ip) => concat(u32be(ip[0]! >> 4 === 4 ? 2 : 24), ip) },
  { name: "OpenBSD loop", linkType: 108, frame: (ip) => concat(u32be(ip[0]! >> 4 === 4 ? 2 : 24), ip) },
];

/** The founding-case data packet with IPv4 options (NOP NOP NOP EOL). */
export function withIpv4Options(ip: Uint8Array): Uint8Array {
  const out = concat(ip.subarray(0, 20), new Uint8Array([1, 1, 1, 0]), ip.subarray(20));
  out[0] = 0x46;
  const total = ((out[2]! << 8) | out[3]!) + 4;
  out[2] = total >> 8;
  out[3] = total & 255;
  fixIpv4HeaderChecksum(out);
  return out;
}

/** An IPv6 datagram with hop-by-hop and destination-options headers before TCP. */
export function withIpv6Extensions(ip: Uint8Array): Uint8Array {
  const hopByHop = new Uint8Array([60, 0, 1, 4, 0, 0, 0, 0]);
  const destination = new Uint8Array([6, 0, 1, 4, 0, 0, 0, 0]);
  const out = concat(ip.subarray(0, 40), hopByHop, destination, ip.subarray(40));
  out[6] = 0;
  const length = ((out[4]! << 8) | out[5]!) + 16;
  out[4] = length >> 8;
  out[5] = length & 255;
  return out;
}

/** A TCP segment to wrap in an IPv4 datagram with {@link ipv4Segment}. */
export interface SegmentSpec {
  src?: [number, number, number, number];
  dst?: [number, number, number, number];
  srcPort: number;
  dstPort: number;
  seq: number;
  ack?: number;
  flags: number;
  window?: number;
  urgent?: number;
  /** Option bytes; a multiple of 4 unless `dataOffset` says otherwise. */
  options?: number[];
  /** The data offset field in 32-bit words, when it must lie. */
  dataOffset?: number;
  payload?: Uint8Array;
}

/** An IPv4 datagram carrying one TCP segment (TCP checksum left 0). */
export function ipv4Segment(spec: SegmentSpec): Uint8Array {
  const options = new Uint8Array(spec.options ?? []);
  const payload = spec.payload ?? new Uint8Array();
  const tcp = new Uint8Array(20 + options.length + payload.length);
  const view = new DataView(tcp.buffer);
  view.setUint16(0, spec.srcPort);
  view.setUint16(2, spec.dstPort);
  view.setUint32(4, spec.seq >>> 0);
  view.setUint32(8, (spec.ack ?? 0) >>> 0);
  tcp[12] = (spec.dataOffset ?? (20 + options.length) / 4) << 4;
  tcp[13] = spec.flags;
  view.setUint16(14, spec.window ?? 512);
  view.setUint16(18, spec.urgent ?? 0);
  tcp.set(options, 20);
  tcp.set(payload, 20 + options.length);
  const ip = new Uint8Array(20);
  ip.set([0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 6, 0, 0]);
  ip.set(spec.src ?? [10, 0, 0, 1], 12);
  ip.set(spec.dst ?? [10, 0, 0, 2], 16);
  const total = 20 + tcp.length;
  ip[2] = total >> 8;
  ip[3] = total & 255;
  fixIpv4HeaderChecksum(ip);
  return concat(ip, tcp);
}

/** One interface of {@link buildPcapng}. */
export interface InterfaceSpec {
  linkType: number;
  snapLength?: number;
  /** if_tsresol byte (default: none, that is microseconds). */
  tsresol?: number;
  /** if_tsoffset, seconds. */
  tsoffset?: number;
}

/** One block of {@link buildPcapng}. */
export type BlockSpec =
  | { section: InterfaceSpec[] }
  | { iface: number; ts: bigint; data: Uint8Array; originalLength?: number }
  | { simple: Uint8Array; originalLength?: number }
  | { obsolete: number; ts: bigint; data: Uint8Array }
  | { other: number; bodyLength: number };

/**
 * A pcapng file in memory: each `section` starts a section header block
 * followed by its interface description blocks; packets are enhanced
 * (`iface`), simple (`simple`) or obsolete (`obsolete`) packet blocks;
 * `other` is a block of another type, skipped by readers.
 */
export function buildPcapng(blocks: BlockSpec[], options: { littleEndian?: boolean } = {}): Uint8Array {
  const le = options.littleEndian ?? true;
  const parts: Uint8Array[] = [];
  const block = (type: number, body: Uint8Array) => {
    const padded = (body.length + 3) & ~3;
    const total = 12 + padded;
    const out = new Uint8Array(total);
    const v = new DataView(out.buffer);
    v.setUint32(0, type, le);
    v.setUint32(4, total, le);
    out.set(body, 8);
    v.setUint32(total - 4, total, le);
    parts.push(out);
  };
  for (const b of blocks) {
    if ("section" in b) {
      const shb = new Uint8Array(16);
      const v = new DataView(shb.buffer);
      v.setUint32(0, 0x1a2b3c4d, le);
      v.setUint16(4, 1, le);
      v.setUint16(6, 0, le);
      v.setInt32(8, -1, le);
      v.setInt32(12, -1, le);
      block(0x0a0d0d0a, shb);
      for (const i of b.section) {
        const options: number[][] = [];
        const opt = (code: number, value: Uint8Array) => {
          const o = new Uint8Array(4 + ((value.length + 3) & ~3));
          const ov = new DataView(o.buffer);
          ov.setUint16(0, code, le);
          ov.setUint16(2, value.length, le);
          o.set(value, 4);
          options.push([...o]);
        };
        if (i.tsresol !== undefined) opt(9, new Uint8Array([i.tsresol]));
        if (i.tsoffset !== undefined) {
          const value = new Uint8Array(8);
          new DataView(value.buffer).setBigInt64(0, BigInt(i.tsoffset), le);
          opt(14, value);
        }
        if (options.length) options.push([0, 0, 0, 0]);
        const body = new Uint8Array(8 + options.flat().length);
        const bv = new DataView(body.buffer);
        bv.setUint16(0, i.linkType, le);
        bv.setUint32(4, i.snapLength ?? 262144, le);
        body.set(options.flat(), 8);
        block(1, body);
      }
    } else if ("iface" in b || "obsolete" in b) {
      const data = b.data;
      const body = new Uint8Array(20 + data.length);
      const v = new DataView(body.buffer);
      if ("iface" in b) v.setUint32(0, b.iface, le);
      else v.setUint16(0, b.obsolete, le);
      v.setUint32(4, Number(b.ts >> 32n), le);
      v.setUint32(8, Number(b.ts & 0xffffffffn), le);
      v.setUint32(12, data.length, le);
      v.setUint32(16, ("originalLength" in b ? b.originalLength : undefined) ?? data.length, le);
      body.set(data, 20);
      block("iface" in b ? 6 : 2, body);
    } else if ("simple" in b) {
      const body = new Uint8Array(4 + b.simple.length);
      new DataView(body.buffer).setUint32(0, b.originalLength ?? b.simple.length, le);
      body.set(b.simple, 4);
      block(3, body);
    } else {
      block(b.other, new Uint8Array(b.bodyLength));
    }
  }
  return concat(...parts);
}

/**
 * The connections of packets built in a test: each packet written as a raw
 * IP datagram (its addresses, ports, flags, numbers, window, header length
 * and a zero payload of its length) into a pcap, read by readConnections.
 */
export function connectionsOf(packets: TcpPacket[]): Connection[] {
  const records = packets.map((p) => {
    const headerLength = p.headerLength ?? 20;
    const tcp = new Uint8Array(Math.max(20, headerLength) + p.payloadLength);
    const view = new DataView(tcp.buffer);
    view.setUint16(0, p.srcPort);
    view.setUint16(2, p.dstPort);
    view.setUint32(4, p.seq >>> 0);
    view.setUint32(8, p.ack >>> 0);
    tcp[12] = (headerLength / 4) << 4;
    tcp[13] = p.flags;
    view.setUint16(14, p.window);
    const src = parseAddress(p.src)!, dst = parseAddress(p.dst)!;
    let ip: Uint8Array;
    if (p.ipVersion === 4) {
      ip = new Uint8Array(20);
      const id = p.ipId ?? 1;
      ip.set([
        0x45,
        0,
        (20 + tcp.length) >> 8,
        (20 + tcp.length) & 255,
        id >> 8,
        id & 255,
        0x40,
        0,
        p.ttl ?? 64,
        6,
        0,
        0,
      ]);
      ip.set(src, 12);
      ip.set(dst, 16);
    } else {
      ip = new Uint8Array(40);
      ip.set([0x60, 0, 0, 0, tcp.length >> 8, tcp.length & 255, 6, 64]);
      ip.set(src, 8);
      ip.set(dst, 24);
    }
    const ns = p.timeNs;
    return {
      seconds: Number(ns / 1_000_000_000n),
      subsecond: Number(ns % 1_000_000_000n),
      data: concat(ip, tcp),
    };
  });
  return readConnections(buildPcap(101, records, { nanosecond: true }), "test.pcap").connections;
}
