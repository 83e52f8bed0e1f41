/**
 * Reading capture files: bytes in, one call per packet record out, in
 * constant memory and without an object per record. The one capture
 * reader of the lab, for `lab run` and `lab explain` alike.
 *
 * {@link CaptureReader} reads classic pcap (both byte orders,
 * microsecond `a1b2c3d4` or nanosecond `a1b23c4d` timestamps) and pcapng
 * (several sections, each with its own byte order; several interfaces per
 * section, each with its own link type, snapshot length, timestamp
 * resolution, offset and name; enhanced, simple and obsolete packet blocks,
 * with their comments). The
 * caller hands it the file's bytes in chunks of any size (records may
 * straddle chunks), or a whole file at once; it calls
 * {@link RecordSink.record} for each packet with a view into its buffer.
 * {@link readCapture} gives the records of a small file held in memory.
 *
 * Bad bytes throw a {@link PcapError} naming the file and the byte offset.
 * Nothing here touches files: the caller reads them.
 *
 * @module
 */

import type { CaptureRecord } from "./types.ts";

/** Records larger than this are treated as corruption, whatever the file's snapshot length says. */
export const MAX_RECORD_BYTES = 256 * 1024;

/**
 * A capture file that cannot be read. The message names the file, the byte
 * offset and what is wrong there; `offset` repeats the offset for callers.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PcapError, readCapture } from "./capture_reader.ts";
 * assert.throws(() => readCapture(new Uint8Array(), "x.pcap"), (e) =>
 *   e instanceof PcapError && e.offset === 0 &&
 *   e.message === 'Cannot read "x.pcap" at byte 0: the file is empty');
 * ```
 */
export class PcapError extends SyntaxError {
  /** Byte offset in the file where the problem is. */
  readonly offset: number;
  /** The file name the caller gave. */
  readonly fileName: string;

  /** Build the error; `problem` says what is wrong at `offset`. */
  constructor(
    fileName: string,
    offset: number,
    problem: string,
    options?: ErrorOptions,
  ) {
    super(`Cannot read "${fileName}" at byte ${offset}: ${problem}`, options);
    this.name = "PcapError";
    this.offset = offset;
    this.fileName = fileName;
  }
}

/** The most bytes a pcapng block may have before it counts as corruption (16 MiB). */
export const MAX_BLOCK_BYTES = 16 * 1024 * 1024;

/** How many bytes {@link CaptureReader.space} offers for one read: 256 KiB reads are the fastest here. */
export const READ_CHUNK_BYTES = 256 * 1024;

const _PCAPNG_SHB = 0x0a0d0d0a;
const _PCAPNG_IDB = 1;
const _PCAPNG_OPB = 2;
const _PCAPNG_SPB = 3;
const _PCAPNG_EPB = 6;
const _BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const _TWO_32 = 4294967296;
const _utf8 = new TextDecoder();

/** Receives packet records from a {@link CaptureReader}. */
export interface RecordSink {
  /**
   * One packet record. Its captured bytes are `data[start, start + capturedLength)`,
   * a view into the reader's buffer that is only valid during this call.
   *
   * @param data the reader's buffer
   * @param start where the packet's bytes start in `data`
   * @param capturedLength how many bytes were captured
   * @param originalLength the packet's length on the wire
   * @param linkType the pcap LINKTYPE_ value of the packet's interface
   * @param seconds capture time: whole seconds since the Unix epoch
   * @param nanoseconds capture time: the nanoseconds within that second
   * @param recordOffset file offset of the record header (pcap) or block (pcapng)
   * @param dataOffset file offset of `data[start]`
   */
  record(
    data: Uint8Array,
    start: number,
    capturedLength: number,
    originalLength: number,
    linkType: number,
    seconds: number,
    nanoseconds: number,
    recordOffset: number,
    dataOffset: number,
  ): void;
}

