/**
 * Numbers as the reports write them: thousands separated by commas
 * ("1,234,567"), as en-US writes them, at most three decimals.
 *
 * @module
 */

/**
 * `n` with thousands separators and at most three decimals, as
 * `toLocaleString("en-US")` writes it. Written by hand: Intl's formatters
 * load ICU's locale data first, which cost explain a fiftieth of a second.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { thousands } from "./numbers.ts";
 * assert.equal(thousands(1234567), "1,234,567");
 * assert.equal(thousands(999), "999");
 * assert.equal(thousands(-1234.5), "-1,234.5");
 * assert.equal(thousands(0.12345), "0.123");
 * ```
 */
export function thousands(n: number): string {
  if (!Number.isFinite(n)) return n.toLocaleString("en-US");
  const fixed = Math.abs(n).toFixed(3).replace(/\.?0+$/, "");
  const [whole, fraction] = fixed.split(".") as [string, string | undefined];
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  const text = fraction === undefined ? grouped : `${grouped}.${fraction}`;
  return n < 0 && text !== "0" ? `-${text}` : text;
}
