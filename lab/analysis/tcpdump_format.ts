/**
 * Print TCP packets the way `tcpdump -nn -r FILE` (tcpdump 4.99) prints
 * them, after the timestamp: flags, relative sequence numbers, window,
 * options and length, with tcpdump's per-conversation state.
 *
 * The relative numbering follows print-tcp.c: a packet without the ACK
 * bit shows raw numbers and leaves the state alone; the first ACK-bearing
 * packet of a conversation, and any SYN-ACK, records the base numbers and
 * shows raw numbers; later ACK-bearing packets show numbers relative to the
 * base. Conversations are keyed by addresses and ports in a fixed order, so
 * both directions share one entry.
 *
 * Not reproduced: the application-layer dissectors tcpdump runs on
 * well-known ports (see {@link TCPDUMP_DISSECTOR_PORTS}), the MPTCP and
 * TCP-MD5 option details, and the details tcpdump prints for IPv6 routing,
 * AH and mobility headers (hop-by-hop, destination options and fragment
 * headers are reproduced).
 *
 * @module
 */

import { LinkType } from "./link_types.ts";
import { tcpOptionName } from "./tcp_decoder.ts";
import {
  TCP_ACK,
  TCP_CWR,
  TCP_ECE,
  TCP_FIN,
  TCP_PSH,
  TCP_RST,
  TCP_SYN,
  TCP_URG,
  type TcpOption,
  type TcpPacket,
} from "./types.ts";

/**
 * Ports on which tcpdump 4.99 decodes the payload further (telnet, SMTP,
 * whois, BGP, PPTP, Redis, SSH, BEEP, OpenFlow, FTP, HTTP, RTSP, DNS, MSDP,
 * RPKI-RTR, LDP, NFS). For a data packet to or from one of them, tcpdump's
 * line goes on after `length N`; this formatter stops there.
 */
export const TCPDUMP_DISSECTOR_PORTS: ReadonlySet<number> = new Set([
  23,
  25,
  43,
  179,
  1723,
  6379,
  22,
  10288,
  6633,
  6653,
  21,
  80,
  8080,
  554,
  8554,
  53,
  639,
  323,
  646,
  2049,
]);

/** tcpdump's per-conversation base numbers, keyed by the ordered four-tuple. */
export interface TcpdumpState {
  /** Base sequence numbers (`seq` of the lower endpoint, `ack` of the other) per conversation. */
  conversations: Map<string, { seq: number; ack: number }>;
}

/** Options for {@link formatTcpdump}. */
export interface TcpdumpFormatOptions {
  /**
   * The interface name for a Linux cooked v2 (SLL2) interface index, as
   * tcpdump looks it up on the machine that reads the file. Without it,
   * tcpdump's fallback "?" is printed.
   */
  interfaceName?: (index: number) => string | undefined;
}

/** A fresh, empty {@link TcpdumpState}: one per file, like one tcpdump run. */
export function createTcpdumpState(): TcpdumpState {
  return { conversations: new Map() };
}

/**
 * Format one packet as tcpdump -nn prints it after the timestamp, updating
 * `state` the way tcpdump does. Format a file's packets in order, with one
 * state, to get tcpdump's relative numbers.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createTcpdumpState, formatTcpdump } from "./tcpdump_format.ts";
 * const state = createTcpdumpState();
 * const base = {
 *   index: 1, timeNs: 0n, ipVersion: 4 as const, src: "10.0.0.1", dst: "10.0.0.2",
 *   srcPort: 40000, dstPort: 9999, window: 502, payloadLength: 0, options: [],
 *   payload: new Uint8Array(), checksumOk: null,
 * };
 * assert.equal(
 *   formatTcpdump({ ...base, flags: 0x02, seq: 1000, ack: 0 }, state),
 *   "IP 10.0.0.1.40000 > 10.0.0.2.9999: Flags [S], seq 1000, win 502, length 0",
 * );
 * formatTcpdump({ ...base, src: "10.0.0.2", dst: "10.0.0.1", srcPort: 9999,
 *   dstPort: 40000, flags: 0x12, seq: 5000, ack: 1001 }, state);
 * assert.equal(
 *   formatTcpdump({ ...base, flags: 0x14, seq: 1001, ack: 5001 }, state),
 *   "IP 10.0.0.1.40000 > 10.0.0.2.9999: Flags [R.], seq 1, ack 1, win 502, length 0",
 * );
 * ```
 */