/** One pcapng interface: what its packets need. */
class _Interface {
  constructor(
    readonly linkType: number,
    readonly snapLength: number,
    /** Units per second for a decimal resolution (10^n, n <= 9), or 0. */
    readonly decimalUnits: number,
    /** Nanoseconds per unit for a decimal resolution. */
    readonly nanosPerUnit: number,
    /** Binary resolution exponent (units of 2^-n s), or -1. */
    readonly binaryExponent: number,
    /** Units per second as a bigint, for resolutions the fast paths cannot do exactly. */
    readonly bigUnits: bigint | null,
    /** if_tsoffset, seconds. */
    readonly offsetSeconds: number,
    /** if_name, or null. */
    readonly name: string | null,
  ) {}
}

/**
 * A push parser for classic pcap and pcapng.
 *
 * Feed it with {@link push} (any chunks), or read straight into its buffer
 * with {@link space} and {@link commit} (no copy), then call {@link end}.
 * Bad bytes throw a {@link PcapError} naming the file and byte offset, after
 * every good record before them was delivered; {@link end} throws when the
 * file stops in the middle of a record.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CaptureReader } from "./capture_reader.ts";
 * const file = new Uint8Array(24 + 16 + 2);
 * const v = new DataView(file.buffer);
 * v.setUint32(0, 0xa1b23c4d, true); // nanosecond pcap, little-endian
 * v.setUint16(4, 2, true); v.setUint16(6, 4, true);
 * v.setUint32(16, 65535, true); v.setUint32(20, 101, true); // raw IP
 * v.setUint32(24, 7, true); v.setUint32(28, 5, true); // 7 s + 5 ns
 * v.setUint32(32, 2, true); v.setUint32(36, 2, true);
 * const seen: string[] = [];
 * const reader = new CaptureReader("tiny.pcap", {
 *   record: (_d, _s, caplen, _o, link, sec, ns) => seen.push(`${link} ${sec}.${ns} ${caplen}`),
 * });
 * for (let i = 0; i < file.length; i += 5) reader.push(file.subarray(i, i + 5));
 * reader.end();
 * assert.deepEqual(seen, ["101 7.5 2"]);
 * assert.equal(reader.format, "pcap");
 * ```
 */
export class CaptureReader {
  readonly #fileName: string;
  readonly #sink: RecordSink;
  #buf: Uint8Array;
  #view: DataView;
  /** File offset of #buf[0]. */
  #base = 0;
  /** Next byte to parse in #buf. */
  #pos = 0;
  /** End of the valid bytes in #buf. */
  #end = 0;
  /** The buffer belongs to the caller (readAll): never compact or grow it. */
  #external = false;
  #format: "pcap" | "pcapng" | null = null;
  #le = true;
  // Classic pcap.
  #linkType = 0;
  #snapLength = 0;
  #nanoMultiplier = 1000;
  // pcapng.
  #interfaces: _Interface[] = [];
  #allLinkTypes = new Set<number>();
  #lastSeconds = 0;
  #lastNanos = 0;
  #records = 0;
  #sections = 0;
  /** The record being delivered: its interface, and where its options are in #buf (none for pcap). */
  #recordInterface = 0;
  #optionsStart = 0;
  #optionsEnd = 0;
  /** Set by the timestamp conversion, to avoid returning a pair. */
  #tsSeconds = 0;
  #tsNanos = 0;

  /** A reader for `fileName` (used in error messages) that delivers records to `sink`. */
  constructor(fileName: string, sink: RecordSink, initialBufferBytes = 2 * READ_CHUNK_BYTES) {
    this.#fileName = fileName;
    this.#sink = sink;
    this.#buf = new Uint8Array(Math.max(initialBufferBytes, 64));
    this.#view = new DataView(this.#buf.buffer);
  }

  /** The format, once the first bytes were read: "pcap" or "pcapng". */
  get format(): "pcap" | "pcapng" | null {
    return this.#format;
  }

  /** Packet records delivered so far. */
  get records(): number {
    return this.#records;
  }

  /** Bytes of the file consumed by complete records (and headers) so far. */
  get bytesParsed(): number {
    return this.#base + this.#pos;
  }

