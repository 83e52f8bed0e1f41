/**
 * Explain every TCP connection in a capture from its packets alone: the
 * core of `lab explain`. Pure (no files): bytes in, explanation out, in
 * memory bounded by the connections open at the same moment and by capped
 * lists, whatever the size of the capture.
 *
 * {@link CaptureExplainer} takes the file in chunks; {@link explainCapture}
 * takes a whole file in memory. Either way every connection is counted (by
 * Zeek conn_state, by cause), the summary keeps the first rows (the
 * abnormal ones first), the largest connections, and full details (packets
 * in tcpdump's notation) for the first few abnormal connections of each
 * kind. Everything left out is counted.
 *
 * @module
 */

import { parseAddress } from "../analysis/addresses.ts";
import { CaptureReader, PcapError } from "../analysis/capture_reader.ts";
import {
  ConnectionStream,
  type EndReason,
  type KeptPacket,
  type StreamConnection,
  type ZeekSplitReason,
} from "../analysis/connection_stream.ts";
import { packetLine, SequenceNumbering } from "../analysis/packet_lines.ts";
import { decodeTcp } from "../analysis/tcp_decoder.ts";
import { TcpdumpFormatter } from "../analysis/tcpdump_format.ts";
import type { CauseCandidate, CauseId } from "../analysis/causes.ts";
import type { Teardown, TeardownContext, TeardownKind } from "../analysis/teardown.ts";
import type { ConnState } from "../analysis/types.ts";
import { ZEEK_TCP_ATTEMPT_DELAY, ZEEK_VERSION, zeekDifferences } from "../analysis/zeek_tcp_state.ts";

/** "originator" (the side that sent the first SYN) or "responder". */
export type Role = "originator" | "responder";

/** Options of `lab explain`. */
export interface ExplainOptions {
  /** Only connections to or from this address. */
  host?: string;
  /** Only connections to or from this port. */
  port?: number;
  /** Only this connection (its number in the summary, with the same host and port filters), in full. */
  conn?: number;
  /** Rows of the summary table (default 100). */
  maxRows?: number;
  /** Detailed sections for abnormal connections: at most this many of each state and cause (default 3)... */
  maxDetailsPerKind?: number;
  /** ...and at most this many in all (default 25). */
  maxDetails?: number;
  /** The largest connections listed (default 10). */
  maxLargest?: number;
  /** Seconds of capture time before an idle connection counts as ended (default 300). */
  idleTimeout?: number;
  /** The most connections tracked at once (default 100,000). */
  maxTracked?: number;
  /** `verify`: a bad TCP checksum is logged as history C/c and otherwise ignored, as Zeek does; `ignore` (default): like `zeek -C`. */
  checksums?: ChecksumMode;
  /**
   * Zeek's connection boundaries (`--zeek-boundaries`): its attempt timer and
   * a new connection for any SYN after a close. Default false: one
   * connection per ISN, each row noting where Zeek would split it.
   */
  zeekBoundaries?: boolean;
}

/** How bad TCP checksums are treated (see {@link ExplainOptions.checksums}). */
export type ChecksumMode = "verify" | "ignore";

/** One connection, summarised. */
export interface ConnectionSummary {
  id: number;
  /** "10.0.0.1:40000" or "[::1]:40000". */
  originator: string;
  responder: string;
  /** Capture time of its first packet, ISO 8601 UTC with microseconds. */
  start: string;
  /** The same, nanoseconds since the epoch, as a decimal string. */
  startNs: string;
  durationMs: number;
  packets: { orig: number; resp: number };
  /** Payload bytes each way (sequence space, retransmissions once). */
  bytes: { orig: number; resp: number };
  /** Zeek's missed_bytes: bytes acknowledged that the capture never showed (content gaps, both ways). */
  missedBytes: number;
  state: ConnState;
  history: string;
  /** No SYN from either side was captured: the capture started after the connection did. */
  startedMidStream: boolean;
  /** Why tracking stopped: closed, reused (a new SYN on the four-tuple), attempt (Zeek's attempt timer), idle, evicted, capture-end. */
  ended: EndReason;
  /**
   * Where Zeek would start a new connection inside this one (only without
   * `zeekBoundaries`; the first 10): why, the packet's frame number, and
   * milliseconds since the connection's first packet. Empty where Zeek
   * draws the same boundaries.
   */
  zeekSplits: Array<{ reason: ZeekSplitReason; packet: number; ms: number }>;
  /** The same in one sentence, for the report; null when Zeek agrees. */
  zeekNote: string | null;
  kind: TeardownKind;
  closedFirstBy: Role | null;
  resetBy: Role | null;
  /** The causes the packets allow, joined with " or ". */
  cause: string;
  candidates: CauseCandidate[];
  /** Ended by a RST, a refused or unanswered SYN, or retransmissions nobody answered. */
  abnormal: boolean;
}

