/**
 * The ICMP errors that quote a TCP header, written once: each type and
 * code's name, the error Linux gives the socket for it, and whether it
 * ends a connection attempt. The decoder (tcp_decoder.ts) finds them, the
 * connection tracker attaches them to the connection they quote, and the
 * teardown (teardown.ts) and the reports name them with these words.
 *
 * From the kernel's source: `tcp_v4_err()` (net/ipv4/tcp_ipv4.c) maps
 * destination unreachable through `icmp_err_convert[]` (net/ipv4/icmp.c)
 * and time exceeded to EHOSTUNREACH; "fragmentation needed" only lowers
 * the path MTU; in SYN_SENT or SYN_RECV any other of these ends the socket
 * at once (`tcp_done_with_error()`) unless the program holds its lock at
 * that moment; in ESTABLISHED it is only a soft error. `tcp_v6_err()`
 * (net/ipv6/tcp_ipv6.c) does the same through `icmpv6_err_convert()`
 * (net/ipv6/icmp.c). docs/kernel-notes.md has the details.
 *
 * @module
 */

/** One ICMP error that quoted a TCP header, decoded (see `decodeIcmpError` in tcp_decoder.ts). */
export interface IcmpErrorPacket {
  /** 1-based position of the record in its capture. */
  index: number;
  /** Capture time, nanoseconds since the Unix epoch. */
  timeNs: bigint;
  /** 4 for ICMPv4, 6 for ICMPv6. */
  ipVersion: 4 | 6;
  /** The ICMP type (ICMPv4 3 or 11; ICMPv6 1 or 3) and code. */
  type: number;
  code: number;
  /** Its sender (the IP source address): the host that reports the error. */
  from: string;
  /** Its destination: the sender of the quoted packet. */
  to: string;
  /** The quoted TCP packet: a packet the connection sent. */
  quoted: {
    src: string;
    dst: string;
    srcPort: number;
    dstPort: number;
    /** Its raw sequence number. */
    seq: number;
    /** Its flags byte, or null when the quote stops before it. */
    flags: number | null;
  };
}

/** Destination unreachable's codes, ICMPv4 (RFC 792, RFC 1812), with the errno of `icmp_err_convert[]`. */
const _UNREACHABLE_V4: ReadonlyArray<readonly [string, string]> = [
  ["net unreachable", "ENETUNREACH"],
  ["host unreachable", "EHOSTUNREACH"],
  ["protocol unreachable", "ENOPROTOOPT"],
  ["port unreachable", "ECONNREFUSED"],
  ["fragmentation needed", "EMSGSIZE"],
  ["source route failed", "EOPNOTSUPP"],
  ["net unknown", "ENETUNREACH"],
  ["host unknown", "EHOSTDOWN"],
  ["source host isolated", "ENONET"],
  ["net administratively prohibited", "ENETUNREACH"],
  ["host administratively prohibited", "EHOSTUNREACH"],
  ["net unreachable for TOS", "ENETUNREACH"],
  ["host unreachable for TOS", "EHOSTUNREACH"],
  ["communication administratively prohibited", "EHOSTUNREACH"],
  ["host precedence violation", "EHOSTUNREACH"],
  ["precedence cutoff in effect", "EHOSTUNREACH"],
];

/** Destination unreachable's codes, ICMPv6 (RFC 4443), with the errno of `icmpv6_err_convert()`. */
const _UNREACHABLE_V6: ReadonlyArray<readonly [string, string]> = [
  ["no route to destination", "ENETUNREACH"],
  ["communication administratively prohibited", "EACCES"],
  ["beyond scope of source address", "EHOSTUNREACH"],
  ["address unreachable", "EHOSTUNREACH"],
  ["port unreachable", "ECONNREFUSED"],
  ["source address failed ingress/egress policy", "EACCES"],
  ["reject route to destination", "EACCES"],
];

/**
 * What an ICMP error means for TCP: its name as the reports write it
 * ("ICMP destination unreachable (host unreachable)") and in short, as a
 * packet line does ("ICMP host unreachable"), the error the socket gets
 * (null when the kernel does not treat it as an error: fragmentation
 * needed only lowers the path MTU, an unknown code is ignored), and
 * whether it ends a connection in SYN_SENT or SYN_RECV.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { icmpErrorMeaning } from "./icmp_errors.ts";
 * assert.deepEqual(icmpErrorMeaning(4, 3, 1), {
 *   name: "ICMP destination unreachable (host unreachable)",
 *   short: "ICMP host unreachable",
 *   errno: "EHOSTUNREACH",
 *   endsAttempt: true,
 * });
 * assert.equal(icmpErrorMeaning(4, 3, 4).endsAttempt, false);
 * assert.equal(icmpErrorMeaning(6, 3, 0).name, "ICMPv6 time exceeded (hop limit exceeded in transit)");
 * ```
 */
export function icmpErrorMeaning(
  ipVersion: 4 | 6,
  type: number,
  code: number,
): { name: string; short: string; errno: string | null; endsAttempt: boolean } {
  const v4 = ipVersion === 4;
  const prefix = v4 ? "ICMP" : "ICMPv6";
  if (v4 ? type === 11 : type === 3) {
    const what = code === 0
      ? `${v4 ? "TTL" : "hop limit"} exceeded in transit`
      : code === 1
      ? "fragment reassembly time exceeded"
      : `code ${code}`;
    return {
      name: `${prefix} time exceeded (${what})`,
      short: `${prefix} time exceeded`,
      errno: "EHOSTUNREACH",
      endsAttempt: true,
    };
  }
  if (v4 ? type === 3 : type === 1) {
    const row = (v4 ? _UNREACHABLE_V4 : _UNREACHABLE_V6)[code];
    const what = row?.[0] ?? `code ${code}`;
    const name = `${prefix} destination unreachable (${what})`;
    const short = row === undefined ? `${prefix} unreachable, ${what}` : `${prefix} ${what}`;
    // tcp_v4_err() ignores an unknown code; icmpv6_err_convert() gives it EPROTO.
    if (row === undefined) return { name, short, errno: v4 ? null : "EPROTO", endsAttempt: !v4 };
    if (v4 && code === 4) return { name, short, errno: null, endsAttempt: false };
    return { name, short, errno: row[1], endsAttempt: true };
  }
  const name = `${prefix} type ${type} code ${code}`;
  return { name, short: name, errno: null, endsAttempt: false };
}