  /** Every link type of the file's interfaces so far, in order of appearance. */
  get linkTypes(): number[] {
    return [...this.#allLinkTypes];
  }

  /** The names (`if_name`) of the current pcapng section's interfaces, null where none is given. */
  get interfaceNames(): (string | null)[] {
    return this.#interfaces.map((i) => i.name);
  }

  /** During {@link RecordSink.record}: the pcapng interface of the record (0 for classic pcap). */
  get recordInterface(): number {
    return this.#recordInterface;
  }

  /** During {@link RecordSink.record}: the comments (`opt_comment`) of the record, in order. */
  recordComments(): string[] {
    const comments: string[] = [];
    const view = this.#view;
    let o = this.#optionsStart;
    while (o + 4 <= this.#optionsEnd) {
      const code = view.getUint16(o, this.#le);
      const size = view.getUint16(o + 2, this.#le);
      if (code === 0 || o + 4 + size > this.#optionsEnd) break;
      if (code === 1) comments.push(_utf8.decode(this.#buf.subarray(o + 4, o + 4 + size)));
      o += 4 + ((size + 3) & ~3);
    }
    return comments;
  }

  /** pcapng sections read so far (0 for classic pcap). */
  get sections(): number {
    return this.#sections;
  }

  /**
   * Where to read the next bytes: a view of the free part of the buffer, at
   * most {@link READ_CHUNK_BYTES} long. Fill some of it, then {@link commit}.
   */
  space(): Uint8Array {
    if (this.#buf.length - this.#end < READ_CHUNK_BYTES) this.#compact(0);
    return this.#buf.subarray(this.#end, Math.min(this.#buf.length, this.#end + READ_CHUNK_BYTES));
  }

  /** Parse the `n` bytes just written into {@link space}. */
  commit(n: number): void {
    this.#end += n;
    this.#parse();
  }

  /** Copy `chunk` in and parse what is complete. */
  push(chunk: Uint8Array): void {
    let at = 0;
    while (at < chunk.length) {
      const space = this.space();
      const n = Math.min(space.length, chunk.length - at);
      space.set(chunk.subarray(at, at + n));
      at += n;
      this.commit(n);
    }
  }

  /**
   * Parse a whole file held in memory, without copying it: records are
   * views into `bytes`, valid after the call too. Includes {@link end}.
   */
  readAll(bytes: Uint8Array): void {
    this.#buf = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#external = true;
    this.#base = 0;
    this.#pos = 0;
    this.#end = bytes.length;
    this.#parse();
    this.end();
  }

  /** The end of the file: throws a {@link PcapError} if it stops inside a header or a record. */
  end(): void {
    const left = this.#end - this.#pos;
    const offset = this.#base + this.#pos;
    if (this.#format === null) {
      // #detect has thrown already for a wrong magic number.
      if (left === 0) throw this.#error(offset, "the file is empty");
      if (left < 4) {
        throw this.#error(
          offset,
          `not a capture file: only ${left} byte(s), too short for a magic number`,
        );
      }
      throw this.#error(offset, `file header truncated (${left} of 24 bytes)`);
    }
    if (left === 0) return;
    if (this.#format === "pcap") {
      const hdr = 16;
      if (left < hdr) throw this.#error(offset, `record header truncated (${left} of ${hdr} bytes)`);
      const caplen = this.#view.getUint32(this.#pos + 8, this.#le);
      throw this.#error(offset, `record data truncated (${left - hdr} of ${caplen} bytes)`);
    }
    if (left < 8) throw this.#error(offset, `block header truncated (${left} of 8 bytes)`);
    const length = this.#view.getUint32(this.#pos + 4, this.#le);
    throw this.#error(offset, `block truncated (${left} of ${length} bytes)`);
  }

  #error(offset: number, problem: string): PcapError {
    return new PcapError(this.#fileName, offset, problem);
  }

  /** Move the unparsed bytes to the front, and grow the buffer to hold `need` bytes plus a read. */
  #compact(need: number): void {
    if (this.#external) return;
    const left = this.#end - this.#pos;
    const size = Math.max(need, left) + READ_CHUNK_BYTES;
    if (size > this.#buf.length) {
      const bigger = new Uint8Array(Math.max(size, this.#buf.length * 2));
      bigger.set(this.#buf.subarray(this.#pos, this.#end));
      this.#buf = bigger;
      this.#view = new DataView(bigger.buffer);
    } else if (this.#pos > 0) {
      this.#buf.copyWithin(0, this.#pos, this.#end);
    }
    this.#base += this.#pos;
    this.#end = left;
    this.#pos = 0;
  }

  /** A record of `need` bytes starts at #pos but is not all here: make room for it. */
  #needRoom(need: number): void {
    if (this.#pos + need + READ_CHUNK_BYTES > this.#buf.length) this.#compact(need);
  }

  #parse(): void {
    if (this.#format === null && !this.#detect()) return;
    if (this.#format === "pcap") this.#parsePcap();
    else this.#parsePcapng();
  }

  /** Read the file header once enough bytes are here; false until then. */
  #detect(): boolean {
    const left = this.#end - this.#pos;
    if (left < 4) return false;
    const magic = this.#view.getUint32(this.#pos, false);
    if (magic === _PCAPNG_SHB) {
      this.#format = "pcapng";
      return true;
    }
    const le = this.#view.getUint32(this.#pos, true);
    if (!_isPcapMagic(magic) && !_isPcapMagic(le)) {
      const hex = [...this.#buf.subarray(this.#pos, this.#pos + 4)].map((x) =>
        x.toString(16).padStart(2, "0")
      );
      throw this.#error(
        this.#base + this.#pos,
        `not a capture file: the magic number is ${hex.join(" ")}, expected a1b2c3d4 or a1b23c4d ` +
          "(pcap, in either byte order) or 0a0d0d0a (pcapng)",
      );
    }
    if (left < 24) return false; // wait for the rest of the header
    // The classic pcap file header: magic, version, time zone, accuracy, snapshot length, link type.
    this.#format = "pcap";
    this.#le = _isPcapMagic(le);
    this.#snapLength = this.#view.getUint32(this.#pos + 16, this.#le);
    // The low 16 bits: the upper ones may carry FCS information.
    this.#linkType = this.#view.getUint32(this.#pos + 20, this.#le) & 0xffff;
    this.#nanoMultiplier = (this.#le ? le : magic) === 0xa1b23c4d ? 1 : 1000;
    this.#allLinkTypes.add(this.#linkType);
    this.#pos += 24;
    return true;
  }

  #parsePcap(): void {
    const buf = this.#buf;
    const view = this.#view;
    const le = this.#le;
    const end = this.#end;
    const sink = this.#sink;
    const linkType = this.#linkType;
    const nano = this.#nanoMultiplier;
    const snap = this.#snapLength;
    const limit = snap > 0 && snap < MAX_RECORD_BYTES ? snap : MAX_RECORD_BYTES;
    let p = this.#pos;
    while (end - p >= 16) {
      const caplen = view.getUint32(p + 8, le);
      if (caplen > limit) {
        this.#pos = p;
        throw this.#error(
          this.#base + p,
          caplen > MAX_RECORD_BYTES
            ? `record length ${caplen} is absurd (more than ${MAX_RECORD_BYTES} bytes): the file is corrupt`
            : `record length ${caplen} is larger than the snapshot length ${snap}`,
        );
      }
      const next = p + 16 + caplen;
      if (next > end) {
        this.#pos = p;
        this.#needRoom(16 + caplen);
        return;
      }
      this.#records++;
      sink.record(
        buf,
        p + 16,
        caplen,
        view.getUint32(p + 12, le),
        linkType,
        view.getUint32(p, le),
        view.getUint32(p + 4, le) * nano,
        this.#base + p,
        this.#base + p + 16,
      );
      p = next;
    }
    this.#pos = p;
  }

  #parsePcapng(): void {
    const end = this.#end;
    let p = this.#pos;
    while (end - p >= 12) {
      const view = this.#view;
      const offset = this.#base + p;
      let type = view.getUint32(p, this.#le);
      if (view.getUint32(p, false) === _PCAPNG_SHB) {
        type = _PCAPNG_SHB;
        const order = view.getUint32(p + 8, true);
        if (order === _BYTE_ORDER_MAGIC) this.#le = true;
        else if (order === 0x4d3c2b1a) this.#le = false;
        else {
          this.#pos = p;
          throw this.#error(
            offset + 8,
            `not a pcapng section: the byte-order magic is ${_hex32(view.getUint32(p + 8, false))}, ` +
              "expected 1a2b3c4d in either byte order",
          );
        }
      } else if (this.#sections === 0) {
        this.#pos = p;
        throw this.#error(offset, "a pcapng file must start with a section header block");
      }
      const length = view.getUint32(p + 4, this.#le);
      if (length < 12 || length % 4 !== 0) {
        this.#pos = p;
        throw this.#error(
          offset,
          `pcapng block length ${length} is invalid (at least 12 and a multiple of 4): the file is corrupt`,
        );
      }
      if (length > MAX_BLOCK_BYTES) {
        this.#pos = p;
        throw this.#error(
          offset,
          `pcapng block length ${length} is absurd (more than ${MAX_BLOCK_BYTES} bytes): the file is corrupt`,
        );
      }
      if (end - p < length) {
        this.#pos = p;
        this.#needRoom(length);
        return;
      }
      const trailer = view.getUint32(p + length - 4, this.#le);
      if (trailer !== length) {
        this.#pos = p;
        throw this.#error(
          offset,
          `pcapng block lengths disagree: ${length} at the start, ${trailer} at the end: the file is corrupt`,
        );
      }
      this.#pos = p;
      switch (type) {
        case _PCAPNG_EPB:
          this.#packetBlock(p, length, view.getUint32(p + 8, this.#le), 12, 28);
          break;
        case _PCAPNG_OPB:
          this.#packetBlock(p, length, view.getUint16(p + 8, this.#le), 12, 28);
          break;
        case _PCAPNG_SPB:
          this.#simplePacketBlock(p, length);
          break;
        case _PCAPNG_IDB:
          this.#interfaceBlock(p, length);
          break;
        case _PCAPNG_SHB:
          this.#sectionHeader(p, length);
          break;
        default:
          break; // name resolution, statistics, secrets, custom blocks: not needed
      }
      p += length;
    }
    this.#pos = p;
  }

  #sectionHeader(p: number, length: number): void {
    const offset = this.#base + p;
    if (length < 28) throw this.#error(offset, `section header block too short (${length} bytes)`);
    const major = this.#view.getUint16(p + 12, this.#le);
    if (major !== 1) {
      throw this.#error(offset, `pcapng version ${major} is not supported (only version 1 exists)`);
    }
    this.#sections++;
    this.#interfaces = [];
  }

  #interfaceBlock(p: number, length: number): void {
    const view = this.#view;
    const le = this.#le;
    const offset = this.#base + p;
    if (length < 20) throw this.#error(offset, `interface description block too short (${length} bytes)`);
    const linkType = view.getUint16(p + 8, le);
    const snapLength = view.getUint32(p + 12, le);
    let resolution = 6;
    let offsetSeconds = 0;
    let name: string | null = null;
    let o = p + 16;
    const optionsEnd = p + length - 4;
    while (o + 4 <= optionsEnd) {
      const code = view.getUint16(o, le);
      const size = view.getUint16(o + 2, le);
      if (code === 0) break;
      if (o + 4 + size > optionsEnd) {
        throw this.#error(this.#base + o, `interface option ${code} is longer than its block`);
      }
      if (code === 2) name = _utf8.decode(this.#buf.subarray(o + 4, o + 4 + size));
      if (code === 9 && size >= 1) resolution = this.#buf[o + 4]!;
      if (code === 14 && size >= 8) {
        const high = view.getInt32(o + (le ? 8 : 4), le);
        const low = view.getUint32(o + (le ? 4 : 8), le);
        offsetSeconds = high * _TWO_32 + low;
      }
      o += 4 + ((size + 3) & ~3);
    }
    let decimalUnits = 0, nanosPerUnit = 0, binaryExponent = -1;
    let bigUnits: bigint | null = null;
    if (resolution & 0x80) {
      const exponent = resolution & 0x7f;
      if (exponent <= 32) binaryExponent = exponent;
      else bigUnits = 1n << BigInt(exponent);
    } else if (resolution <= 9) {
      decimalUnits = 10 ** resolution;
      nanosPerUnit = 10 ** (9 - resolution);
    } else if (resolution <= 38) {
      bigUnits = 10n ** BigInt(resolution);
    } else {
      throw this.#error(offset, `interface time resolution 10^-${resolution} is absurd`);
    }
    this.#interfaces.push(
      new _Interface(
        linkType,
        snapLength,
        decimalUnits,
        nanosPerUnit,
        binaryExponent,
        bigUnits,
        offsetSeconds,
        name,
      ),
    );
    this.#allLinkTypes.add(linkType);
  }

  #interface(id: number, p: number): _Interface {
    const found = this.#interfaces[id];
    if (found === undefined) {
      throw this.#error(
        this.#base + p,
        `packet block for interface ${id}, but the section describes only ${this.#interfaces.length}`,
      );
    }
    return found;
  }

