/**
 * Write a large synthetic capture for `lab explain`'s benchmark: many TCP
 * connections with real teardown variety, a fixed number of them open at
 * any moment, so that memory needed to explain the file does not grow with
 * its size.
 *
 *     deno run --allow-write bench/gen_capture.ts OUT.pcap --size 1G [--concurrency 256] [--seed 1]
 *       [--format pcap|pcapng] [--gap-us 1000]
 *
 * Mix of connections (each a small script of packets, interleaved across
 * the open slots, one packet every `--gap-us` microseconds on average):
 * request/response closed by either side, bulk downloads, half-closes
 * (shutdown(SHUT_WR) then a response), close with unread data (RST from
 * the client or the server), SO_LINGER 0, data after close (RST without
 * ACK), refused connections, unanswered SYNs, keepalive timeouts,
 * retransmission timeouts, simultaneous closes, connections seen from the
 * middle (no handshake), reuse of a four-tuple after a close, occasional
 * retransmitted segments; IPv4 and IPv6, some with a VLAN tag. The slots
 * that are busy when the file starts begin mid-connection, and those busy
 * when it ends stop before the close. Payload bytes are not meaningful.
 *
 * The same arguments give the same file, byte for byte.
 *
 * @module
 */

import { parseArgs } from "node:util";

const _FIN = 0x01, _SYN = 0x02, _RST = 0x04, _PSH = 0x08, _ACK = 0x10;
const _MSS = 1448;

