/**
 * Whether an RST came from a restarted peer's fresh kernel: the peer's first
 * namespace was cut off before it, its capture ends with neither FIN nor
 * RST on the connection, the receiver got the RST after the cut, and the
 * fresh namespace's capture or the kernel's trace shows the fresh kernel
 * answering without a socket. Pure: evidence in, the proof's lines out (or
 * null when the evidence does not show it).
 *
 * @module
 */

import { TCP_FIN, TCP_RST, type TcpPacket } from "../analysis/types.ts";
import type { Counters } from "../evidence/counters.ts";
import type { TraceEvent } from "../evidence/trace.ts";
import type { Side } from "../scenario/types.ts";

/** What {@link peerRestartProof} weighs, for one connection. */
export interface PeerRestartEvidence {
  /** The side whose address the RST carries. */
  resetBy: Side;
  /** The side the run restarted. */
  restarted: Side;
  /** When its first namespace was cut off: ms after the client's start, and real time in ns. */
  cutMs: number;
  cutRealNs: bigint;
  /** The fresh namespace's holder, by name. */
  holder: string;
  /** This connection's packets in the receiver's capture, the first namespace's and the fresh one's. */
  packets: { receiver: TcpPacket[]; first: TcpPacket[]; fresh: TcpPacket[] };
  /** Each side's address. */
  addresses: Record<Side, string>;
  /** Whether the kernel's trace was recorded. */
  traceAvailable: boolean;
  /** tcp_send_reset events from the restarted side's address for this connection. */
  resets: TraceEvent[];
  /** Counter changes in the fresh namespace over the run. */
  freshCounters: Counters;
}

/**
 * The proof's lines, or null when any part of it is missing.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const at = (ms: number) => BigInt(ms) * 1_000_000n;
 * const packet = (flags: number, ms: number) =>
 *   ({ src: "10.0.0.2", srcPort: 9999, flags, seq: 7, timeNs: at(ms) }) as import("../analysis/types.ts").TcpPacket;
 * const evidence = {
 *   resetBy: "server" as const,
 *   restarted: "server" as const,
 *   cutMs: 200,
 *   cutRealNs: at(1000),
 *   holder: "lab-server-ns-restarted",
 *   packets: { receiver: [packet(0x10, 10), packet(0x04, 3000)], first: [packet(0x10, 10)], fresh: [packet(0x04, 3000)] },
 *   addresses: { server: "10.0.0.2", client: "10.0.0.3" },
 *   traceAvailable: false,
 *   resets: [],
 *   freshCounters: { "Tcp.OutRsts": 1 },
 * };
 * assert.equal(peerRestartProof(evidence)?.length, 5);
 * assert.match(peerRestartProof(evidence)![3]!, /the fresh namespace's capture has that RST/);
 * // A FIN from the first namespace: the client was told, this is no lost state.
 * assert.equal(peerRestartProof({ ...evidence, packets: { ...evidence.packets, first: [packet(0x11, 20)] } }), null);
 * ```
 */
export function peerRestartProof(e: PeerRestartEvidence): string[] | null {
  if (e.resetBy !== e.restarted) return null;
  const receiver: Side = e.restarted === "server" ? "client" : "server";
  const from = e.addresses[e.restarted];
  const own = (p: TcpPacket) => p.src === from;
  const rst = (p: TcpPacket) => own(p) && (p.flags & TCP_RST) !== 0;
  const received = e.packets.receiver.find((p) => rst(p) && p.timeNs > e.cutRealNs);
  const told = e.packets.first.some((p) => own(p) && (p.flags & (TCP_FIN | TCP_RST)) !== 0);
  const freshRst = e.packets.fresh.find(rst);
  const noSocket = e.resets.filter((r) =>
    r.reason === "NO_SOCKET" && r.realNs !== null && r.realNs > e.cutRealNs
  );
  if (!received || told || (!freshRst && noSocket.length === 0)) return null;
  const after = (ns: bigint) => `${(Number(ns - e.cutRealNs) / 1e6).toFixed(1)} ms after the cut`;
  const outRsts = e.freshCounters["Tcp.OutRsts"] ?? 0;
  return [
    `the lab cut the ${e.restarted}'s first network namespace off the network ${e.cutMs} ms after the client's ` +
    `start and removed it with its sockets, and a fresh namespace (${e.holder}) took ${from}`,
    `the first namespace's capture has no FIN and no RST from the ${e.restarted} on this connection: nothing told ` +
    `the ${receiver} that the connection was gone`,
    `the ${receiver}'s capture has the RST from ${from}:${received.srcPort} (raw seq ${received.seq}), ${
      after(received.timeNs)
    }`,
    freshRst
      ? `the fresh namespace's capture has that RST (raw seq ${freshRst.seq})${
        e.packets.fresh.some((p) => !own(p) && p.timeNs <= freshRst.timeNs)
          ? ` after the ${receiver}'s segment it answered`
          : ""
      }: its kernel sent it`
      : "the fresh namespace's capture does not show the RST (it came before that capture listened)",
    ...(noSocket.length > 0
      ? [
        `the kernel's trace has tcp_send_reset from ${from} with no socket (reason NO_SOCKET), ${
          after(noSocket[0]!.realNs!)
        }: the first namespace had no interface any more, so the fresh kernel sent it`,
      ]
      : []),
    ...(outRsts > 0 ? [`counters in the fresh namespace: Tcp.OutRsts +${outRsts}`] : []),
  ];
}