export function formatTcpdump(
  packet: TcpPacket,
  state: TcpdumpState,
  options: TcpdumpFormatOptions = {},
): string {
  const out: string[] = [_linkPrefix(packet, options)];
  out.push(packet.ipVersion === 4 ? "IP " : "IP6 ");
  const hlen = packet.headerLength ?? 20 + _optionsLength(packet.options);
  const length = packet.tcpLength ?? hlen + packet.payloadLength;
  const extensions = packet.ipv6Extensions ?? [];
  if (extensions.length > 0) {
    // ip6_print names each extension header, then tcp_print shows ports only.
    out.push(`${packet.src} > ${packet.dst}: `);
    extensions.forEach((extension, i) => {
      const after = extensions.slice(i + 1).reduce((n, e) => n + e.length, 0) + length;
      out.push(_ipv6ExtensionText(extension, after));
    });
    out.push(`${packet.srcPort} > ${packet.dstPort}: `);
  } else {
    out.push(
      `${packet.src}.${packet.srcPort} > ${packet.dst}.${packet.dstPort}: `,
    );
  }
  if (hlen < 20) {
    out.push(` tcp ${length - hlen} [bad hdr length ${hlen} - too short, < 20]`);
    return out.join("");
  }
  const flags = packet.flags;
  out.push(`Flags [${tcpdumpFlags(flags)}]`);

  let seq = packet.seq;
  let ack = packet.ack;
  let rev = false;
  let base = { seq: 0, ack: 0 };
  if (flags & TCP_ACK) {
    rev = packet.srcPort > packet.dstPort ||
      (packet.srcPort === packet.dstPort &&
        _compareAddresses(packet.src, packet.dst) > 0);
    const key = rev
      ? `${packet.ipVersion}|${packet.dst}|${packet.src}|${packet.dstPort}|${packet.srcPort}`
      : `${packet.ipVersion}|${packet.src}|${packet.dst}|${packet.srcPort}|${packet.dstPort}`;
    const found = state.conversations.get(key);
    if (found === undefined || flags & TCP_SYN) {
      base = rev ? { ack: seq, seq: (ack - 1) >>> 0 } : { seq, ack: (ack - 1) >>> 0 };
      state.conversations.set(key, base);
    } else {
      base = found;
      if (rev) {
        seq = (seq - found.ack) >>> 0;
        ack = (ack - found.seq) >>> 0;
      } else {
        seq = (seq - found.seq) >>> 0;
        ack = (ack - found.ack) >>> 0;
      }
    }
  }
  if (hlen > length) {
    out.push(` [bad hdr length ${hlen} - too long, > ${length}]`);
    return out.join("");
  }
  const payload = length - hlen;
  if (payload > 0 || flags & (TCP_SYN | TCP_FIN | TCP_RST)) {
    out.push(`, seq ${seq}`);
    if (payload > 0) out.push(`:${(seq + payload) >>> 0}`);
  }
  if (flags & TCP_ACK) out.push(`, ack ${ack}`);
  out.push(`, win ${packet.window}`);
  if (flags & TCP_URG) out.push(`, urg ${packet.urgentPointer ?? 0}`);
  if (hlen > 20) {
    const sackBase = rev ? base.seq : base.ack;
    const printed = packet.tcpHeader !== undefined
      ? _printOptions(packet.tcpHeader, hlen, sackBase)
      : { text: _printOptionList(packet.options, sackBase), complete: true };
    out.push(printed.text);
    if (!printed.complete) return out.join("");
  }
  out.push(`, length ${payload}`);
  return out.join("");
}

/**
 * Formats a whole capture like one tcpdump run: it keeps the state between
 * packets.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { TcpdumpFormatter } from "./tcpdump_format.ts";
 * const formatter = new TcpdumpFormatter();
 * const line = formatter.format({
 *   index: 1, timeNs: 0n, ipVersion: 6, src: "::1", dst: "::1", srcPort: 1,
 *   dstPort: 2, flags: 0x02, seq: 7, ack: 0, window: 100, payloadLength: 0,
 *   options: [{ kind: "mss", value: 1440 }], payload: new Uint8Array(), checksumOk: null,
 * });
 * assert.equal(line, "IP6 ::1.1 > ::1.2: Flags [S], seq 7, win 100, options [mss 1440], length 0");
 * ```
 */
export class TcpdumpFormatter {
  /** The conversation state shared by every packet formatted so far. */
  readonly state: TcpdumpState = createTcpdumpState();
  readonly #options: TcpdumpFormatOptions;

  /** A formatter with an empty state. */
  constructor(options: TcpdumpFormatOptions = {}) {
    this.#options = options;
  }