/** A small, fast, seeded PRNG (mulberry32). */
class _Random {
  #s: number;
  constructor(seed: number) {
    this.#s = seed >>> 0;
  }
  next(): number {
    let t = (this.#s += 0x6d2b79f5);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

/** Buffered synchronous file output. */
class _Out {
  readonly buf = new Uint8Array(4 * 1024 * 1024);
  readonly view = new DataView(this.buf.buffer);
  pos = 0;
  written = 0;
  constructor(readonly file: Deno.FsFile) {}
  reserve(n: number): number {
    if (this.pos + n > this.buf.length) this.flush();
    const at = this.pos;
    this.pos += n;
    this.written += n;
    return at;
  }
  flush(): void {
    let at = 0;
    while (at < this.pos) at += this.file.writeSync(this.buf.subarray(at, this.pos));
    this.pos = 0;
  }
}

interface _Conn {
  v6: boolean;
  vlan: number;
  iface: number;
  client: number[];
  server: number[];
  cport: number;
  sport: number;
  cseq: number;
  sseq: number;
  cts: number;
  sts: number;
  script: Iterator<void>;
  /** Whether the four-tuple may be reused by the slot's next connection. */
  reusable: boolean;
}

/** The capture writer: packets of a connection, in pcap or pcapng framing. */
class _Writer {
  sec = 1_700_000_000;
  usec = 0;
  packets = 0;
  constructor(
    readonly out: _Out,
    readonly format: "pcap" | "pcapng",
    readonly rnd: _Random,
    readonly gapUs: number,
  ) {}

  header(): void {
    const o = this.out;
    if (this.format === "pcap") {
      const at = o.reserve(24);
      o.view.setUint32(at, 0xa1b2c3d4, true);
      o.view.setUint16(at + 4, 2, true);
      o.view.setUint16(at + 6, 4, true);
      o.view.setUint32(at + 8, 0, true);
      o.view.setUint32(at + 12, 0, true);
      o.view.setUint32(at + 16, 262144, true);
      o.view.setUint32(at + 20, 1, true);
      return;
    }
    // Section header, then two interfaces: Ethernet (microseconds) and raw IP (nanoseconds).
    let at = o.reserve(28);
    o.view.setUint32(at, 0x0a0d0d0a, true);
    o.view.setUint32(at + 4, 28, true);
    o.view.setUint32(at + 8, 0x1a2b3c4d, true);
    o.view.setUint16(at + 12, 1, true);
    o.view.setUint16(at + 14, 0, true);
    o.view.setInt32(at + 16, -1, true);
    o.view.setInt32(at + 20, -1, true);
    o.view.setUint32(at + 24, 28, true);
    at = o.reserve(20);
    o.view.setUint32(at, 1, true);
    o.view.setUint32(at + 4, 20, true);
    o.view.setUint16(at + 8, 1, true);
    o.view.setUint16(at + 10, 0, true);
    o.view.setUint32(at + 12, 262144, true);
    o.view.setUint32(at + 16, 20, true);
    at = o.reserve(28);
    o.view.setUint32(at, 1, true);
    o.view.setUint32(at + 4, 28, true);
    o.view.setUint16(at + 8, 101, true);
    o.view.setUint16(at + 10, 0, true);
    o.view.setUint32(at + 12, 262144, true);
    o.view.setUint16(at + 16, 9, true); // if_tsresol
    o.view.setUint16(at + 18, 1, true);
    o.buf[at + 20] = 9;
    o.view.setUint32(at + 24, 28, true);
  }

  /** One TCP segment from the client (`fromClient`) or the server. */
  packet(c: _Conn, fromClient: boolean, flags: number, payload: number, seqOverride = -1): void {
    const gap = -Math.log(1 - this.rnd.next()) * this.gapUs;
    this.usec += Math.max(1, Math.round(gap));
    while (this.usec >= 1_000_000) {
      this.usec -= 1_000_000;
      this.sec++;
    }
    const syn = (flags & _SYN) !== 0;
    const optLen = syn ? 20 : 12;
    const tcpLen = 20 + optLen + payload;
    const ipLen = (c.v6 ? 40 : 20) + tcpLen;
    const raw = this.format === "pcapng" && c.iface === 1;
    const linkLen = raw ? 0 : c.vlan ? 18 : 14;
    const caplen = linkLen + ipLen;
    const o = this.out;
    let at: number;
    const le = true;
    if (this.format === "pcap") {
      at = o.reserve(16 + caplen);
      o.view.setUint32(at, this.sec, le);
      o.view.setUint32(at + 4, this.usec, le);
      o.view.setUint32(at + 8, caplen, le);
      o.view.setUint32(at + 12, caplen, le);
      at += 16;
    } else {
      const padded = (caplen + 3) & ~3;
      const total = 28 + padded + 4;
      at = o.reserve(total);
      o.view.setUint32(at, 6, le);
      o.view.setUint32(at + 4, total, le);
      o.view.setUint32(at + 8, c.iface, le);
      const units = c.iface === 1
        ? BigInt(this.sec) * 1_000_000_000n + BigInt(this.usec) * 1000n
        : BigInt(this.sec) * 1_000_000n + BigInt(this.usec);
      o.view.setUint32(at + 12, Number(units >> 32n), le);
      o.view.setUint32(at + 16, Number(units & 0xffffffffn), le);
      o.view.setUint32(at + 20, caplen, le);
      o.view.setUint32(at + 24, caplen, le);
      o.view.setUint32(at + total - 4, total, le);
      for (let i = caplen; i < padded; i++) o.buf[at + 28 + i] = 0;
      at += 28;
    }
    const b = o.buf;
    const v = o.view;
    if (!raw) {
      b.fill(0, at, at + 12);
      b[at + 5] = fromClient ? 1 : 2;
      b[at + 11] = fromClient ? 2 : 1;
      let e = at + 12;
      if (c.vlan) {
        v.setUint16(e, 0x8100);
        v.setUint16(e + 2, c.vlan);
        e += 4;
      }
      v.setUint16(e, c.v6 ? 0x86dd : 0x0800);
      at = e + 2;
    }
    const src = fromClient ? c.client : c.server;
    const dst = fromClient ? c.server : c.client;
    if (c.v6) {
      v.setUint32(at, 0x60000000);
      v.setUint16(at + 4, tcpLen);
      b[at + 6] = 6;
      b[at + 7] = 64;
      for (let i = 0; i < 4; i++) {
        v.setUint32(at + 8 + i * 4, src[i]!);
        v.setUint32(at + 24 + i * 4, dst[i]!);
      }
      at += 40;
    } else {
      b[at] = 0x45;
      b[at + 1] = 0;
      v.setUint16(at + 2, ipLen);
      v.setUint32(at + 4, 0x00004000);
      b[at + 8] = 64;
      b[at + 9] = 6;
      v.setUint16(at + 10, 0);
      v.setUint32(at + 12, src[0]!);
      v.setUint32(at + 16, dst[0]!);
      at += 20;
    }
    const seq = seqOverride >= 0 ? seqOverride : fromClient ? c.cseq : c.sseq;
    const ack = flags & _ACK ? (fromClient ? c.sseq : c.cseq) : 0;
    v.setUint16(at, fromClient ? c.cport : c.sport);
    v.setUint16(at + 2, fromClient ? c.sport : c.cport);
    v.setUint32(at + 4, seq >>> 0);
    v.setUint32(at + 8, ack >>> 0);
    b[at + 12] = ((20 + optLen) / 4) << 4;
    b[at + 13] = flags;
    v.setUint16(at + 14, flags & _RST ? 0 : 502);
    v.setUint32(at + 16, 0);
    const ts = fromClient ? (c.cts += 1) : (c.sts += 1);
    const ecr = fromClient ? c.sts : c.cts;
    if (syn) {
      b.set([2, 4, (_MSS >> 8) & 255, _MSS & 255, 4, 2, 8, 10], at + 20);
      v.setUint32(at + 28, ts);
      v.setUint32(at + 32, flags & _ACK ? ecr : 0);
      b.set([1, 3, 3, 7], at + 36);
    } else {
      b.set([1, 1, 8, 10], at + 20);
      v.setUint32(at + 24, ts);
      v.setUint32(at + 28, ecr);
    }
    b.fill(0, at + 20 + optLen, at + 20 + optLen + payload);
    if (seqOverride < 0) {
      const used = payload + (syn ? 1 : 0) + (flags & _FIN ? 1 : 0);
      if (fromClient) c.cseq = (c.cseq + used) >>> 0;
      else c.sseq = (c.sseq + used) >>> 0;
    }
    this.packets++;
  }
}

type _Kind =
  | "web-client-closes"
  | "web-server-closes"
  | "bulk"
  | "unread-rst"
  | "linger-zero"
  | "data-after-close"
  | "refused"
  | "half-close"
  | "server-unread-rst"
  | "keepalive-timeout"
  | "retransmit-timeout"
  | "syn-unanswered"
  | "mid-stream"
  | "simultaneous-close";

const _MIX: Array<[_Kind, number]> = [
  ["web-client-closes", 30],
  ["web-server-closes", 14],
  ["bulk", 3],
  ["unread-rst", 6],
  ["linger-zero", 5],
  ["data-after-close", 5],
  ["refused", 6],
  ["half-close", 6],
  ["server-unread-rst", 4],
  ["keepalive-timeout", 2],
  ["retransmit-timeout", 1],
  ["syn-unanswered", 2],
  ["mid-stream", 10],
  ["simultaneous-close", 2],
];

/** The generator: slots of connections, interleaved. */
class _Generator {
  readonly slots: Array<_Conn | null>;
  readonly last: Array<_Conn | null>;
  readonly totalWeight = _MIX.reduce((n, [, w]) => n + w, 0);
  nextPort = 0;
  connections = 0;
  readonly kinds = new Map<string, number>();

  constructor(readonly w: _Writer, readonly rnd: _Random, concurrency: number) {
    this.slots = new Array(concurrency).fill(null);
    this.last = new Array(concurrency).fill(null);
  }

  step(): void {
    const i = this.rnd.int(0, this.slots.length - 1);
    let c = this.slots[i];
    if (!c) {
      c = this.#newConnection(i, this.w.packets === 0 || this.connections < this.slots.length);
      this.slots[i] = c;
    }
    if (c.script.next().done) {
      this.last[i] = c;
      this.slots[i] = null;
    }
  }

  #kind(): _Kind {
    let r = this.rnd.next() * this.totalWeight;
    for (const [kind, weight] of _MIX) {
      r -= weight;
      if (r < 0) return kind;
    }
    return "web-client-closes";
  }

  #newConnection(slot: number, atStart: boolean): _Conn {
    const rnd = this.rnd;
    const previous = this.last[slot];
    let kind = this.#kind();
    // The connections open when the capture starts are seen from their middle.
    if (atStart && kind !== "refused" && kind !== "syn-unanswered") kind = "mid-stream";
    this.connections++;
    this.kinds.set(kind, (this.kinds.get(kind) ?? 0) + 1);
    const v6 = rnd.chance(0.15);
    let c: _Conn;
    // Only a connection that starts with a SYN can reuse a four-tuple: the SYN tells the two apart.
    if (previous && previous.reusable && !v6 && kind !== "mid-stream" && rnd.chance(0.3)) {
      // A new SYN on the same four-tuple after a close: port reuse.
      c = {
        ...previous,
        cseq: (previous.cseq + 100_000) >>> 0,
        sseq: rnd.int(0, 2 ** 32 - 1),
        reusable: false,
      };
    } else {
      // Linux's ephemeral port range, 32768 to 60999.
      const port = 32768 + (this.nextPort++ % 28232);
      c = {
        v6,
        vlan: rnd.chance(0.1) ? rnd.int(1, 4094) : 0,
        iface: rnd.chance(0.5) ? 1 : 0,
        client: v6
          ? [0x20010db8, 0, rnd.int(0, 255), rnd.int(1, 65535)]
          : [(10 << 24 | 1 << 16 | rnd.int(0, 255) << 8 | rnd.int(1, 254)) >>> 0],
        server: v6 ? [0x20010db8, 0, 1, rnd.int(1, 8)] : [(10 << 24 | 2 << 16 | rnd.int(1, 8)) >>> 0],
        cport: port,
        // Service ports no tshark or tcpdump dissector claims, so that they only do TCP (the fair comparison).
        sport: [19001, 19002, 19003, 19004, 19005][rnd.int(0, 4)]!,
        cseq: rnd.int(0, 2 ** 32 - 1),
        sseq: rnd.int(0, 2 ** 32 - 1),
        cts: rnd.int(0, 2 ** 31),
        sts: rnd.int(0, 2 ** 31),
        script: [][Symbol.iterator](),
        reusable: false,
      };
    }
    c.script = this.#script(kind, c);
    return c;
  }

  *#script(kind: _Kind, c: _Conn): Generator<void> {
    const w = this.w;
    const rnd = this.rnd;
    const C = true, S = false;
    const request = rnd.int(100, 900);
    // Responses from 100 bytes to 64 KiB, log-uniform (many small, a few large); bulk ones are larger.
    const response = kind === "bulk"
      ? rnd.int(20, 200) * _MSS
      : Math.round(Math.exp(Math.log(100) + rnd.next() * (Math.log(65536) - Math.log(100))));
    const ackEvery = rnd.chance(0.3) ? 1 : 2;
    const handshake = function* (): Generator<void> {
      w.packet(c, C, _SYN, 0);
      yield;
      w.packet(c, S, _SYN | _ACK, 0);
      yield;
      w.packet(c, C, _ACK, 0);
      yield;
    };
    /** `bytes` from one side in MSS segments, the other ACKing every second one, a few retransmitted. */
    const send = function* (fromClient: boolean, bytes: number, finOnLast = false): Generator<void> {
      let left = bytes;
      let n = 0;
      while (left > 0) {
        const size = Math.min(_MSS, left);
        left -= size;
        const fin = finOnLast && left === 0 ? _FIN : 0;
        if (rnd.chance(0.01)) {
          const seq = fromClient ? c.cseq : c.sseq;
          w.packet(c, fromClient, _ACK | _PSH, size, seq);
          yield;
        }
        w.packet(c, fromClient, _ACK | _PSH | fin, size);
        yield;
        if (++n % ackEvery === 0 || left === 0) {
          w.packet(c, !fromClient, _ACK, 0);
          yield;
        }
      }
    };
    const close = function* (first: boolean): Generator<void> {
      w.packet(c, first, _FIN | _ACK, 0);
      yield;
      w.packet(c, !first, _ACK, 0);
      yield;
      w.packet(c, !first, _FIN | _ACK, 0);
      yield;
      w.packet(c, first, _ACK, 0);
      yield;
    };
    switch (kind) {
      case "web-client-closes":
      case "web-server-closes":
      case "bulk":
        yield* handshake();
        yield* send(C, request);
        yield* send(S, response);
        yield* close(kind !== "web-server-closes");
        c.reusable = kind === "web-client-closes";
        return;
      case "mid-stream":
        // No handshake in the capture: the connection started before it.
        c.cseq = (c.cseq + rnd.int(1, 1_000_000)) >>> 0;
        c.sseq = (c.sseq + rnd.int(1, 10_000_000)) >>> 0;
        yield* send(S, response);
        if (rnd.chance(0.7)) yield* close(rnd.chance(0.5));
        else {
          w.packet(c, C, _RST | _ACK, 0);
          yield;
        }
        return;
      case "unread-rst":
        yield* handshake();
        yield* send(C, request);
        yield* send(S, Math.min(response, 4 * _MSS));
        w.packet(c, C, _RST | _ACK, 0);
        yield;
        return;
      case "server-unread-rst":
        yield* handshake();
        yield* send(C, request);
        w.packet(c, S, _RST | _ACK, 0);
        yield;
        return;
      case "linger-zero":
        yield* handshake();
        yield* send(C, request);
        yield* send(S, response);
        // The client answers what it read (a last request), then aborts.
        yield* send(C, rnd.int(10, 100));
        w.packet(c, C, _RST | _ACK, 0);
        yield;
        return;
      case "data-after-close": {
        yield* handshake();
        yield* send(C, request);
        w.packet(c, C, _FIN | _ACK, 0);
        yield;
        w.packet(c, S, _ACK, 0);
        yield;
        const size = Math.min(_MSS, response);
        w.packet(c, S, _ACK | _PSH, size);
        yield;
        // The closed client answers with RST and no ACK: its sequence number is the data's ack.
        w.packet(c, C, _RST, 0);
        yield;
        return;
      }
      case "refused":
        w.packet(c, C, _SYN, 0);
        yield;
        c.sseq = 0;
        w.packet(c, S, _RST | _ACK, 0);
        yield;
        return;
      case "syn-unanswered": {
        const isn = c.cseq;
        for (let i = 0; i < rnd.int(1, 3); i++) {
          w.packet(c, C, _SYN, 0, isn);
          yield;
        }
        return;
      }
      case "half-close":
        yield* handshake();
        yield* send(C, request);
        w.packet(c, C, _FIN | _ACK, 0);
        yield;
        yield* send(S, response);
        w.packet(c, S, _FIN | _ACK, 0);
        yield;
        w.packet(c, C, _ACK, 0);
        yield;
        return;
      case "keepalive-timeout":
        yield* handshake();
        yield* send(C, request);
        yield* send(S, 1000);
        for (let i = 0; i < 2; i++) {
          w.packet(c, C, _ACK, 0, (c.cseq - 1) >>> 0);
          yield;
        }
        w.packet(c, C, _RST | _ACK, 0);
        yield;
        return;
      case "retransmit-timeout": {
        yield* handshake();
        const seq = c.cseq;
        w.packet(c, C, _ACK | _PSH, request);
        yield;
        for (let i = 0; i < rnd.int(2, 5); i++) {
          w.packet(c, C, _ACK | _PSH, request, seq);
          yield;
        }
        return; // then silence: the sender gave up without a RST
      }
      case "simultaneous-close":
        yield* handshake();
        yield* send(C, request);
        yield* send(S, response);
        w.packet(c, C, _FIN | _ACK, 0);
        yield;
        c.cseq = (c.cseq - 1) >>> 0; // the server's FIN does not ack the client's yet
        w.packet(c, S, _FIN | _ACK, 0);
        yield;
        c.cseq = (c.cseq + 1) >>> 0;
        w.packet(c, C, _ACK, 0);
        yield;
        w.packet(c, S, _ACK, 0);
        yield;
        return;
    }
  }
}

