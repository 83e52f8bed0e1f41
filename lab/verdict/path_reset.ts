/**
 * Whether an RST came from the path rather than from the side whose
 * address it carries: the receiver's capture has it, the sender's does not,
 * the kernel's trace shows no reset sent in the sender's namespace, and a
 * REJECT rule of the middlebox counted packets. Pure: evidence in, the
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