  #packetBlock(p: number, length: number, id: number, tsAt: number, dataAt: number): void {
    const view = this.#view;
    const le = this.#le;
    const offset = this.#base + p;
    if (length < dataAt + 4) throw this.#error(offset, `packet block too short (${length} bytes)`);
    const iface = this.#interface(id, p);
    const caplen = view.getUint32(p + 20, le);
    const original = view.getUint32(p + 24, le);
    if (caplen > length - dataAt - 4) {
      throw this.#error(
        offset,
        `pcapng block lengths disagree: captured length ${caplen} does not fit in a block of ${length} bytes`,
      );
    }
    this.#checkCaplen(offset, caplen, iface.snapLength);
    this.#timestamp(iface, view.getUint32(p + tsAt, le), view.getUint32(p + tsAt + 4, le));
    this.#lastSeconds = this.#tsSeconds;
    this.#lastNanos = this.#tsNanos;
    this.#recordInterface = id;
    this.#optionsStart = p + dataAt + ((caplen + 3) & ~3);
    this.#optionsEnd = p + length - 4;
    this.#records++;
    this.#sink.record(
      this.#buf,
      p + dataAt,
      caplen,
      original,
      iface.linkType,
      this.#tsSeconds,
      this.#tsNanos,
      offset,
      offset + dataAt,
    );
  }

  #simplePacketBlock(p: number, length: number): void {
    const offset = this.#base + p;
    if (length < 16) throw this.#error(offset, `simple packet block too short (${length} bytes)`);
    const iface = this.#interface(0, p);
    const original = this.#view.getUint32(p + 8, this.#le);
    let caplen = Math.min(original, length - 16);
    if (iface.snapLength > 0) caplen = Math.min(caplen, iface.snapLength);
    this.#checkCaplen(offset, caplen, 0);
    this.#recordInterface = 0;
    this.#optionsStart = this.#optionsEnd = 0;
    this.#records++;
    // A simple packet block has no timestamp: it keeps the previous packet's time.
    this.#sink.record(
      this.#buf,
      p + 12,
      caplen,
      original,
      iface.linkType,
      this.#lastSeconds,
      this.#lastNanos,
      offset,
      offset + 12,
    );
  }

  #checkCaplen(offset: number, caplen: number, snap: number): void {
    if (caplen > MAX_RECORD_BYTES) {
      throw this.#error(
        offset,
        `record length ${caplen} is absurd (more than ${MAX_RECORD_BYTES} bytes): the file is corrupt`,
      );
    }
    if (snap > 0 && caplen > snap) {
      throw this.#error(offset, `record length ${caplen} is larger than the snapshot length ${snap}`);
    }
  }

  /** A 64-bit pcapng timestamp in the interface's units, into #tsSeconds and #tsNanos. */
  #timestamp(iface: _Interface, high: number, low: number): void {
    const units = iface.decimalUnits;
    let seconds: number, nanos: number;
    if (units !== 0) {
      if (high < 0x200000) {
        // Below 2^53: exact in a double.
        const value = high * _TWO_32 + low;
        seconds = Math.floor(value / units);
        nanos = (value - seconds * units) * iface.nanosPerUnit;
      } else {
        // Long division by 16-bit digits keeps every step exact.
        let r = high % units;
        const qHigh = (high - r) / units;
        let current = r * 65536 + (low >>> 16);
        const q1 = Math.floor(current / units);
        r = current - q1 * units;
        current = r * 65536 + (low & 0xffff);
        const q2 = Math.floor(current / units);
        r = current - q2 * units;
        seconds = qHigh * _TWO_32 + q1 * 65536 + q2;
        nanos = r * iface.nanosPerUnit;
      }
    } else if (iface.binaryExponent >= 0) {
      const e = iface.binaryExponent;
      const scale = 2 ** e;
      const fraction = e === 32 ? low : low % scale;
      seconds = e === 32 ? high : high * 2 ** (32 - e) + Math.floor(low / scale);
      nanos = Math.floor((fraction / scale) * 1e9);
    } else {
      const value = (BigInt(high) << 32n) | BigInt(low);
      const bigUnits = iface.bigUnits!;
      seconds = Number(value / bigUnits);
      nanos = Number(((value % bigUnits) * 1_000_000_000n) / bigUnits);
    }
    this.#tsSeconds = seconds + iface.offsetSeconds;
    this.#tsNanos = nanos;
  }
}

