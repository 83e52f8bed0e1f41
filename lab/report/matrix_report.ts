/**
 * matrix.md: scenarios by (host x variant), differences explained first.
 * Pure: a Matrix in, Markdown out.
 *
 * @module
 */

import { matrixHeadline } from "../matrix/result.ts";
import type { Matrix, MatrixCell } from "../matrix/types.ts";
import { LAB_VERSION } from "../version.ts";
import { SCENARIO_FILE } from "../verdict/reproduction.ts";
import { code, escapeCell, escapeText } from "./markdown_escape.ts";

/** Render matrix.md: its first line says the result. */
export function renderMatrix(matrix: Matrix): string {
  const out = [`# tcplab matrix: ${escapeText(matrixHeadline(matrix))}`, ""];
  const ran = matrix.columns.filter((c) => c.status === "ok").length;
  out.push(
    `${matrix.scenarios.length} scenario(s) on ${matrix.columns.length} column(s) (Docker host x sysctl variant); ${ran} ran${
      matrix.complete
        ? ""
        : `: **the matrix is incomplete** (see the columns below${
          matrix.cells.some((c) => c.status === "lacking")
            ? ', and the cells marked "not run"'
            : ""
        })`
    }.`,
    "",
  );
  out.push("## Differences", "");
  if (matrix.differences.length === 0) {
    out.push(
      "Every scenario ended the same way in every column that ran. (A kernel reason that is unavailable is never a difference.)",
    );
  } else {
    for (const d of matrix.differences) out.push(`- ${escapeText(d.text).replaceAll("\\`", "`")}`);
  }
  out.push(
    "",
    "## Columns",
    "",
    "| # | host | kernel | Docker | arch | sysctls | status |",
    "|---:|---|---|---|---|---|---|",
  );
  matrix.columns.forEach((c, i) => {
    const sysctls = Object.entries(c.variant).map(([k, v]) => `${k}=${v}`).join(", ") || "defaults";
    out.push(
      `| ${i + 1} | ${escapeCell(code(c.host))} | ${c.kernel ?? "?"} | ${c.dockerVersion ?? "?"} | ${
        c.arch ?? "?"
      } | ${escapeCell(sysctls)} | ${
        c.status === "ok"
          ? `ok${c.traceAvailable ? "" : " (kernel reasons unavailable)"}`
          : `**${c.status}**: ${escapeCell(c.problem ?? "")}`
      } |`,
    );
  });
  out.push("", "## Outcomes", "", `| scenario | ${matrix.columns.map((_, i) => `${i + 1}`).join(" | ")} |`);
  out.push(`|---|${matrix.columns.map(() => "---").join("|")}|`);
  for (const scenario of matrix.scenarios) {
    const differs = matrix.differences.some((d) => d.scenario === scenario);
    const cells = matrix.columns.map((_, i) => {
      const cell = matrix.cells.find((c) => c.scenario === scenario && c.column === i);
      return cell ? renderCell(cell) : "";
    });
    out.push(`| \`${scenario}\`${differs ? " **(differs)**" : ""} | ${cells.join(" | ")} |`);
  }
  out.push("", ...renderReproduce(matrix));
  return out.join("\n");
}

/** Each cell that ran, with the command that runs it alone: its host and its column's sysctls. */
function renderReproduce(matrix: Matrix): string[] {
  const ran = matrix.cells.filter((c) => c.reproduce !== null);
  if (ran.length === 0) return [];
  const ownFile = ran.some((c) => c.reproduce!.includes(` ${SCENARIO_FILE}`));
  return [
    "## Reproduce",
    "",
    `Each cell alone, at the root of a clone of tcplab ${LAB_VERSION}` +
    (ownFile ? ` (a scenario file of one's own is the ${code(SCENARIO_FILE)} in its cell's folder)` : "") +
    ":",
    "",
    ...ran.map((c) => `- ${code(c.scenario)} in column ${c.column + 1}: ${code(c.reproduce!)}`),
    "",
  ];
}

function renderCell(cell: MatrixCell): string {
  if (cell.status === "lacking") return `not run: ${escapeCell(cell.problem ?? "")}`;
  if (cell.status !== "ok") return `${cell.status}: ${escapeCell(cell.problem ?? "")}`;
  const reasons = cell.resetReasons === null
    ? "reason unavailable"
    : cell.resetReasons.join(", ") || "no RST";
  const text = `${cell.state}, ${
    cell.resetBy ? `RST by ${cell.resetBy}` : "no RST"
  }, ${cell.cause}, ${reasons}${cell.met === false ? ", **expectation not met**" : ""}`;
  return cell.report ? `[${escapeCell(text)}](${cell.report})` : escapeCell(text);
}
