/**
 * Shared helpers for the analysis tests: fixtures, tcpdump, and small pcap
 * files built in memory.
 *
 * @module
 */

import { readPcap } from "../../lab/analysis/pcap.ts";
import { decodeTcp } from "../../lab/analysis/decode.ts";
import type { CaptureRecord, TcpPacket } from "../../lab/analysis/types.ts";

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
  return [...readPcap(fixtureBytes(name), `${name}.pcap`)];
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

/** Interface names by index, as tcpdump resolves them on this machine. */
export function interfaceNames(): (index: number) => string | undefined {
  const names = new Map<number, string>();
  for (const entry of Deno.readDirSync("/sys/class/net")) {
    try {
      const index = Number(Deno.readTextFileSync(`/sys/class/net/${entry.name}/ifindex`).trim());
      names.set(index, entry.name);
    } catch {
      // An interface that went away while listing.
    }
  }
  return (index) => names.get(index);
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
