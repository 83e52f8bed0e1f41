/**
 * matrix.md says its result in its first line, and a column whose runs saw
 * no handshake is a broken lab path, never a difference between kernels.
 * Pure: matrices built here, as lab/session/matrix.ts builds them.
 */
import assert from "node:assert/strict";
import { findDifferences } from "../../lab/matrix/differences.ts";
import { BROKEN_PATH, brokenPath, markBrokenColumns } from "../../lab/matrix/result.ts";
import type { Matrix, MatrixCell, MatrixColumn } from "../../lab/matrix/types.ts";
import { renderMatrix } from "../../lab/report/matrix_report.ts";

function column(host: string): MatrixColumn {
  return {
    host,
    variant: {},
    kernel: "6.18",
    dockerVersion: "20.10",
    arch: "amd64",
    status: "ok",
    problem: null,
    traceAvailable: true,
  };
}

/** A cell as the session makes it from a run's focus connection (null: no connection). */
function cell(
  column: number,
  state: string | null,
  met: boolean,
  cause: string,
  resetBy: string | null,
): MatrixCell {
  const broken = brokenPath(state, met);
  return {
    scenario: "seed",
    column,
    status: broken ? "broken" : "ok",
    problem: broken ? BROKEN_PATH : null,
    state,
    resetBy,
    cause,
    resetReasons: state === "RSTO" ? ["TCP_ABORT_ON_CLOSE"] : [],
    met,
    report: `h${column}/seed/report.md`,
  };
}

function matrix(columns: MatrixColumn[], cells: MatrixCell[]): Matrix {
  const marked = markBrokenColumns(columns, cells);
  return {
    scenarios: ["seed"],
    columns: marked,
    cells,
    differences: findDifferences(["seed"], marked, cells),
    complete: marked.every((c) => c.status === "ok"),
  };
}

Deno.test("a column where no capture saw a handshake is a broken lab path, not a difference", async (t) => {
  for (const [name, state] of [["SYNs unanswered (S0)", "S0"], ["no connection at all", null]] as const) {
    await t.step(name, () => {
      const m = matrix([column("a"), column("b")], [
        cell(0, "RSTO", true, "close-with-unread-data", "client"),
        cell(1, state, false, "unknown", null),
      ]);
      assert.deepEqual(m.differences, []);
      assert.equal(m.complete, false);
      assert.equal(m.columns[1]!.status, "broken");
      const md = renderMatrix(m);
      assert.equal(
        md.split("\n")[0],
        "# tcplab matrix: incomplete: host b broken lab path (no capture saw a handshake); 1 of 2 columns ran, no difference",
      );
      assert.doesNotMatch(md, /\(differs\)/);
      assert.match(md, /\| 2 \| `b` \|.*\| \*\*broken\*\*: no capture saw a handshake/);
      assert.match(md, /\| broken: no capture saw a handshake/);
    });
  }
});

Deno.test("a refused connection (REJ) is an answer: the column ran", () => {
  assert.equal(brokenPath("REJ", true), false);
  assert.equal(brokenPath("REJ", false), false);
});

Deno.test("the first line says the result of a complete matrix", async (t) => {
  await t.step("one difference", () => {
    const m = matrix([column("a"), column("b")], [
      cell(0, "RSTO", true, "close-with-unread-data", "client"),
      cell(1, "SF", false, "graceful-close", null),
    ]);
    assert.equal(renderMatrix(m).split("\n")[0], "# tcplab matrix: 2 columns, 1 difference");
  });
  await t.step("no difference", () => {
    const m = matrix([column("a"), column("b")], [
      cell(0, "RSTO", true, "close-with-unread-data", "client"),
      cell(1, "RSTO", true, "close-with-unread-data", "client"),
    ]);
    assert.equal(renderMatrix(m).split("\n")[0], "# tcplab matrix: 2 columns, no difference");
  });
  await t.step("an unreachable host", () => {
    const b = { ...column("b"), status: "unreachable" as const, problem: "nothing listens", kernel: null };
    const m = matrix([column("a"), b], [cell(0, "RSTO", true, "close-with-unread-data", "client")]);
    assert.equal(
      renderMatrix(m).split("\n")[0],
      "# tcplab matrix: incomplete: host b unreachable; 1 of 2 columns ran, no difference",
    );
  });
});
