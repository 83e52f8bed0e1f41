/**
 * The connection a run's verdict is about: the accessor the report, the
 * summary, the matrix and the retries of a run all read it through.
 *
 * @module
 */

import type { ConnectionResult, RunResult } from "./types.ts";

/**
 * The connection the verdict is about, or null when none was captured.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { RunResult } from "./types.ts";
 * assert.equal(focusConnection({ connections: [], focus: 1 } as unknown as RunResult), null);
 * ```
 */
export function focusConnection(result: RunResult): ConnectionResult | null {
  return result.connections[(result.focus ?? 1) - 1] ?? null;
}
