/**
 * The lab's one worker pool: run jobs at most N at a time. A batch of
 * scenarios and each host of a matrix share it.
 *
 * @module
 */

/**
 * Run `work` on every item, at most `limit` at a time, in order; every item
 * is tried, and the first failure is thrown once all have settled.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * let running = 0, most = 0;
 * const done: number[] = [];
 * await runLimited([1, 2, 3, 4, 5], 2, async (n) => {
 *   most = Math.max(most, ++running);
 *   await new Promise((r) => setTimeout(r, 1));
 *   done.push(n);
 *   running--;
 * });
 * assert.equal(most, 2);
 * assert.deepEqual(done.sort(), [1, 2, 3, 4, 5]);
 * await assert.rejects(runLimited([1, 2], 1, (n) => Promise.reject(new Error(`no ${n}`))), /no 1/);
 * ```
 */
export async function runLimited<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  const queue = [...items];
  const errors: unknown[] = [];
  const worker = async () => {
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) {
      try {
        await work(item);
      } catch (error) {
        errors.push(error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (errors.length > 0) throw errors[0];
}
