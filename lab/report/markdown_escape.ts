/**
 * Escape text that comes from outside the lab (scenario files, pcap
 * contents, program output) so it cannot break the Markdown of a report or
 * inject links or HTML into a ticket.
 *
 * @module
 */

/**
 * Escape text for a Markdown paragraph: HTML, link and emphasis syntax.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(escapeText("<b>[x](y)</b>"), "&lt;b&gt;\\[x\\](y)&lt;/b&gt;");
 * ```
 */
export function escapeText(text: string): string {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/([\\`*_[\]|])/g, "\\$1");
}

/** Escape text for a table cell (also no line breaks). */
export function escapeCell(text: string): string {
  return text.replace(/\r?\n/g, " ").replace(/\|/g, "\\|");
}

/**
 * Inline code that cannot be broken out of: the fence is longer than any
 * run of backticks inside.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(code("a`b"), "``a`b``");
 * ```
 */
export function code(text: string): string {
  const clean = text.replace(/\r?\n/g, " ");
  const longest = Math.max(0, ...[...clean.matchAll(/`+/g)].map((m) => m[0].length));
  const fence = "`".repeat(longest + 1);
  const pad = clean.startsWith("`") || clean.endsWith("`") ? " " : "";
  return `${fence}${pad}${clean}${pad}${fence}`;
}
