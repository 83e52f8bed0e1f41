/**
 * Whether an RST came from the path rather than from the side whose
 * address it carries: the receiver's capture has it, the sender's does not,
 * the kernel's trace shows no reset sent in the sender's namespace, and a
 * REJECT rule of the middlebox counted packets; or, through a NAT, that the
 * middlebox's own kernel sent it. Pure: evidence in, the
 * proof's lines out (or null when the evidence does not show it).
 *
 * @module
 */

import { TCP_RST, type TcpPacket } from "../analysis/types.ts";
import type { RuleCounter } from "../evidence/path_rules.ts";
import type { Side } from "../scenario/types.ts";

/** What {@link pathResetProof} weighs, for one connection. */
export interface PathResetEvidence {
  /** The side whose address the RST carries. */
  resetBy: Side;
  /** Each capture's packets of this connection ("middlebox" only with a path). */
  packets: Partial<Record<Side | "middlebox", TcpPacket[]>>;
  /** Each side's address. */
  addresses: Record<Side, string>;
  /** Whether the kernel's trace was recorded. */
  traceAvailable: boolean;
  /** tcp_send_reset events of `resetBy`'s namespace for this connection. */
  resetsSent: number;
  /** The middlebox's rules with their counters after the run. */
  rules: RuleCounter[];
}

/**
 * The proof's lines, or null when any part of it is missing.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const rst = { src: "10.0.0.2", srcPort: 9999, flags: 0x04, seq: 5 } as import("../analysis/types.ts").TcpPacket;
 * const proof = pathResetProof({
 *   resetBy: "server",
 *   packets: { client: [rst], server: [], middlebox: [rst] },
 *   addresses: { server: "10.0.0.2", client: "10.0.0.3" },
 *   traceAvailable: true,
 *   resetsSent: 0,
 *   rules: [{ comment: "tcplab-path-1", target: "REJECT", packets: 1, bytes: 53, line: "1 53 REJECT" }],
 * });
 * assert.equal(proof?.length, 4);
 * assert.equal(pathResetProof({ ...{ resetBy: "server", packets: {}, addresses: { server: "a", client: "b" } },
 *   traceAvailable: true, resetsSent: 0, rules: [] }), null);
 * ```
 */
export function pathResetProof(e: PathResetEvidence): string[] | null {
  const receiver: Side = e.resetBy === "server" ? "client" : "server";
  const from = e.addresses[e.resetBy];
  const rsts = (capture: Side | "middlebox") =>
    (e.packets[capture] ?? []).filter((p) => p.src === from && (p.flags & TCP_RST) !== 0);
  const received = rsts(receiver);
  const rejected = e.rules.filter((r) => r.target === "REJECT" && r.packets > 0);
  if (
    received.length === 0 || e.packets.middlebox === undefined || rsts(e.resetBy).length > 0 ||
    !e.traceAvailable || e.resetsSent > 0 || rejected.length === 0
  ) {
    return null;
  }
  const seqs = received.map((p) => p.seq);
  const inMiddlebox = rsts("middlebox").filter((p) => seqs.includes(p.seq)).length;
  return [
    `the ${receiver}'s capture has ${
      received.length === 1 ? "an RST" : `${received.length} RSTs`
    } from ${from}:${received[0]!.srcPort} (raw seq ${
      seqs.join(", ")
    }), and the ${e.resetBy}'s capture has no RST from the ${e.resetBy} on this connection`,
    `the kernel's trace has no tcp_send_reset in the ${e.resetBy}'s namespace for this connection`,
    inMiddlebox > 0
      ? `the middlebox's capture has the same RST (it left the middlebox's interface towards the ${receiver})`
      : `the middlebox's capture does not show the RST`,
    ...rejected.map((r) =>
      `the middlebox's rule ${r.comment} (${r.target}) counted ${r.packets} packet${
        r.packets === 1 ? "" : "s"
      }, ${r.bytes} bytes (iptables -L FORWARD -v -x -n after the run)`
    ),
  ];
}

