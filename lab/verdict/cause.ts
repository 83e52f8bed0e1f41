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
  /**
   * The proof that the RST came from the path, not from the side whose address it carries (each line one
   * fact: which captures saw it, no tcp_send_reset there, the middlebox's rule counter); absent when
   * the evidence does not show it.
   */
  pathReset?: string[];
  /**
   * The proof that a NAT on the path forgot the connection and the middlebox's own kernel sent the RST
   * (lab/verdict/path_reset.ts); absent when the evidence does not show it.
   */
  natExpiry?: string[];
  /**
   * The facts of an ICMP error that ended the connection attempt: the call that failed with
   * EHOSTUNREACH or ENETUNREACH, and the middlebox's REJECT rule that counted it; absent without them.
   */
  icmpError?: string[];
  /**
   * The proof that the RST came from a restarted peer's fresh kernel, which knew no socket for the connection
   * (each line one fact: the cut, the first namespace's silence, the RST after it, the fresh kernel's trace);
   * absent when the run restarted no side or the evidence does not show it.
   */
  peerLostState?: string[];
  /**
   * A side whose program got ETIMEDOUT on this connection: its counters and whether it had asked for
   * keepalive (SO_KEEPALIVE=1); absent when no call failed so.
   */
  timedOut?: {
    side: "client" | "server";
    abortOnTimeout: number;
    keepalive: boolean;
    /** The TCP_USER_TIMEOUT (ms) it had set on the socket, or null when it set none (or 0). */
    userTimeoutMs: number | null;
    call: string;
  };
}

