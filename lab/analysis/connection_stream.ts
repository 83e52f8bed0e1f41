/**
 * Tracking every TCP connection of a capture as it streams by, in memory
 * bounded by the connections open at the same moment: capture records in,
 * finished connections out.
 *
 * Each connection gets Zeek's state machine ({@link ZeekTcpState}) and the
 * teardown facts ({@link TeardownTracker}), both fed with plain numbers, and
 * remembers where its first and last few packets are in the file (offsets,
 * not bytes), so that a report can read them again. A connection ends, and
 * is handed to the {@link ConnectionSink}:
 *
 * - `closed`: some time (Zeek's `tcp_close_delay`, 5 s of capture time)
 *   after both sides sent FIN or either sent RST, so that stragglers (the
 *   last ACK, a second RST) still count;
 * - `reused`: a new SYN on the same four-tuple with another sequence number
 *   (a new connection after TIME_WAIT; Zeek's IsReuse), or with Zeek's
 *   boundaries any SYN after a close;
 * - `attempt`: with Zeek's boundaries only, a packet arrives 5 s
 *   (`tcp_attempt_delay`) or more after a SYN that got no reply: Zeek's
 *   AttemptTimer has ended the attempt, and the packet starts a new
 *   connection;
 * - `idle`: no packet for `idleTimeout` seconds of capture time (Zeek's
 *   `tcp_inactivity_timeout`, 5 minutes);
 * - `evicted`: more than `maxTracked` connections at once; the least
 *   recently active goes first, so memory stays bounded whatever the file;
 * - `capture-end`: still open when the capture ends (a capture that ends
 *   before the close).
 *
 * Without Zeek's boundaries, each connection records where Zeek would have
 * started a new one ({@link StreamConnection.zeekSplits}).
 *
 * Packets are matched to connections by a numeric hash of the four-tuple
 * (no string per packet). Time is capture time, never the wall clock.
 *
 * `lab explain` keeps the positions of a few packets per connection;
 * `lab run` (connections.ts) keeps every packet of its small captures,
 * reading {@link ConnectionStream.connection} after each record.
 *
 * @module
 */

import { formatAddress } from "./addresses.ts";
import type { RecordSink } from "./capture_reader.ts";
import { tcpChecksumOk, TcpHeaderFields } from "./tcp_decoder.ts";
import { TeardownTracker } from "./teardown.ts";
import { ZEEK_TCP_ATTEMPT_DELAY, ZeekTcpState } from "./zeek_tcp_state.ts";
import type { Endpoint } from "./types.ts";

/** Why a tracked connection was handed over. */
export type EndReason = "closed" | "reused" | "attempt" | "idle" | "evicted" | "capture-end";

/**
 * Why Zeek would start a new connection where explain's own boundaries do
 * not: its attempt timer (TCPSessionAdapter::AttemptTimer, after
 * `tcp_attempt_delay`), or a SYN after a close (TCPSessionAdapter::IsReuse).
 */
export type ZeekSplitReason = "attempt-timer" | "syn-after-close";

/** A packet where Zeek would start a new connection: its record number and capture time. */
export interface ZeekSplit {
  reason: ZeekSplitReason;
  /** 1-based record number in the file. */
  index: number;
  /** Seconds since the capture's first record. */
  time: number;
}

/** The splits a connection keeps (the rest are only counted). */
const _MAX_SPLITS = 10;

/** Receives each connection once, when it ends. */
export interface ConnectionSink {
  /**
   * `conn` ended. Return true to keep its packet positions (the caller
   * then owns `conn`); false lets the tracker reuse its memory.
   */
  ended(conn: StreamConnection, reason: EndReason): boolean;
}

/** Which packets {@link ConnectionStream} looks at. */
export interface PacketFilter {
  /** Only packets to or from this address (4 or 16 bytes). */
  host?: Uint8Array;
  /** Only packets to or from this port. */
  port?: number;
}

