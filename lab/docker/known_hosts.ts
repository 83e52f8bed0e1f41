/**
 * The host keys an OpenSSH known_hosts file accepts for one host and port,
 * so that ssh:// checks the engine's host as ssh does (pure).
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { createHmac } from "node:crypto";

/** How known_hosts names a host: `host` on port 22, `[host]:port` elsewhere. */
function _hostPattern(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** Whether one entry of a line's host list (plain or `|1|salt|hash`) names `pattern`. */
function _entryMatches(entry: string, pattern: string): boolean {
  if (entry.startsWith("|1|")) {
    const [, , salt, hash] = entry.split("|");
    if (!salt || !hash) return false;
    const mac = createHmac("sha1", Buffer.from(salt, "base64")).update(pattern).digest("base64");
    return mac === hash;
  }
  return entry === pattern;
}

/**
 * The keys (base64, as written in the file) that `text`, a known_hosts
 * file, lists for `host` on `port`: plain and hashed names. A key on a
 * `@revoked` line is never accepted, whatever host it names;
 * `@cert-authority` lines and wildcard patterns are not read (no host
 * matches them).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const text = "box ssh-ed25519 AAAAa\n[box]:2222 ssh-ed25519 AAAAb\n";
 * assert.deepEqual(knownHostKeys(text, "box", 22), ["AAAAa"]);
 * assert.deepEqual(knownHostKeys(text, "box", 2222), ["AAAAb"]);
 * ```
 */
export function knownHostKeys(text: string, host: string, port: number): string[] {
  const pattern = _hostPattern(host, port);
  const keys: string[] = [];
  const revoked = new Set<string>();
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const words = line.split(/\s+/);
    if (words[0] === "@revoked") {
      if (words[3]) revoked.add(words[3]);
      continue;
    }
    if (line.startsWith("@")) continue;
    const [hosts, , key] = words;
    if (!hosts || !key) continue;
    if (hosts.split(",").some((entry) => _entryMatches(entry, pattern))) keys.push(key);
  }
  return keys.filter((key) => !revoked.has(key));
}
