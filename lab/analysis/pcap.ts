/**
 * Reading capture files held in memory: bytes in, {@link CaptureRecord}s out.
 *
 * Classic pcap (libpcap's own format) is read by {@link readPcap}, in both
 * byte orders and with microsecond (`a1b2c3d4`) or nanosecond (`a1b23c4d`)
 * timestamps. {@link readCapture} looks at the magic number and reads
 * classic pcap or pcapng (with the streaming reader of capture_stream.ts).
 *
 * Records are views into the input buffer, never copies.
 *
 * @module
 */

import {
  detectCaptureFormat,
  MAX_RECORD_BYTES,
  PcapError,
  type PcapHeader,
  readPcapHeader,
} from "./capture_header.ts";
import { CaptureStreamReader } from "./capture_stream.ts";
import type { CaptureRecord } from "./types.ts";

export {
  type CaptureFormat,
  detectCaptureFormat,
  MAX_RECORD_BYTES,
  PcapError,
  type PcapHeader,
  readPcapHeader,
} from "./capture_header.ts";

const _GLOBAL_HEADER_BYTES = 24;
const _RECORD_HEADER_BYTES = 16;

/**
 * Read any capture file this module knows, choosing the reader from the
 * magic number: classic pcap ({@link readPcap}) or pcapng (every section
 * and interface; see {@link CaptureStreamReader}). As with readPcap, a bad
 * header throws at once and a bad record throws when iteration reaches it,
 * after the good records before it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readCapture } from "./pcap.ts";
 * const bytes = Deno.readFileSync(new URL("../../tests/testdata/refused.pcapng", import.meta.url));
 * const records = [...readCapture(bytes, "refused.pcapng")];
 * assert.equal(records.length, 2);
 * assert.equal(records[0]?.linkType, 1);
 * ```
 */
export function readCapture(
  bytes: Uint8Array,
  fileName: string,
): Generator<CaptureRecord> {
  const format = detectCaptureFormat(bytes);
  if (format === "pcapng") return _pcapngRecords(bytes, fileName);
  return readPcap(bytes, fileName);
}

/** pcapng through the streaming reader: the records before a bad block, then its error. */
function _pcapngRecords(bytes: Uint8Array, fileName: string): Generator<CaptureRecord> {
  const records: CaptureRecord[] = [];
  let error: unknown = null;
  const reader = new CaptureStreamReader(fileName, {
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
    if (reader.records === 0 && reader.sections === 0) throw e; // a bad header fails at once
    error = e;
  }
  return (function* () {
    yield* records;
    if (error !== null) throw error;
  })();
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

function _view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
