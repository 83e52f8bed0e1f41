/**
 * Explain every TCP connection in a capture from its packets alone: the
 * core of `lab explain`. Pure: bytes in, explanation out.
 *
 * @module
 */

import { buildConnections } from "../analysis/connections.ts";
import { decodeTcp } from "../analysis/decode.ts";
import { readCapture } from "../analysis/pcap.ts";
import { TcpdumpFormatter } from "../analysis/tcpdump_format.ts";
import { classifyTeardown } from "../analysis/teardown.ts";
import type { ConnState, Direction, TcpPacket } from "../analysis/types.ts";
import type { CauseCandidate } from "../verdict/types.ts";

/** One connection of a capture, explained from its packets. */
export interface ExplainedConnection {
  id: number;
  originator: string;
  responder: string;
  state: ConnState;
  history: string;
  startNs: string;
  durationMs: number;
  bytes: { orig: number; resp: number };
  /** Who sent the first FIN or RST: "originator", "responder" or null. */
  closedFirstBy: "originator" | "responder" | null;
  resetBy: "originator" | "responder" | null;
  candidates: CauseCandidate[];
  /** tcpdump -nn lines of the connection, with time since its first packet. */
  packets: string[];
}

/** A capture, explained. */
export interface ExplainedCapture {
  file: string;
  tcpPackets: number;
  connections: ExplainedConnection[];
}

/**
 * Explain a classic pcap file's TCP connections. Throws the parser's
 * SyntaxError (naming the file and byte offset) for bytes that are not a
 * capture.
 */
export function explainCapture(bytes: Uint8Array, file: string): ExplainedCapture {
  const formatter = new TcpdumpFormatter();
  const packets: TcpPacket[] = [];
  const lines = new Map<TcpPacket, string>();
  for (const record of readCapture(bytes, file)) {
    const packet = decodeTcp(record);
    if (!packet) continue;
    packets.push(packet);
    lines.set(packet, formatter.format(packet));
  }
  const role = (
    d: Direction | null,
  ) => (d === null ? null : d === "orig" ? "originator" as const : "responder" as const);
  const connections = buildConnections(packets).map((conn) => {
    const teardown = classifyTeardown(conn);
    return {
      id: conn.id,
      originator: `${conn.originator.address}:${conn.originator.port}`,
      responder: `${conn.responder.address}:${conn.responder.port}`,
      state: conn.state,
      history: conn.history,
      startNs: conn.startNs.toString(),
      durationMs: Number(conn.endNs - conn.startNs) / 1e6,
      bytes: conn.bytes,
      closedFirstBy: role(teardown.closedFirstBy),
      resetBy: role(teardown.resetBy),
      candidates: teardown.candidates,
      packets: conn.packets.map((p) =>
        `+${(Number(p.timeNs - conn.startNs) / 1e9).toFixed(6)} ${lines.get(p) ?? ""}`
      ),
    };
  });
  return { file, tcpPackets: packets.length, connections };
}
