/**
 * Blocks that the lab's Markdown reports share, as GitHub renders them.
 *
 * @module
 */

/**
 * Markdown folded under a summary line (`<details>`): the long evidence a
 * reader opens when they need it. The summary is HTML text; the body is
 * Markdown (blank lines around it, so GitHub renders it).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(
 *   folded("Counters", "| counter | value |"),
 *   "<details>\n<summary>Counters</summary>\n\n| counter | value |\n\n</details>",
 * );
 * ```
 */
export function folded(summary: string, body: string): string {
  return ["<details>", `<summary>${summary}</summary>`, "", body, "", "</details>"].join("\n");
}
