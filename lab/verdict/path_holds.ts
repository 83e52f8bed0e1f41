/**
 * A path's `delay:` and `reorder:` rules, with what the middlebox's queue program did with each: the
 * report's proof that the path held packets, and which ones longer.
 *
 * @module
 */

import type { HeldPacket } from "../evidence/held_packets.ts";
import type { RuleCounter } from "../evidence/path_rules.ts";
import type { PathRule } from "../scenario/types.ts";
import type { PathHoldRecord } from "./types.ts";

/**
 * Each hold rule of a path (in the scenario's order), with its counter and the packets its queue held; `bound`:
 * whether the queue program bound its queues (its log's `bound` line: `queueBound`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const [hold] = pathHolds(
 *   [{ to: "server", action: "hold", fromMs: 0, untilMs: null, hold: { delayMs: 0, every: 5, extraMs: 100 } }],
 *   [
 *     { queue: 1, id: 1, length: 60, heldMs: 0, extra: false, realNs: "1" },
 *     { queue: 1, id: 5, length: 152, heldMs: 100, extra: true, realNs: "2" },
 *   ],
 *   [{ comment: "tcplab-path-1", target: "NFQUEUE", packets: 2, bytes: 212, line: "" }],
 *   true,
 * );
 * assert.equal(hold!.queued, 2);
 * assert.equal(hold!.heldCount, 2);
 * assert.deepEqual(hold!.heldLongerIds, [5]);
 * assert.deepEqual(hold!.heldLongerMs, { min: 100, max: 100 });
 * ```
 */
export function pathHolds(
  rules: PathRule[],
  held: HeldPacket[],
  counters: RuleCounter[],
  bound: boolean,
): PathHoldRecord[] {
  return rules.flatMap((rule, i): PathHoldRecord[] => {
    if (rule.action !== "hold" || !rule.hold) return [];
    const comment = `tcplab-path-${i + 1}`;
    const mine = held.filter((p) => p.queue === i + 1);
    const longer = mine.filter((p) => p.extra);
    const others = mine.filter((p) => !p.extra);
    return [{
      comment,
      to: rule.to,
      ...rule.hold,
      queued: counters.find((c) => c.comment === comment)?.packets ?? null,
      bound,
      heldCount: mine.length,
      longestOtherMs: Math.max(0, ...others.map((p) => p.heldMs)),
      heldLongerIds: longer.map((p) => p.id).sort((a, b) => a - b),
      heldLongerMs: longer.length === 0 ? null : {
        min: Math.min(...longer.map((p) => p.heldMs)),
        max: Math.max(...longer.map((p) => p.heldMs)),
      },
    }];
  });
}
