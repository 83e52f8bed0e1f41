/**
 * The causes of a teardown, written once: each cause's stable id, its
 * one-line meaning and the kernel behaviour behind it, with the confidence
 * and candidate types every layer shares. The analysis proposes candidates,
 * the verdict picks one, the reports quote the meaning and the kernel facts,
 * and the scenario parser accepts exactly these ids in `expect.cause`.
 *
 * Adding a cause: a row here (id, meaning, kernel facts, verdict sentence),
 * the rule that detects it (lab/analysis/teardown.ts from the packets, or
 * lab/verdict/cause.ts from the kernel's evidence), its explanation in
 * lab/report/explanations.ts, and a case in tests/verdict/causes_test.ts,
 * which fails until all are there.
 *
 * @module
 */

/** What a cause's verdict sentence quotes of its connection. */
export interface SentenceContext {
  /** The side that reset the connection, or else closed it first; null when neither is known. */
  who: "client" | "server" | null;
  /** The other side, or "peer" when `who` is unknown. */
  peer: string;
  /** "3 bytes", or "data" when the count is unknown. */
  unread: string;
  /** Whether FINs went both ways, each sent before its sender saw the other's (a simultaneous close). */
  finsCrossed: boolean;
  /** How many times `who` sent its FIN in all, when more than once (no ACK came for the first); else null. */
  finSent: number | null;
  /**
   * How `who` let go of its socket, as a verb phrase: "called close()", "exited (...)" when its
   * program ended without close() and the kernel closed the socket, "closed its socket" when unknown.
   */
  closed: string;
}

/** What the lab says about one cause wherever it names it. */
export interface CauseFacts {
  /** One line in plain words, for count tables and lists. */
  meaning: string;
  /** The Linux behaviour behind the cause, as the kernel source shows it; empty when there is none. */
  kernel: string;
  /** The verdict in one sentence, told with the connection's own facts. */
  sentence(c: SentenceContext): string;
}

