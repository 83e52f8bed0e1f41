/**
 * A small capture's TCP connections with every packet of each, and the
 * ICMP errors that quote them: what `lab run` analyses. The capture goes
 * through the same reader, decoder and connection tracker as `lab explain`
 * (connection_stream.ts), with a sink that keeps every connection and
 * every packet (a run has a few hundred), and without the tracker's
 * timers: a connection ends only at the end of the capture or when a new
 * SYN reuses its four-tuple.
 *
 * @module
 */

import { CaptureReader, PcapError } from "./capture_reader.ts";
import { ConnectionStream, type StreamConnection } from "./connection_stream.ts";
import type { IcmpErrorPacket } from "./icmp_errors.ts";
import { decodeIcmpError, decodeTcp } from "./tcp_decoder.ts";
import {
  type Connection,
  type ConnectionIcmpError,
  type Direction,
  TCP_FIN,
  TCP_RST,
  type TcpPacket,
} from "./types.ts";

/** A capture's TCP packets and the connections they make. */
export interface CaptureConnections {
  /** Every TCP packet of the capture, in capture order. */
  packets: TcpPacket[];
  /** The ICMP errors that quote a connection's packet, in capture order (each connection has its own too). */
  icmpErrors: IcmpErrorPacket[];
  /** The connections, in order of their first packet (ids from 1). */
  connections: Connection[];
  /** Why the capture could not be read to its end, or null; the packets before that point are all here. */
  problem: PcapError | null;
}

/**
 * Read a capture held in memory and group its TCP packets into
 * connections, with Zeek's state, history and byte counts for each. A file
 * that cannot be read (even its header) is not an error here: `problem`
 * says why, and the result holds what came before.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readConnections } from "./connections.ts";
 * const bytes = Deno.readFileSync(new URL("../../tests/testdata/refused.pcap", import.meta.url));
 * const { connections, packets, problem } = readConnections(bytes, "refused.pcap");
 * assert.equal(packets.length, 2);
 * assert.equal(connections[0]?.state, "REJ");
 * assert.equal(connections[0]?.history, "Sr");
 * assert.equal(problem, null);
 * ```
 */
export function readConnections(bytes: Uint8Array, fileName: string): CaptureConnections {
  const ended: StreamConnection[] = [];
  const stream = new ConnectionStream(
    { ended: (conn) => (ended.push(conn), true) },
    { closeDelay: Infinity, idleTimeout: Infinity, maxTracked: Infinity, keepHead: 0, keepTail: 1 },
  );
  const packets: TcpPacket[] = [];
  const icmpErrors: IcmpErrorPacket[] = [];
  const kept = new Map<StreamConnection, _Kept>();
  const own = (conn: StreamConnection): _Kept => {
    let k = kept.get(conn);
    if (k === undefined) kept.set(conn, k = { packets: [], directions: [], icmpErrors: [] });
    return k;
  };
  const reader = new CaptureReader(fileName, {
    record(data, start, capturedLength, originalLength, linkType, seconds, nanos, recordOffset, dataOffset) {
      stream.record(
        data,
        start,
        capturedLength,
        originalLength,
        linkType,
        seconds,
        nanos,
        recordOffset,
        dataOffset,
      );
      const conn = stream.connection;
      if (conn === null && stream.icmpConnection === null) return;
      const record = {
        index: stream.records,
        offset: recordOffset,
        timeNs: BigInt(seconds) * 1_000_000_000n + BigInt(nanos),
        linkType,
        originalLength,
        data: data.subarray(start, start + capturedLength),
      };
      if (conn === null) {
        const icmp = decodeIcmpError(record)!;
        icmpErrors.push(icmp);
        own(stream.icmpConnection!).icmpErrors.push({
          ...icmp,
          quotes: stream.icmpQuotesOriginator ? "orig" : "resp",
        });
        return;
      }
      const packet = decodeTcp(record)!;
      packets.push(packet);
      const k = own(conn);
      k.packets.push(packet);
      k.directions.push(stream.fromOriginator ? "orig" : "resp");
    },
  });
  let problem: PcapError | null = null;
  try {
    reader.readAll(bytes);
  } catch (error) {
    if (!(error instanceof PcapError)) throw error;
    problem = error;
  }
  stream.finish();
  const connections = ended.sort((a, b) => a.id - b.id).map((conn) => _connection(conn, kept.get(conn)!));
  return { packets, icmpErrors, connections, problem };
}

interface _Kept {
  packets: TcpPacket[];
  directions: Direction[];
  icmpErrors: ConnectionIcmpError[];
}

function _connection(conn: StreamConnection, own: _Kept): Connection {
  const { packets, directions } = own;
  const firstFin: Connection["firstFin"] = { orig: null, resp: null };
  const firstRst: Connection["firstRst"] = { orig: null, resp: null };
  packets.forEach((p, i) => {
    const d = directions[i]!;
    if (p.flags & TCP_FIN && firstFin[d] === null) firstFin[d] = i;
    if (p.flags & TCP_RST && firstRst[d] === null) firstRst[d] = i;
  });
  const zeek = conn.zeek;
  return {
    id: conn.id,
    originator: conn.originator,
    responder: conn.responder,
    packets,
    directions,
    ...(own.icmpErrors.length > 0 ? { icmpErrors: own.icmpErrors } : {}),
    isn: { orig: zeek.isnOrig, resp: zeek.isnResp },
    bytes: { orig: zeek.bytesOrig(), resp: zeek.bytesResp() },
    state: zeek.connState(),
    history: zeek.history,
    handshakeCompleted: zeek.handshakeCompleted,
    firstFin,
    firstRst,
    startNs: packets[0]!.timeNs,
    endNs: packets[packets.length - 1]!.timeNs,
  };
}
