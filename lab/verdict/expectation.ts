/**
 * Check a run's outcome against its scenario's expectation.
 *
 * @module
 */

import type { TraceArtifacts } from "../evidence/artifacts.ts";
import type { Expectation, Side } from "../scenario/types.ts";
import type { ConnectionResult, ExpectationCheck } from "./types.ts";

/**
 * Compare each expected field with what the run showed. A kernel RST reason
 * is not checked where the kernel cannot give it (no tracefs, or a kernel
 * before 6.12); the check says so instead.
 */
export function checkExpectation(
  expect: Expectation,
  conn: ConnectionResult | null,
  trace: Pick<TraceArtifacts, "available" | "activeResetReasons" | "note">,
  connectionCount = conn ? 1 : 0,
): { met: boolean; checks: ExpectationCheck[] } {
  const checks: ExpectationCheck[] = [];
  const check = (what: string, expected: unknown, actual: unknown) =>
    checks.push({
      what,
      expected: show(expected),
      actual: show(actual),
      ok: show(expected) === show(actual),
      skipped: null,
    });
  if (expect.connections !== undefined) {
    check("connections between the programs", expect.connections, connectionCount);
  }
  if (!conn) {
    checks.push({ what: "a connection", expected: "captured", actual: "none", ok: false, skipped: null });
    return { met: false, checks };
  }
  if (expect.state !== undefined) check("Zeek conn_state", expect.state, conn.state);
  if (expect.resetBy !== undefined) check("reset by", expect.resetBy, conn.resetBy);
  if (expect.closedFirstBy !== undefined) check("closed first by", expect.closedFirstBy, conn.closedFirstBy);
  if (expect.cause !== undefined) {
    // Several causes are allowed where two kernel paths give the same cause for a user.
    const causes = Array.isArray(expect.cause) ? expect.cause : [expect.cause];
    checks.push({
      what: "cause",
      expected: causes.join(" or "),
      actual: conn.cause,
      ok: causes.includes(conn.cause),
      skipped: null,
    });
  }
  for (const wanted of expect.resetReasons ?? []) {
    const reasons = Array.isArray(wanted) ? wanted : [wanted];
    const seen = conn.kernel.resetReasons.map((r) => r.reason ?? "").filter(Boolean);
    const skipped = !trace.available
      ? `no kernel trace (${trace.note ?? "tracefs unavailable"})`
      : !trace.activeResetReasons
      ? "this kernel does not name the reasons for resets it sends on its own (6.12+)"
      : null;
    checks.push({
      what: "kernel RST reason",
      expected: reasons.join(" or "),
      actual: seen.length ? seen.join(", ") : "none",
      ok: skipped !== null || reasons.some((r) => seen.includes(r)),
      skipped,
    });
  }
  for (const [side, states] of Object.entries(expect.statesSeen ?? {}) as Array<[Side, string[]]>) {
    const seen = new Set(
      conn.kernel.stateChanges.filter((c) => c.side === side)
        .flatMap((c) => c.change.split(" -> ").map((s) => s.replace(/^TCP_/, ""))),
    );
    for (const state of states) {
      checks.push({
        what: `a state the ${side}'s socket passed through`,
        expected: state,
        actual: seen.size ? [...seen].join(", ") : "none",
        ok: !trace.available || seen.has(state),
        skipped: trace.available ? null : `no kernel trace (${trace.note ?? "tracefs unavailable"})`,
      });
    }
  }
  for (
    const [side, wanted] of Object.entries(expect.counters ?? {}) as Array<[Side, Record<string, number>]>
  ) {
    for (const [name, delta] of Object.entries(wanted)) {
      check(`${name} change in the ${side}'s namespace`, delta, conn.kernel.counters[side][name] ?? 0);
    }
  }
  for (const [side, states] of Object.entries(expect.socketsLeft ?? {}) as Array<[Side, string[]]>) {
    const left = conn.kernel.socketsLeft[side].filter((s) => s.state !== "LISTEN").map((s) => s.state);
    for (const state of states) {
      checks.push({
        what: `a socket the ${side} still holds`,
        expected: state,
        actual: left.length ? left.join(", ") : "none",
        ok: left.includes(state),
        skipped: null,
      });
    }
  }
  return { met: checks.every((c) => c.ok), checks };
}

function show(value: unknown): string {
  return value === null ? "none" : String(value);
}