/** "1G", "256M", "500k" or a number of bytes. */
export function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)([kKmMgG]?)$/.exec(text);
  if (!m) throw new TypeError(`Cannot read the size "${text}": use a number with k, M or G`);
  const unit = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase()]!;
  return Math.round(Number(m[1]) * unit);
}

/** Write the capture; returns what was written. */
export function generateCapture(
  path: string,
  options: { size: number; concurrency?: number; seed?: number; format?: "pcap" | "pcapng"; gapUs?: number },
): { bytes: number; packets: number; connections: number; kinds: Record<string, number> } {
  const file = Deno.openSync(path, { write: true, create: true, truncate: true });
  try {
    const out = new _Out(file);
    const rnd = new _Random(options.seed ?? 1);
    const writer = new _Writer(out, options.format ?? "pcap", rnd, options.gapUs ?? 1000);
    writer.header();
    const gen = new _Generator(writer, rnd, options.concurrency ?? 256);
    while (out.written < options.size) gen.step();
    out.flush();
    return {
      bytes: out.written,
      packets: writer.packets,
      connections: gen.connections,
      kinds: Object.fromEntries(gen.kinds),
    };
  } finally {
    file.close();
  }
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: {
      size: { type: "string", default: "256M" },
      concurrency: { type: "string", default: "256" },
      seed: { type: "string", default: "1" },
      format: { type: "string", default: "pcap" },
      "gap-us": { type: "string", default: "1000" },
    },
  });
  const [path] = positionals;
  if (!path || (values.format !== "pcap" && values.format !== "pcapng")) {
    console.error(
      "usage: gen_capture.ts OUT --size 1G [--concurrency 256] [--seed 1] [--format pcap|pcapng] [--gap-us 1000]",
    );
    Deno.exit(2);
  }
  const result = generateCapture(path, {
    size: parseSize(values.size),
    concurrency: Number(values.concurrency),
    seed: Number(values.seed),
    format: values.format,
    gapUs: Number(values["gap-us"]),
  });
  console.log(JSON.stringify({ file: path, ...result }));
}
