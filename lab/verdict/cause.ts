/**
 * Decide why a connection ended, weighing the packets' candidates against
 * what the kernel and the programs say. Pure: evidence in, cause out.
 *
 * @module
 */

import { type CauseCandidate, type CauseId, type Confidence, CONFIDENCE_RANK } from "../analysis/causes.ts";
import type { CallRecord } from "./types.ts";

/** What is known about the side that reset the connection (or closed it first). */
export interface CauseEvidence {
  /** Causes the packets alone fit, best first. */
  packetCandidates: CauseCandidate[];
  /** Whether a RST ended the connection. */
  reset: boolean;
  /** Reasons the kernel printed for the RSTs this side sent. */
  resetReasons: string[];
  /** Counter changes in the resetting side's namespace. */
  counters: Record<string, number>;
  /** The resetting side's calls, in order (empty when unknown). */
  calls: CallRecord[];
  /** Whether the three-way handshake completed (a RST for NO_SOCKET means "refused" only before it). */
  handshakeCompleted: boolean;
  /** The resetting side listened, closed its listener and never accepted this connection (from its calls). */
  neverAccepted?: boolean;
}

/** Causes a kernel RST reason proves. */
const REASON_CAUSES: Record<string, CauseId> = {
  TCP_ABORT_ON_CLOSE: "close-with-unread-data",
  TCP_ABORT_ON_DATA: "data-after-close",
  TCP_TIMEWAIT_SOCKET: "data-after-close",
  NO_SOCKET: "refused",
};

/**
 * The cause and every candidate considered, best first.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const result = decideCause({
 *   packetCandidates: [
 *     { cause: "close-with-unread-data", confidence: "likely", reason: "RST after data" },
 *     { cause: "linger-zero", confidence: "possible", reason: "RST after data" },
 *   ],
 *   reset: true,
 *   resetReasons: ["TCP_ABORT_ON_CLOSE"],
 *   counters: { "TcpExt.TCPAbortOnClose": 1 },
 *   calls: [],
 *   handshakeCompleted: true,
 * });
 * assert.equal(result.cause, "close-with-unread-data");
 * assert.equal(result.confidence, "certain");
 * ```
 */
export function decideCause(evidence: CauseEvidence): {
  cause: CauseId;
  confidence: Confidence;
  candidates: CauseCandidate[];
} {
  const found = new Map<CauseId, CauseCandidate>();
  const order: CauseId[] = [];
  const add = (cause: CauseId, confidence: Confidence, reason: string) => {
    const known = found.get(cause);
    if (!known) {
      found.set(cause, { cause, confidence, reason });
      order.push(cause);
    } else {
      if (CONFIDENCE_RANK[confidence] > CONFIDENCE_RANK[known.confidence]) known.confidence = confidence;
      if (!known.reason.includes(reason)) known.reason += `; ${reason}`;
    }
  };
  for (const c of evidence.packetCandidates) add(c.cause, c.confidence, c.reason);

  if (evidence.reset && evidence.neverAccepted) {
    // The program never held this socket, so neither its close() nor its socket options can be the cause.
    add(
      "listener-closed",
      "certain",
      "it closed its listening socket and never accepted this connection" +
        (evidence.resetReasons.includes("TCP_STATE")
          ? "; the kernel's tcp_send_reset gave reason=TCP_STATE"
          : ""),
    );
  } else if (evidence.reset) {
    for (const reason of evidence.resetReasons) {
      // After a handshake, "no socket" means the closed side's socket was already gone: data after close.
      const cause = reason === "NO_SOCKET" && evidence.handshakeCompleted
        ? "data-after-close"
        : REASON_CAUSES[reason];
      if (cause) add(cause, "certain", `the kernel's tcp_send_reset gave reason=${reason}`);
    }
    // tcplab logs the option as "SO_LINGER=ON,SECONDS".
    const lingerZero = evidence.calls.some((c) =>
      c.call === "setsockopt" && c.args === "SO_LINGER=1,0" && c.ret === 0
    );
    if (evidence.resetReasons.includes("TCP_STATE") && lingerZero) {
      add(
        "linger-zero",
        "certain",
        "the kernel's tcp_send_reset gave reason=TCP_STATE after SO_LINGER {1, 0}",
      );
    }
    const count = (name: string) => evidence.counters[`TcpExt.${name}`] ?? 0;
    if (count("TCPAbortOnClose") > 0) {
      add(
        "close-with-unread-data",
        "certain",
        `TcpExt.TCPAbortOnClose +${count("TCPAbortOnClose")} in its namespace`,
      );
    }
    if (count("TCPAbortOnData") > 0) {
      add(
        lingerZero ? "linger-zero" : "data-after-close",
        lingerZero ? "certain" : "likely",
        `TcpExt.TCPAbortOnData +${count("TCPAbortOnData")} in its namespace`,
      );
    }
    const unread = unreadAtClose(evidence.calls);
    if (unread !== null && unread > 0) {
      add(
        "close-with-unread-data",
        "likely",
        `its FIONREAD said ${unread} byte${unread === 1 ? "" : "s"} unread before close()`,
      );
    }
    if (lingerZero && unread === 0) add("linger-zero", "likely", "it set SO_LINGER {1, 0} before close()");
  }

  const candidates = order
    .map((cause) => found.get(cause)!)
    .sort((a, b) => CONFIDENCE_RANK[b.confidence] - CONFIDENCE_RANK[a.confidence]);
  const best = candidates[0];
  if (!best) {
    return {
      cause: "unknown",
      confidence: "possible",
      candidates: [{ cause: "unknown", confidence: "possible", reason: "no evidence fits a known cause" }],
    };
  }
  // A certain cause rules out the others the packets alone could not tell apart.
  const kept = best.confidence === "certain"
    ? candidates.filter((c) => c === best || c.confidence === "certain")
    : candidates;
  return { cause: best.cause, confidence: best.confidence, candidates: kept };
}

/**
 * How many bytes a side's FIONREAD reported just before its close(), when it
 * read nothing in between; null when its calls do not say.
 */
export function unreadAtClose(calls: CallRecord[]): number | null {
  let unread: number | null = null;
  for (const call of calls) {
    if (call.call === "ioctl" && call.args === "FIONREAD" && typeof call.detail.value === "number") {
      unread = call.detail.value;
    } else if (call.call === "read" && (call.ret ?? 0) > 0 && unread !== null) {
      unread = Math.max(0, unread - (call.ret ?? 0));
    } else if (call.call === "close") {
      return unread;
    }
  }
  return null;
}