/** One packet of a detailed connection (see packet_lines.ts). */
export interface ConnectionPacket {
  /** 1-based record number in the file (Wireshark's frame number). */
  index: number;
  /** Milliseconds since the connection's first packet. */
  ms: number;
  from: Role;
  /** tcpdump's flags: "S", "S.", ".", "P.", "F.", "R.", "R". */
  flags: string;
  /** Sequence and ack numbers as packet_lines.ts numbers them: from each side's ISN, or the first number seen. */
  seq: number;
  ack: number;
  length: number;
  /** What `tcpdump -nn` prints after the timestamp. */
  tcpdump: string;
}

/** A connection that ended abnormally, in detail. */
export interface ConnectionDetail extends ConnectionSummary {
  /** The teardown facts the candidates rest on. */
  teardown: Omit<Teardown, "candidates" | "kind" | "closedFirstBy" | "resetBy">;
  /** The first and last packets. */
  packetLines: ConnectionPacket[];
  /** Packets not shown, and after how many of the shown ones the gap is. */
  omittedPackets: number;
  omittedAfter: number;
}

/** A capture, explained. */
export interface CaptureExplanation {
  file: string;
  format: "pcap" | "pcapng" | null;
  linkTypes: number[];
  filter: { host: string | null; port: number | null; conn: number | null };
  /** Bytes of the file read as complete records. */
  bytesRead: number;
  records: number;
  tcpPackets: number;
  /** Records that are not TCP, or of a link type the lab does not read. */
  otherRecords: number;
  /** Of the other records, the ICMP errors that quote a packet of a connection here (told with it). */
  icmpErrors: number;
  /** TCP packets the host and port filters left out. */
  filteredOut: number;
  /** First and last record times (ISO 8601), or null for an empty capture. */
  firstTime: string | null;
  lastTime: string | null;
  durationSeconds: number;
  /** The capture could not be read to its end: where and why. The rest is missing. */
  cutShort: { offset: number; problem: string } | null;
  /**
   * The Zeek rules followed: the version, how checksums were treated, whose
   * connection boundaries (`zeek` with `--zeek-boundaries`, else `explain`),
   * and every documented difference.
   */
  zeek: {
    version: string;
    checksums: ChecksumMode;
    boundaries: "zeek" | "explain";
    differences: readonly string[];
  };
  /** TCP packets (that passed the filters) with a bad TCP checksum; null unless `--checksums verify` checked them. */
  badChecksums: number | null;
  connections: number;
  abnormal: number;
  byState: Record<string, number>;
  byCause: Record<string, number>;
  /** The same counts for the abnormal connections only. */
  abnormalByCause: Record<string, number>;
  /** Why tracking stopped, for how many: closed, reused, idle, evicted, capture-end. */
  byEnd: Record<string, number>;
  /** The most connections open at the same moment; connections ended early to stay under the limit. */
  peakOpen: number;
  evicted: number;
  /** Summary rows: abnormal connections first, each group in order of id. */
  rows: ConnectionSummary[];
  rowsOmitted: { abnormal: number; normal: number };
  /** The connections with the most payload, largest first. */
  largest: ConnectionSummary[];
  details: ConnectionDetail[];
  /** Abnormal connections without a detailed section. */
  detailsOmitted: number;
}

/** Reads a kept packet's bytes again: `length` bytes at file `offset`. */
export type PacketFetcher = (offset: number, length: number) => Uint8Array;

