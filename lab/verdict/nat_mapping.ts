/**
 * A NAT on the path, undone for the analysis: with `path.nat`, the server's
 * capture shows the middlebox's address (and the port it chose) in the
 * client's place. The middlebox's own capture sees each of the client's
 * SYNs twice on its one interface, before and after the rewrite, with the
 * same sequence number: that pairs each NAT port with the client's port.
 * Pure: packets in, a translation out. The packets it returns are copies
 * with the client's address; their tcpdump lines stay the capture's own.
 *
 * @module
 */

import { TCP_ACK, TCP_SYN, type TcpPacket } from "../analysis/types.ts";
import type { Side } from "../scenario/types.ts";

/** The NAT's rewrites: the middlebox's "address:port" -> the client's. */
export interface NatMapping {
  /** The middlebox's address, which the server sees in the client's place. */
  natAddress: string;
  /** The client's address. */
  clientAddress: string;
  /** NAT port -> the client's port, from the middlebox's capture (a port not here is kept). */
  ports: Map<number, number>;
}

/**
 * Pair each NAT port with the client's port from the middlebox's capture:
 * a SYN from the client to the server and a SYN from the middlebox to the
 * server with the same sequence number are one SYN before and after the
 * rewrite.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const syn = (src: string, srcPort: number) =>
 *   ({ src, srcPort, dst: "10.0.0.2", dstPort: 9999, flags: 0x02, seq: 7 }) as import("../analysis/types.ts").TcpPacket;
 * const nat = natMapping([syn("10.0.0.3", 5000), syn("10.0.0.4", 6000)], { client: "10.0.0.3", server: "10.0.0.2" }, "10.0.0.4");
 * assert.equal(nat.ports.get(6000), 5000);
 * ```
 */
export function natMapping(
  middleboxPackets: readonly TcpPacket[],
  addresses: Record<Side, string>,
  natAddress: string,
): NatMapping {
  const isSyn = (p: TcpPacket) => (p.flags & (TCP_SYN | TCP_ACK)) === TCP_SYN && p.dst === addresses.server;
  const before = middleboxPackets.filter((p) => isSyn(p) && p.src === addresses.client);
  const ports = new Map<number, number>();
  for (const after of middleboxPackets.filter((p) => isSyn(p) && p.src === natAddress)) {
    const original = before.find((p) => p.seq === after.seq && p.dstPort === after.dstPort);
    if (original) ports.set(after.srcPort, original.srcPort);
  }
  return { natAddress, clientAddress: addresses.client, ports };
}

/**
 * A packet as the client's side of the NAT would show it: the NAT's address
 * and port replaced by the client's; any other packet is returned as it is.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const nat = { natAddress: "10.0.0.4", clientAddress: "10.0.0.3", ports: new Map([[6000, 5000]]) };
 * const p = { src: "10.0.0.2", srcPort: 9999, dst: "10.0.0.4", dstPort: 6000 } as import("../analysis/types.ts").TcpPacket;
 * assert.deepEqual(
 *   [untranslated(p, nat).dst, untranslated(p, nat).dstPort],
 *   ["10.0.0.3", 5000],
 * );
 * ```
 */
export function untranslated(p: TcpPacket, nat: NatMapping): TcpPacket {
  if (p.src !== nat.natAddress && p.dst !== nat.natAddress) return p;
  const copy = { ...p };
  if (p.src === nat.natAddress) {
    copy.src = nat.clientAddress;
    copy.srcPort = nat.ports.get(p.srcPort) ?? p.srcPort;
  }
  if (p.dst === nat.natAddress) {
    copy.dst = nat.clientAddress;
    copy.dstPort = nat.ports.get(p.dstPort) ?? p.dstPort;
  }
  return copy;
}