/** Whether `magic` is a classic pcap magic number (microseconds or nanoseconds). */
function _isPcapMagic(magic: number): boolean {
  return magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
}

function _hex32(n: number): string {
  return (n >>> 0).toString(16).padStart(8, "0");
}

/**
 * Every record of a capture held in memory (classic pcap or pcapng), as
 * {@link CaptureRecord}s whose `data` are views into `bytes`. A bad file
 * header throws at once; a bad record throws when iteration reaches it,
 * after the good records before it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readCapture } from "./capture_reader.ts";
 * const file = new Uint8Array(24 + 16 + 2);
 * const v = new DataView(file.buffer);
 * v.setUint32(0, 0xa1b23c4d, true); // nanosecond magic, little-endian
 * v.setUint16(4, 2, true); v.setUint16(6, 4, true);
 * v.setUint32(16, 65535, true); v.setUint32(20, 101, true); // raw IP
 * v.setUint32(24, 1, true); v.setUint32(28, 5, true); // 1 s + 5 ns
 * v.setUint32(32, 2, true); v.setUint32(36, 2, true);
 * const [record] = [...readCapture(file, "tiny.pcap")];
 * assert.equal(record?.timeNs, 1_000_000_005n);
 * assert.equal(record?.linkType, 101);
 * assert.equal(record?.data.length, 2);
 * ```
 */
export function readCapture(bytes: Uint8Array, fileName: string): Generator<CaptureRecord> {
  const records: CaptureRecord[] = [];
  let error: unknown = null;
  const reader = new CaptureReader(fileName, {
    record(data, start, capturedLength, originalLength, linkType, seconds, nanos, recordOffset) {
      records.push({
        index: records.length + 1,
        offset: recordOffset,
        timeNs: BigInt(seconds) * 1_000_000_000n + BigInt(nanos),
        linkType,
        originalLength,
        data: data.subarray(start, start + capturedLength),
      });
    },
  });
  try {
    reader.readAll(bytes);
  } catch (e) {
    // A bad file (or first section) header fails at once.
    if (reader.format === null || (reader.format === "pcapng" && reader.sections === 0)) throw e;
    error = e;
  }
  return (function* () {
    yield* records;
    if (error !== null) throw error;
  })();
}
