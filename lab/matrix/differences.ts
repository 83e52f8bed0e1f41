/**
 * What differs between a matrix's columns, in words. Pure.
 *
 * @module
 */

import type { MatrixCell, MatrixColumn, MatrixDifference } from "./types.ts";

/** What a kernel RST reason means, to explain a difference in reasons. */
const REASON_MEANING: Record<string, string> = {
  NO_SOCKET: "no socket matched the segment (the connection's socket was already gone, or nothing listened)",
  TCP_TIMEWAIT_SOCKET: "a TIME_WAIT or FIN_WAIT2 mini-socket answered it",
  TCP_ABORT_ON_DATA: "a full socket that the application had closed received data",
  TCP_ABORT_ON_CLOSE: "close() found unread data",
  TCP_STATE: "close() with SO_LINGER {1, 0} aborted the connection",
  INVALID_SYN: "the accept queue was full and tcp_abort_on_overflow is on",
  NOT_SPECIFIED: "this kernel does not name the reason",
};

/** A column's name in sentences: "unix:///var/run/docker.sock (kernel 6.18, net.ipv4.tcp_fin_timeout=1)". */
export function columnName(column: MatrixColumn): string {
  const variant = Object.entries(column.variant).map(([k, v]) => `${k}=${v}`);
  const kernel = column.kernel ? [`kernel ${column.kernel}`] : [];
  return `${column.host}${[...kernel, ...variant].length ? ` (${[...kernel, ...variant].join(", ")})` : ""}`;
}

/**
 * For each scenario, compare its cells that ran. Kernel reasons count only
 * where both columns have them: "unavailable" is never a difference.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const col = (variant: Record<string, string>) => ({ host: "h", variant, kernel: "6.18", dockerVersion: "20.10",
 *   arch: "amd64", status: "ok" as const, problem: null, traceAvailable: true });
 * const cell = (column: number, reasons: string[] | null) => ({ scenario: "s", column, status: "ok" as const,
 *   problem: null, state: "RSTO", resetBy: "client", cause: "data-after-close", resetReasons: reasons, met: true, report: null,
 *   reproduce: null });
 * const diffs = findDifferences(["s"], [col({}), col({ "net.ipv4.tcp_fin_timeout": "1" })],
 *   [cell(0, ["TCP_TIMEWAIT_SOCKET"]), cell(1, ["NO_SOCKET"])]);
 * assert.deepEqual(diffs[0]?.fields, ["resetReasons"]);
 * assert.equal(findDifferences(["s"], [col({}), col({})], [cell(0, ["NO_SOCKET"]), cell(1, null)]).length, 0);
 * ```
 */
export function findDifferences(
  scenarios: string[],
  columns: MatrixColumn[],
  cells: MatrixCell[],
): MatrixDifference[] {
  const differences: MatrixDifference[] = [];
  for (const scenario of scenarios) {
    const ran = cells.filter((c) => c.scenario === scenario && c.status === "ok");
    if (ran.length < 2) continue;
    const fields = new Set<string>();
    for (const field of ["state", "resetBy", "cause"] as const) {
      if (new Set(ran.map((c) => c[field])).size > 1) fields.add(field);
    }
    const withReasons = ran.filter((c) => c.resetReasons !== null);
    if (new Set(withReasons.map((c) => (c.resetReasons ?? []).join(","))).size > 1) {
      fields.add("resetReasons");
    }
    if (fields.size === 0) continue;
    const describe = (c: MatrixCell) => {
      const reasons = c.resetReasons === null
        ? "kernel reason unavailable"
        : c.resetReasons.length
        ? `kernel reason ${c.resetReasons.join(", ")}: ${
          c.resetReasons.map((r) => REASON_MEANING[r] ?? r).join("; ")
        }`
        : "no RST from the kernel";
      return `on ${columnName(columns[c.column]!)} it ended ${c.state}, ${
        c.resetBy ? `RST by the ${c.resetBy}` : "no RST"
      }, cause ${c.cause} (${reasons})`;
    };
    differences.push({
      scenario,
      fields: [...fields],
      text: `\`${scenario}\` differs in ${[...fields].join(", ")}: ${ran.map(describe).join("; while ")}.`,
    });
  }
  return differences;
}
