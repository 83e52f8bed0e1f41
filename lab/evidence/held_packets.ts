/**
 * The middlebox's queue program's log (`tcplab queue`, containers/endpoint/queue.c), parsed: one record per
 * packet it held before letting it go on, the proof of a path's `delay:` and `reorder:` rules.
 *
 * @module
 */

/** One packet the queue program held, then accepted. */
export interface HeldPacket {
  /** The NFQUEUE queue: the rule's place in the scenario's `path:`, from 1 (its comment is tcplab-path-N). */
  queue: number;
  /** The kernel's id of the packet in its queue, from 1 in the order the packets came. */
  id: number;
  /** The IPv4 packet's total length. */
  length: number;
  /** From the kernel's message to the verdict, in whole ms. */
  heldMs: number;
  /** One of the rule's every-K-th packets, held `extra-ms` longer. */
  extra: boolean;
  /** When it was let go, ns since the epoch (text: JSON has no bigint). */
  realNs: string;
}

/**
 * The held packets of a queue program's log, in the order it let them go. Lines that are not a packet
 * (`bound`, a `note` such as a refused verdict, `end`, its exit status) are skipped.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const log = '{"ph":"bound","queues":1,"real":"1","mono":"1"}\n' +
 *   '{"ph":"held","queue":1,"id":5,"length":152,"held_ms":100,"extra":"reorder","real":"7","mono":"2"}\n' +
 *   "exit 0\n";
 * assert.deepEqual(parseHeldPackets(log), [
 *   { queue: 1, id: 5, length: 152, heldMs: 100, extra: true, realNs: "7" },
 * ]);
 * ```
 */
export function parseHeldPackets(text: string): HeldPacket[] {
  const packets: HeldPacket[] = [];
  for (const [i, line] of text.split("\n").entries()) {
    if (!line.startsWith('{"ph":"held"')) continue;
    let record: Record<string, unknown>;
    try {
      record = JSON.parse(line);
    } catch (error) {
      throw new SyntaxError(`Cannot parse the queue program's log at line ${i + 1}: ${line}`, {
        cause: error,
      });
    }
    const number = (key: string): number => {
      const value = record[key];
      if (typeof value !== "number") {
        throw new SyntaxError(`Cannot parse the queue program's log at line ${i + 1}: no number "${key}"`);
      }
      return value;
    };
    packets.push({
      queue: number("queue"),
      id: number("id"),
      length: number("length"),
      heldMs: number("held_ms"),
      extra: record.extra !== undefined,
      realNs: String(record.real ?? ""),
    });
  }
  return packets;
}

/**
 * Whether the queue program said it had bound its queues (its `bound` line). Without it, the path's hold rules
 * let every packet through undelayed (`--queue-bypass`), and its stderr (in the log) says why.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(queueBound('{"ph":"bound","queues":1,"real":"1","mono":"1"}\nexit 0\n'), true);
 * assert.equal(queueBound("tcplab queue: cannot bind queue 1: EPERM\nexit 2\n"), false);
 * ```
 */
export function queueBound(text: string): boolean {
  return text.split("\n").some((line) => line.startsWith('{"ph":"bound"'));
}