const _CAUSES = {
  "close-with-unread-data": {
    meaning: "close() with received data unread sends RST (RFC 2525 2.17)",
    kernel: "`__tcp_close()` (net/ipv4/tcp.c) first drains the receive queue; if any byte was never " +
      "read, it counts `TcpExt.TCPAbortOnClose`, moves the socket to CLOSE and sends RST instead of FIN (reason " +
      "`TCP_ABORT_ON_CLOSE` on 6.12 and later), so that the peer learns its data was lost. RFC 2525 section 2.17 and " +
      "RFC 9293 section 3.6.1 ask for this. Read to EOF (or shutdown(SHUT_WR) and drain) before close() to get a FIN.",
    sentence: ({ who, unread, closed }) =>
      `The ${who} reset the connection: it ${closed} with ${unread} unread in its receive queue, so Linux sent RST instead of FIN.`,
  },
  "linger-zero": {
    meaning: "close() with SO_LINGER {1, 0} sends RST",
    kernel: "With SO_LINGER {1, 0}, `__tcp_close()` calls `tcp_disconnect()`, which sends RST and skips " +
      "TIME_WAIT; the counter is `TcpExt.TCPAbortOnData` and the reason `TCP_STATE`. Unread data is checked first, " +
      "so the same RST can mean either cause.",
    sentence: ({ who, closed }) =>
      `The ${who} reset the connection: it set SO_LINGER {on, 0} and ${closed}, which aborts instead of closing.`,
  },
  "data-after-close": {
    meaning: "data arrived after the receiver had closed; it answered RST",
    kernel: "A closed socket cannot deliver data. A timewait socket (FIN_WAIT2 or TIME_WAIT) answers it " +
      "with RST (reason `TCP_TIMEWAIT_SOCKET`, only `Tcp.OutRsts` moves); a full socket in FIN_WAIT1/2 counts " +
      "`TcpExt.TCPAbortOnData` (reason `TCP_ABORT_ON_DATA`). The RST has no ACK bit: its sequence number is the " +
      "ack of the segment it answers. The peer's next write fails with EPIPE or ECONNRESET.",
    sentence: ({ who, peer }) =>
      `The ${who} reset the connection: data arrived from the ${peer} after the ${who} had closed its socket.`,
  },
  "refused": {
    meaning: "nothing listened on the port; the SYN was answered with RST",
    kernel:
      "No socket listened on the port: the kernel answers the SYN with `[R.]`, seq 0, ack ISN+1 (reason " +
      "`NO_SOCKET`, RFC 9293 section 3.10.7.1), and connect() fails with ECONNREFUSED (`Tcp.AttemptFails`).",
    sentence: ({ who }) =>
      `The connection was refused: nothing listened on the port, so the ${
        who ?? "server"
      }'s kernel answered the SYN with RST.`,
  },
  "graceful-close": {
    meaning: "FIN both ways, nothing left unread",
    kernel: "close() with nothing unread and no zero linger sends FIN (`tcp_send_fin()`); the peer reads " +
      "EOF and closes in turn; the side that closed first keeps TIME_WAIT for 60 s.",
    sentence: ({ who, finsCrossed, finSent }) =>
      finsCrossed
        ? "Both sides closed at the same moment: their FINs crossed on the wire, and the connection ended with nothing left unread."
        : `The connection ended with a FIN handshake; the ${
          who ?? "first closer"
        } closed first and nothing was left unread${
          finSent === null ? "" : ` (no ACK came for its first FIN, so it sent the FIN ${finSent} times)`
        }.`,
  },
  "half-close": {
    meaning: "one side sent FIN and kept receiving (shutdown(SHUT_WR)), or the other never closed",
    kernel: "shutdown(SHUT_WR) sends FIN at once and keeps the socket open for reading (`tcp_shutdown()`, " +
      "RFC 9293 section 3.6): data may still flow the other way until that side's FIN.",
    sentence: ({ who, peer }) =>
      `The ${who} half-closed the connection with shutdown(SHUT_WR); the ${peer} kept sending, and both finished with FIN.`,
  },
  "abort-after-retransmissions": {
    meaning: "retransmissions or keepalive probes went unanswered: a timeout",
    kernel: "A keepalive timeout ends with RST (reason `TCP_KEEPALIVE_TIMEOUT`); a " +
      "retransmission timeout (tcp_retries2, or TCP_USER_TIMEOUT) drops the connection silently " +
      "(`TcpExt.TCPAbortOnTimeout`), with no RST on the wire.",
    sentence: () => `The connection was aborted after retransmissions went unanswered.`,
  },
  "keepalive-timeout": {
    meaning: "keepalive probes went unanswered: the keepalive timer reset the connection",
    kernel:
      "With SO_KEEPALIVE and nothing in flight, `tcp_keepalive_timer()` (net/ipv4/tcp_timer.c) sends a probe " +
      "every TCP_KEEPINTVL after TCP_KEEPIDLE; once TCP_KEEPCNT went unanswered it sends RST " +
      "(`tcp_send_active_reset()`, reason `TCP_KEEPALIVE_TIMEOUT`, `Tcp.OutRsts` +1) and ends the socket with " +
      "`tcp_write_err()`: ETIMEDOUT for the program, `TcpExt.TCPAbortOnTimeout` +1. The only timeout that sends an RST.",
    sentence: ({ who, peer }) =>
      `The ${who}'s keepalive gave up: its probes to the ${peer} went unanswered, so its kernel reset the connection and its program got ETIMEDOUT.`,
  },
  "retransmission-timeout": {
    meaning:
      "sent data was never acknowledged: retransmissions ran out and the connection was dropped silently",
    kernel:
      "`tcp_retransmit_timer()` retransmits with exponential backoff until `tcp_write_timeout()` finds the time " +
      "modelled from `net.ipv4.tcp_retries2` exceeded (TCP_USER_TIMEOUT, when set, replaces it: user-timeout); " +
      "then `tcp_write_err()` ends the socket: ETIMEDOUT " +
      "(or an ICMP error's sk_err_soft) for the program, `TcpExt.TCPAbortOnTimeout` +1, and no RST on the wire.",
    sentence: ({ who }) =>
      `${
        who ? `The ${who}'s` : "The sender's"
      } kernel gave up on the connection: its unacknowledged data was retransmitted until tcp_retries2 ran out, then the connection was dropped without an RST, and the program got ETIMEDOUT.`,
  },
  "syn-timeout": {
    meaning: "the SYNs went unanswered: connect() gave up after tcp_syn_retries",
    kernel: "In SYN_SENT, `tcp_retransmit_timer()` sends the SYN again, 1 s apart for the first " +
      "`net.ipv4.tcp_syn_linear_timeouts` times where the kernel has that sysctl, then with doubling gaps; " +
      "`tcp_write_timeout()` (net/ipv4/tcp_timer.c) gives up once the SYN was retransmitted " +
      "`net.ipv4.tcp_syn_retries` (or TCP_SYNCNT) times (plus tcp_syn_linear_timeouts there), or once " +
      "`retransmits_timed_out()` finds that the time those retries take with doubling gaps from 1 s, " +
      "(2^(retries+1) - 1) s, or TCP_USER_TIMEOUT has passed, whichever comes first. " +
      "`tcp_write_err()` ends the socket: connect() fails with ETIMEDOUT (EHOSTUNREACH or another error when an " +
      "ICMP error set `sk_err_soft`), `TcpExt.TCPAbortOnTimeout` +1, and nothing is sent.",
    sentence: ({ who }) =>
      `${
        who ? `The ${who}'s` : "The client's"
      } SYNs went unanswered: its kernel sent the SYN again until the limit that tcp_syn_retries sets was reached, and connect() failed with ETIMEDOUT.`,
  },
  "user-timeout": {
    meaning:
      "sent data stayed unacknowledged longer than TCP_USER_TIMEOUT: the connection was dropped silently",
    kernel: "With TCP_USER_TIMEOUT set, `tcp_write_timeout()` (net/ipv4/tcp_timer.c) passes it to " +
      "`retransmits_timed_out()` in place of the time `net.ipv4.tcp_retries2` would allow, counted from " +
      "`retrans_stamp`: the first retransmission by `tcp_retransmit_skb()` (the retransmission timer's, not a tail " +
      "loss probe's). Once that long has passed, `tcp_write_err()` ends the socket (ETIMEDOUT, " +
      "`TcpExt.TCPAbortOnTimeout` +1), and no RST is sent. `tcp_clamp_rto_to_user_timeout()` makes the " +
      "retransmission timer fire at that moment rather than at the next backoff.",
    sentence: ({ who }) =>
      `${
        who ? `The ${who}'s` : "The sender's"
      } kernel gave up on the connection at its TCP_USER_TIMEOUT: its data stayed unacknowledged that long, so the connection was dropped without an RST, and the program got ETIMEDOUT.`,
  },
  "listener-closed": {
    meaning: "the listening socket closed while the connection waited to be accepted; it was reset",
    kernel: "Closing a listening socket resets every connection still in its accept queue " +
      "(`inet_csk_listen_stop()` -> `tcp_disconnect()`, reason `TCP_STATE`, no abort counter): on the wire " +
      "it looks like SO_LINGER {1, 0}; only the server's calls (no accept() for that peer) tell them apart.",
    sentence: ({ who }) =>
      `The ${who} reset the connection: it closed its listening socket while the connection still waited in the accept queue.`,
  },
  "path-reset": {
    meaning: "a middlebox on the path (a firewall's REJECT) sent the RST; neither endpoint's kernel did",
    kernel: "iptables' `REJECT --reject-with tcp-reset` answers from the middlebox's own kernel " +
      "(`nf_send_reset()`, net/ipv4/netfilter/nf_reject_ipv4.c) with the address of the host the packet was for: " +
      "the receiver cannot tell it from its peer's RST. No endpoint's `tcp:tcp_send_reset` fires and no endpoint's " +
      "`Tcp.OutRsts` moves; the RST is in the receiver's capture and not in the peer's, and the rule's packet " +
      "counter is the proof. A segment with the ACK bit is answered with `[R]`, its seq the segment's ack.",
    sentence: ({ who, peer }) =>
      `A middlebox on the path reset the connection: the ${peer} received an RST with the ${
        who ?? "peer"
      }'s address that the ${
        who ?? "peer"
      }'s kernel never sent; a firewall rule answered the ${peer}'s packet with it.`,
  },
  "nat-mapping-expired": {
    meaning: "a NAT forgot the idle connection; the middlebox's own kernel answered with RST",
    kernel:
      "Connection tracking forgets an entry once `nf_conntrack_tcp_timeout_established` passes with no " +
      "packet (per network namespace; 5 days by default). With `nf_conntrack_tcp_loose=0`, `tcp_new()` " +
      "(net/netfilter/nf_conntrack_proto_tcp.c) does not pick up a connection from a segment without SYN: it is " +
      "INVALID and no NAT applies. A segment from the server to the NAT's address and port is then the " +
      "middlebox's own: `tcp_v4_rcv()` finds no socket and `tcp_v4_send_reset()` answers (reason `NO_SOCKET`, the " +
      "middlebox's `Tcp.OutRsts` +1, `tcp:tcp_send_reset` fires in its namespace) with the NAT's address, which " +
      "the server takes for its peer's. The client's kernel sends nothing and keeps its connection; what it sends " +
      "is INVALID too (a rule drops it). With loose=1 (the default) a segment of the client's would start a new " +
      "entry and be rewritten again (the connection goes on); the server's segment to the NAT's address " +
      "is the middlebox's own either way.",
    sentence: ({ who, peer }) =>
      `The NAT on the path forgot the idle connection: the ${peer}'s next segment reached the middlebox's own kernel, which found no socket and answered with an RST carrying the ${
        who ?? "peer"
      }'s address that the ${who ?? "peer"}'s kernel never sent.`,
  },
  "icmp-error": {
    meaning: "an ICMP error (a firewall's REJECT) answered the SYN; connect() failed with EHOSTUNREACH",
    kernel: "`tcp_v4_err()` (net/ipv4/tcp_ipv4.c) maps ICMP destination unreachable through " +
      "`icmp_err_convert[]` (host unreachable: EHOSTUNREACH). In SYN_SENT or SYN_RECV it ends the socket at " +
      "once (`tcp_done_with_error()`), fatal code or not, unless the program holds the socket's lock at that " +
      "moment (still inside connect()): then it only sets `sk_err_soft` and counts `TcpExt.LockDroppedIcmps`, and " +
      "the SYN retransmitted after the RTO meets the next ICMP. An ESTABLISHED socket only keeps a soft error for " +
      "a later timeout. No RST is on the wire; iptables' `REJECT --reject-with icmp-host-unreachable` sends the " +
      "ICMP from the middlebox (`nf_send_unreach()`), and its rule counter is the proof.",
    sentence: ({ who }) =>
      `An ICMP error from the path answered the ${
        who ?? "client"
      }'s SYN: its kernel ended the connection attempt and connect() failed with EHOSTUNREACH, without an RST.`,
  },
  "peer-lost-state": {
    meaning:
      "the peer lost its state (it restarted): its fresh kernel answered the connection's next segment with RST",
    kernel:
      "A host that restarted (here: a fresh network namespace with the same address) has no socket for the " +
      "connection: the segment reaches `tcp_v4_rcv()`'s `no_tcp_socket` label (net/ipv4/tcp_ipv4.c), which calls " +
      "`tcp_v4_send_reset(NULL, ...)` with reason `NO_SOCKET` (`Tcp.OutRsts` +1 in the fresh kernel, no abort " +
      "counter). The reply is built from the segment alone: for a segment with ACK, `[R]` with seq = its ack; sent " +
      "from the kernel's control socket, with IP ID 0. The receiver's read or write fails with ECONNRESET.",
    sentence: ({ who, peer }) =>
      `The ${
        who ?? "peer"
      } had lost the connection: its namespace was replaced by a fresh one with the same address, whose kernel knew no socket for it and answered the ${peer}'s next segment with RST.`,
  },
  "unknown": {
    meaning: "the packets do not say (still open, unanswered SYN, stray RST)",
    kernel: "",
    sentence: () => "The lab could not tell why this connection ended from the evidence it has.",
  },
} as const satisfies Record<string, CauseFacts>;

