/**
 * What each teardown cause means, at length, for the run report: in plain
 * words first, then the kernel function and the RFC behind it, and what to
 * do instead. One entry per cause id; the one-line meaning, the kernel facts
 * and the verdict's sentence are the cause table's (lab/analysis/causes.ts).
 *
 * @module
 */

import type { CauseId } from "../analysis/causes.ts";
import { type CauseContext, causeContext, type ConnectionFacts } from "../verdict/verdict_sentence.ts";

/** The text a report gives for one cause. */
export interface Explanation {
  /** Plain-words paragraphs. */
  plain: string[];
  /** Kernel function and standards. */
  why: string[];
  /** What an application should do instead, when the outcome is a problem. */
  instead: string | null;
}

/** What an explanation quotes: the cause's context, and the reset in tcpdump's notation. */
interface _Context extends CauseContext {
  /** "`[R.]`, seq 1, ack 2", or "a RST" when the packets did not show it. */
  rst: string;
}

/**
 * Explain a connection's cause with its own facts.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const facts = { unreadBytes: null, resetSeq: 0, resetAck: 1, resetFlags: "R.", finsCrossed: false, unreadCount: null, closedBy: null };
 * const e = explainCause("refused", { resetBy: "server", closedFirstBy: "server", facts });
 * assert.match(e.plain[0]!, /ECONNREFUSED/);
 * ```
 */
export function explainCause(cause: CauseId, conn: ConnectionFacts): Explanation {
  const context = causeContext(conn);
  const f = context.facts;
  const rst = f.resetFlags
    ? `\`[${f.resetFlags}]\`${f.resetSeq !== null ? `, seq ${f.resetSeq}` : ""}${
      f.resetAck !== null && f.resetFlags.includes(".") ? `, ack ${f.resetAck}` : ""
    }`
    : "a RST";
  return _EXPLANATIONS[cause]({ ...context, rst });
}

