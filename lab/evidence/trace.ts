/**
 * Kernel trace events from a tracefs instance: tcp:tcp_send_reset,
 * tcp:tcp_receive_reset and sock:inet_sock_set_state.
 *
 * @module
 */

/** One trace event, with its fields as the kernel printed them. */
export interface TraceEvent {
  /** "tcp_send_reset", "tcp_receive_reset" or "inet_sock_set_state". */
  event: string;
  /** The trace clock time in ns (the lab sets the "mono" clock). */
  clockNs: bigint;
  /** Real time in ns, when the monotonic-to-real offset is known. */
  realNs: bigint | null;
  /** Local side of the socket as "addr:port" (src for resets, saddr/sport for state changes). */
  local: string;
  /** Remote side as "addr:port". */
  remote: string;
  /** tcp_send_reset: the socket state; inet_sock_set_state: "OLD -> NEW". */
  state: string | null;
  /** tcp_send_reset: the kernel's reason (6.10+), e.g. "TCP_ABORT_ON_CLOSE". */
  reason: string | null;
  /** The line as the kernel printed it, after the timestamp. */
  text: string;
}

const LINE = /^\s*(.+?)\s+\[\d+\]\s+\S+\s+(\d+)\.(\d+):\s+(\w+):\s+(.*)$/;

/**
 * Parse the `trace` file of a tracefs instance. Lines of other events and
 * comments are skipped. `monoToRealNs` (real - mono) converts trace times.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const line = "  <idle>-0  [001] ..s1.  12.000001: tcp_send_reset: skbaddr=0 skaddr=0 " +
 *   "src=10.0.0.2:5000 dest=10.0.0.3:9999 state=TCP_CLOSE reason=TCP_ABORT_ON_CLOSE";
 * const [e] = parseTrace(line, 100n);
 * assert.equal(e?.reason, "TCP_ABORT_ON_CLOSE");
 * assert.equal(e?.realNs, 12_000_001_100n);
 * ```
 */
export function parseTrace(text: string, monoToRealNs: bigint | null): TraceEvent[] {
  const events: TraceEvent[] = [];
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const m = LINE.exec(line);
    if (!m) continue;
    const [, , seconds, fraction, event, body] = m as unknown as string[];
    const fields = parseFields(body!);
    const clockNs = BigInt(seconds!) * 1_000_000_000n +
      BigInt(fraction!.padEnd(9, "0").slice(0, 9));
    const base = {
      event: event!,
      clockNs,
      realNs: monoToRealNs === null ? null : clockNs + monoToRealNs,
      text: `${event}: ${body}`,
    };
    if (event === "tcp_send_reset") {
      events.push({
        ...base,
        local: fields.src ?? "",
        remote: fields.dest ?? "",
        state: fields.state ?? null,
        reason: fields.reason ?? null,
      });
    } else if (event === "tcp_receive_reset" || event === "inet_sock_set_state") {
      if (fields.protocol && fields.protocol !== "IPPROTO_TCP") continue;
      const v6 = fields.family === "AF_INET6";
      const host = (a: string | undefined) => v6 ? `[${a}]` : a;
      events.push({
        ...base,
        local: `${host(v6 ? fields.saddrv6 : fields.saddr)}:${fields.sport}`,
        remote: `${host(v6 ? fields.daddrv6 : fields.daddr)}:${fields.dport}`,
        state: event === "inet_sock_set_state" ? `${fields.oldstate} -> ${fields.newstate}` : null,
        reason: null,
      });
    }
  }
  return events;
}

function parseFields(body: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const part of body.split(/\s+/)) {
    const eq = part.indexOf("=");
    if (eq > 0) fields[part.slice(0, eq)] = part.slice(eq + 1);
  }
  return fields;
}

/**
 * Keep the events that concern one run: those whose two endpoints both
 * belong to the run's addresses (IPv4 "a.b.c.d" or IPv6 text).
 */
export function eventsForAddresses(
  events: TraceEvent[],
  addresses: readonly string[],
): TraceEvent[] {
  return events.filter((e) => addresses.includes(hostOf(e.local)) && addresses.includes(hostOf(e.remote)));
}

/** The address of an "addr:port" or "[v6]:port" endpoint. */
export function hostOf(endpoint: string): string {
  return endpoint.replace(/^\[?(.*?)\]?:\d+$/, "$1");
}

/** The port of an "addr:port" endpoint, or -1. */
export function portOf(endpoint: string): number {
  return Number(/:(\d+)$/.exec(endpoint)?.[1] ?? -1);
}
