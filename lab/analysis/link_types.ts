/**
 * The link layers the lab reads, in one table: each pcap LINKTYPE_ number
 * with its name and how to reach the IP header behind it. Every decoder
 * and every report reads this table; a new link type is one row here (and
 * a fixture).
 *
 * @module
 */

/** Link type numbers the lab reads (pcap LINKTYPE_* values). */
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

/** How the IP header is found behind a link-layer header. */
export type LinkFraming =
  /** An ethertype at `ethertypeAt`, then (after any 802.1Q/802.1ad tags) the IP header at `headerBytes`. */
  | "ethertype"
  /** A 4-byte address family in the capturing host's byte order (BSD null). */
  | "family-host-order"
  /** A 4-byte address family in network byte order (OpenBSD loop). */
  | "family-network-order"
  /** The IP header at once; its version nibble says 4 or 6. */
  | "ip";

/** One link layer: its name and where the IP header starts. */
export interface LinkLayer {
  /** The name reports give it ("Ethernet", "Linux cooked v2"...). */
  name: string;
  /** How the IP header is found. */
  framing: LinkFraming;
  /** Bytes of the link-layer header before the IP header (before any VLAN tags). */
  headerBytes: number;
  /** Where the ethertype is, for "ethertype" framing (-1 otherwise). */
  ethertypeAt: number;
}

/** Every link layer the lab reads, by link type. */
export const LINK_LAYERS: ReadonlyMap<number, LinkLayer> = new Map<number, LinkLayer>([
  [LinkType.NULL, { name: "BSD loopback", framing: "family-host-order", headerBytes: 4, ethertypeAt: -1 }],
  [LinkType.ETHERNET, { name: "Ethernet", framing: "ethertype", headerBytes: 14, ethertypeAt: 12 }],
  [LinkType.RAW_12, { name: "raw IP", framing: "ip", headerBytes: 0, ethertypeAt: -1 }],
  [LinkType.RAW_14, { name: "raw IP", framing: "ip", headerBytes: 0, ethertypeAt: -1 }],
  [LinkType.RAW, { name: "raw IP", framing: "ip", headerBytes: 0, ethertypeAt: -1 }],
  [LinkType.LOOP, {
    name: "OpenBSD loopback",
    framing: "family-network-order",
    headerBytes: 4,
    ethertypeAt: -1,
  }],
  [LinkType.LINUX_SLL, { name: "Linux cooked v1", framing: "ethertype", headerBytes: 16, ethertypeAt: 14 }],
  [LinkType.IPV4, { name: "raw IPv4", framing: "ip", headerBytes: 0, ethertypeAt: -1 }],
  [LinkType.IPV6, { name: "raw IPv6", framing: "ip", headerBytes: 0, ethertypeAt: -1 }],
  [LinkType.LINUX_SLL2, { name: "Linux cooked v2", framing: "ethertype", headerBytes: 20, ethertypeAt: 0 }],
]);

/**
 * The name of a link type, as reports print it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { linkTypeName } from "./link_types.ts";
 * assert.equal(linkTypeName(276), "Linux cooked v2");
 * assert.equal(linkTypeName(147), "link type 147");
 * ```
 */
export function linkTypeName(linkType: number): string {
  return LINK_LAYERS.get(linkType)?.name ?? `link type ${linkType}`;
}
