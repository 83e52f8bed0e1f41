/**
 * The first bytes of a capture file: which format it is, the classic pcap
 * file header, and the error every capture reader throws ({@link PcapError},
 * naming the file and the byte offset).
 *
 * @module
 */

/** Records larger than this are treated as corruption, whatever the file's snapshot length says. */
export const MAX_RECORD_BYTES = 256 * 1024;

const _GLOBAL_HEADER_BYTES = 24;
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
  if (isPcapMagic(be) || isPcapMagic(le)) return "pcap";
  if (be === _PCAPNG_MAGIC) return "pcapng";
  return null;
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
  if (isPcapMagic(le)) littleEndian = true;
  else if (isPcapMagic(be)) littleEndian = false;
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

/** Whether `magic` is a classic pcap magic number (microseconds or nanoseconds). */
export function isPcapMagic(magic: number): boolean {
  return magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
}

function _view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function _hex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join(" ");
}
