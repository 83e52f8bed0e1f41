/**
 * The verdict in one sentence: what ended the connection, told with its own
 * facts (who, the peer, how many bytes were left unread). The run's result
 * carries it, and the reports quote it; the longer explanation of each cause
 * is the report's (lab/report/explanations.ts), which builds on the same
 * {@link CauseContext}. Pure: a connection's result in, text out.
 *
 * @module
 */

import type { CauseId } from "../analysis/causes.ts";
import type { Side } from "../scenario/types.ts";
import type { ConnectionResult } from "./types.ts";

/** What a cause's sentence and explanation quote of one connection. */
export type ConnectionFacts = Pick<ConnectionResult, "resetBy" | "closedFirstBy" | "facts">;

/** The parts of a connection's story that every cause's text uses. */
export interface CauseContext {
  /** The side that reset the connection, or else closed it first; null when neither is known. */
  who: Side | null;
  /** The other side, or "peer" when `who` is unknown. */
  peer: string;
  /** "3 bytes", or "data" when the count is unknown. */
  unread: string;
  /** The facts themselves. */
  facts: ConnectionResult["facts"];
}

/**
 * The context of a connection's cause.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const facts = { unreadBytes: 1, resetSeq: 1, resetAck: 2, resetFlags: "R.", finsCrossed: false };
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
    facts: f,
  };
}

const _SENTENCES: Readonly<Record<CauseId, (c: CauseContext) => string>> = {
  "close-with-unread-data": ({ who, unread }) =>
    `The ${who} reset the connection: it called close() with ${unread} unread in its receive queue, so Linux sent RST instead of FIN.`,
  "linger-zero": ({ who }) =>
    `The ${who} reset the connection: it set SO_LINGER {on, 0} and called close(), which aborts instead of closing.`,
  "data-after-close": ({ who, peer }) =>
    `The ${who} reset the connection: data arrived from the ${peer} after the ${who} had closed its socket.`,
  "refused": ({ who }) =>
    `The connection was refused: nothing listened on the port, so the ${
      who ?? "server"
    }'s kernel answered the SYN with RST.`,
  "graceful-close": ({ who, facts }) =>
    facts.finsCrossed
      ? "Both sides closed at the same moment: their FINs crossed on the wire, and the connection ended without loss."
      : `The connection ended with a FIN handshake; the ${
        who ?? "first closer"
      } closed first and nothing was lost.`,
  "half-close": ({ who, peer }) =>
    `The ${who} half-closed the connection with shutdown(SHUT_WR); the ${peer} kept sending, and both finished with FIN.`,
  "abort-after-retransmissions": () => `The connection was aborted after retransmissions went unanswered.`,
  "listener-closed": ({ who }) =>
    `The ${who} reset the connection: it closed its listening socket while the connection still waited in the accept queue.`,
  "unknown": () => "The lab could not tell why this connection ended from the evidence it has.",
};

/**
 * One sentence on what `cause` means for this connection.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const facts = { unreadBytes: null, resetSeq: 0, resetAck: 1, resetFlags: "R.", finsCrossed: false };
 * assert.match(causeSentence("refused", { resetBy: "server", closedFirstBy: "server", facts }), /refused/);
 * ```
 */
export function causeSentence(cause: CauseId, conn: ConnectionFacts): string {
  return _SENTENCES[cause](causeContext(conn));
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
