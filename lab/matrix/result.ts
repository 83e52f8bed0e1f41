/**
 * A matrix's result: which runs measured nothing because the lab's own
 * path was broken (no capture saw a handshake), which columns that makes
 * broken, whether the matrix is complete (a scenario left out for what
 * its host's kernel lacks makes it incomplete), and the one line that
 * says the result first. Pure.
 *
 * @module
 */

import type { Matrix, MatrixCell, MatrixColumn } from "./types.ts";

/** What a cell says when its run saw no handshake. */
export const BROKEN_PATH =
  "no capture saw a handshake (no connection, or SYNs unanswered: conn_state S0): the lab's own path was broken";

/**
 * Whether a run that happened measured nothing: no connection was captured,
 * or its SYNs went unanswered (S0), and its scenario did not expect that.
 * A refused connection (REJ) is an answer, so it is no broken path.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(brokenPath(null, false), true);
 * assert.equal(brokenPath("S0", false), true);
 * assert.equal(brokenPath("S0", true), false);
 * assert.equal(brokenPath("REJ", true), false);
 * assert.equal(brokenPath("RSTO", false), false);
 * ```
 */
export function brokenPath(state: string | null, met: boolean | null): boolean {
  return state === null || (state === "S0" && met !== true);
}

/**
 * Mark as broken every column whose runs all had a broken path (a column
 * with no run is left as it is): the column measured nothing about its
 * kernel, so the matrix is incomplete.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const column = { host: "h", variant: {}, kernel: "6.18", dockerVersion: "20.10", arch: "amd64",
 *   status: "ok" as const, problem: null, traceAvailable: true };
 * const cell = { scenario: "seed", column: 0, status: "broken" as const, problem: "x", state: "S0",
 *   resetBy: null, cause: "unknown", resetReasons: null, met: false, report: null, reproduce: null };
 * assert.equal(markBrokenColumns([column], [cell])[0]?.status, "broken");
 * ```
 */
export function markBrokenColumns(columns: MatrixColumn[], cells: MatrixCell[]): MatrixColumn[] {
  return columns.map((column, i) => {
    const own = cells.filter((c) => c.column === i && c.status !== "lacking");
    return column.status === "ok" && own.length > 0 && own.every((c) => c.status === "broken")
      ? { ...column, status: "broken", problem: BROKEN_PATH }
      : column;
  });
}

/**
 * Whether a matrix is complete: every column ran, and every scenario in
 * it (none left out for what its host's kernel lacks). Exit code 3 when not.
 */
export function matrixComplete(columns: MatrixColumn[], cells: MatrixCell[]): boolean {
  return columns.every((c) => c.status === "ok") && cells.every((c) => c.status !== "lacking");
}

/**
 * The matrix's result in one line, the first thing matrix.md and the
 * command say: "2 columns, 1 difference", or "incomplete: " and what is
 * missing.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const column = (host: string, status: "ok" | "unreachable") => ({ host, variant: {}, kernel: null,
 *   dockerVersion: null, arch: null, status, problem: status === "ok" ? null : "nothing listens", traceAvailable: true });
 * const matrix = { scenarios: ["seed"], columns: [column("a", "ok"), column("b", "ok")], cells: [],
 *   differences: [{ scenario: "seed", fields: ["state"], text: "" }], complete: true };
 * assert.equal(matrixHeadline(matrix), "2 columns, 1 difference");
 * assert.equal(matrixHeadline({ ...matrix, differences: [] }), "2 columns, no difference");
 * assert.equal(
 *   matrixHeadline({ ...matrix, columns: [column("a", "ok"), column("b", "unreachable")], complete: false }),
 *   "incomplete: host b unreachable; 1 of 2 columns ran, 1 difference",
 * );
 * ```
 */
export function matrixHeadline(matrix: Matrix): string {
  const n = matrix.columns.length;
  const d = matrix.differences.length;
  const differences = d === 0 ? "no difference" : `${d} difference${d === 1 ? "" : "s"}`;
  if (matrix.complete) return `${n} column${n === 1 ? "" : "s"}, ${differences}`;
  const missing = matrix.columns.filter((c) => c.status !== "ok");
  const lacking = matrix.cells.filter((c) => c.status === "lacking");
  const why = [
    ...new Set(missing.map((c) => `host ${c.host} ${_status(c.status)}`)),
    ...[...new Set(lacking.map((c) => matrix.columns[c.column]!.host))].map((host) => {
      const k = new Set(lacking.filter((c) => matrix.columns[c.column]!.host === host).map((c) => c.scenario))
        .size;
      return `host ${host}'s kernel lacks what ${k} scenario${k === 1 ? " needs" : "s need"}`;
    }),
  ].join(", ");
  const notRun = lacking.length === 0
    ? ""
    : `, ${lacking.length} cell${lacking.length === 1 ? "" : "s"} not run`;
  return `incomplete: ${why}; ${n - missing.length} of ${n} column${
    n === 1 ? "" : "s"
  } ran${notRun}, ${differences}`;
}

function _status(status: MatrixColumn["status"]): string {
  return status === "broken" ? "broken lab path (no capture saw a handshake)" : status;
}
