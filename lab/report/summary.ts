/**
 * The summary of several runs: a table in the terminal, summary.md and
 * summary.json. Pure: results in, text out.
 *
 * @module
 */

import { focusConnection } from "../verdict/focus.ts";
import type { RunResult } from "../verdict/types.ts";
import { escapeCell } from "./markdown_escape.ts";

/** One run in the summary, with the path of its report. */
export interface SummaryRow {
  result: RunResult;
  report: string;
}

/** What summary.json holds for one run. */
export interface SummaryEntry {
  scenario: string;
  runId: string;
  met: boolean;
  state: string | null;
  resetBy: string | null;
  cause: string | null;
  resetReasons: string[];
  attempts: number;
  failedChecks: Array<{ what: string; expected: string; actual: string }>;
  report: string;
}

/**
 * The summary in three forms.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.match(renderSummary([]).terminal, /0 of 0 scenarios met/);
 * ```
 */
export function renderSummary(rows: SummaryRow[]): {
  terminal: string;
  markdown: string;
  json: { met: number; total: number; runs: SummaryEntry[] };
} {
  const entries: SummaryEntry[] = rows.map(({ result, report }) => {
    const c = focusConnection(result);
    return {
      scenario: result.scenario.name,
      runId: result.runId,
      met: result.expectation.met,
      state: c?.state ?? null,
      resetBy: c?.resetBy ?? null,
      cause: c?.cause ?? null,
      resetReasons: c?.kernel.resetReasons.map((r) => r.reason ?? "").filter(Boolean) ?? [],
      attempts: result.attempts.count,
      failedChecks: result.expectation.checks.filter((k) => !k.ok).map(({ what, expected, actual }) => ({
        what,
        expected,
        actual,
      })),
      report,
    };
  });
  const met = entries.filter((e) => e.met).length;
  const outcome = (e: SummaryEntry) =>
    `${e.state ?? "no connection"}${e.resetBy ? `, RST by ${e.resetBy}` : ""}, ${e.cause ?? "?"}${
      e.resetReasons.length ? ` (${e.resetReasons.join(", ")})` : ""
    }`;
  const width = Math.max(8, ...entries.map((e) => e.scenario.length));
  const terminal = [
    ...entries.map((e) =>
      `${e.met ? "ok  " : "FAIL"} ${e.scenario.padEnd(width)}  ${outcome(e)}${
        e.attempts > 1 ? ` [${e.attempts} attempts]` : ""
      }${
        e.met
          ? ""
          : `\n     differs: ${
            e.failedChecks.map((f) => `${f.what}: expected ${f.expected}, got ${f.actual}`).join("; ")
          }`
      }`
    ),
    `${met} of ${entries.length} scenarios met their expectation`,
  ].join("\n");
  const markdown = [
    "# tcplab: summary",
    "",
    `${met} of ${entries.length} scenarios met their expectation.`,
    "",
    "| scenario | outcome | expectation | report |",
    "|---|---|---|---|",
    ...entries.map((e) =>
      `| \`${e.scenario}\` | ${escapeCell(outcome(e))}${
        e.attempts > 1 ? ` (${e.attempts} attempts)` : ""
      } | ${
        e.met
          ? "met"
          : `**not met**: ${
            escapeCell(e.failedChecks.map((f) => `${f.what} ${f.actual}, expected ${f.expected}`).join("; "))
          }`
      } | [report](${e.report}) |`
    ),
    "",
  ].join("\n");
  return { terminal, markdown, json: { met, total: entries.length, runs: entries } };
}
