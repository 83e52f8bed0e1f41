/**
 * Reading capture files: pcap bytes in, {@link CaptureRecord}s out.
 *
 * Classic pcap (libpcap's own format) is read by {@link readPcap}, in both
 * byte orders and with microsecond (`a1b2c3d4`) or nanosecond (`a1b23c4d`)
 * timestamps. {@link readCapture} looks at the magic number and picks the
 * reader; pcapng is recognised but not read yet, so a pcapng reader can be
 * added beside this one without changing callers.
 *
 * Records are views into the input buffer, never copies.
 *
 * @module
 */

import type { CaptureRecord } from "./types.ts";

/** Records larger than this are treated as corruption, whatever the file's snapshot length says. */
export const MAX_RECORD_BYTES = 256 * 1024;

const _GLOBAL_HEADER_BYTES = 24;
const _RECORD_HEADER_BYTES = 16;
const _PCAPNG_MAGIC = 0x0a0d0d0a;

/**
 * A capture file that cannot be read. The message names the file, the byte
 * offset and what is wrong there; `offset` repeats the offset for callers.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PcapError, readPcap } from "./pcap.ts";
 * assert.throws(() => readPcap(new Uint8Array(), "x.pcap"), (e) =>
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

/** The capture formats {@link detectCaptureFormat} recognises. */
export type CaptureFormat = "pcap" | "pcapng";

/** The fixed facts from a classic pcap file header. */
export interface PcapHeader {
  /** Whether the multi-byte fields are little-endian. */
  littleEndian: boolean;
  /** Whether record timestamps carry nanoseconds (magic `a1b23c4d`) rather than microseconds. */
  nanosecond: boolean;
  /** Format version, normally 2. */
  versionMajor: number;
  /** Format version, normally 4. */
  versionMinor: number;
  /** The snapshot length: no record should be longer. 0 means the writer did not say. */
  snapLength: number;
  /** The link type (the low 16 bits of the header's link-type field). */
  linkType: number;
}

/**
 * Which capture format `bytes` start with, from the magic number, or null.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { detectCaptureFormat } from "./pcap.ts";
 * assert.equal(detectCaptureFormat(new Uint8Array([0xd4, 0xc3, 0xb2, 0xa1])), "pcap");
 * assert.equal(detectCaptureFormat(new Uint8Array([0x0a, 0x0d, 0x0d, 0x0a])), "pcapng");
 * assert.equal(detectCaptureFormat(new Uint8Array([1, 2, 3, 4])), null);
 * ```
 */
export function detectCaptureFormat(bytes: Uint8Array): CaptureFormat | null {
  if (bytes.length < 4) return null;
  const view = _view(bytes);
  const be = view.getUint32(0, false);
  const le = view.getUint32(0, true);
  if (_isPcapMagic(be) || _isPcapMagic(le)) return "pcap";
  if (be === _PCAPNG_MAGIC) return "pcapng";
  return null;
}

/**
 * Read any capture file this module knows, choosing the reader from the
 * magic number. Today that is classic pcap only; a pcapng file gets a
 * {@link PcapError} that says so.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readCapture } from "./pcap.ts";
 * const ng = new Uint8Array([0x0a, 0x0d, 0x0d, 0x0a, 0, 0, 0, 0]);
 * assert.throws(() => readCapture(ng, "a.pcapng"), /pcapng is not supported yet/);
 * ```
 */
export function readCapture(
  bytes: Uint8Array,
  fileName: string,
): Generator<CaptureRecord> {
  const format = detectCaptureFormat(bytes);
  if (format === "pcapng") {
    throw new PcapError(
      fileName,
      0,
      "this is a pcapng file, and pcapng is not supported yet; " +
        "convert it to classic pcap first (`editcap -F pcap IN OUT` or `tcpdump -r IN -w OUT`)",
    );
  }
  return readPcap(bytes, fileName);
}

/**
 * Parse the 24-byte classic pcap file header.
 * Throws a {@link PcapError} when the file is empty, too short, or not pcap.
 */
