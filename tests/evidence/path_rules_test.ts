/**
 * The middlebox's counters after a run: iptables' rules, and a rate's TBF
 * from `tc -s qdisc show` (recorded from a real run), as the report shows them.
 */
import assert from "node:assert/strict";
import { parseRuleCounters, pathRuleRecords } from "../../lab/evidence/path_rules.ts";
import type { PathRule } from "../../lab/scenario/types.ts";

/** The listings of a run with a rate to the client (kernel 6.18, iproute2 6.1): an empty FORWARD chain, then tc's. */
const RATE_LISTINGS = `Chain FORWARD (policy ACCEPT 0 packets, 0 bytes)
    pkts      bytes target     prot opt in     out     source               destination         
qdisc htb 1: root refcnt 3 r2q 10 default 0 direct_packets_stat 37 direct_qlen 1000
 Sent 71278 bytes 85 pkt (dropped 2, overlimits 33 requeues 0) 
 backlog 0b 0p requeues 0
qdisc tbf 8001: parent 1:1 rate 256Kbit burst 4Kb lat 1s 
 Sent 68712 bytes 48 pkt (dropped 2, overlimits 154 requeues 0) 
 backlog 0b 0p requeues 0
`;

Deno.test("a rate's TBF is read as its rule's counter: what it sent, dropped and held back", () => {
  assert.deepEqual(parseRuleCounters(RATE_LISTINGS), [{
    comment: "tcplab-path-1",
    target: "TBF",
    packets: 48,
    bytes: 68712,
    line: "tbf rate 256Kbit burst 4Kb lat 1s: sent 48 packets, 68712 bytes (dropped 2, overlimits 154)",
  }]);
  // The HTB root is no rule of the scenario's; a class id is written in hex by tc, as the lab wrote it.
  const tenth = RATE_LISTINGS.replace("parent 1:1 ", "parent 1:10 ");
  assert.equal(parseRuleCounters(tenth)[0]!.comment, "tcplab-path-10");
});

Deno.test("the report's records: loss and rate rules with their counters; other rules are proved elsewhere", () => {
  const rules: PathRule[] = [
    { to: "server", action: "blackhole", fromMs: 500, untilMs: null },
    { to: "server", action: "loss", fromMs: 100, untilMs: 900, lossPercent: 20 },
    { to: "client", action: "rate", fromMs: 0, untilMs: null, rate: { kbit: 256, burstBytes: 4096 } },
  ];
  const loss = {
    comment: "tcplab-path-2",
    target: "DROP",
    packets: 0,
    bytes: 0,
    line: "0 0 DROP 6 -- * * 0.0.0.0/0 10.200.0.2 /* tcplab-path-2 */",
  };
  const records = pathRuleRecords(rules, [loss]);
  assert.deepEqual(records.map((r) => [r.comment, r.rule, r.counter]), [
    [
      "tcplab-path-2",
      "drop 20% of the connection's packets to the server, at random from 100 ms until 900 ms",
      loss,
    ],
    ["tcplab-path-3", "send to the client at most 256 kbit/s (a TBF, bucket 4096 bytes)", null],
  ]);
});
