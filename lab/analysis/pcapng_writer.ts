/**
 * Writing pcapng: interfaces and packet records in, the file's bytes out.
 * The lab writes one file that holds several captures, each capture point
 * as its own named interface, with comments on the packets (what the
 * programs called and what the kernel said). Wireshark, tshark and
 * {@link CaptureReader} read it.
 *
 * The file is one little-endian section: a section header block, one
 * interface description block per interface (its name in `if_name`, its
 * timestamps in nanoseconds), then one enhanced packet block per record,
 * in the order given, each comment in its own `opt_comment`. Nothing here
 * touches files.
 *
 * @module
 */

/** One interface of the file: where its packets were seen. */
export interface PcapngInterface {
  /** The interface's name (`if_name`), e.g. "client". */
  name: string;
  /** The pcap LINKTYPE_ value of its packets (1 Ethernet, 101 raw IP...). */
  linkType: number;
}

/** One packet record of the file. */
export interface PcapngRecord {
  /** Index into the file's interfaces. */
  interfaceId: number;
  /** Capture time, nanoseconds since the Unix epoch. */
  timeNs: bigint;
  /** The captured bytes. */
  data: Uint8Array;
  /** The packet's length on the wire (at least `data.length`). */
  originalLength: number;
  /** Comments on the packet (`opt_comment`), each one option. */
  comments: readonly string[];
}

const _SHB = 0x0a0d0d0a;
const _IDB = 1;
const _EPB = 6;
const _OPT_COMMENT = 1;
const _SHB_USERAPPL = 4;
const _IF_NAME = 2;
const _IF_TSRESOL = 9;
const _encoder = new TextEncoder();

/**
 * A pcapng file holding `records` on `interfaces`, in the order given.
 * `application` goes into the section header (`shb_userappl`).
 * A record naming an interface that is not there, or shorter on the wire
 * than captured, throws a RangeError.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writePcapng } from "./pcapng_writer.ts";
 * import { CaptureReader } from "./capture_reader.ts";
 * const file = writePcapng([{ name: "client", linkType: 101 }], [
 *   { interfaceId: 0, timeNs: 1_000_000_005n, data: new Uint8Array(20), originalLength: 20, comments: ["hi"] },
 * ], "tcplab");
 * const seen: string[] = [];
 * const reader = new CaptureReader("x.pcapng", {
 *   record: (_d, _s, caplen, _o, link, sec, ns) =>
 *     seen.push(`${reader.interfaceNames[reader.recordInterface]} ${link} ${sec}.${ns} ${caplen} ${reader.recordComments()}`),
 * });
 * reader.readAll(file);
 * assert.deepEqual(seen, ["client 101 1.5 20 hi"]);
 * ```
 */
export function writePcapng(
  interfaces: readonly PcapngInterface[],
  records: readonly PcapngRecord[],
  application: string,
): Uint8Array {
  const blocks: Uint8Array[] = [_sectionHeader(application), ...interfaces.map(_interfaceBlock)];
  for (const record of records) {
    if (!Number.isInteger(record.interfaceId) || !interfaces[record.interfaceId]) {
      throw new RangeError(
        `Cannot write a packet on interface ${record.interfaceId}: the file has ${interfaces.length}`,
      );
    }
    if (record.originalLength < record.data.length) {
      throw new RangeError(
        `Cannot write a packet of ${record.data.length} captured bytes but ${record.originalLength} on the wire`,
      );
    }
    blocks.push(_packetBlock(record));
  }
  const out = new Uint8Array(blocks.reduce((n, b) => n + b.length, 0));
  let at = 0;
  for (const block of blocks) {
    out.set(block, at);
    at += block.length;
  }
  return out;
}

/** One option: code, length, value padded to 4 bytes. */
interface _Option {
  code: number;
  value: Uint8Array;
}

function _optionsLength(options: readonly _Option[]): number {
  if (options.length === 0) return 0;
  return options.reduce((n, o) => n + 4 + _pad(o.value.length), 0) + 4; // + opt_endofopt
}

function _pad(n: number): number {
  return (n + 3) & ~3;
}

/** A block of `type` whose body is `bodyLength` bytes written by `fill` at offset 8, then `options`. */
function _block(
  type: number,
  bodyLength: number,
  options: readonly _Option[],
  fill: (view: DataView, bytes: Uint8Array) => void,
): Uint8Array {
  const length = 8 + _pad(bodyLength) + _optionsLength(options) + 4;
  const bytes = new Uint8Array(length);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, type, true);
  view.setUint32(4, length, true);
  fill(view, bytes);
  let at = 8 + _pad(bodyLength);
  for (const option of options) {
    if (option.value.length > 0xffff) {
      throw new RangeError(`Cannot write a pcapng option of ${option.value.length} bytes (at most 65535)`);
    }
    view.setUint16(at, option.code, true);
    view.setUint16(at + 2, option.value.length, true);
    bytes.set(option.value, at + 4);
    at += 4 + _pad(option.value.length);
  }
  // opt_endofopt is four zero bytes, already there.
  view.setUint32(length - 4, length, true);
  return bytes;
}

function _sectionHeader(application: string): Uint8Array {
  const options = [{ code: _SHB_USERAPPL, value: _encoder.encode(application) }];
  return _block(_SHB, 16, options, (view) => {
    view.setUint32(8, 0x1a2b3c4d, true); // byte-order magic
    view.setUint16(12, 1, true); // version 1.0
    view.setUint16(14, 0, true);
    view.setBigInt64(16, -1n, true); // section length not given
  });
}

function _interfaceBlock(iface: PcapngInterface): Uint8Array {
  const options = [
    { code: _IF_NAME, value: _encoder.encode(iface.name) },
    { code: _IF_TSRESOL, value: new Uint8Array([9]) }, // nanoseconds
  ];
  return _block(_IDB, 8, options, (view) => {
    view.setUint16(8, iface.linkType, true);
    view.setUint32(12, 0, true); // snapshot length: no limit
  });
}

function _packetBlock(record: PcapngRecord): Uint8Array {
  const options = record.comments.map((c) => ({ code: _OPT_COMMENT, value: _encoder.encode(c) }));
  return _block(_EPB, 20 + record.data.length, options, (view, bytes) => {
    view.setUint32(8, record.interfaceId, true);
    view.setUint32(12, Number(BigInt.asUintN(64, record.timeNs) >> 32n), true);
    view.setUint32(16, Number(BigInt.asUintN(32, record.timeNs)), true);
    view.setUint32(20, record.data.length, true);
    view.setUint32(24, record.originalLength, true);
    bytes.set(record.data, 28);
  });
}