/** Options for {@link ConnectionStream}. */
export interface ConnectionStreamOptions {
  /** Seconds of capture time without a packet before an open connection counts as ended (default 300). */
  idleTimeout?: number;
  /** Seconds of capture time after a close or reset before the connection is handed over (default 5). */
  closeDelay?: number;
  /** The most connections tracked at once (default 100,000). */
  maxTracked?: number;
  /** Packet positions kept per connection: the first `keepHead` and the last `keepTail` (default 8 and 24). */
  keepHead?: number;
  keepTail?: number;
  /** A connection id whose packets are kept in larger numbers (`lab explain --conn N`), with how many. */
  focus?: { id: number; head: number; tail: number };
  filter?: PacketFilter;
  /**
   * Whether a segment with a bad TCP checksum is treated as Zeek treats it
   * by default (history C/c, nothing else: not counted, not analysed), or
   * analysed like any other, as with `zeek -C` (default false: captures
   * taken on the sending host carry offloaded, unfinished checksums).
   * Checksums are computed only then: the default mode reads no payload byte, and counts no bad checksum
   * ({@link ConnectionStream.badChecksums} stays null).
   */
  verifyChecksums?: boolean;
  /**
   * Zeek's connection boundaries (`lab explain --zeek-boundaries`): any SYN
   * after a close starts a new connection, and so does a packet 5 s or more
   * after an attempt that got no reply. Without them (the default), one
   * connection per ISN, and each records where Zeek would split it.
   */
  zeekBoundaries?: boolean;
}

/** Where one kept packet is: enough to read and decode it again. */
export interface KeptPacket {
  /** 1-based record number in the file. */
  index: number;
  /** File offset of the packet's first byte. */
  dataOffset: number;
  capturedLength: number;
  originalLength: number;
  linkType: number;
  /** Capture time, seconds since the capture's first record. */
  time: number;
}

const _SLOT = 4; // numbers per kept packet: offset, time, meta, index
const _META_LINK = 2 ** 18;
const _META_ORIG = 2 ** 34;
const _MAX_ORIG = 2 ** 19 - 1;

/**
 * One tracked connection. Fields are public for speed; treat them as
 * read-only. The tracker reuses these objects (with their Zeek and teardown
 * state) once a connection has ended and its sink did not keep it.
 */
export class StreamConnection {
  // What every packet reads first, together: the lookup's fields and the state objects.
  // Originator and responder addresses (int32 words, as TcpHeaderFields) and ports.
  oPort = 0;
  rPort = 0;
  o0 = 0;
  r0 = 0;
  ipVersion = 4;
  nextInBucket: StreamConnection | null = null;
  readonly zeek: ZeekTcpState;
  readonly teardown: TeardownTracker = new TeardownTracker();
  packetsOrig = 0;
  packetsResp = 0;
  /** Packets given to this connection, bad checksums included (the ring's count). */
  seen = 0;
  /**
   * Kept packet positions (see {@link keptPackets}): the array that holds
   * them (shared by many connections), where this connection's part starts,
   * and the slot the next packet goes to.
   */
  ring: Float64Array | null = null;
  ringBase = 0;
  ringSlot = 0;
  /** keepHead + keepTail: the slots of the ring. */
  ringSize = 1;
  keepHead = 0;
  /** Seconds since the capture's first record. */
  lastTime = 0;
  closing = false;
  o1 = 0;
  o2 = 0;
  o3 = 0;
  r1 = 0;
  r2 = 0;
  r3 = 0;
  /** 1-based, in order of first packet (among the packets the filter let through). */
  id = 0;
  hash = 0;
  /** Capture time of the first packet: whole seconds and nanoseconds since the epoch. */
  startSeconds = 0;
  startNanos = 0;
  /** Seconds since the capture's first record. */
  firstTime = 0;
  /** Why it ended, once it has. */
  endReason: EndReason | null = null;
  /** Capture time when Zeek's attempt timer would fire (Infinity when none is pending). */
  attemptDeadline = Infinity;
  /** Where Zeek would start a new connection inside this one (the first few), or null; and how many in all. */
  zeekSplits: ZeekSplit[] | null = null;
  zeekSplitCount = 0;
  keepTail = 1;
  // Bookkeeping of ConnectionStream.
  prev: StreamConnection | null = null;
  next: StreamConnection | null = null;
  /** lastTime when the connection was last put at the tail of its list (the active list is relinked lazily). */
  listTime = 0;

  /** A connection object; `verifyChecksums` as {@link ConnectionStreamOptions.verifyChecksums}. */
  constructor(verifyChecksums = false) {
    this.zeek = new ZeekTcpState(0, verifyChecksums);
  }

