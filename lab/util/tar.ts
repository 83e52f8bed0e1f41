/**
 * Just enough of the ustar format to send a build context to the Docker
 * Engine, to read one file back from an archive it returns, and to pack a
 * run's folder into one `.tar.gz` (with {@link gzip}).
 *
 * @module
 */

/** One entry of a tar archive to write. */
export interface TarEntry {
  /** Path inside the archive, without a leading slash ("etc/passwd"). */
  path: string;
  /** File contents; omit for a directory. */
  data?: Uint8Array;
  /** Permission bits, e.g. 0o755. */
  mode: number;
  uid?: number;
  gid?: number;
  /** Modification time, seconds since the epoch (0 when omitted). */
  mtime?: number;
}

const BLOCK = 512;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Write a ustar archive holding the given entries.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const tar = makeTar([{ path: "a.txt", data: new TextEncoder().encode("hi"), mode: 0o644 }]);
 * assert.equal(new TextDecoder().decode(readTarFile(tar, "a.txt")!), "hi");
 * ```
 */
export function makeTar(entries: readonly TarEntry[]): Uint8Array {
  let size = 2 * BLOCK;
  for (const e of entries) size += BLOCK + roundUp(e.data?.length ?? 0);
  const out = new Uint8Array(size);
  let offset = 0;
  for (const e of entries) {
    const isDir = e.data === undefined;
    const name = isDir && !e.path.endsWith("/") ? `${e.path}/` : e.path;
    const [prefix, rest] = splitPath(name);
    const header = out.subarray(offset, offset + BLOCK);
    writeString(header, 0, 100, rest);
    writeString(header, 345, 155, prefix);
    writeOctal(header, 100, 8, e.mode);
    writeOctal(header, 108, 8, e.uid ?? 0);
    writeOctal(header, 116, 8, e.gid ?? 0);
    writeOctal(header, 124, 12, e.data?.length ?? 0);
    writeOctal(header, 136, 12, e.mtime ?? 0);
    header.fill(0x20, 148, 156); // checksum field counts as spaces
    header[156] = isDir ? 0x35 : 0x30;
    writeString(header, 257, 6, "ustar");
    writeString(header, 263, 2, "00");
    let sum = 0;
    for (const byte of header) sum += byte;
    writeString(header, 148, 8, sum.toString(8).padStart(6, "0") + "\0 ");
    offset += BLOCK;
    if (e.data) {
      out.set(e.data, offset);
      offset += roundUp(e.data.length);
    }
  }
  return out;
}

/**
 * Find a regular file in a tar archive (as the Engine API's archive endpoint
 * returns it) and return its bytes, or null when it is not there.
 */
export function readTarFile(tar: Uint8Array, path: string): Uint8Array | null {
  let offset = 0;
  let longName: string | null = null;
  while (offset + BLOCK <= tar.length) {
    const header = tar.subarray(offset, offset + BLOCK);
    if (header.every((b) => b === 0)) return null;
    const size = parseInt(readString(header, 124, 12).trim() || "0", 8);
    const type = String.fromCharCode(header[156] ?? 0x30);
    const prefix = readString(header, 345, 155);
    let name = longName ?? (prefix ? `${prefix}/` : "") + readString(header, 0, 100);
    longName = null;
    const dataStart = offset + BLOCK;
    const data = tar.subarray(dataStart, dataStart + size);
    offset = dataStart + roundUp(size);
    if (type === "L") {
      longName = decoder.decode(data).replace(/\0.*$/s, "");
      continue;
    }
    name = name.replace(/^\.?\//, "");
    if ((type === "0" || type === "\0") && (name === path || name.endsWith(`/${path}`))) {
      return data;
    }
  }
  return null;
}

/**
 * Compress bytes with gzip.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const text = new TextEncoder().encode("hello hello hello");
 * const packed = await gzip(text);
 * assert.deepEqual([packed[0], packed[1]], [0x1f, 0x8b]);
 * assert.deepEqual(await gunzip(packed), text);
 * ```
 */
export async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  return await through(bytes, new CompressionStream("gzip"));
}

/** Decompress gzip bytes; bytes that are not gzip throw a TypeError. */
export async function gunzip(bytes: Uint8Array): Promise<Uint8Array> {
  return await through(bytes, new DecompressionStream("gzip"));
}

async function through(
  bytes: Uint8Array,
  stream: CompressionStream | DecompressionStream,
): Promise<Uint8Array> {
  const out = new Response(new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(stream));
  return new Uint8Array(await out.arrayBuffer());
}

/** A path as ustar holds it: a prefix of at most 155 bytes, a "/", and a name of at most 100. */
function splitPath(path: string): [string, string] {
  if (encoder.encode(path).length <= 100) return ["", path];
  for (let i = path.indexOf("/"); i > 0; i = path.indexOf("/", i + 1)) {
    const prefix = path.slice(0, i);
    const rest = path.slice(i + 1);
    if (encoder.encode(prefix).length <= 155 && encoder.encode(rest).length <= 100 && rest !== "") {
      return [prefix, rest];
    }
  }
  throw new RangeError(`Cannot add "${path}" to a tar archive: path too long for ustar`);
}

function roundUp(n: number): number {
  return Math.ceil(n / BLOCK) * BLOCK;
}

function writeString(block: Uint8Array, at: number, length: number, text: string): void {
  block.set(encoder.encode(text).subarray(0, length), at);
}

function writeOctal(block: Uint8Array, at: number, length: number, value: number): void {
  writeString(block, at, length, value.toString(8).padStart(length - 1, "0") + "\0");
}

function readString(block: Uint8Array, at: number, length: number): string {
  return decoder.decode(block.subarray(at, at + length)).replace(/\0.*$/s, "");
}
