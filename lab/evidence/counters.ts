/**
 * The kernel's TCP counters (/proc/net/netstat and /proc/net/snmp) and
 * their differences across a run.
 *
 * @module
 */

/** Counter values by "Group.Name", e.g. "TcpExt.TCPAbortOnClose". */
export type Counters = Record<string, number>;

/**
 * Parse the "Header: names" / "Header: values" line pairs that
 * /proc/net/netstat and /proc/net/snmp hold.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const c = parseCounters("TcpExt: A B\nTcpExt: 1 2\n");
 * assert.deepEqual(c, { "TcpExt.A": 1, "TcpExt.B": 2 });
 * ```
 */
export function parseCounters(...texts: string[]): Counters {
  const counters: Counters = {};
  for (const text of texts) {
    const lines = text.split("\n").filter((line) => line.includes(":"));
    for (let i = 0; i + 1 < lines.length; i += 2) {
      const [group, names] = splitLine(lines[i]!);
      const [group2, values] = splitLine(lines[i + 1]!);
      if (group !== group2) {
        i -= 1; // out of step: resynchronise on the next line
        continue;
      }
      names.forEach((name, k) => {
        const value = Number(values[k]);
        if (Number.isFinite(value)) counters[`${group}.${name}`] = value;
      });
    }
  }
  return counters;
}

function splitLine(line: string): [string, string[]] {
  const colon = line.indexOf(":");
  return [
    line.slice(0, colon),
    line.slice(colon + 1).trim().split(/\s+/).filter((s) => s !== ""),
  ];
}

/** The counters that changed, with their change (after - before). */
export function diffCounters(before: Counters, after: Counters): Counters {
  const changed: Counters = {};
  for (const [name, value] of Object.entries(after)) {
    const delta = value - (before[name] ?? 0);
    if (
      delta !== 0 && !name.endsWith(".CurrEstab") && !name.startsWith("Tcp.Rto") && name !== "Tcp.MaxConn"
    ) {
      changed[name] = delta;
    }
  }
  return changed;
}