/** Stable identifiers of the causes, shared by the analysis, the verdict, the reports, scenarios and the JSON. */
export type CauseId = keyof typeof _CAUSES;

/**
 * Every cause, by id, in the order lists and messages show them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.match(CAUSES["refused"].meaning, /nothing listened/);
 * ```
 */
export const CAUSES: Readonly<Record<CauseId, CauseFacts>> = _CAUSES;

/** Every cause id, in the table's order. */
export const CAUSE_IDS: readonly CauseId[] = Object.keys(_CAUSES) as CauseId[];

/**
 * Whether `text` is a cause id.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.ok(isCauseId("linger-zero"));
 * assert.ok(!isCauseId("linger-0"));
 * ```
 */
export function isCauseId(text: string): text is CauseId {
  return Object.hasOwn(_CAUSES, text);
}

/** How sure the evidence makes a cause. */
export type Confidence = "certain" | "likely" | "possible";

/** The confidences, strongest first, for ranking candidates. */
export const CONFIDENCE_RANK: Readonly<Record<Confidence, number>> = { certain: 3, likely: 2, possible: 1 };

/** One possible cause of the teardown. */
export interface CauseCandidate {
  /** Which cause. */
  cause: CauseId;
  /** How sure the evidence makes it. */
  confidence: Confidence;
  /** One line in plain words: why the evidence points here. */
  reason: string;
  /** What evidence outside the packets would confirm or rule this out. */
  settledBy?: string;
}