/** Causes a kernel RST reason proves. */
const REASON_CAUSES: Record<string, CauseId> = {
  TCP_ABORT_ON_CLOSE: "close-with-unread-data",
  TCP_ABORT_ON_DATA: "data-after-close",
  TCP_TIMEWAIT_SOCKET: "data-after-close",
  NO_SOCKET: "refused",
  TCP_KEEPALIVE_TIMEOUT: "keepalive-timeout",
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

  if (evidence.reset && evidence.pathReset) {
    // The side named by the packets sent nothing: its close, options and counters are not the cause.
    add("path-reset", "certain", evidence.pathReset.join("; "));
  } else if (evidence.reset && evidence.natExpiry) {
    add("nat-mapping-expired", "certain", evidence.natExpiry.join("; "));
  } else if (!evidence.reset && evidence.icmpError) {
    add("icmp-error", "certain", evidence.icmpError.join("; "));
  } else if (evidence.reset && evidence.peerLostState) {
    // The side that reset was a fresh kernel: NO_SOCKET there is no data after a close of its own.
    add("peer-lost-state", "certain", evidence.peerLostState.join("; "));
  } else if (evidence.reset && evidence.neverAccepted) {
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
    const unread = fionreadBeforeClose(evidence.calls);
    if (unread !== null && unread > 0) {
      add(
        "close-with-unread-data",
        "likely",
        `its FIONREAD said ${unread} byte${unread === 1 ? "" : "s"} unread before close()`,
      );
    }
    if (lingerZero && unread === 0) add("linger-zero", "likely", "it set SO_LINGER {1, 0} before close()");
  }

  // A timeout: the program's ETIMEDOUT and TcpExt.TCPAbortOnTimeout (tcp_write_err), which every timeout
  // counts. The keepalive timer's is the only one with an RST; without one, the calls tell the rest apart:
  // a connect() that never saw its handshake (SYNs), TCP_USER_TIMEOUT set, else tcp_retries2.
  const t = evidence.timedOut;
  if (t && t.abortOnTimeout > 0) {
    const said =
      `the ${t.side}'s ${t.call} failed with ETIMEDOUT; TcpExt.TCPAbortOnTimeout +${t.abortOnTimeout} ` +
      `in its namespace`;
    if (!evidence.reset && t.call === "connect()" && !evidence.handshakeCompleted) {
      add("syn-timeout", "certain", `${said}; the handshake never completed and no RST is on the wire`);
    } else if (!evidence.reset && t.userTimeoutMs !== null) {
      add(
        "user-timeout",
        "certain",
        `${said}; it had set TCP_USER_TIMEOUT=${t.userTimeoutMs}, which replaces tcp_retries2; no RST on the wire`,
      );
    } else if (!evidence.reset) {
      add("retransmission-timeout", "certain", `${said}; no RST on the wire`);
    } else if (t.keepalive) {
      const certain = evidence.resetReasons.includes("TCP_KEEPALIVE_TIMEOUT");
      add("keepalive-timeout", certain ? "certain" : "likely", `${said}; it had set SO_KEEPALIVE`);
    }
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
 * How many bytes a side's FIONREAD reported before its close(), less what
 * it read after that; null when its calls do not say. An earlier reading
 * than the close itself: it supports a cause, it does not count bytes at
 * close (see {@link unreadAtClose}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const call = (call: string, args: string | null, ret: number, detail = {}) =>
 *   ({ side: "client" as const, step: 1, call, args, enterMs: 0, returnMs: 0, ret, errno: null, detail });
 * assert.equal(fionreadBeforeClose([call("ioctl", "FIONREAD", 0, { value: 3 }), call("read", null, 1), call("close", null, 0)]), 2);
 * assert.equal(fionreadBeforeClose([call("close", null, 0)]), null);
 * ```
 */
export function fionreadBeforeClose(calls: CallRecord[]): number | null {
  let unread: number | null = null;
  for (const call of calls) {
    if (call.call === "ioctl" && call.args === "FIONREAD" && typeof call.detail.value === "number") {
      unread = call.detail.value;
    } else if (_READS.has(call.call) && (call.ret ?? 0) > 0 && unread !== null) {
      unread = Math.max(0, unread - (call.ret ?? 0));
    } else if (call.call === "close") {
      return unread;
    }
  }
  return null;
}

/** The calls that take bytes out of a socket's receive queue. */
const _READS = new Set(["read", "recv", "recvfrom", "recvmsg", "readv"]);
/** The calls that end a process (the lab's programs log `_exit`). */
const _EXITS = new Set(["_exit", "exit", "exit_group"]);

/**
 * What a side's program did with one connection's socket until it let go
 * of it: how (`close`: it called close(); `exit`: it ended without closing
 * it, and the kernel closed it at exit; null: its calls are unknown) and
 * how many bytes it read from it (null when unknown).
 */
export interface SocketUse {
  closedBy: "close" | "exit" | null;
  bytesRead: number | null;
}

/**
 * {@link SocketUse} of the connection whose other end is `peer`
 * ("address:port"), from a side's calls: the descriptor is the one its
 * connect() or accept() gave that peer (every descriptor when none did).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const call = (call: string, fd: number | null, ret: number, detail = {}) =>
 *   ({ side: "client" as const, step: 1, call, fd, args: null, enterMs: 0, returnMs: 0, ret, errno: null, detail });
 * const connect = call("connect", 3, 0, { peer: "10.0.0.1:9999" });
 * assert.deepEqual(socketUse([connect, call("read", 3, 100), call("close", 3, 0)], "10.0.0.1:9999"), {
 *   closedBy: "close",
 *   bytesRead: 100,
 * });
 * assert.deepEqual(socketUse([connect, call("_exit", null, 0)], "10.0.0.1:9999"), { closedBy: "exit", bytesRead: 0 });
 * assert.deepEqual(socketUse([], "10.0.0.1:9999"), { closedBy: null, bytesRead: null });
 * ```
 */
export function socketUse(calls: CallRecord[], peer: string): SocketUse {
  if (calls.length === 0) return { closedBy: null, bytesRead: null };
  const opened = calls.find((c) =>
    (c.call === "connect" || c.call === "accept") && c.detail.peer === peer && (c.ret ?? -1) >= 0
  );
  const fd = opened === undefined ? null : opened.call === "accept" ? opened.ret : opened.fd ?? null;
  let bytesRead = 0;
  for (const c of calls) {
    if (_EXITS.has(c.call)) return { closedBy: "exit", bytesRead };
    if (fd !== null && c.fd !== fd) continue;
    if (_READS.has(c.call) && (c.ret ?? 0) > 0) bytesRead += c.ret ?? 0;
    if (c.call === "close" && (fd !== null || c.ret === 0)) return { closedBy: "close", bytesRead };
  }
  // The program ended without closing the socket: the kernel closed it when the process exited.
  return { closedBy: "exit", bytesRead };
}

/**
 * Bytes unread when the socket closed: what the peer delivered (the bytes
 * the closing side acknowledged, from its ACKs) less what its program read
 * (from its read calls); null when either is unknown.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(unreadAtClose(127_000, 0), 127_000);
 * assert.equal(unreadAtClose(1, 1), 0);
 * assert.equal(unreadAtClose(null, 0), null);
 * ```
 */
export function unreadAtClose(delivered: number | null, bytesRead: number | null): number | null {
  return delivered === null || bytesRead === null ? null : Math.max(0, delivered - bytesRead);
}
