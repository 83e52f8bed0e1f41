/**
 * Captures built in memory for the explain tests: many small connections
 * of known kinds, written as classic pcap (raw IP).
 *
 * @module
 */

/** The kinds of connection {@link manyConnections} writes, in turn. */
export const KINDS = ["graceful", "refused", "unread", "graceful", "data-after-close"] as const;

/**
 * A raw-IP pcap of `count` short IPv4 connections between distinct
 * clients and one server (10.9.0.1:443), one after the other, 1 ms apart:
 * a FIN handshake, a refused SYN, a RST after unread data, and data after
 * close, in the order of {@link KINDS}.
 */
export function manyConnections(count: number): Uint8Array {
  const packets: Array<
    {
      t: number;
      src: number;
      sport: number;
      dst: number;
      dport: number;
      flags: number;
      seq: number;
      ack: number;
      len: number;
    }
  > = [];
  const server = (10 << 24) | (9 << 16) | 1;
  let t = 0;
  for (let i = 0; i < count; i++) {
    const client = (10 << 24) | (1 << 16) | (i >>> 16 << 8) | ((i >>> 8) & 255);
    const cport = 1024 + (i & 255) * 200 + (i % 7);
    const c = (flags: number, seq: number, ack: number, len = 0) =>
      packets.push({
        t: t += 0.001,
        src: client,
        sport: cport,
        dst: server,
        dport: 443,
        flags,
        seq,
        ack,
        len,
      });
    const s = (flags: number, seq: number, ack: number, len = 0) =>
      packets.push({
        t: t += 0.001,
        src: server,
        sport: 443,
        dst: client,
        dport: cport,
        flags,
        seq,
        ack,
        len,
      });
    const kind = KINDS[i % KINDS.length]!;
    c(0x02, 1000, 0);
    if (kind === "refused") {
      s(0x14, 0, 1001);
      continue;
    }
    s(0x12, 5000, 1001);
    c(0x10, 1001, 5001);
    if (kind === "graceful") {
      c(0x18, 1001, 5001, 100);
      s(0x18, 5001, 1101, 200);
      c(0x11, 1101, 5201);
      s(0x11, 5201, 1102);
      c(0x10, 1102, 5202);
    } else if (kind === "unread") {
      s(0x18, 5001, 1001, 10);
      c(0x10, 1001, 5011);
      c(0x14, 1001, 5011);
    } else {
      c(0x11, 1001, 5001);
      s(0x18, 5001, 1002, 10);
      c(0x04, 1002, 0);
    }
  }
  const out = new Uint8Array(24 + packets.reduce((n, p) => n + 16 + 40 + p.len, 0));
  const v = new DataView(out.buffer);
  v.setUint32(0, 0xa1b2c3d4, true);
  v.setUint16(4, 2, true);
  v.setUint16(6, 4, true);
  v.setUint32(16, 65535, true);
  v.setUint32(20, 101, true);
  let at = 24;
  for (const p of packets) {
    const size = 40 + p.len;
    v.setUint32(at, 1_700_000_000 + Math.floor(p.t), true);
    v.setUint32(at + 4, Math.round((p.t % 1) * 1e6) % 1_000_000, true);
    v.setUint32(at + 8, size, true);
    v.setUint32(at + 12, size, true);
    at += 16;
    out[at] = 0x45;
    v.setUint16(at + 2, size);
    out[at + 8] = 64;
    out[at + 9] = 6;
    v.setUint32(at + 12, p.src);
    v.setUint32(at + 16, p.dst);
    v.setUint16(at + 20, p.sport);
    v.setUint16(at + 22, p.dport);
    v.setUint32(at + 24, p.seq);
    v.setUint32(at + 28, p.ack);
    out[at + 32] = 0x50;
    out[at + 33] = p.flags;
    v.setUint16(at + 34, 512);
    at += size;
  }
  return out;
}