  /** Start as a new connection whose first packet is `f`. */
  init(
    id: number,
    f: TcpHeaderFields,
    hash: number,
    seconds: number,
    nanos: number,
    time: number,
    ring: Float64Array | null,
    ringBase: number,
    keepHead: number,
    keepTail: number,
  ): void {
    this.id = id;
    this.hash = hash;
    this.ipVersion = f.ipVersion;
    this.zeek.reset(f.flags);
    this.teardown.reset();
    const flipped = ZeekTcpState.originatorIsReceiver(f.flags);
    this.o0 = flipped ? f.dst0 : f.src0;
    this.o1 = flipped ? f.dst1 : f.src1;
    this.o2 = flipped ? f.dst2 : f.src2;
    this.o3 = flipped ? f.dst3 : f.src3;
    this.oPort = flipped ? f.dstPort : f.srcPort;
    this.r0 = flipped ? f.src0 : f.dst0;
    this.r1 = flipped ? f.src1 : f.dst1;
    this.r2 = flipped ? f.src2 : f.dst2;
    this.r3 = flipped ? f.src3 : f.dst3;
    this.rPort = flipped ? f.srcPort : f.dstPort;
    this.packetsOrig = this.packetsResp = this.seen = 0;
    this.startSeconds = seconds;
    this.startNanos = nanos;
    this.firstTime = this.lastTime = this.listTime = time;
    this.endReason = null;
    this.attemptDeadline = Infinity;
    this.zeekSplits = null;
    this.zeekSplitCount = 0;
    this.ring = ring;
    this.ringBase = ringBase;
    this.keepHead = keepHead;
    this.keepTail = keepTail;
    this.ringSize = keepHead + keepTail;
    this.ringSlot = 0;
    this.nextInBucket = this.prev = this.next = null;
    this.closing = false;
  }

  /** Record that Zeek would start a new connection at record `index`. */
  noteZeekSplit(reason: ZeekSplitReason, index: number, time: number): void {
    this.zeekSplitCount++;
    const splits = this.zeekSplits ??= [];
    if (splits.length < _MAX_SPLITS) splits.push({ reason, index, time });
  }

  /** Packets counted, both ways (as Zeek's orig_pkts and resp_pkts: a bad checksum verified is not counted). */
  get packets(): number {
    return this.packetsOrig + this.packetsResp;
  }

  /** The originator (the side that sent the first SYN, or the first packet). */
  get originator(): Endpoint {
    return { address: _addressText(this.ipVersion, this.o0, this.o1, this.o2, this.o3), port: this.oPort };
  }

  /** The responder. */
  get responder(): Endpoint {
    return { address: _addressText(this.ipVersion, this.r0, this.r1, this.r2, this.r3), port: this.rPort };
  }

  /**
   * The kept packet positions, in capture order, and how many packets
   * between the first and the last few were not kept.
   */
  keptPackets(): { packets: KeptPacket[]; omittedAfter: number; omitted: number } {
    const ring = this.ring;
    const n = this.seen;
    const out: KeptPacket[] = [];
    if (ring === null) return { packets: out, omittedAfter: 0, omitted: n };
    const head = this.keepHead, tail = this.keepTail;
    const read = (slot: number) => {
      const at = this.ringBase + slot * _SLOT;
      const meta = ring[at + 2]!;
      out.push({
        dataOffset: ring[at]!,
        time: ring[at + 1]!,
        capturedLength: meta % _META_LINK,
        linkType: Math.floor(meta / _META_LINK) % 65536,
        originalLength: Math.floor(meta / _META_ORIG),
        index: ring[at + 3]!,
      });
    };
    if (n <= head + tail) {
      for (let i = 0; i < n; i++) read(i);
      return { packets: out, omittedAfter: 0, omitted: 0 };
    }
    for (let i = 0; i < head; i++) read(i);
    for (let i = n - tail; i < n; i++) read(head + ((i - head) % tail));
    return { packets: out, omittedAfter: head, omitted: n - head - tail };
  }
}

/**
 * The tracker: give it every record (it is a {@link RecordSink}), then call
 * {@link finish}; each connection reaches the sink once.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ConnectionStream } from "./connection_stream.ts";
 * const ended: string[] = [];
 * const stream = new ConnectionStream({
 *   ended: (conn, why) => (ended.push(`${conn.id} ${conn.zeek.connState()} ${why}`), false),
 * });
 * const ip = (flags: number, fromClient: boolean, seq: number, ack: number) => {
 *   const d = new Uint8Array(40);
 *   d.set([0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0]);
 *   d.set(fromClient ? [10, 0, 0, 1, 10, 0, 0, 2] : [10, 0, 0, 2, 10, 0, 0, 1], 12);
 *   const v = new DataView(d.buffer);
 *   v.setUint16(20, fromClient ? 40000 : 80); v.setUint16(22, fromClient ? 80 : 40000);
 *   v.setUint32(24, seq); v.setUint32(28, ack); d[32] = 0x50; d[33] = flags;
 *   return d;
 * };
 * const syn = ip(0x02, true, 100, 0), rst = ip(0x14, false, 0, 101);
 * stream.record(syn, 0, 40, 40, 101, 1, 0, 0, 0);
 * stream.record(rst, 0, 40, 40, 101, 1, 1000, 56, 56);
 * stream.finish();
 * assert.deepEqual(ended, ["1 REJ closed"]);
 * ```
 */
