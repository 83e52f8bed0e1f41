/**
 * The Mermaid sequence diagram of a connection, for both reports (a run's
 * and `lab explain`'s): an arrow per packet with tcpdump's flags and the
 * sequence numbers of packet_lines.ts, notes where they help. Pure: items
 * in, Markdown lines out.
 *
 * @module
 */

import { thousands } from "./numbers.ts";

/** One participant: its id in the diagram ("C", "L") and its label. */
export interface Participant {
  id: string;
  label: string;
}

/** One row of the diagram: a packet, a note, or a count of packets not shown. */
export type SequenceItem =
  | { fromLeft: boolean; flags: string; seq: number; ack: number; length: number }
  | { note: string; over: "left" | "right" | "both" }
  | number;

/** How the diagram looks. */
export interface SequenceStyle {
  /** The arrow of a RST: "-x" (a solid line with a cross) or "--x" (a dotted one). */
  resetArrow: "-x" | "--x";
}

/**
 * A Mermaid sequence diagram between two participants, in a fenced block:
 * `->>` for a packet (the reset arrow for a RST), its flags and numbers
 * (the ack only with the ACK bit, the length only when not 0).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sequenceDiagram } from "./sequence_diagram.ts";
 * const lines = sequenceDiagram(
 *   { id: "L", label: "client 10.0.0.1:40000" },
 *   { id: "R", label: "server 10.0.0.2:80" },
 *   [
 *     { fromLeft: true, flags: "S", seq: 0, ack: 0, length: 0 },
 *     12,
 *     { fromLeft: false, flags: "R.", seq: 1, ack: 2, length: 0 },
 *     { note: "close(fd 3) = 0", over: "right" },
 *   ],
 *   { resetArrow: "-x" },
 * );
 * const fence = "`".repeat(3);
 * assert.deepEqual(lines, [
 *   `${fence}mermaid`,
 *   "sequenceDiagram",
 *   "    participant L as client 10.0.0.1:40000",
 *   "    participant R as server 10.0.0.2:80",
 *   "    L->>R: [S] seq 0",
 *   "    Note over L,R: 12 packets not shown",
 *   "    R-xL: [R.] seq 1 ack 2",
 *   "    Note over R: close(fd 3) = 0",
 *   fence,
 * ]);
 * ```
 */
export function sequenceDiagram(
  left: Participant,
  right: Participant,
  items: SequenceItem[],
  style: SequenceStyle,
): string[] {
  const lines = [
    "```mermaid",
    "sequenceDiagram",
    `    participant ${left.id} as ${_text(left.label)}`,
    `    participant ${right.id} as ${_text(right.label)}`,
  ];
  for (const item of items) {
    if (typeof item === "number") {
      lines.push(`    Note over ${left.id},${right.id}: ${thousands(item)} packets not shown`);
    } else if ("note" in item) {
      const over = item.over === "left"
        ? left.id
        : item.over === "right"
        ? right.id
        : `${left.id},${right.id}`;
      lines.push(`    Note over ${over}: ${_text(item.note)}`);
    } else {
      const from = item.fromLeft ? left.id : right.id;
      const to = item.fromLeft ? right.id : left.id;
      const arrow = item.flags.startsWith("R") ? style.resetArrow : "->>";
      lines.push(
        `    ${from}${arrow}${to}: [${item.flags}] seq ${item.seq}${
          item.flags.includes(".") ? ` ack ${item.ack}` : ""
        }${item.length ? ` len ${item.length}` : ""}`,
      );
    }
  }
  lines.push("```");
  return lines;
}

/** Text Mermaid reads as it is: no `;`, `#`, `<` or `>`, whitespace collapsed. */
function _text(text: string): string {
  return text.replace(/[;#<>]/g, " ").replace(/\s+/g, " ");
}