/** What {@link natExpiryProof} weighs, for one connection seen through a NAT. */
export interface NatExpiryEvidence {
  /** The side whose address the RST carries as the server sees it (the client: the NAT stands for it). */
  resetBy: Side;
  /** Each side's packets of this connection, with the NAT undone (lab/verdict/nat_mapping.ts). */
  packets: Record<Side, TcpPacket[]>;
  /** The middlebox's packets of this connection, as captured (before and after the rewrite). */
  middlebox: TcpPacket[];
  addresses: Record<Side, string>;
  /** The middlebox's address: the NAT's. */
  natAddress: string;
  traceAvailable: boolean;
  /** tcp_send_reset events of `resetBy`'s namespace for this connection. */
  resetsSent: number;
  /** The reasons of tcp_send_reset events with the middlebox's address for this connection. */
  middleboxResets: string[];
  /** Whether the middlebox's conntrack table after the run still has the connection; null when unread. */
  trackedAfter: boolean | null;
  rules: RuleCounter[];
}

/**
 * The proof that a NAT forgot the connection and the middlebox's own kernel
 * sent the RST: the receiver's capture has it, the side it names did not
 * send it (its capture and the trace), and it left the middlebox with the
 * middlebox's own address, not arriving there from that side. Null when
 * the evidence does not show it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * type P = import("../analysis/types.ts").TcpPacket;
 * const rst = { src: "10.0.0.3", srcPort: 5000, dst: "10.0.0.2", flags: 0x04, seq: 5 } as P;
 * const evidence = {
 *   resetBy: "client" as const,
 *   packets: { server: [rst], client: [] },
 *   middlebox: [{ ...rst, src: "10.0.0.4" }],
 *   addresses: { server: "10.0.0.2", client: "10.0.0.3" },
 *   natAddress: "10.0.0.4",
 *   traceAvailable: true,
 *   resetsSent: 0,
 *   middleboxResets: ["NO_SOCKET"],
 *   trackedAfter: false,
 *   rules: [],
 * };
 * assert.equal(natExpiryProof(evidence)?.length, 4);
 * assert.equal(natExpiryProof({ ...evidence, middlebox: [rst] }), null);
 * ```
 */
export function natExpiryProof(e: NatExpiryEvidence): string[] | null {
  const receiver: Side = e.resetBy === "server" ? "client" : "server";
  const from = e.addresses[e.resetBy];
  const rst = (p: TcpPacket) => (p.flags & TCP_RST) !== 0;
  const received = e.packets[receiver].filter((p) => p.src === from && rst(p));
  const sent = e.packets[e.resetBy].filter((p) => p.src === from && rst(p));
  const leftBox = e.middlebox.filter((p) =>
    rst(p) && p.src === e.natAddress && p.dst === e.addresses[receiver]
  );
  const arrived = e.middlebox.filter((p) => rst(p) && p.src === from);
  if (
    received.length === 0 || sent.length > 0 || leftBox.length === 0 || arrived.length > 0 ||
    (e.traceAvailable && e.resetsSent > 0)
  ) {
    return null;
  }
  const invalid = e.rules.filter((r) => r.comment === "tcplab-invalid" && r.packets > 0);
  const port = received[0]!.srcPort;
  return [
    `the ${receiver}'s capture has ${
      received.length === 1 ? "an RST" : `${received.length} RSTs`
    } from the NAT's address ${e.natAddress}:${port} (which stands for the ${e.resetBy}), and the ${e.resetBy}'s capture has no RST on this connection`,
    `the middlebox's capture has the RST leaving from ${e.natAddress} to the ${receiver}, and no RST from the ${e.resetBy} arriving`,
    e.traceAvailable
      ? `the kernel's trace has no tcp_send_reset in the ${e.resetBy}'s namespace for this connection${
        e.middleboxResets.length > 0
          ? `, and one in the middlebox's (src ${e.natAddress}, reason ${e.middleboxResets.join(", ")})`
          : ""
      }`
      : "the kernel's trace was not recorded",
    e.trackedAfter === null
      ? "the middlebox's conntrack table after the run could not be read"
      : e.trackedAfter
      ? `the middlebox's conntrack table after the run still has the connection`
      : `the middlebox's conntrack table after the run (/proc/net/nf_conntrack) has no entry for it`,
    ...invalid.map((r) =>
      `the middlebox's rule ${r.comment} (DROP INVALID) counted ${r.packets} packet${
        r.packets === 1 ? "" : "s"
      }: the ${e.resetBy}'s later segments, which no mapping matched`
    ),
  ];
}