/**
 * Explain a whole capture held in memory. A file that cannot be read at all
 * (empty, wrong magic, truncated header) throws a {@link PcapError}; one
 * that breaks later is explained as far as it goes, with `cutShort` set.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { explainCapture } from "./explain_capture.ts";
 * const bytes = Deno.readFileSync(new URL("../../tests/testdata/refused.pcap", import.meta.url));
 * const explained = explainCapture(bytes, "refused.pcap");
 * assert.equal(explained.connections, 1);
 * assert.equal(explained.rows[0]?.state, "REJ");
 * assert.equal(explained.rows[0]?.cause, "refused");
 * ```
 */
export function explainCapture(
  bytes: Uint8Array,
  file: string,
  options: ExplainOptions = {},
): CaptureExplanation {
  const explainer = new CaptureExplainer(file, options);
  let problem: PcapError | null = null;
  try {
    explainer.reader.readAll(bytes);
  } catch (error) {
    if (!(error instanceof PcapError) || explainer.reader.format === null) throw error;
    problem = error;
  }
  return explainer.finish((offset, length) => bytes.subarray(offset, offset + length), problem);
}

/**
 * The streaming explainer: feed {@link reader} (with `space()`/`commit()`
 * or `push()`), then call {@link finish}.
 */
export class CaptureExplainer {
  /** The capture reader to feed. */
  readonly reader: CaptureReader;
  readonly #file: string;
  readonly #stream: ConnectionStream;
  readonly #collector: _Collector;
  readonly #options: ExplainOptions;

  /** An explainer for `file` (the name in messages). Throws a TypeError for a bad host. */
  constructor(file: string, options: ExplainOptions = {}) {
    this.#file = file;
    this.#options = options;
    let host: Uint8Array | undefined;
    if (options.host !== undefined) {
      const parsed = parseAddress(options.host);
      if (parsed === null) throw new TypeError(`Cannot filter by host "${options.host}": not an IP address`);
      host = parsed;
    }
    this.#collector = new _Collector(options);
    const filter = {
      ...(host ? { host } : {}),
      ...(options.port !== undefined ? { port: options.port } : {}),
    };
    this.#stream = new ConnectionStream(this.#collector, {
      filter,
      ...(options.idleTimeout !== undefined ? { idleTimeout: options.idleTimeout } : {}),
      ...(options.maxTracked !== undefined ? { maxTracked: options.maxTracked } : {}),
      ...(options.conn !== undefined ? { focus: { id: options.conn, head: 1000, tail: 1000 } } : {}),
      verifyChecksums: options.checksums === "verify",
      zeekBoundaries: options.zeekBoundaries ?? false,
    });
    this.reader = new CaptureReader(file, this.#stream);
  }

  /**
   * Everything read so far, explained. `fetch` reads the kept packets again
   * (a few hundred at most); `problem` is the error that stopped the reading, if any.
   */
  finish(fetch: PacketFetcher, problem: PcapError | null = null): CaptureExplanation {
    const stream = this.#stream;
    stream.finish();
    const c = this.#collector;
    const o = this.#options;
    const rows = c.rows(o.maxRows ?? 100);
    const hasTime = stream.records > 0;
    return {
      file: this.#file,
      format: this.reader.format,
      linkTypes: this.reader.linkTypes,
      filter: { host: o.host ?? null, port: o.port ?? null, conn: o.conn ?? null },
      bytesRead: this.reader.bytesParsed,
      records: stream.records,
      tcpPackets: stream.tcpPackets,
      otherRecords: stream.otherRecords,
      icmpErrors: stream.icmpErrors,
      filteredOut: stream.filteredOut,
      firstTime: hasTime ? _iso(stream.firstSeconds, stream.firstNanos) : null,
      lastTime: hasTime ? _iso(stream.lastSeconds, stream.lastNanos) : null,
      durationSeconds: hasTime
        ? stream.lastSeconds - stream.firstSeconds + (stream.lastNanos - stream.firstNanos) * 1e-9
        : 0,
      cutShort: problem ? { offset: problem.offset, problem: _problem(problem) } : null,
      zeek: {
        version: ZEEK_VERSION,
        checksums: o.checksums ?? "ignore",
        boundaries: o.zeekBoundaries ? "zeek" : "explain",
        differences: zeekDifferences(o.zeekBoundaries ?? false),
      },
      badChecksums: stream.badChecksums,
      connections: c.total,
      abnormal: c.abnormal,
      byState: _sorted(c.byState),
      byCause: _sorted(c.byCause),
      abnormalByCause: _sorted(c.abnormalByCause),
      byEnd: _sorted(c.byEnd),
      peakOpen: stream.peakTracked,
      evicted: stream.evicted,
      rows: rows.rows,
      rowsOmitted: rows.omitted,
      largest: c.largest.map((l) => l.summary),
      details: [...c.details].sort((a, b) => a.conn.id - b.conn.id).map((d) =>
        _detail(d.conn, d.summary, d.teardown, fetch, stream)
      ),
      detailsOmitted: c.abnormal - c.details.length,
    };
  }
}