/** Every cause's explanation, by cause id. */
const _EXPLANATIONS: Readonly<Record<CauseId, (c: _Context) => Explanation>> = {
  "close-with-unread-data": ({ who, peer, unread, rst, closed }) => ({
    plain: [
      `The ${who} ${closed} while ${unread} that the ${peer} had sent still sat unread in its receive queue. ` +
      `Linux does not send FIN in that case: a FIN would tell the ${peer} that everything it sent was delivered to the application, which is not true. ` +
      `It sends RST instead (${rst}), so the ${peer} learns that its data was lost.`,
      `The RST's sequence number is the one right after the ${who}'s SYN: no FIN consumed a sequence number. ` +
      `It acknowledges the ${peer}'s bytes, because the kernel did receive them; the application never read them. ` +
      `No SO_LINGER option is needed for this: unread data alone triggers it.`,
    ],
    why: [
      "Linux `tcp_close()` (`__tcp_close()` in net/ipv4/tcp.c) first drains the receive queue. If any byte was never read, " +
      "it counts `TCPAbortOnClose`, moves the socket to CLOSE and sends an active reset (`tcp_send_active_reset()`, " +
      "reason `TCP_ABORT_ON_CLOSE` on 6.12 and later). Only after that check does SO_LINGER {1, 0} lead to a reset; otherwise the kernel sends FIN.",
      'RFC 2525 section 2.17 ("Failure to RST on close with data pending") asks for exactly this, and RFC 9293 section 3.6.1 ' +
      '(SHLD-3) says a host that closes with received data pending "SHOULD send a RST to show that data was lost".',
    ],
    instead:
      `Read what the ${peer} sent before close(): read to EOF, or call shutdown(SHUT_WR), keep reading until read() returns 0, then close(). ` +
      `Then the ${who} sends FIN and the connection ends with a FIN handshake.`,
  }),
  "linger-zero": ({ who, rst }) => ({
    plain: [
      `With SO_LINGER on and a linger time of 0, close() discards anything unsent and resets the connection (${rst}) instead of sending FIN. ` +
      `The socket goes straight to CLOSE: no TIME_WAIT on the ${who}'s side.`,
    ],
    why: [
      "In `__tcp_close()` (net/ipv4/tcp.c), after the unread-data check, `sock_flag(sk, SOCK_LINGER) && !sk->sk_lingertime` calls " +
      "`tcp_disconnect()`, which sends the RST. The counter that moves is `TCPAbortOnData` (not `TCPAbortOnLinger`, which belongs to " +
      "the FIN_WAIT2 timeout), and 6.12+ kernels give the reason `TCP_STATE`.",
      "RFC 9293 section 3.10.4 (ABORT) describes the call: pending sends and receives are discarded and a RST is sent.",
    ],
    instead:
      "Leave SO_LINGER off (or give it a non-zero time) unless the abort is what you want; to avoid TIME_WAIT build-up, let the client close first.",
  }),
  "data-after-close": ({ who, peer, rst }) => ({
    plain: [
      `The ${who} closed (FIN) while the ${peer} was still going to send. A closed socket cannot deliver data to anyone, ` +
      `so the ${who}'s kernel answered the ${peer}'s data with RST (${rst}).`,
    ],
    why: [
      "If the closed socket is already a FIN_WAIT2 timewait socket, `tcp_timewait_state_process()` answers the segment with RST " +
      "(reason `TCP_TIMEWAIT_SOCKET`, only `OutRsts` moves); if it is still a full socket in FIN_WAIT1/2, `tcp_rcv_state_process()` " +
      "counts `TCPAbortOnData` and resets (reason `TCP_ABORT_ON_DATA`). Both are the same cause for an application: data after close.",
      "RFC 9293 section 3.10.7.4: data for a connection the user has closed is answered with a reset.",
    ],
    instead:
      `Agree on who speaks last: the ${who} should shutdown(SHUT_WR) and read to EOF before close(), or the ${peer} should stop sending once it reads EOF.`,
  }),
  "refused": ({ rst }) => ({
    plain: [
      `The SYN reached a host where no socket listened on that port. The kernel answered with ${rst}, ` +
      "and the connecting program's connect() failed with ECONNREFUSED.",
    ],
    why: [
      "`tcp_v4_rcv()` finds no socket for the segment and calls `tcp_v4_send_reset()` (reason `NO_SOCKET`). " +
      "The RST has seq 0 and acknowledges the SYN (ISN+1), as RFC 9293 section 3.10.7.1 asks for a segment to a CLOSED port.",
    ],
    instead:
      "Start the server (and wait until it listens) before connecting, or retry connect() with a back-off.",
  }),
  "graceful-close": ({ who, peer, finsCrossed, finSent }) => {
    if (finsCrossed) {
      return {
        plain: [
          "Each side sent its FIN before it had seen the other's. Each then received the peer's FIN while still in FIN_WAIT1, " +
          "moved to CLOSING, and to TIME_WAIT once its own FIN was acknowledged: both sides end in TIME_WAIT, not just one.",
        ],
        why: [
          "RFC 9293 section 3.6 describes the simultaneous close (its figure 13); in Linux, `tcp_fin()` (net/ipv4/tcp_input.c) " +
          "moves a FIN_WAIT1 socket that receives a FIN to TCP_CLOSING, and the ACK of its own FIN then leads to TIME_WAIT.",
        ],
        instead: null,
      };
    }
    return {
      plain: [
        `The ${who} had read everything it was sent, so close() sent FIN. The ${peer} read EOF (read() returned 0), ` +
        `closed in turn, and its FIN was acknowledged. The ${who}, the active closer, keeps the connection in TIME_WAIT for 60 s.`,
        ...(finSent === null ? [] : [
          `No ACK came for the ${who}'s first FIN, so its kernel sent the FIN again (${finSent} times in all, the ` +
          `same sequence number each time; its own capture shows each). A lost FIN costs time, not data: the FIN ` +
          `occupies a sequence number and stays in the retransmission queue until the ${peer} acknowledges it.`,
        ]),
      ],
      why: [
        "`__tcp_close()` finds the receive queue empty and no zero linger, so `tcp_close_state()` moves to FIN_WAIT1 and `tcp_send_fin()` sends FIN " +
        "(RFC 9293 section 3.6, normal close sequence).",
        ...(finSent === null ? [] : [
          "The kernel sends an unacknowledged FIN again as it does data: the tail loss probe " +
          "(`tcp_send_loss_probe()`, net/ipv4/tcp_output.c, `TcpExt.TCPLossProbes`; on while " +
          "`net.ipv4.tcp_early_retrans` is 3 or 4, the default) sends the last segment again two round trips " +
          "after it, plus the minimum RTO (200 ms) when it is the only segment in flight " +
          "(`tcp_schedule_loss_probe()`), and the retransmission timer (`tcp_retransmit_timer()`, " +
          "`TcpExt.TCPTimeouts`) after that, with exponential backoff.",
        ]),
      ],
      instead: null,
    };
  },
  "half-close": ({ who, peer }) => ({
    plain: [
      `shutdown(SHUT_WR) sends FIN at once but keeps the socket open for reading, so the ${who} can still receive what the ${peer} sends.`,
    ],
    why: [
      "`tcp_shutdown()` (net/ipv4/tcp.c) sends FIN for SEND_SHUTDOWN; RFC 9293 section 3.6 allows data to flow the other way until the peer's FIN.",
    ],
    instead: null,
  }),
  "abort-after-retransmissions": () => ({
    plain: ["Segments were retransmitted without an answer until the sender gave up."],
    why: [
      "`tcp_write_timeout()` gives up after tcp_retries2 (`TCPAbortOnTimeout`); no RST is sent by the side that gives up on retransmissions.",
    ],
    instead: "Look at the path between the hosts and at the peer's health.",
  }),
  "keepalive-timeout": ({ who, peer }) => ({
    plain: [
      `The ${who} had keepalive on. Once the connection was idle, its kernel probed the ${peer}; no probe was ` +
      `answered, so after the last one it reset the connection and the ${who}'s pending call failed with ETIMEDOUT.`,
    ],
    why: [
      "`tcp_keepalive_timer()` (net/ipv4/tcp_timer.c) sends a probe each TCP_KEEPINTVL after TCP_KEEPIDLE; after " +
      "TCP_KEEPCNT unanswered probes it calls `tcp_send_active_reset()` (reason `TCP_KEEPALIVE_TIMEOUT`) and " +
      "`tcp_write_err()` (ETIMEDOUT, `TcpExt.TCPAbortOnTimeout`).",
    ],
    instead:
      `Look at what stopped the ${peer}'s answers: a path that drops packets (a firewall, an expired NAT ` +
      "mapping) or a peer that is gone; keepalive did its job by noticing.",
  }),
  "retransmission-timeout": ({ peer }) => ({
    plain: [
      `Data was sent that the ${
        peer === "peer" ? "other side" : peer
      } never acknowledged. The sender's kernel ` +
      "retransmitted it with growing gaps until tcp_retries2 ran out, then dropped the connection without sending " +
      "anything; the sender's pending call failed with ETIMEDOUT.",
    ],
    why: [
      "`tcp_retransmit_timer()` -> `tcp_write_timeout()` (net/ipv4/tcp_timer.c) gives up once the time modelled " +
      "from `net.ipv4.tcp_retries2` has passed (TCP_USER_TIMEOUT, when set, takes its place: see user-timeout); " +
      "`tcp_write_err()` sets ETIMEDOUT, counts `TcpExt.TCPAbortOnTimeout` and sends no RST.",
    ],
    instead:
      "Look at the path between the hosts and at the receiver's health; TCP_USER_TIMEOUT bounds how long " +
      "a program waits for this.",
  }),
  "syn-timeout": ({ who, peer }) => ({
    plain: [
      `The ${
        who === "server" ? "server" : "client"
      }'s SYNs were never answered: no SYN-ACK and no RST came back. ` +
      `Its kernel sent the SYN again until the limit that tcp_syn_retries sets was reached, then gave up without sending ` +
      `anything, and connect() failed with ETIMEDOUT. Nothing says why the ${
        peer === "peer" ? "other side" : peer
      } was silent: a path that drops the SYNs (a firewall's DROP, a blackhole) looks the same as a host that is down.`,
    ],
    why: [
      "`tcp_retransmit_timer()` -> `tcp_write_timeout()` (net/ipv4/tcp_timer.c): in SYN_SENT the limit is " +
      "`net.ipv4.tcp_syn_retries` (or TCP_SYNCNT) retransmissions, or the time they take from a 1 s start " +
      "(`retransmits_timed_out()`), whichever comes first; `tcp_write_err()` sets ETIMEDOUT (or the error an ICMP " +
      "message left in `sk_err_soft`), counts `TcpExt.TCPAbortOnTimeout` and sends no RST. A refused connection " +
      "(RST, ECONNREFUSED) fails at once instead.",
    ],
    instead:
      "Look at the path (a firewall that drops instead of rejecting) and at whether the server's host is up; " +
      "a shorter tcp_syn_retries or TCP_SYNCNT, or a connect() with its own deadline (non-blocking connect() and " +
      "poll()), bounds how long a program waits.",
  }),
  "user-timeout": ({ who, peer }) => ({
    plain: [
      `The ${who ?? "sender"} had set TCP_USER_TIMEOUT. Its data went unacknowledged by the ${
        peer === "peer" ? "other side" : peer
      }; the kernel retransmitted it, and once the user timeout had passed since the retransmission timer first ` +
      "sent it again, it dropped the connection without sending anything; the pending call failed with ETIMEDOUT. " +
      "tcp_retries2 played no part: the user timeout replaces it.",
    ],
    why: [
      "`tcp_write_timeout()` (net/ipv4/tcp_timer.c) passes `icsk_user_timeout` to `retransmits_timed_out()`, which " +
      "then compares the time since `retrans_stamp` (set by the first `tcp_retransmit_skb()`, the timer's " +
      "retransmission; a tail loss probe does not set it) with it instead of the time modelled from " +
      "`net.ipv4.tcp_retries2`; `tcp_clamp_rto_to_user_timeout()` arms the timer for that " +
      "moment; `tcp_write_err()` sets ETIMEDOUT, counts `TcpExt.TCPAbortOnTimeout` and sends no RST (RFC 5482).",
    ],
    instead:
      `This is what the option is for: it bounds how long unacknowledged data may wait. Look at what stopped the ` +
      `${peer === "peer" ? "other side" : peer}'s acknowledgements (the path, or the peer's health).`,
  }),
  "listener-closed": ({ who, peer, rst }) => ({
    plain: [
      `The handshake completed in the ${who}'s kernel, so the ${peer} saw an established connection, but the ${who} program ` +
      `never called accept() for it. When the program closed its listening socket, Linux reset every connection still ` +
      `queued there (${rst}): nobody would ever read from it. On the wire this looks like SO_LINGER {1, 0}; the ` +
      `${who}'s calls (no accept() for this peer, then the listener's close()) tell them apart.`,
    ],
    why: [
      "`inet_csk_listen_stop()` (net/ipv4/inet_connection_sock.c), called when a listening socket closes, takes each " +
      "connection off the accept queue and calls `inet_child_forget()`, which disconnects it with `tcp_disconnect()`: " +
      "RST for an established connection, 6.12+ kernels give the reason `TCP_STATE`. No abort counter moves, only " +
      "`Tcp.OutRsts` and `Tcp.EstabResets`.",
      "A server that restarts, or stops listening during a deploy, resets the connections the kernel had already " +
      "accepted for it; clients see ECONNRESET on a connection that looked established.",
    ],
    instead:
      `Stop accepting gracefully: before closing the listener, accept what is queued and close those connections ` +
      `properly (or let a new process take over the same socket, SO_REUSEPORT or a passed descriptor), so that ` +
      `queued clients get an answer or a FIN instead of a reset.`,
  }),
  "path-reset": ({ who, peer }) => ({
    plain: [
      `The RST the ${peer} received carried the ${who}'s address, but the ${who}'s kernel never sent it: the ${who}'s ` +
      `capture does not have it and the kernel's trace shows no reset sent in the ${who}'s namespace. A firewall ` +
      `between them (the lab's middlebox, with an iptables REJECT rule) answered the ${peer}'s packet with a reset ` +
      `in the ${who}'s name, and the rule's packet counter moved.`,
    ],
    why: [
      "`REJECT --reject-with tcp-reset` calls `nf_send_reset()` (net/ipv4/netfilter/nf_reject_ipv4.c) in the " +
      "middlebox's kernel: it builds the RST from the rejected segment's addresses and numbers, so it looks like " +
      "the peer's. No endpoint's `tcp:tcp_send_reset` fires and no endpoint's `Tcp.OutRsts` moves.",
    ],
    instead: "Find the firewall or load balancer on the path and the rule that rejects this traffic; " +
      "compare captures on both ends: a reset seen only on one end came from the path.",
  }),
  "nat-mapping-expired": ({ who, peer }) => ({
    plain: [
      `A NAT between the two (the lab's middlebox, with MASQUERADE) rewrote the ${who}'s address to its own, ` +
      `and its connection tracking forgot the connection once it had been idle longer than ` +
      "`nf_conntrack_tcp_timeout_established`. The " +
      `${peer}'s next segment went to the NAT's address and port, ` +
      `which nothing translated any more: the middlebox's own kernel took it, found no socket there, and answered ` +
      `with an RST that carries the NAT's address, the one the ${peer} knows as the ${who}'s.`,
      `The ${who} never learnt of it: its kernel sent nothing and still holds the connection; what it sends ` +
      `later is INVALID to conntrack and the middlebox drops it.`,
    ],
    why: [
      "With `nf_conntrack_tcp_loose=0`, `tcp_new()` (net/netfilter/nf_conntrack_proto_tcp.c) starts no entry " +
      "from a segment without SYN, so no NAT applies to it; addressed to the middlebox, it goes up its own stack, " +
      "where `tcp_v4_rcv()` finds no socket and `tcp_v4_send_reset()` answers (reason `NO_SOCKET`; " +
      "`tcp:tcp_send_reset` fires in the middlebox's namespace). With loose=1 (the default), a segment of the " +
      "client's would start a new entry and be rewritten again, so a client that speaks first after the idle " +
      "time would not notice; the server's segment to the NAT's address meets the middlebox's own stack either way.",
    ],
    instead: "Keep idle connections alive more often than the NAT's idle timeout (TCP keepalive with " +
      "TCP_KEEPIDLE below it, or application pings), or raise the timeout on the NAT; a client pool should " +
      "drop connections idle longer than the path allows.",
  }),
  "icmp-error": ({ who: named }) => {
    const who = named ?? "client";
    return {
      plain: [
        `The ${who}'s SYN was answered with an ICMP error (destination host unreachable) instead of a SYN-ACK ` +
        `or an RST: a firewall between them (the lab's middlebox, with an iptables REJECT rule) rejected it. ` +
        `The ${who}'s kernel ends a connection attempt at the ICMP error it gets while nothing holds the socket, ` +
        `and connect() fails with EHOSTUNREACH. An ICMP error that comes while connect() itself still holds the ` +
        "socket (right after sending the SYN, on a fast path) is only noted as a soft error " +
        "(`TcpExt.LockDroppedIcmps`); the SYN is then sent again after the retransmission timeout (1 s) and the " +
        "next ICMP ends the attempt.",
      ],
      why: [
        "`tcp_v4_err()` (net/ipv4/tcp_ipv4.c) maps the ICMP code through `icmp_err_convert[]`; a socket in " +
        "SYN_SENT or SYN_RECV is ended at once (`tcp_done_with_error()`), whether the code is fatal or not, when " +
        "`sock_owned_by_user()` is false; otherwise only `sk_err_soft` is set. An " +
        "ESTABLISHED socket keeps only a soft error (`sk_err_soft`) for a later timeout. `REJECT --reject-with " +
        "icmp-host-unreachable` sends the ICMP from the middlebox (`nf_send_unreach()`, " +
        "net/ipv4/netfilter/nf_reject_ipv4.c).",
      ],
      instead:
        "Find the firewall on the path that rejects this traffic (the ICMP's source address names the " +
        "host that sent it). The failure comes within a retransmission timeout, not after the SYN retries run " +
        "out, and retrying at once does not help.",
    };
  },
  "peer-lost-state": ({ who, peer, rst }) => ({
    plain: [
      `The ${peer} still held an established connection, but the ${who} it talked to was gone: the lab cut the ` +
      `${who}'s network namespace off the network and removed it with its sockets, as a crash or a reboot does, and ` +
      `a fresh namespace took the same address with nothing listening. Nothing told the ${peer}: no FIN and no RST ` +
      `left the old namespace. The ${peer}'s next segment reached the fresh kernel, which knew no socket for it and ` +
      `answered ${rst}; the ${peer}'s pending call failed with ECONNRESET.`,
    ],
    why: [
      "`tcp_v4_rcv()` (net/ipv4/tcp_ipv4.c) finds no socket for the segment and jumps to `no_tcp_socket`, which " +
      "calls `tcp_v4_send_reset(NULL, skb, ...)` with reason `NO_SOCKET` and counts `Tcp.OutRsts`; with no " +
      "socket, the reply takes its numbers from the segment: for one with ACK, `[R]` with seq = its ack. RFC 9293 " +
      "section 3.5.2 (reset generation) asks for this when a connection does not exist.",
    ],
    instead:
      `A client must expect a peer to vanish: treat ECONNRESET on an idle pooled connection as "reconnect and ` +
      `retry if the request is idempotent", and use keepalive or an idle timeout shorter than the peer's so that ` +
      `stale connections are found before a request is sent on them.`,
  }),
  "unknown": () => ({
    plain: ["The packets and the kernel evidence do not match a teardown the lab knows."],
    why: [],
    instead: null,
  }),
};
