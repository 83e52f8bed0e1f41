/**
 * Numbers as the reports write them: whole numbers with thousands
 * separators ("1,234,567").
 *
 * @module
 */

// One formatter for every call: `toLocaleString("en-US")` makes a new one each time, which cost explain's
// report a tenth of a millisecond per number.
const _THOUSANDS = new Intl.NumberFormat("en-US");

/**
 * `n` with thousands separators, as en-US writes it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { thousands } from "./numbers.ts";
 * assert.equal(thousands(1234567), "1,234,567");
 * assert.equal(thousands(999), "999");
 * ```
 */
export function thousands(n: number): string {
  return _THOUSANDS.format(n);
}
