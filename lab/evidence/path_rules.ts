/**
 * The middlebox's iptables rules after a run, parsed from
 * `iptables -L FORWARD -v -x -n` (and nat POSTROUTING with a NAT): each of
 * the lab's rules (found by its comment: tcplab-path-N, tcplab-nat,
 * tcplab-invalid) with its packet and byte counters, the proof that a rule
 * acted on the run's packets; and a rate's TBF, from `tc -s qdisc show`
 * (under class 1:N, the rule tcplab-path-N), with what it sent and dropped.
 *
 * @module
 */

import type { PathRule } from "../scenario/types.ts";

/** One of the lab's rules in the middlebox, with its counters. */
export interface RuleCounter {
  /** "tcplab-path-1" (the rule's place in the scenario's `path:`, from 1), "tcplab-nat" or "tcplab-invalid". */
  comment: string;
  /** "REJECT", "DROP", "MASQUERADE", or "TBF" (a rate: `packets` and `bytes` are what it sent). */
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
  const tbf =
    /^qdisc tbf \S+ parent 1:([0-9a-f]+) (.*)\n\s*Sent (\d+) bytes (\d+) pkt \((dropped \d+, overlimits \d+)/gm;
  for (const m of text.matchAll(tbf)) {
    rules.push({
      comment: `tcplab-path-${m[1]}`,
      target: "TBF",
      packets: Number(m[4]),
      bytes: Number(m[3]),
      line: `tbf ${m[2]!.trim()}: sent ${m[4]} packets, ${m[3]} bytes (${m[5]})`,
    });
  }
  return rules;
}

/** A rule of the scenario's `path:` that the report shows with its counter: what it does, and what it did. */
export interface PathRuleRecord {
  /** Its comment in the middlebox: tcplab-path-N, N its place in `path:` from 1. */
  comment: string;
  /** What it does, in words: "drop 20% of the connection's packets to the server, at random". */
  rule: string;
  /** Its counter after the run, or null when the listing had none. */
  counter: RuleCounter | null;
}

/**
 * The `loss:` and `rate:` rules of a path with their counters: the proof
 * of what they did, since their effect differs from run to run. (The other
 * rules' counters prove a reset's or an ICMP error's origin, lab/verdict.)
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const rules = [{ to: "server" as const, action: "loss" as const, fromMs: 0, untilMs: null, lossPercent: 20 }];
 * const counters = [{ comment: "tcplab-path-1", target: "DROP", packets: 3, bytes: 9000, line: "" }];
 * const [record] = pathRuleRecords(rules, counters);
 * assert.equal(record!.rule, "drop 20% of the connection's packets to the server, at random");
 * assert.equal(record!.counter!.packets, 3);
 * ```
 */
export function pathRuleRecords(
  rules: readonly PathRule[],
  counters: readonly RuleCounter[],
): PathRuleRecord[] {
  return rules.flatMap((rule, i) => {
    const comment = `tcplab-path-${i + 1}`;
    const window = rule.fromMs > 0 || rule.untilMs !== null
      ? ` from ${rule.fromMs} ms${rule.untilMs === null ? "" : ` until ${rule.untilMs} ms`}`
      : "";
    const counter = counters.find((c) => c.comment === comment) ?? null;
    if (rule.action === "loss") {
      return [{
        comment,
        rule: `drop ${rule.lossPercent}% of the connection's packets to the ${rule.to}, at random${window}`,
        counter,
      }];
    }
    if (rule.action === "rate" && rule.rate) {
      return [{
        comment,
        rule:
          `send to the ${rule.to} at most ${rule.rate.kbit} kbit/s (a TBF, bucket ${rule.rate.burstBytes} bytes)${window}`,
        counter,
      }];
    }
    return [];
  });
}