export class ConnectionStream implements RecordSink {
  readonly #sink: ConnectionSink;
  readonly #fields = new TcpHeaderFields();
  /** Hash buckets: the first connection of each chain (a power-of-two array, grown as needed). */
  #buckets: Array<StreamConnection | null> = new Array<StreamConnection | null>(4096).fill(null);
  #mask = 4095;
  readonly #idleTimeout: number;
  readonly #closeDelay: number;
  readonly #maxTracked: number;
  readonly #keepHead: number;
  readonly #keepTail: number;
  readonly #focus: { id: number; head: number; tail: number } | null;
  readonly #verifyChecksums: boolean;
  readonly #zeekBoundaries: boolean;
  /** The rings of the connections (keepHead + keepTail slots each), side by side in one array. */
  #rings: Float64Array = new Float64Array(0);
  /** Free ring numbers, and how many rings #rings holds. */
  readonly #freeRings: number[] = [];
  #ringCount = 0;
  readonly #free: StreamConnection[] = [];
  // The filter, as words.
  readonly #hostVersion: number;
  readonly #h0: number;
  readonly #h1: number;
  readonly #h2: number;
  readonly #h3: number;
  readonly #port: number;
  // Two lists in order of last activity: open connections, and closed ones waiting for stragglers.
  #activeHead: StreamConnection | null = null;
  #activeTail: StreamConnection | null = null;
  #closingHead: StreamConnection | null = null;
  #closingTail: StreamConnection | null = null;
  #tracked = 0;
  #nextId = 1;
  #firstSeconds = -1;
  #now = 0;
  #nextExpiry = 0;
  #nextIdleCheck = 0;
  /** Records seen. */
  records = 0;
  /** TCP segments that passed the filter. */
  tcpPackets = 0;
  /** Records that are not TCP (or not a link type this lab reads). */
  otherRecords = 0;
  /** TCP segments the filter left out. */
  filteredOut = 0;
  /**
   * ICMP errors that quote a packet of a tracked connection (and passed the filter, which reads the quoted
   * header); they are counted in {@link otherRecords} too.
   */
  icmpErrors = 0;
  /** The most connections tracked at the same moment. */
  peakTracked = 0;
  /** Connections ended early because more than maxTracked were open at once. */
  evicted = 0;
  /** TCP segments (that passed the filter) whose checksum is wrong; null when checksums are not checked. */
  badChecksums: number | null = null;
  /** The connection the last record went to, or null when it was not a TCP packet that passed the filter. */
  connection: StreamConnection | null = null;
  /** Whether the last record came from that connection's originator. */
  fromOriginator = false;
  /** The connection the last record quoted when it was an ICMP error that went to one, else null. */
  icmpConnection: StreamConnection | null = null;
  /** Whether the packet that ICMP error quoted was that connection's originator's (see {@link icmpConnection}). */
  icmpQuotesOriginator = false;
  /** What {@link #find} found: whether the header goes from the connection's originator. */
  #foundFromOrig = false;
  /** Capture time of the first and the last record: seconds and nanoseconds since the epoch. */
  firstSeconds = 0;
  firstNanos = 0;
  lastSeconds = 0;
  lastNanos = 0;

