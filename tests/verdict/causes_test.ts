/**
 * Every cause in lab/analysis/causes.ts has what the lab says about it
 * everywhere: a rule that can produce it (from the packets in
 * lab/analysis/teardown.ts, or from the kernel's evidence in
 * lab/verdict/cause.ts), its one-line meaning, its kernel facts, the
 * verdict's sentence and the report's explanation. A new cause fails here
 * until each is written.
 */

import assert from "node:assert/strict";
import { CAUSE_IDS, type CauseId, CAUSES, isCauseId } from "../../lab/analysis/causes.ts";
import { explainCapture } from "../../lab/explain/explain_capture.ts";
import { explainCause } from "../../lab/report/explanations.ts";
import { parseScenario } from "../../lab/scenario/parse.ts";
import { type CauseEvidence, decideCause } from "../../lab/verdict/cause.ts";
import type { ConnectionResult } from "../../lab/verdict/types.ts";
import { causeSentence } from "../../lab/verdict/verdict_sentence.ts";

/** How a cause is produced: the packets of a fixture capture, or the kernel's evidence about a connection. */
type Rule = { capture: string } | { evidence: Partial<CauseEvidence> };

/** One case per cause (the type makes a new cause without one a compile error). */
const RULES: Record<CauseId, Rule> = {
  "close-with-unread-data": { capture: "founding_rst_unread.pcap" },
  "linger-zero": { capture: "linger_zero.pcap" },
  "data-after-close": { capture: "data_after_close.pcap" },
  "refused": { capture: "refused.pcap" },
  "graceful-close": { capture: "read_then_close.pcap" },
  "half-close": { capture: "shutdown_drain.pcap" },
  "abort-after-retransmissions": { capture: "keepalive_timeout.pcap" },
  "listener-closed": { evidence: { reset: true, neverAccepted: true, resetReasons: ["TCP_STATE"] } },
  "keepalive-timeout": { evidence: { reset: true, resetReasons: ["TCP_KEEPALIVE_TIMEOUT"] } },
  "retransmission-timeout": {
    evidence: {
      reset: false,
      timedOut: { side: "client", abortOnTimeout: 1, keepalive: false, userTimeoutMs: null, call: "read()" },
    },
  },
  "syn-timeout": {
    evidence: {
      reset: false,
      handshakeCompleted: false,
      timedOut: {
        side: "client",
        abortOnTimeout: 1,
        keepalive: false,
        userTimeoutMs: null,
        call: "connect()",
      },
    },
  },
  "user-timeout": {
    evidence: {
      reset: false,
      timedOut: { side: "client", abortOnTimeout: 1, keepalive: false, userTimeoutMs: 1500, call: "read()" },
    },
  },
  "path-reset": {
    evidence: { reset: true, pathReset: ["the client's capture has the RST, the server's does not"] },
  },
  "nat-mapping-expired": {
    evidence: {
      reset: true,
      natExpiry: ["the middlebox's capture has the RST leaving from its own address"],
    },
  },
  "icmp-error": {
    evidence: { reset: false, icmpError: ["the client's connect() failed with EHOSTUNREACH"] },
  },
  "peer-lost-state": {
    evidence: {
      reset: true,
      resetReasons: ["NO_SOCKET"],
      peerLostState: ["the fresh namespace's kernel sent it"],
    },
  },
  "unknown": { evidence: { packetCandidates: [], reset: false } },
};

const TESTDATA = new URL("../testdata/", import.meta.url);

function _produced(rule: Rule): CauseId[] {
  if ("capture" in rule) {
    const bytes = Deno.readFileSync(new URL(rule.capture, TESTDATA));
    return explainCapture(bytes, rule.capture).rows.flatMap((row) => row.candidates.map((c) => c.cause));
  }
  const evidence: CauseEvidence = {
    packetCandidates: [],
    reset: false,
    resetReasons: [],
    counters: {},
    calls: [],
    handshakeCompleted: true,
    ...rule.evidence,
  };
  return decideCause(evidence).candidates.map((c) => c.cause);
}

function _connection(cause: CauseId): Pick<ConnectionResult, "resetBy" | "closedFirstBy" | "facts"> {
  return {
    resetBy: cause === "graceful-close" || cause === "half-close" ? null : "client",
    closedFirstBy: "client",
    facts: {
      unreadBytes: 1,
      resetSeq: 1,
      resetAck: 2,
      resetFlags: "R.",
      finsCrossed: false,
      unreadCount: null,
      closedBy: null,
    },
  };
}

Deno.test("every cause has its rule, its meaning, its kernel facts, its sentence and its explanation", async (t) => {
  assert.deepEqual(Object.keys(RULES).sort(), [...CAUSE_IDS].sort());
  for (const cause of CAUSE_IDS) {
    await t.step(cause, () => {
      assert.ok(_produced(RULES[cause]).includes(cause), `no rule produced ${cause}`);
      assert.ok(CAUSES[cause].meaning.length > 0, "meaning");
      assert.equal(CAUSES[cause].kernel === "", cause === "unknown", "kernel facts (none only for unknown)");
      assert.match(causeSentence(cause, _connection(cause)), /^[A-Z].*\.$/);
      const explanation = explainCause(cause, _connection(cause));
      assert.ok(explanation.plain.length > 0 && explanation.plain.every((p) => p.length > 0), "explanation");
    });
  }
});

Deno.test("a scenario's expect.cause accepts exactly the causes of the table", async (t) => {
  const scenario = (cause: string) =>
    `name: x\ntitle: t\nserver:\n  steps: [listen, accept, close]\nclient:\n  steps: [connect, close]\n` +
    `expect:\n  cause: ${cause}\n`;
  for (const cause of CAUSE_IDS) {
    await t.step(cause, () => assert.equal(parseScenario(scenario(cause), "x.yaml").expect.cause, cause));
  }
  await t.step("an id not in the table", () => {
    assert.ok(!isCauseId("linger-0"));
    assert.throws(
      () => parseScenario(scenario("linger-0"), "x.yaml"),
      /unknown cause "linger-0"; expected one of: /,
    );
  });
});
