/**
 * Two classic pcap files of one capture point joined into one: a restarted
 * server's first namespace and the fresh one that took its address are one
 * address's capture, before and after the restart. Pure: bytes in, bytes out.
 *
 * @module
 */

/** The length of a classic pcap file's global header. */
const _HEADER = 24;

/**
 * `first` followed by the records of `second`, which must be a classic pcap
 * with the same global header (magic, version, snapshot length, link type):
 * files tcpdump wrote with the same options.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const header = new Uint8Array(24).fill(1);
 * const a = new Uint8Array([...header, 7, 7]);
 * const b = new Uint8Array([...header, 9]);
 * assert.deepEqual([...joinCaptures(a, b).subarray(24)], [7, 7, 9]);
 * assert.throws(() => joinCaptures(a, new Uint8Array(24)), SyntaxError);
 * ```
 */
export function joinCaptures(first: Uint8Array, second: Uint8Array): Uint8Array {
  if (first.length < _HEADER || second.length < _HEADER) {
    throw new SyntaxError(
      `Cannot join captures: ${
        first.length < _HEADER ? "the first" : "the second"
      } is shorter than a pcap header (${_HEADER} bytes)`,
    );
  }
  for (let i = 0; i < _HEADER; i++) {
    if (first[i] !== second[i]) {
      throw new SyntaxError(`Cannot join captures: their pcap headers differ at byte ${i}`);
    }
  }
  const joined = new Uint8Array(first.length + second.length - _HEADER);
  joined.set(first);
  joined.set(second.subarray(_HEADER), first.length);
  return joined;
}