  /** A tracker that hands finished connections to `sink`. */
  constructor(sink: ConnectionSink, options: ConnectionStreamOptions = {}) {
    this.#sink = sink;
    this.#idleTimeout = options.idleTimeout ?? 300;
    this.#closeDelay = options.closeDelay ?? 5;
    this.#maxTracked = Math.max(1, options.maxTracked ?? 100_000);
    this.#keepHead = options.keepHead ?? 8;
    this.#keepTail = Math.max(1, options.keepTail ?? 24);
    this.#focus = options.focus ?? null;
    this.#verifyChecksums = options.verifyChecksums ?? false;
    if (this.#verifyChecksums) this.badChecksums = 0;
    this.#zeekBoundaries = options.zeekBoundaries ?? false;
    const host = options.filter?.host;
    this.#hostVersion = host === undefined ? 0 : host.length === 4 ? 4 : 6;
    // Signed int32 words, as TcpHeaderFields has them (an address from 128.0.0.0 up is negative there).
    const word = (i: number) =>
      host === undefined || host.length < i * 4 + 4
        ? 0
        : (host[i * 4]! << 24) | (host[i * 4 + 1]! << 16) | (host[i * 4 + 2]! << 8) | host[i * 4 + 3]!;
    this.#h0 = word(0);
    this.#h1 = word(1);
    this.#h2 = word(2);
    this.#h3 = word(3);
    this.#port = options.filter?.port ?? -1;
  }

  /** Connections tracked right now. */
  get tracked(): number {
    return this.#tracked;
  }

  /** Connections started so far. */
  get connections(): number {
    return this.#nextId - 1;
  }

  /** One capture record (see {@link RecordSink.record}). */
  record(
    data: Uint8Array,
    start: number,
    capturedLength: number,
    originalLength: number,
    linkType: number,
    seconds: number,
    nanos: number,
    _recordOffset: number,
    dataOffset: number,
  ): void {
    const index = ++this.records;
    if (this.#firstSeconds === -1) {
      this.#firstSeconds = seconds;
      this.firstSeconds = seconds;
      this.firstNanos = nanos;
    }
    this.lastSeconds = seconds;
    this.lastNanos = nanos;
    const time = seconds - this.#firstSeconds + nanos * 1e-9;
    if (time > this.#now) this.#now = time;
    // Connections whose time is up end before this packet is matched to one.
    if (time >= this.#nextExpiry) this.#expire();
    this.connection = null;
    this.icmpConnection = null;
    const f = this.#fields;
    if (!f.decode(data, start, capturedLength, originalLength, linkType)) {
      this.otherRecords++;
      if (f.icmpType !== -1) this.#icmpError(f, data);
      return;
    }
    if ((this.#hostVersion !== 0 || this.#port !== -1) && !this.#passes(f)) {
      this.filteredOut++;
      return;
    }
    this.tcpPackets++;

    const h = _tupleHash(f);
    let conn = this.#find(f, h);
    let fromOrig = this.#foundFromOrig;
    const flags = f.flags;
    if (conn !== null && time >= conn.attemptDeadline) {
      conn = this.#attemptTimer(conn, f, fromOrig, index, time);
    }
    if (conn !== null && (flags & 0x02) !== 0) conn = this.#reuse(conn, f, index, time);
    if (conn === null) {
      conn = this.#start(f, h, seconds, nanos, time);
      fromOrig = !ZeekTcpState.originatorIsReceiver(flags);
    }
    // Zeek arms its attempt timer when the originator's first SYN moves it out of INACTIVE (UpdateInactiveState).
    const synFromInactive = (flags & 0x02) !== 0 && fromOrig && conn.zeek.orig.state === "inactive";

    // Remember where the packet is.
    const ring = conn.ring;
    if (ring !== null) {
      const slot = conn.ringBase + conn.ringSlot * _SLOT;
      conn.ringSlot = conn.ringSlot + 1 === conn.ringSize ? conn.keepHead : conn.ringSlot + 1;
      ring[slot] = dataOffset;
      ring[slot + 1] = time;
      ring[slot + 2] = capturedLength + _META_LINK * linkType +
        _META_ORIG * (originalLength < _MAX_ORIG ? originalLength : _MAX_ORIG);
      ring[slot + 3] = index;
    }
    conn.seen++;
    this.connection = conn;
    this.fromOriginator = fromOrig;
    conn.lastTime = time;

    // Checked only when asked: summing every payload byte costs a tenth of the default mode's time.
    const checksumOk = this.#verifyChecksums ? tcpChecksumOk(data, f) : null;
    const payload = f.payloadLength;
    if (checksumOk === false) {
      this.badChecksums!++;
      // Zeek 8.2 (doc/devel/conn.rst, "Checksum Behavior"): the connection is found or made, the
      // segment adds C/c to its history, and is otherwise neither counted nor analysed.
      conn.zeek.add(fromOrig, flags, f.seq, f.ack, payload, f.window, f.wellFormed, false);
    } else {
      if (fromOrig) conn.packetsOrig++;
      else conn.packetsResp++;
      conn.zeek.add(
        fromOrig,
        flags,
        f.seq,
        f.ack,
        payload,
        f.window,
        f.wellFormed,
        checksumOk,
        f.wholeSegment,
      );
      // The IP TTL (hop limit) and IPv4 ID: an RST made by a hop between has others than its sender's packets.
      const ip = f.ipOffset;
      conn.teardown.add(
        fromOrig,
        flags,
        f.seq,
        f.ack,
        payload,
        data[ip + (f.ipVersion === 4 ? 8 : 7)],
        f.ipVersion === 4 ? (data[ip + 4]! << 8) | data[ip + 5]! : -1,
      );
    }
    if (synFromInactive && conn.zeek.orig.state !== "inactive") {
      conn.attemptDeadline = time + ZEEK_TCP_ATTEMPT_DELAY;
    }

    if (conn.closing) {
      // Few packets follow a close: keep the closing list in exact order.
      if (conn !== this.#closingTail) {
        this.#unlink(conn);
        this.#append(conn);
      }
    } else if ((flags & 0x05) !== 0 && conn.zeek.finished) {
      this.#unlink(conn);
      conn.closing = true;
      this.#append(conn);
    }
    // An open connection stays where it is in the active list: #expire moves it when it gets there.
  }

  /**
   * The tracked connection of `f`'s four-tuple (its hash `h`), or null; sets
   * {@link #foundFromOrig} to whether `f` goes from its originator.
   */
  #find(f: TcpHeaderFields, h: number): StreamConnection | null {
    let conn: StreamConnection | null = this.#buckets[h & this.#mask]!;
    while (conn !== null) {
      if (conn.ipVersion === f.ipVersion) {
        // IPv4 uses the first word only: the others are 0 on both sides.
        const v4 = f.ipVersion === 4;
        if (
          conn.oPort === f.srcPort && conn.rPort === f.dstPort && conn.o0 === f.src0 && conn.r0 === f.dst0 &&
          (v4 || (conn.o1 === f.src1 && conn.o2 === f.src2 && conn.o3 === f.src3 && conn.r1 === f.dst1 &&
            conn.r2 === f.dst2 && conn.r3 === f.dst3))
        ) {
          this.#foundFromOrig = true;
          return conn;
        }
        if (
          conn.rPort === f.srcPort && conn.oPort === f.dstPort && conn.r0 === f.src0 && conn.o0 === f.dst0 &&
          (v4 || (conn.r1 === f.src1 && conn.r2 === f.src2 && conn.r3 === f.src3 && conn.o1 === f.dst1 &&
            conn.o2 === f.dst2 && conn.o3 === f.dst3))
        ) {
          this.#foundFromOrig = false;
          return conn;
        }
      }
      conn = conn.nextInBucket;
    }
    this.#foundFromOrig = false;
    return null;
  }

  /**
   * An ICMP error that quotes a TCP header (`f` holds the quoted header's
   * fields): it goes to the tracked connection whose packet it quotes, if
   * any (else it is only one of the other records); it starts none and
   * moves no timer.
   */
  #icmpError(f: TcpHeaderFields, data: Uint8Array): void {
    if ((this.#hostVersion !== 0 || this.#port !== -1) && !this.#passes(f)) return;
    const conn = this.#find(f, _tupleHash(f));
    if (conn === null) return;
    this.icmpErrors++;
    this.icmpConnection = conn;
    const v4 = f.ipVersion === 4;
    const ip = f.ipOffset;
    const from = formatAddress(data.subarray(ip + (v4 ? 12 : 8), ip + (v4 ? 16 : 24)));
    this.icmpQuotesOriginator = this.#foundFromOrig;
    conn.teardown.icmpError(
      this.#foundFromOrig,
      v4 ? 4 : 6,
      f.icmpType,
      f.icmpCode,
      from,
      f.icmpFromDestination(),
    );
  }

  /** The end of the capture: every connection still tracked ends, in order of id. */
  finish(): void {
    this.#expire();
    const left: StreamConnection[] = [];
    for (let c = this.#closingHead; c !== null; c = c.next) left.push(c);
    for (let c = this.#activeHead; c !== null; c = c.next) left.push(c);
    left.sort((a, b) => a.id - b.id);
    for (const conn of left) this.#end(conn, conn.closing ? "closed" : "capture-end");
  }

  /**
   * A packet of `conn` at or after its attempt deadline. If Zeek's
   * AttemptTimer would have ended the attempt by now (no reply), then with
   * Zeek's boundaries the connection ends here (null: the packet starts a
   * new one); without them the split is noted, and the timer of the
   * connection Zeek would start is armed if this packet is its first SYN.
   */
  #attemptTimer(
    conn: StreamConnection,
    f: TcpHeaderFields,
    fromOrig: boolean,
    index: number,
    time: number,
  ): StreamConnection | null {
    conn.attemptDeadline = Infinity;
    if (!conn.zeek.attempting) return conn;
    if (this.#zeekBoundaries) {
      this.#end(conn, "attempt");
      return null;
    }
    const flags = f.flags;
    // A SYN with another ISN ends the connection here anyway (#reuse): the same boundary as Zeek's.
    if ((flags & 0x02) !== 0 && conn.zeek.isReuse(flags, f.seq, f.wellFormed)) return conn;
    conn.noteZeekSplit("attempt-timer", index, time);
    if (fromOrig && (flags & 0x12) === 0x02) conn.attemptDeadline = time + ZEEK_TCP_ATTEMPT_DELAY;
    return conn;
  }

  /**
   * A SYN on `conn`'s four-tuple: the connection ends here (null) when the
   * SYN starts a new one (Zeek's IsReuse: another ISN, or with Zeek's
   * boundaries any SYN after a close); where only Zeek would start one, the
   * split is noted.
   */
  #reuse(conn: StreamConnection, f: TcpHeaderFields, index: number, time: number): StreamConnection | null {
    const zeekReuse = conn.zeek.isReuse(f.flags, f.seq, f.wellFormed, true);
    if (!zeekReuse) return conn;
    if (this.#zeekBoundaries || conn.zeek.isReuse(f.flags, f.seq, f.wellFormed)) {
      this.#end(conn, "reused");
      return null;
    }
    conn.noteZeekSplit("syn-after-close", index, time);
    return conn;
  }

  #passes(f: TcpHeaderFields): boolean {
    if (this.#port !== -1 && f.srcPort !== this.#port && f.dstPort !== this.#port) return false;
    if (this.#hostVersion === 0) return true;
    if (f.ipVersion !== this.#hostVersion) return false;
    const src = f.src0 === this.#h0 && f.src1 === this.#h1 && f.src2 === this.#h2 && f.src3 === this.#h3;
    const dst = f.dst0 === this.#h0 && f.dst1 === this.#h1 && f.dst2 === this.#h2 && f.dst3 === this.#h3;
    return src || dst;
  }

  #start(f: TcpHeaderFields, h: number, seconds: number, nanos: number, time: number): StreamConnection {
    if (this.#tracked >= this.#maxTracked) {
      // The least recently active: a closed one first, else the active list's head after second chances.
      let head = this.#activeHead;
      while (this.#closingHead === null && head !== null && head.lastTime > head.listTime) {
        this.#unlink(head);
        this.#append(head);
        head = this.#activeHead;
      }
      const victim = this.#closingHead ?? this.#activeHead;
      if (victim !== null) {
        this.evicted += victim.closing ? 0 : 1;
        this.#end(victim, victim.closing ? "closed" : "evicted");
      }
    }
    const id = this.#nextId++;
    let head = this.#keepHead, tail = this.#keepTail;
    let ring: Float64Array;
    let base = 0;
    if (this.#focus !== null && this.#focus.id === id) {
      head = this.#focus.head;
      tail = Math.max(1, this.#focus.tail);
      ring = new Float64Array((head + tail) * _SLOT);
    } else {
      if (this.#freeRings.length === 0) this.#moreRings();
      base = this.#freeRings.pop()! * (head + tail) * _SLOT;
      ring = this.#rings;
    }
    const conn = this.#free.pop() ?? new StreamConnection(this.#verifyChecksums);
    conn.init(id, f, h, seconds, nanos, time, ring, base, head, tail);
    if (this.#tracked >= this.#buckets.length >> 1) this.#grow();
    const b = h & this.#mask;
    conn.nextInBucket = this.#buckets[b]!;
    this.#buckets[b] = conn;
    this.#append(conn);
    this.#tracked++;
    if (this.#tracked > this.peakTracked) this.peakTracked = this.#tracked;
    return conn;
  }

  #end(conn: StreamConnection, reason: EndReason): void {
    // Out of the hash chain.
    const b = conn.hash & this.#mask;
    const first = this.#buckets[b]!;
    if (first === conn) this.#buckets[b] = conn.nextInBucket;
    else {
      let c = first;
      while (c.nextInBucket !== conn) c = c.nextInBucket!;
      c.nextInBucket = conn.nextInBucket;
    }
    conn.nextInBucket = null;
    this.#unlink(conn);
    this.#tracked--;
    conn.endReason = reason;
    const keep = this.#sink.ended(conn, reason);
    if (!keep) {
      // A kept connection keeps its ring for good (a few at most); the others give it back.
      if (conn.ring !== null && conn.keepHead === this.#keepHead && conn.keepTail === this.#keepTail) {
        this.#freeRings.push(conn.ringBase / ((this.#keepHead + this.#keepTail) * _SLOT));
      }
      conn.ring = null;
      // Reuse the object; never more than were tracked at once.
      if (this.#free.length < 4096) this.#free.push(conn);
    }
  }

  /**
   * Twice as many rings. The tracked connections move to the new array; the
   * kept ones still read the old one, which nothing writes any more.
   */
  #moreRings(): void {
    const count = Math.max(256, this.#ringCount * 2);
    const bigger = new Float64Array(count * (this.#keepHead + this.#keepTail) * _SLOT);
    const old = this.#rings;
    bigger.set(old);
    for (const list of [this.#activeHead, this.#closingHead]) {
      for (let c = list; c !== null; c = c.next) if (c.ring === old) c.ring = bigger;
    }
    this.#rings = bigger;
    for (let i = count - 1; i >= this.#ringCount; i--) this.#freeRings.push(i);
    this.#ringCount = count;
  }

  /** Twice the buckets, every connection rehashed. */
  #grow(): void {
    const old = this.#buckets;
    this.#buckets = new Array<StreamConnection | null>(old.length * 2).fill(null);
    this.#mask = this.#buckets.length - 1;
    for (let c of old) {
      while (c !== null) {
        const next = c.nextInBucket;
        const b = c.hash & this.#mask;
        c.nextInBucket = this.#buckets[b]!;
        this.#buckets[b] = c;
        c = next;
      }
    }
  }

  /** Hand over connections whose time is up; next check a second of capture time later. */
  #expire(): void {
    const now = this.#now;
    while (this.#closingHead !== null && this.#closingHead.lastTime + this.#closeDelay <= now) {
      this.#end(this.#closingHead, "closed");
    }
    if (now >= this.#nextIdleCheck) {
      // The active list is in order of listTime, and lastTime >= listTime: a head that
      // saw packets since it was placed goes to the tail (a second chance); an idle one ends.
      let head = this.#activeHead;
      while (head !== null) {
        if (head.lastTime + this.#idleTimeout <= now) this.#end(head, "idle");
        else if (head.lastTime > head.listTime) {
          this.#unlink(head);
          this.#append(head);
        } else break;
        head = this.#activeHead;
      }
      this.#nextIdleCheck = now + Math.max(1, this.#idleTimeout / 10);
    }
    this.#nextExpiry = now + 1;
  }

  #append(conn: StreamConnection): void {
    conn.next = null;
    conn.listTime = conn.lastTime;
    if (conn.closing) {
      conn.prev = this.#closingTail;
      if (this.#closingTail !== null) this.#closingTail.next = conn;
      else this.#closingHead = conn;
      this.#closingTail = conn;
    } else {
      conn.prev = this.#activeTail;
      if (this.#activeTail !== null) this.#activeTail.next = conn;
      else this.#activeHead = conn;
      this.#activeTail = conn;
    }
  }

  #unlink(conn: StreamConnection): void {
    const prev = conn.prev, next = conn.next;
    if (prev !== null) prev.next = next;
    else if (conn.closing) this.#closingHead = next;
    else this.#activeHead = next;
    if (next !== null) next.prev = prev;
    else if (conn.closing) this.#closingTail = prev;
    else this.#activeTail = prev;
    conn.prev = conn.next = null;
  }
}

/** The hash of `f`'s four-tuple: the same both ways. */
function _tupleHash(f: TcpHeaderFields): number {
  return _finish(
    _endpointHash(f.src0, f.src1, f.src2, f.src3, f.srcPort) +
      _endpointHash(f.dst0, f.dst1, f.dst2, f.dst3, f.dstPort),
  );
}

function _endpointHash(w0: number, w1: number, w2: number, w3: number, port: number): number {
  let h = Math.imul(w0 ^ (port << 16) ^ port, 0x9e3779b1);
  h ^= Math.imul(w1, 0x85ebca6b);
  h ^= Math.imul(w2, 0xc2b2ae35);
  h ^= Math.imul(w3, 0x27d4eb2f);
  h ^= h >>> 15;
  return Math.imul(h, 0x2c1b3c6d);
}

function _finish(h: number): number {
  h |= 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x45d9f3b);
  h ^= h >>> 16;
  return h & 0x3fffffff;
}

function _addressText(version: number, w0: number, w1: number, w2: number, w3: number): string {
  const bytes = new Uint8Array(version === 4 ? 4 : 16);
  const words = version === 4 ? [w0] : [w0, w1, w2, w3];
  words.forEach((w, i) => {
    bytes[i * 4] = w >>> 24;
    bytes[i * 4 + 1] = (w >>> 16) & 255;
    bytes[i * 4 + 2] = (w >>> 8) & 255;
    bytes[i * 4 + 3] = w & 255;
  });
  return formatAddress(bytes);
}
