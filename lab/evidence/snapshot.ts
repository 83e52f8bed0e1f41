/**
 * Parse the snapshots that the namespace holder (`tcplab hold`) prints:
 * the kernel's own files from one network namespace, at one moment.
 *
 * @module
 */

/** One snapshot of a network namespace's /proc files. */
export interface Snapshot {
  /** 1-based number of the snapshot in the holder's output. */
  number: number;
  /** CLOCK_REALTIME when it was taken, in ns. */
  realNs: bigint;
  /** CLOCK_MONOTONIC when it was taken, in ns (maps tracefs "mono" times to real time). */
  monoNs: bigint;
  /** File contents by path ("/proc/net/netstat" ...). */
  files: Record<string, string>;
}

const BEGIN = /^=== tcplab-snapshot BEGIN (\d+) real=(\d+) mono=(\d+)$/;
const END = /^=== tcplab-snapshot END (\d+)$/;
const FILE = /^--- (\/\S+)$/;

/**
 * Extract every complete snapshot from a holder's stdout. An incomplete
 * trailing snapshot (still being written) is ignored.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const text = "=== tcplab-snapshot BEGIN 1 real=5 mono=3\n--- /proc/x\nhi\n=== tcplab-snapshot END 1\n";
 * assert.equal(parseSnapshots(text)[0]?.files["/proc/x"], "hi\n");
 * ```
 */
export function parseSnapshots(text: string): Snapshot[] {
  const snapshots: Snapshot[] = [];
  let current: Snapshot | null = null;
  let file: string | null = null;
  for (const line of text.split("\n")) {
    const begin = BEGIN.exec(line);
    if (begin) {
      current = {
        number: Number(begin[1]),
        realNs: BigInt(begin[2]!),
        monoNs: BigInt(begin[3]!),
        files: {},
      };
      file = null;
      continue;
    }
    if (!current) continue;
    if (END.test(line)) {
      snapshots.push(current);
      current = null;
      continue;
    }
    const header = FILE.exec(line);
    if (header) {
      file = header[1]!;
      current.files[file] = "";
      continue;
    }
    if (file !== null) current.files[file] += line + "\n";
  }
  return snapshots;
}
