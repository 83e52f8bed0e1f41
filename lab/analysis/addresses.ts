/**
 * IP addresses as text: 4 or 16 bytes to the text tcpdump -n prints, and
 * back (for filters given on the command line).
 *
 * @module
 */

/**
 * Format a 4- or 16-byte IP address as tcpdump -n does: dotted quad, or
 * IPv6 with the longest run of two or more zero groups shortened to "::"
 * and IPv4-mapped/compatible addresses ending in a dotted quad.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatAddress } from "./addresses.ts";
 * assert.equal(formatAddress(new Uint8Array([10, 201, 0, 20])), "10.201.0.20");
 * const loop = new Uint8Array(16); loop[15] = 1;
 * assert.equal(formatAddress(loop), "::1");
 * ```
 */
export function formatAddress(bytes: Uint8Array): string {
  if (bytes.length === 4) return bytes.join(".");
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((bytes[i]! << 8) | bytes[i + 1]!);
  // Longest run of zero words (first one wins a tie), only if 2 or longer.
  let bestBase = -1, bestLength = 0, base = -1, length = 0;
  for (let i = 0; i <= 8; i++) {
    if (i < 8 && words[i] === 0) {
      if (base === -1) base = i, length = 1;
      else length++;
    } else if (base !== -1) {
      if (bestBase === -1 || length > bestLength) bestBase = base, bestLength = length;
      base = -1;
    }
  }
  if (bestLength < 2) bestBase = -1;
  let out = "";
  for (let i = 0; i < 8; i++) {
    if (bestBase !== -1 && i >= bestBase && i < bestBase + bestLength) {
      if (i === bestBase) out += ":";
      continue;
    }
    if (i !== 0) out += ":";
    if (
      i === 6 && bestBase === 0 &&
      (bestLength === 6 || (bestLength === 5 && words[5] === 0xffff))
    ) {
      out += bytes.subarray(12, 16).join(".");
      return out;
    }
    out += words[i]!.toString(16);
  }
  if (bestBase !== -1 && bestBase + bestLength === 8) out += ":";
  return out;
}

/**
 * Parse an IPv4 or IPv6 address ("10.0.0.5", "fe80::1", "[::1]",
 * "::ffff:10.0.0.5") into its 4 or 16 bytes, or null.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseAddress } from "./addresses.ts";
 * assert.deepEqual(parseAddress("10.0.0.5"), new Uint8Array([10, 0, 0, 5]));
 * assert.deepEqual(parseAddress("::1")?.[15], 1);
 * assert.equal(parseAddress("10.0.0.256"), null);
 * assert.equal(parseAddress("example.com"), null);
 * ```
 */
export function parseAddress(text: string): Uint8Array | null {
  const t = text.trim().replace(/^\[(.*)\]$/, "$1");
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(t);
  if (v4) {
    const bytes = v4.slice(1).map(Number);
    return bytes.every((b) => b <= 255) ? new Uint8Array(bytes) : null;
  }
  if (!t.includes(":") || !/^[0-9a-fA-F:.]+$/.test(t)) return null;
  let head = t;
  const tail: number[] = [];
  const lastColon = t.lastIndexOf(":");
  if (t.slice(lastColon + 1).includes(".")) {
    const embedded = parseAddress(t.slice(lastColon + 1));
    if (embedded === null || embedded.length !== 4) return null;
    tail.push((embedded[0]! << 8) | embedded[1]!, (embedded[2]! << 8) | embedded[3]!);
    head = t.slice(0, lastColon + 1);
    if (head.endsWith(":") && !head.endsWith("::")) head = head.slice(0, -1);
  }
  const halves = head.split("::");
  if (halves.length > 2) return null;
  const words = (s: string) => (s === "" ? [] : s.split(":"));
  const left = words(halves[0]!);
  const right = halves.length === 2 ? words(halves[1]!) : [];
  const groups = [...left, ...right];
  if (groups.some((g) => !/^[0-9a-fA-F]{1,4}$/.test(g))) return null;
  const fill = 8 - groups.length - tail.length;
  if (halves.length === 1 ? fill !== 0 : fill < 1) return null;
  const all = [
    ...left.map((g) => parseInt(g, 16)),
    ...new Array<number>(halves.length === 2 ? fill : 0).fill(0),
    ...right.map((g) => parseInt(g, 16)),
    ...tail,
  ];
  const bytes = new Uint8Array(16);
  all.forEach((w, i) => {
    bytes[i * 2] = w >> 8;
    bytes[i * 2 + 1] = w & 255;
  });
  return bytes;
}
