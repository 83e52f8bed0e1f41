/**
 * The ICMP errors that quote a TCP header, written once: each type and
 * code's name, the error Linux gives the socket for it, and whether it
 * ends a connection attempt. The decoder (tcp_decoder.ts) finds them, the
 * connection tracker attaches them to the connection they quote, and the
 * teardown (teardown.ts) and the reports name them with these words.
 *
 * From the kernel's source: `tcp_v4_err()` (net/ipv4/tcp_ipv4.c) maps
 * destination unreachable through `icmp_err_convert[]` (net/ipv4/icmp.c),
 * time exceeded to EHOSTUNREACH and parameter problem to EPROTO;
 * "fragmentation needed" only lowers the path MTU; in SYN_SENT any other
 * of these ends the socket at once (`tcp_done_with_error()`) unless the
 * program holds its lock at that moment; in ESTABLISHED it is only a soft
 * error. `tcp_v6_err()` (net/ipv6/tcp_ipv6.c) does the same through
 * `icmpv6_err_convert()` (net/ipv6/icmp.c). A listener's request socket
 * (SYN_RECV on the wire) is another matter (`tcp_req_err()`): what it
 * does is not decided here. docs/kernel-notes.md has the details.
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
  /** The ICMP type (ICMPv4 3, 11 or 12; ICMPv6 1, 3 or 4). */
  type: number;
  /** The ICMP code. */
  code: number;
  /** Its sender (the IP source address): the host that reports the error. */
  from: string;
  /** Its destination: the sender of the quoted packet. */
  to: string;
  /** Whether its sender is the quoted packet's destination (the peer itself), not a host between. */
  fromDestination: boolean;
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

/** Parameter problem's codes: ICMPv4 (RFC 792, RFC 1108), ICMPv6 (RFC 4443). */
const _PARAMETER_PROBLEM_V4 = ["pointer indicates the error", "missing a required option", "bad length"];
const _PARAMETER_PROBLEM_V6 = [
  "erroneous header field encountered",
  "unrecognized Next Header type encountered",
  "unrecognized IPv6 option encountered",
];

/**
 * What an ICMP error means for TCP: its name as the reports write it
 * ("ICMP destination unreachable (host unreachable)") and in short, as a
 * packet line does ("ICMP host unreachable"), the error the socket gets
 * (null when the kernel does not treat it as an error: fragmentation
 * needed only lowers the path MTU, an unknown code is ignored), whether it
 * ends a connection attempt in SYN_SENT, and the kernel's counter of such
 * messages received (`Icmp.*` of /proc/net/snmp as the lab names them,
 * `Icmp6In*` as /proc/net/snmp6 does), or null for a type the decoder
 * does not pass on.
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
 *   counter: "Icmp.InDestUnreachs",
 * });
 * assert.equal(icmpErrorMeaning(4, 3, 4).endsAttempt, false);
 * assert.equal(icmpErrorMeaning(6, 3, 0).name, "ICMPv6 time exceeded (hop limit exceeded in transit)");
 * assert.equal(icmpErrorMeaning(6, 3, 0).counter, "Icmp6InTimeExcds");
 * assert.equal(icmpErrorMeaning(4, 12, 0).errno, "EPROTO");
 * assert.equal(icmpErrorMeaning(6, 4, 1).name, "ICMPv6 parameter problem (unrecognized Next Header type encountered)");
 * ```
 */
export function icmpErrorMeaning(
  ipVersion: 4 | 6,
  type: number,
  code: number,
): { name: string; short: string; errno: string | null; endsAttempt: boolean; counter: string | null } {
  const v4 = ipVersion === 4;
  const prefix = v4 ? "ICMP" : "ICMPv6";
  const counter = (v4Name: string, v6Name: string) => v4 ? `Icmp.In${v4Name}` : `Icmp6In${v6Name}`;
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
      counter: counter("TimeExcds", "TimeExcds"),
    };
  }
  if (v4 ? type === 12 : type === 4) {
    const what = (v4 ? _PARAMETER_PROBLEM_V4 : _PARAMETER_PROBLEM_V6)[code] ?? `code ${code}`;
    return {
      name: `${prefix} parameter problem (${what})`,
      short: `${prefix} parameter problem`,
      errno: "EPROTO",
      endsAttempt: true,
      counter: counter("ParmProbs", "ParmProblems"),
    };
  }
  if (v4 ? type === 3 : type === 1) {
    const row = (v4 ? _UNREACHABLE_V4 : _UNREACHABLE_V6)[code];
    const what = row?.[0] ?? `code ${code}`;
    const name = `${prefix} destination unreachable (${what})`;
    const short = row === undefined ? `${prefix} unreachable, ${what}` : `${prefix} ${what}`;
    const unreachable = counter("DestUnreachs", "DestUnreachs");
    // tcp_v4_err() ignores an unknown code; icmpv6_err_convert() gives it EPROTO.
    if (row === undefined) {
      return { name, short, errno: v4 ? null : "EPROTO", endsAttempt: !v4, counter: unreachable };
    }
    if (v4 && code === 4) return { name, short, errno: null, endsAttempt: false, counter: unreachable };
    return { name, short, errno: row[1], endsAttempt: true, counter: unreachable };
  }
  const name = `${prefix} type ${type} code ${code}`;
  return { name, short: name, errno: null, endsAttempt: false, counter: null };
}