export function readPcapHeader(
  bytes: Uint8Array,
  fileName: string,
): PcapHeader {
  if (bytes.length === 0) throw new PcapError(fileName, 0, "the file is empty");
  if (bytes.length < 4) {
    throw new PcapError(
      fileName,
      0,
      `not a pcap file: only ${bytes.length} byte(s), too short for a magic number`,
    );
  }
  const view = _view(bytes);
  const be = view.getUint32(0, false);
  const le = view.getUint32(0, true);
  let littleEndian: boolean;
  if (_isPcapMagic(le)) littleEndian = true;
  else if (_isPcapMagic(be)) littleEndian = false;
  else {
    const hex = _hex(bytes.subarray(0, 4));
    const hint = be === _PCAPNG_MAGIC ? " (it is pcapng; use readCapture)" : "";
    throw new PcapError(
      fileName,
      0,
      `not a pcap file: the magic number is ${hex}, expected a1b2c3d4 or a1b23c4d in either byte order${hint}`,
    );
  }
  if (bytes.length < _GLOBAL_HEADER_BYTES) {
    throw new PcapError(
      fileName,
      0,
      `file header truncated (${bytes.length} of ${_GLOBAL_HEADER_BYTES} bytes)`,
    );
  }
  const magic = view.getUint32(0, littleEndian);
  return {
    littleEndian,
    nanosecond: magic === 0xa1b23c4d,
    versionMajor: view.getUint16(4, littleEndian),
    versionMinor: view.getUint16(6, littleEndian),
    snapLength: view.getUint32(16, littleEndian),
    linkType: view.getUint32(20, littleEndian) & 0xffff,
  };
}

/**
 * Read a classic pcap file. The file header is checked at once (a bad
 * header throws here); records are then read lazily, and a bad record
 * throws when iteration reaches it, after the good records before it.
 *
 * Each record's `data` is a view into `bytes` (no copy).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readPcap } from "./pcap.ts";
 * const file = new Uint8Array(24 + 16 + 2);
 * const v = new DataView(file.buffer);
 * v.setUint32(0, 0xa1b23c4d, true); // nanosecond magic, little-endian
 * v.setUint16(4, 2, true); v.setUint16(6, 4, true);
 * v.setUint32(16, 65535, true); v.setUint32(20, 101, true); // raw IP
 * v.setUint32(24, 1, true); v.setUint32(28, 5, true); // 1 s + 5 ns
 * v.setUint32(32, 2, true); v.setUint32(36, 2, true);
 * const [record] = [...readPcap(file, "tiny.pcap")];
 * assert.equal(record?.timeNs, 1_000_000_005n);
 * assert.equal(record?.linkType, 101);
 * assert.equal(record?.data.length, 2);
 * ```
 */
export function readPcap(
  bytes: Uint8Array,
  fileName: string,
): Generator<CaptureRecord> {
  const header = readPcapHeader(bytes, fileName);
  return _records(bytes, fileName, header);
}

function* _records(
  bytes: Uint8Array,
  fileName: string,
  header: PcapHeader,
): Generator<CaptureRecord> {
  const view = _view(bytes);
  const le = header.littleEndian;
  const fraction = header.nanosecond ? 1n : 1000n;
  let offset = _GLOBAL_HEADER_BYTES;
  let index = 0;
  while (offset < bytes.length) {
    index++;
    const left = bytes.length - offset;
    if (left < _RECORD_HEADER_BYTES) {
      throw new PcapError(
        fileName,
        offset,
        `record header truncated (${left} of ${_RECORD_HEADER_BYTES} bytes)`,
      );
    }
    const seconds = view.getUint32(offset, le);
    const subsecond = view.getUint32(offset + 4, le);
    const capturedLength = view.getUint32(offset + 8, le);
    const originalLength = view.getUint32(offset + 12, le);
    if (capturedLength > MAX_RECORD_BYTES) {
      throw new PcapError(
        fileName,
        offset,
        `record length ${capturedLength} is absurd (more than ${MAX_RECORD_BYTES} bytes): the file is corrupt`,
      );
    }
    if (header.snapLength > 0 && capturedLength > header.snapLength) {
      throw new PcapError(
        fileName,
        offset,
        `record length ${capturedLength} is larger than the snapshot length ${header.snapLength}`,
      );
    }
    const dataStart = offset + _RECORD_HEADER_BYTES;
    const available = bytes.length - dataStart;
    if (available < capturedLength) {
      throw new PcapError(
        fileName,
        offset,
        `record data truncated (${available} of ${capturedLength} bytes)`,
      );
    }
    yield {
      index,
      offset,
      timeNs: BigInt(seconds) * 1_000_000_000n + BigInt(subsecond) * fraction,
      linkType: header.linkType,
      originalLength,
      data: bytes.subarray(dataStart, dataStart + capturedLength),
    };
    offset = dataStart + capturedLength;
  }
}

function _isPcapMagic(magic: number): boolean {
  return magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
}

function _view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function _hex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join(" ");
}
