/**
 * The middlebox's iptables rules after a run, parsed from
 * `iptables -L FORWARD -v -x -n` (and nat POSTROUTING with a NAT): each of
 * the lab's rules (found by its comment: tcplab-path-N, tcplab-nat,
 * tcplab-invalid) with its packet and byte counters, the proof that a rule
 * acted on the run's packets.
 *
 * @module
 */

/** One of the lab's rules in the middlebox, with its counters. */
export interface RuleCounter {
  /** "tcplab-path-1" (the rule's place in the scenario's `path:`, from 1), "tcplab-nat" or "tcplab-invalid". */
  comment: string;
  /** "REJECT", "DROP" or "MASQUERADE". */
  target: string;
  packets: number;
  bytes: number;
  /** The listing's line, as iptables printed it (spaces squeezed). */
  line: string;
}

/**
 * The lab's rules in an `iptables -L -v -x -n` listing.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const text = "Chain FORWARD (policy ACCEPT 12 packets, 700 bytes)\n" +
 *   "    pkts      bytes target     prot opt in     out     source               destination\n" +
 *   "       1       53 REJECT     6    --  *      *       0.0.0.0/0            10.200.0.2           " +
 *   "/" + "* tcplab-path-1 *" + "/ reject-with tcp-reset\n";
 * const [rule] = parseRuleCounters(text);
 * assert.equal(rule!.comment, "tcplab-path-1");
 * assert.equal(rule!.target, "REJECT");
 * assert.equal(rule!.packets, 1);
 * ```
 */
export function parseRuleCounters(text: string): RuleCounter[] {
  const rules: RuleCounter[] = [];
  for (const raw of text.split("\n")) {
    const m = /^\s*(\d+)\s+(\d+)\s+(\S+)\s.*\/\* (tcplab-[a-z0-9-]+) \*\//.exec(raw);
    if (!m) continue;
    rules.push({
      comment: m[4]!,
      target: m[3]!,
      packets: Number(m[1]),
      bytes: Number(m[2]),
      line: raw.trim().replace(/\s+/g, " "),
    });
  }
  return rules;
}
