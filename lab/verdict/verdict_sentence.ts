/**
 * The verdict in one sentence: what ended the connection, told with its own
 * facts (who, the peer, how many bytes were left unread), from the cause's
 * sentence in lab/analysis/causes.ts. The run's result carries it, and the
 * reports quote it; the longer explanation of each cause is the report's
 * (lab/report/explanations.ts), which builds on the same {@link CauseContext}.
 * Pure: a connection's result in, text out.
 *
 * @module
 */

import { type CauseId, CAUSES, type SentenceContext } from "../analysis/causes.ts";
import type { ConnectionResult } from "./types.ts";

/** What a cause's sentence and explanation quote of one connection. */
export type ConnectionFacts = Pick<ConnectionResult, "resetBy" | "closedFirstBy" | "facts">;

/** The parts of a connection's story that every cause's text uses: the sentence's, and the facts themselves. */
export interface CauseContext extends SentenceContext {
  /** The facts themselves. */
  facts: ConnectionResult["facts"];
}

/**
 * The context of a connection's cause.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const facts = {
 *   unreadBytes: 1, resetSeq: 1, resetAck: 2, resetFlags: "R.", finsCrossed: false, unreadCount: null, closedBy: null,
 * } as const;
 * const c = causeContext({ resetBy: "client", closedFirstBy: "client", facts });
 * assert.deepEqual([c.who, c.peer, c.unread], ["client", "server", "1 byte"]);
 * ```
 */
export function causeContext(conn: ConnectionFacts): CauseContext {
  const who = conn.resetBy ?? conn.closedFirstBy;
  const f = conn.facts;
  return {
    who,
    peer: who === "client" ? "server" : who === "server" ? "client" : "peer",
    unread: f.unreadBytes !== null ? `${f.unreadBytes} byte${f.unreadBytes === 1 ? "" : "s"}` : "data",
    finsCrossed: f.finsCrossed,
    finSent: f.finSent ?? null,
    closed: _CLOSED[f.closedBy ?? "unknown"],
    facts: f,
  };
}

/** How a side let go of its socket, in words: never "close()" for a program that exited without it. */
const _CLOSED = {
  close: "called close()",
  exit: "exited without calling close() (the kernel closes a program's sockets when it exits)",
  unknown: "closed its socket",
} as const;

/**
 * One sentence on what `cause` means for this connection.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const facts = { unreadBytes: null, resetSeq: 0, resetAck: 1, resetFlags: "R.", finsCrossed: false, unreadCount: null, closedBy: null };
 * assert.match(causeSentence("refused", { resetBy: "server", closedFirstBy: "server", facts }), /refused/);
 * ```
 */
export function causeSentence(cause: CauseId, conn: ConnectionFacts): string {
  return CAUSES[cause].sentence(causeContext(conn));
}

/**
 * The run's verdict: the focus connection's cause in one sentence, with the
 * other candidates when the cause is not certain, after a note when the run
 * timed out.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(
 *   verdictSentence(null, null),
 *   "No TCP connection between the client and the server was captured.",
 * );
 * ```
 */
export function verdictSentence(
  conn: (ConnectionFacts & Pick<ConnectionResult, "cause" | "confidence" | "candidates">) | null,
  timedOut: string | null,
): string {
  return (timedOut
    ? `The run timed out (${timedOut}) and its programs were killed, so the kernel closed their sockets. `
    : "") + (conn
      ? causeSentence(conn.cause, conn) +
        (conn.confidence === "certain"
          ? ""
          : ` (${conn.confidence}: ${conn.candidates.map((c) => c.cause).join(" or ")})`)
      : "No TCP connection between the client and the server was captured.");
}