  /** The next packet's line, after the timestamp. */
  format(packet: TcpPacket): string {
    return formatTcpdump(packet, this.state, this.#options);
  }
}

/**
 * tcpdump's flag letters in its order (F S R P . U E W), or "none".
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tcpdumpFlags } from "./tcpdump_format.ts";
 * assert.equal(tcpdumpFlags(0x19), "FP.");
 * assert.equal(tcpdumpFlags(0), "none");
 * ```
 */
export function tcpdumpFlags(flags: number): string {
  let text = "";
  for (const [bit, letter] of _FLAG_LETTERS) if (flags & bit) text += letter;
  return text === "" ? "none" : text;
}

const _FLAG_LETTERS: Array<[number, string]> = [
  [TCP_FIN, "F"],
  [TCP_SYN, "S"],
  [TCP_RST, "R"],
  [TCP_PSH, "P"],
  [TCP_ACK, "."],
  [TCP_URG, "U"],
  [TCP_ECE, "E"],
  [TCP_CWR, "W"],
];

/** Timestamp precision: tcpdump prints microseconds unless told `--time-stamp-precision=nano`. */
export type TimestampPrecision = "micro" | "nano";

/**
 * A capture time as tcpdump's default time-of-day column, in UTC:
 * `HH:MM:SS.ffffff` (or 9 fraction digits for nanoseconds). tcpdump
 * truncates, it does not round.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatTimestamp } from "./tcpdump_format.ts";
 * const t = 1_700_000_000_123_456_789n;
 * assert.equal(formatTimestamp(t), "22:13:20.123456");
 * assert.equal(formatTimestamp(t, "nano"), "22:13:20.123456789");
 * ```
 */
export function formatTimestamp(
  timeNs: bigint,
  precision: TimestampPrecision = "micro",
): string {
  const seconds = timeNs / 1_000_000_000n;
  const fraction = timeNs % 1_000_000_000n;
  const ofDay = Number(seconds % 86_400n);
  const hh = String(Math.floor(ofDay / 3600)).padStart(2, "0");
  const mm = String(Math.floor(ofDay / 60) % 60).padStart(2, "0");
  const ss = String(ofDay % 60).padStart(2, "0");
  return `${hh}:${mm}:${ss}.${_fraction(fraction, precision)}`;
}

/**
 * A time relative to a base as `+S.ffffff` (or `-S.ffffff` before it),
 * for reports that show time since the first packet.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatRelativeTime } from "./tcpdump_format.ts";
 * assert.equal(formatRelativeTime(1_000_123_000n, 1_000_000_000n), "+0.000123");
 * assert.equal(formatRelativeTime(2_500_000_001n, 0n, "nano"), "+2.500000001");
 * ```
 */
export function formatRelativeTime(
  timeNs: bigint,
  baseNs: bigint,
  precision: TimestampPrecision = "micro",
): string {
  let delta = timeNs - baseNs;
  const sign = delta < 0n ? "-" : "+";
  if (delta < 0n) delta = -delta;
  const seconds = delta / 1_000_000_000n;
  return `${sign}${seconds}.${_fraction(delta % 1_000_000_000n, precision)}`;
}

/**
 * A time in milliseconds relative to a connection's first packet as the
 * reports print it before a tcpdump line: `+S.ffffff` (`-` before it),
 * rounded to the microsecond.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatRelativeMs } from "./tcpdump_format.ts";
 * assert.equal(formatRelativeMs(6.888), "+0.006888");
 * assert.equal(formatRelativeMs(-1500), "-1.500000");
 * ```
 */
export function formatRelativeMs(ms: number): string {
  return `${ms < 0 ? "-" : "+"}${(Math.abs(ms) / 1000).toFixed(6)}`;
}

function _fraction(ns: bigint, precision: TimestampPrecision): string {
  return precision === "nano" ? String(ns).padStart(9, "0") : String(ns / 1000n).padStart(6, "0");
}

const _SLL_PACKET_TYPES = new Map<number, string>([
  [0, "In"],
  [1, "B"],
  [2, "M"],
  [3, "P"],
  [4, "Out"],
]);

function _linkPrefix(packet: TcpPacket, options: TcpdumpFormatOptions): string {
  const link = packet.link;
  if (link?.linkType !== LinkType.LINUX_SLL2) return "";
  const index = link.interfaceIndex ?? 0;
  const name = options.interfaceName?.(index) ?? "?";
  const type = _SLL_PACKET_TYPES.get(link.packetType ?? -1) ?? "?";
  return `${name.padEnd(5)} ${type.padEnd(3)} `;
}

/** What tcpdump 4.99 prints (without -v) for an IPv6 extension header. */
function _ipv6ExtensionText(extension: { type: number; fragmentOffset?: number }, after: number): string {
  switch (extension.type) {
    case 0:
      return "HBH ";
    case 60:
      return "DSTOPT ";
    case 44:
      return `frag (${extension.fragmentOffset ?? 0}|${after}) `;
    default:
      // Routing, AH, mobility... print more than their name; not reproduced.
      return `ext-${extension.type} `;
  }
}

function _optionsLength(options: TcpOption[]): number {
  let length = 0;
  for (const option of options) {
    switch (option.kind) {
      case "nop":
      case "eol":
        length += 1;
        break;
      case "mss":
        length += 4;
        break;
      case "wscale":
        length += 3;
        break;
      case "sackOK":
        length += 2;
        break;
      case "TS":
        length += 10;
        break;
      case "sack":
        length += 2 + 8 * (Array.isArray(option.value) ? option.value.length : 0);
        break;
      default:
        length += 2 + (option.data?.length ?? 0);
    }
  }
  return (length + 3) & ~3;
}

/** Options from a decoded list, for packets built without their raw header bytes. */
function _printOptionList(options: TcpOption[], sackBase: number): string {
  const parts = options.map((option) => {
    const value = option.value;
    switch (option.kind) {
      case "mss":
      case "wscale":
        return `${option.kind} ${value}`;
      case "TS": {
        const [val, ecr] = Array.isArray(value) ? value as [number, number] : [0, 0];
        return `TS val ${val} ecr ${ecr}`;
      }
      case "sack": {
        const blocks = Array.isArray(value) ? value as Array<[number, number]> : [];
        const text = blocks.map(([s, e]) => `{${(s - sackBase) >>> 0}:${(e - sackBase) >>> 0}}`).join("");
        return `sack ${blocks.length} ${text}`;
      }
      default: {
        const data = option.data ?? new Uint8Array();
        return data.length > 0 ? `${option.kind} 0x${_hex(data)}` : option.kind;
      }
    }
  });
  return `, options [${parts.join(",")}]`;
}

/**
 * Options from the raw header, following print-tcp.c step by step,
 * including its "[bad opt]", "[len N]" and truncation outputs.
 */
function _printOptions(
  header: Uint8Array,
  hlen: number,
  sackBase: number,
): { text: string; complete: boolean } {
  let text = ", options [";
  let left = hlen - 20;
  let cp = 20;
  let ch = "";
  const captured = header.length;
  const u16 = (at: number) => (header[at]! << 8) | header[at + 1]!;
  const u32 = (at: number) => ((u16(at) << 16) | u16(at + 2)) >>> 0;
  const bad = () => ({ text: text + "[bad opt]" + (ch ? "]" : ""), complete: false });
  // A failed bounds check ends with ">" after the first option; a failed read does not.
  const trunc = () => ({ text: text + " [|tcp]" + (ch ? ">" : ""), complete: false });
  const unreadable = () => ({ text: text + " [|tcp]", complete: false });
  // tcpdump's LENCHECK: "bad" if the option claims more than the header has, "trunc" if not captured.
  const check = (n: number): "bad" | "trunc" | null => n > left ? "bad" : cp + n > captured ? "trunc" : null;

  while (left > 0) {
    text += ch;
    if (cp >= captured) return unreadable();
    const opt = header[cp++]!;
    let len: number;
    const zeroLength = opt === 0 || opt === 1;
    if (zeroLength) len = 1;
    else {
      if (cp >= captured) return unreadable();
      len = header[cp++]!;
      if (len < 2 || len > left) return bad();
      left--;
    }
    left--;
    let datalen = 0;
    text += tcpOptionName(opt);
    let problem: "bad" | "trunc" | null = null;
    switch (opt) {
      case 2: // mss
        datalen = 2;
        if ((problem = check(2))) break;
        text += ` ${u16(cp)}`;
        break;
      case 3: // wscale
        datalen = 1;
        if ((problem = check(1))) break;
        text += ` ${header[cp]}`;
        break;
      case 5: // sack
        datalen = len - 2;
        if (datalen % 8 !== 0) text += " invalid sack";
        else {
          text += ` ${datalen / 8} `;
          for (let i = 0; i < datalen; i += 8) {
            if ((problem = check(i + 4)) || (problem = check(i + 8))) break;
            const s = (u32(cp + i) - sackBase) >>> 0;
            const e = (u32(cp + i + 4) - sackBase) >>> 0;
            text += `{${s}:${e}}`;
          }
        }
        break;
      case 6: // echo
      case 7: // echoreply
      case 11: // cc
      case 12: // ccnew
      case 13: // ccecho
        datalen = 4;
        if ((problem = check(4))) break;
        text += ` ${u32(cp)}`;
        break;
      case 8: // timestamps
        datalen = 8;
        if ((problem = check(8))) break;
        text += ` val ${u32(cp)} ecr ${u32(cp + 4)}`;
        break;
      case 19: // md5 signature, no secret given (-M)
        datalen = 16;
        if ((problem = check(16))) break;
        text += ` shared secret not supplied with -M, can't check - ${_hex(header.subarray(cp, cp + 16))}`;
        break;
      case 20: // scps
        datalen = 2;
        if ((problem = check(2))) break;
        text += ` cap ${_hex(header.subarray(cp, cp + 1))} id ${header[cp + 1]}`;
        break;
      case 29: // tcp-ao
        datalen = len - 2;
        if (datalen < 2) text += " (invalid)";
        else {
          if ((problem = check(2))) break;
          text += ` keyid ${header[cp]} rnextkeyid ${header[cp + 1]}`;
          if (datalen > 2) {
            if ((problem = check(datalen))) break;
            text += ` mac 0x${_hex(header.subarray(cp + 2, cp + datalen))}`;
          }
        }
        break;
      case 0:
      case 1:
      case 4:
        break;
      case 28: { // uto
        datalen = 2;
        if ((problem = check(2))) break;
        let uto = u16(cp);
        text += ` 0x${uto.toString(16)}`;
        uto = uto & 1 ? (uto >> 1) * 60 : uto >> 1;
        text += ` ${uto}`;
        break;
      }
      case 34: // tfo
        datalen = len - 2;
        if ((problem = check(datalen))) break;
        text += " " + _fastOpen(header.subarray(cp, cp + datalen), false);
        break;
      case 254: { // experimental (RFC 6994)
        datalen = len - 2;
        if ((problem = check(datalen))) break;
        if (datalen < 2) return bad();
        const magic = u16(cp);
        text += "-";
        text += magic === 0xf989
          ? _fastOpen(header.subarray(cp + 2, cp + datalen), true)
          : magic.toString(16).padStart(4, "0");
        break;
      }
      default:
        datalen = len - 2;
        if (datalen) text += " 0x";
        for (let i = 0; i < datalen; i++) {
          if ((problem = check(i + 1))) break;
          text += _hex(header.subarray(cp + i, cp + i + 1));
        }
    }
    if (problem === "bad") return bad();
    if (problem === "trunc") return trunc();
    cp += datalen;
    left -= datalen;
    let spec = datalen + 1;
    if (!zeroLength) spec++;
    if (spec !== len) text += `[len ${len}]`;
    ch = ",";
    if (opt === 0) break;
  }
  return { text: text + "]", complete: true };
}

function _fastOpen(data: Uint8Array, experimental: boolean): string {
  let text = experimental ? "tfo" : "";
  if (data.length === 0) text += " cookiereq";
  else if (data.length % 2 !== 0 || data.length < 4 || data.length > 16) {
    text += " (invalid)";
  } else text += ` cookie ${_hex(data)}`;
  return text;
}

function _hex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** memcmp of two addresses of the same family, given as text. */
function _compareAddresses(a: string, b: string): number {
  const x = _addressBytes(a);
  const y = _addressBytes(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] !== y[i]) return x[i]! - y[i]!;
  }
  return 0;
}

function _addressBytes(text: string): number[] {
  if (!text.includes(":")) return text.split(".").map(Number);
  let head = text;
  let tail: number[] = [];
  const lastColon = text.lastIndexOf(":");
  if (text.slice(lastColon + 1).includes(".")) {
    // Embedded IPv4: the last 4 bytes.
    const v4 = text.slice(lastColon + 1).split(".").map(Number);
    tail = [((v4[0] ?? 0) << 8) | (v4[1] ?? 0), ((v4[2] ?? 0) << 8) | (v4[3] ?? 0)];
    head = text.slice(0, lastColon + 1);
    if (head.endsWith(":") && !head.endsWith("::")) head = head.slice(0, -1);
  }
  const [left = "", right] = head.split("::");
  const parse = (s: string) => s === "" ? [] : s.split(":").map((w) => parseInt(w, 16));
  const l = parse(left);
  const r = right === undefined ? [] : parse(right);
  const fill = 8 - l.length - r.length - tail.length;
  const words = [...l, ...new Array<number>(Math.max(0, fill)).fill(0), ...r, ...tail];
  return words.flatMap((w) => [w >> 8, w & 0xff]);
}