/** The message of a PcapError without the file and offset it starts with. */
function _problem(error: PcapError): string {
  return error.message.replace(/^Cannot read ".*" at byte \d+: /, "");
}

interface _Kept {
  conn: StreamConnection;
  summary: ConnectionSummary;
  teardown: Teardown;
}

/** Receives finished connections, counts them all, keeps capped lists. */
class _Collector {
  total = 0;
  abnormal = 0;
  readonly byState = new Map<string, number>();
  readonly byCause = new Map<string, number>();
  readonly abnormalByCause = new Map<string, number>();
  readonly byEnd = new Map<string, number>();
  readonly #byKind = new Map<string, number>();
  readonly #abnormalRows: _FirstById;
  readonly #normalRows: _FirstById;
  largest: Array<{ size: number; summary: ConnectionSummary }> = [];
  readonly details: _Kept[] = [];
  readonly #perKind: number;
  readonly #maxDetails: number;
  readonly #maxLargest: number;
  readonly #focus: number | null;
  /** Reused for every connection: without texts, the responder is never read. */
  readonly #quickContext: TeardownContext = {
    isnOrig: null,
    isnResp: null,
    handshakeCompleted: false,
    responder: { address: "", port: 0 },
  };

  constructor(options: ExplainOptions) {
    const maxRows = Math.max(0, options.maxRows ?? 100);
    this.#abnormalRows = new _FirstById(maxRows);
    this.#normalRows = new _FirstById(maxRows);
    this.#perKind = Math.max(0, options.maxDetailsPerKind ?? 3);
    this.#maxDetails = Math.max(0, options.maxDetails ?? 25);
    this.#maxLargest = Math.max(0, options.maxLargest ?? 10);
    this.#focus = options.conn ?? null;
  }

  ended(conn: StreamConnection, reason: EndReason): boolean {
    if (this.#focus !== null && conn.id !== this.#focus) return false;
    // Classify without texts first: most connections are only counted.
    const q = this.#quickContext;
    q.isnOrig = conn.zeek.isnOrig;
    q.isnResp = conn.zeek.isnResp;
    q.handshakeCompleted = conn.zeek.handshakeCompleted;
    const quick = conn.teardown.classify(q, false);
    const zeek = conn.zeek;
    const state = zeek.connState();
    const cause = _causeKey(quick.candidates);
    const abnormal = _isAbnormal(quick);
    this.total++;
    _count(this.byState, state);
    _count(this.byCause, cause);
    _count(this.byEnd, reason);
    let kept: _Kept | null = null;
    const full = (): _Kept => {
      if (kept === null) {
        const teardown = conn.teardown.classify(_context(conn), true);
        kept = { conn, summary: _summary(conn, reason, teardown, state), teardown };
      }
      return kept;
    };
    const size = zeek.bytesOrig() + zeek.bytesResp();
    if (this.#maxLargest > 0 && size > 0) {
      const smallest = this.largest[this.largest.length - 1];
      if (this.largest.length < this.#maxLargest || (smallest !== undefined && size > smallest.size)) {
        this.largest.push({ size, summary: full().summary });
        this.largest.sort((a, b) => b.size - a.size || a.summary.id - b.summary.id);
        if (this.largest.length > this.#maxLargest) this.largest.pop();
      }
    }
    if (abnormal) {
      this.abnormal++;
      _count(this.abnormalByCause, cause);
    }
    const rows = abnormal ? this.#abnormalRows : this.#normalRows;
    if (rows.wants(conn.id)) rows.add(full().summary);
    else rows.skip();
    const focused = this.#focus !== null;
    if (!abnormal && !focused) return false;
    const kind = `${state} ${cause}`;
    const sameKind = this.#byKind.get(kind) ?? 0;
    if (!focused && (sameKind >= this.#perKind || this.details.length >= this.#maxDetails)) return false;
    this.#byKind.set(kind, sameKind + 1);
    this.details.push(full());
    return true;
  }

  /** The summary rows: abnormal first, then normal, `max` in all, each group by id. */
  rows(max: number): { rows: ConnectionSummary[]; omitted: { abnormal: number; normal: number } } {
    const abnormal = this.#abnormalRows.first(max);
    const normal = this.#normalRows.first(Math.max(0, max - abnormal.length));
    return {
      rows: [...abnormal, ...normal],
      omitted: {
        abnormal: this.#abnormalRows.seen - abnormal.length,
        normal: this.#normalRows.seen - normal.length,
      },
    };
  }
}

/** The `max` connections with the smallest ids, among many offered in about that order. */
class _FirstById {
  seen = 0;
  #items: ConnectionSummary[] = [];
  #cutoff = Infinity;

  constructor(readonly max: number) {}

  /** Whether a connection with this id could be among the first `max` (then {@link add} it). */
  wants(id: number): boolean {
    return this.max > 0 && id < this.#cutoff;
  }

  add(s: ConnectionSummary): void {
    this.seen++;
    this.#items.push(s);
    if (this.#items.length >= 2 * this.max) {
      this.#items = this.first(this.max);
      this.#cutoff = this.#items[this.#items.length - 1]!.id;
    }
  }

  skip(): void {
    this.seen++;
  }

  first(max: number): ConnectionSummary[] {
    return this.#items.sort((a, b) => a.id - b.id).slice(0, max);
  }
}

function _context(conn: StreamConnection): TeardownContext {
  const zeek = conn.zeek;
  return {
    isnOrig: zeek.isnOrig,
    isnResp: zeek.isnResp,
    handshakeCompleted: zeek.handshakeCompleted,
    responder: conn.responder,
  };
}

function _causeKey(candidates: CauseCandidate[]): string {
  if (candidates.length === 1) return candidates[0]!.cause;
  return candidates.map((c) => c.cause).join(" or ");
}

function _isAbnormal(t: Teardown): boolean {
  return _ABNORMAL_KINDS.has(t.kind) ||
    t.candidates.some((c) =>
      c.cause === "abort-after-retransmissions" || c.cause === "retransmission-timeout"
    );
}

function _count(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

function _sorted(map: Map<string, number>): Record<string, number> {
  return Object.fromEntries([...map].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)));
}

const _ABNORMAL_KINDS: ReadonlySet<TeardownKind> = new Set(["reset", "refused", "no-handshake"]);

function _summary(
  conn: StreamConnection,
  reason: EndReason,
  teardown: Teardown,
  state: ConnState,
): ConnectionSummary {
  const role = (d: "orig" | "resp" | null): Role | null =>
    d === null ? null : d === "orig" ? "originator" : "responder";
  const endpoint = (e: { address: string; port: number }) =>
    e.address.includes(":") ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`;
  const zeek = conn.zeek;
  const causes: CauseId[] = teardown.candidates.map((c) => c.cause);
  const splits = (conn.zeekSplits ?? []).map((z) => ({
    reason: z.reason,
    packet: z.index,
    ms: Math.round((z.time - conn.firstTime) * 1e9) / 1e6,
  }));
  return {
    id: conn.id,
    originator: endpoint(conn.originator),
    responder: endpoint(conn.responder),
    start: _iso(conn.startSeconds, conn.startNanos),
    startNs: (BigInt(conn.startSeconds) * 1_000_000_000n + BigInt(conn.startNanos)).toString(),
    durationMs: Math.round((conn.lastTime - conn.firstTime) * 1e9) / 1e6,
    packets: { orig: conn.packetsOrig, resp: conn.packetsResp },
    bytes: { orig: zeek.bytesOrig(), resp: zeek.bytesResp() },
    missedBytes: zeek.missedBytes(),
    state,
    history: zeek.history,
    startedMidStream: zeek.isnOrig === null && zeek.isnResp === null,
    ended: reason,
    zeekSplits: splits,
    zeekNote: _zeekNote(conn.zeekSplitCount, splits),
    kind: teardown.kind,
    closedFirstBy: role(teardown.closedFirstBy),
    resetBy: role(teardown.resetBy),
    cause: causes.join(" or "),
    candidates: teardown.candidates,
    abnormal: _isAbnormal(teardown),
  };
}

/**
 * One sentence: how many connections Zeek would log for this one, where it
 * would start each new one, and why (the Zeek rule by name).
 */
function _zeekNote(count: number, splits: ConnectionSummary["zeekSplits"]): string | null {
  if (count === 0) return null;
  const parts: string[] = [];
  for (const reason of ["attempt-timer", "syn-after-close"] as const) {
    const at = splits.filter((s) => s.reason === reason).map((s) => `${s.packet} (${s.ms.toFixed(3)} ms)`);
    if (at.length === 0) continue;
    const frames = `frame${at.length === 1 ? "" : "s"} ${at.join(", ")}`;
    parts.push(
      reason === "attempt-timer"
        ? `its attempt timer (no reply ${ZEEK_TCP_ATTEMPT_DELAY} s after the SYN, tcp_attempt_delay) ends the ` +
          `attempt, so a new connection starts at ${frames}`
        : `a SYN after a close starts a new connection (IsReuse, even with the same ISN) at ${frames}`,
    );
  }
  const more = count > splits.length ? `, and at ${count - splits.length} more packets` : "";
  return `Zeek ${ZEEK_VERSION} would log ${count + 1} connections here: ${parts.join("; ")}${more}` +
    " (`--zeek-boundaries` splits it as Zeek does).";
}

function _detail(
  conn: StreamConnection,
  summary: ConnectionSummary,
  teardown: Teardown,
  fetch: PacketFetcher,
  stream: ConnectionStream,
): ConnectionDetail {
  const { candidates: _c, kind: _k, closedFirstBy: _f, resetBy: _r, ...facts } = teardown;
  const kept = conn.keptPackets();
  const formatter = new TcpdumpFormatter();
  const lines: ConnectionPacket[] = [];
  const numbering = new SequenceNumbering(conn.zeek.isnOrig, conn.zeek.isnResp);
  const baseNs = BigInt(stream.firstSeconds) * 1_000_000_000n;
  for (const k of kept.packets) {
    const line = _packetLine(k, conn, fetch, formatter, numbering, baseNs);
    if (line !== null) lines.push(line);
  }
  return {
    ...summary,
    teardown: facts,
    packetLines: lines,
    omittedPackets: kept.omitted,
    omittedAfter: kept.omittedAfter,
  };
}

function _packetLine(
  k: KeptPacket,
  conn: StreamConnection,
  fetch: PacketFetcher,
  formatter: TcpdumpFormatter,
  numbering: SequenceNumbering,
  baseNs: bigint,
): ConnectionPacket | null {
  let data: Uint8Array;
  try {
    data = fetch(k.dataOffset, k.capturedLength);
  } catch {
    return null;
  }
  const packet = decodeTcp({
    index: k.index,
    offset: k.dataOffset,
    timeNs: baseNs + BigInt(Math.round(k.time * 1e9)),
    linkType: k.linkType,
    originalLength: k.originalLength,
    data,
  });
  if (packet === null) return null;
  const line = packetLine(packet, conn.originator, numbering, formatter.format(packet));
  return {
    index: line.index,
    ms: Math.round((k.time - conn.firstTime) * 1e9) / 1e6,
    from: line.fromOrig ? "originator" : "responder",
    flags: line.flags,
    seq: line.seq,
    ack: line.ack,
    length: line.length,
    tcpdump: line.tcpdump,
  };
}

/** ISO 8601 UTC with microseconds. */
function _iso(seconds: number, nanos: number): string {
  const ms = seconds * 1000;
  if (!Number.isFinite(ms) || Math.abs(ms) > 8.64e15) return `${seconds}.${String(nanos).padStart(9, "0")}`;
  const text = new Date(ms).toISOString(); // ...T12:34:56.000Z
  return `${text.slice(0, 19)}.${String(Math.floor(nanos / 1000)).padStart(6, "0")}Z`;
}
