/**
 * Sockets left in a network namespace, from /proc/net/tcp and /proc/net/tcp6.
 *
 * @module
 */

/** One line of /proc/net/tcp, decoded. */
export interface SocketEntry {
  local: string;
  remote: string;
  /** Linux state name without the TCP_ prefix: "TIME_WAIT", "LISTEN"... */
  state: string;
}

const STATES: Record<number, string> = {
  1: "ESTABLISHED",
  2: "SYN_SENT",
  3: "SYN_RECV",
  4: "FIN_WAIT1",
  5: "FIN_WAIT2",
  6: "TIME_WAIT",
  7: "CLOSE",
  8: "CLOSE_WAIT",
  9: "LAST_ACK",
  10: "LISTEN",
  11: "CLOSING",
  12: "NEW_SYN_RECV",
};

/**
 * Parse /proc/net/tcp or /proc/net/tcp6 text.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const text = "  sl  local_address rem_address   st\n" +
 *   "   0: 0A00C90A:270F 1400C90A:D4C2 06 00000000:00000000\n";
 * assert.deepEqual(parseProcNetTcp(text), [
 *   { local: "10.201.0.10:9999", remote: "10.201.0.20:54466", state: "TIME_WAIT" },
 * ]);
 * ```
 */
export function parseProcNetTcp(text: string): SocketEntry[] {
  const entries: SocketEntry[] = [];
  for (const line of text.split("\n").slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 4) continue;
    const state = STATES[parseInt(fields[3]!, 16)] ?? `0x${fields[3]}`;
    entries.push({
      local: decodeAddress(fields[1]!),
      remote: decodeAddress(fields[2]!),
      state,
    });
  }
  return entries;
}

function decodeAddress(hex: string): string {
  const [addr = "", port = "0"] = hex.split(":");
  const portNumber = parseInt(port, 16);
  if (addr.length === 8) {
    const n = parseInt(addr, 16);
    // The kernel prints the address as a host-order (little-endian) word.
    const ip = [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24].join(".");
    return `${ip}:${portNumber}`;
  }
  // IPv6: four little-endian 32-bit words.
  const bytes: number[] = [];
  for (let w = 0; w < 4; w++) {
    const word = addr.slice(w * 8, w * 8 + 8);
    for (let b = 3; b >= 0; b--) bytes.push(parseInt(word.slice(b * 2, b * 2 + 2), 16));
  }
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  return `[${groups.join(":").replace(/(^|:)0(:0)+(:|$)/, "::")}]:${portNumber}`;
}
