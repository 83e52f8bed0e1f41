/**
 * The packet-only inference of `lab explain`, checked against the kernel's
 * own account of every catalog scenario the lab recorded in real
 * containers (tests/testdata/runs/): each capture, explained without any
 * evidence, must name the cause the kernel reported, and may name a second
 * one only when it says that the packets cannot tell them apart.
 */
import assert from "node:assert/strict";
import type { CauseId } from "../../lab/analysis/causes.ts";
import { explainCapture } from "../../lab/explain/explain_capture.ts";
import { renderCaptureReport } from "../../lab/report/capture_report.ts";
import { loadCatalog } from "../../lab/scenario/catalog.ts";
import { recordedRun, recordedRunDir } from "../_fixtures.ts";

/** The cause each reason of the kernel's tcp:tcp_send_reset stands for (include/net/rstreason.h). */
const REASON_CAUSE: Record<string, CauseId> = {
  TCP_ABORT_ON_CLOSE: "close-with-unread-data",
  TCP_STATE: "linger-zero",
  TCP_ABORT_ON_DATA: "data-after-close",
  TCP_TIMEWAIT_SOCKET: "data-after-close",
  NO_SOCKET: "refused",
  TCP_KEEPALIVE_TIMEOUT: "abort-after-retransmissions",
};

/**
 * The cause the packets alone can name for a timeout the kernel's evidence splits: `lab explain` sees
 * keepalive probes until the keepalive's RST, not which timer gave up (retransmissions of one segment
 * until silence it names as retransmission-timeout).
 */
const PACKET_VIEW: Partial<Record<CauseId, CauseId>> = {
  "keepalive-timeout": "abort-after-retransmissions",
  "user-timeout": "retransmission-timeout",
};

/** Captures whose packets cannot show the cause, and why: the end happened out of their sight. */
const OUT_OF_SIGHT: Record<string, string> = {
  "nat-idle-expiry: client":
    "the NAT's reset reached the server only; the client's capture has its FIN unanswered",
  "icmp-reject-connect: client":
    "the ICMP error is no TCP packet: lab explain reads TCP, and sees two SYNs unanswered",
};
/** The timeouts the packets alone can name: the unanswered tries are in the capture, the timer's end is not. */
const PACKET_TIMEOUTS: CauseId[] = ["abort-after-retransmissions", "retransmission-timeout"];

/** The reasons of the RSTs the kernel sent between these two addresses. */
function resetReasons(trace: string, a: string, b: string): string[] {
  const reasons: string[] = [];
  for (const line of trace.split("\n")) {
    const m = /tcp_send_reset: .*src=\[?([^\]\s]+?)\]?:\d+ dest=\[?([^\]\s]+?)\]?:\d+ .*reason=(\w+)/.exec(
      line,
    );
    if (m && [m[1], m[2]].includes(a) && [m[1], m[2]].includes(b)) reasons.push(m[3]!);
  }
  return reasons;
}

function recorded(): string[] {
  return [...Deno.readDirSync(new URL("../testdata/runs/", import.meta.url))]
    .filter((e) => e.isDirectory)
    .map((e) => e.name)
    .sort();
}

Deno.test("every catalog scenario has a recorded run to check against", () => {
  const missing = [...loadCatalog().keys()].filter((name) => !recorded().includes(name));
  assert.deepEqual(
    missing,
    [],
    "record them with `deno task lab run NAME --out DIR` (tests/testdata/runs/README.md)",
  );
});

Deno.test("lab explain names the cause the kernel reported, from the packets alone", async (t) => {
  for (const name of recorded()) {
    const artifacts = await recordedRun(name);
    const client = artifacts.sides.client.address;
    const server = artifacts.sides.server.address;
    const reasons = resetReasons(artifacts.trace.text, client, server);
    // With a RST, the kernel's reason says why; without one, the scenario says how it closed
    // (the trace shows no RST, and its state changes show the FINs).
    const expected = artifacts.scenario.expect.cause;
    // A restarted server's fresh kernel answers NO_SOCKET too, on a connection it never had.
    const truth: CauseId[] = reasons.length > 0
      ? [
        artifacts.restart && reasons[0] === "NO_SOCKET"
          ? "peer-lost-state"
          : REASON_CAUSE[reasons[0]!] ?? "unknown",
      ]
      : expected === undefined
      ? []
      : Array.isArray(expected)
      ? expected
      : [expected];
    for (const side of ["client", "server"] as const) {
      const pcap = artifacts.sides[side].pcap;
      if (pcap === null) continue;
      // A scenario's path hides the end from the server: a reset from the path, or the client's
      // retransmissions and probes, never reach it (that absence is part of the run report's proof).
      if (artifacts.scenario.path && side === "server") continue;
      if (OUT_OF_SIGHT[`${name}: ${side}`]) continue;
      // A restarted server's first namespace was cut off before the end: its capture never saw it.
      if (artifacts.restart && side === "server") continue;
      await t.step(`${name}: the ${side}'s capture`, () => {
        assert.ok(truth.length > 0, `a kernel reason or an expected cause for ${name}`);
        assert.ok(artifacts.trace.available, "the run recorded the kernel's trace");
        const file = `${recordedRunDir(name)}/${artifacts.sides[side].pcapFile}`;
        const x = explainCapture(pcap, file);
        const conn = x.rows.find((r) =>
          [r.originator, r.responder].every((e) => e.startsWith(`${client}:`) || e.startsWith(`${server}:`))
        );
        assert.ok(conn, `the connection between ${client} and ${server}`);
        const named = conn.candidates.map((c) => c.cause);
        for (const cause of [...truth]) {
          const seen = PACKET_VIEW[cause];
          if (seen && !truth.includes(seen)) truth.push(seen);
        }
        assert.ok(
          named.some((c) => truth.includes(c)),
          `${name}: the kernel says ${truth.join(" or ")} (${
            reasons.join(", ") || "no RST"
          }), lab explain says ${named.join(" or ")}`,
        );
        // TCP_STATE is the reason of two causes (zero linger, a listener closed with the connection
        // queued): the scenario's own expectation says which one it was.
        const scenarioCause = artifacts.scenario.expect.cause;
        if (reasons[0] === "TCP_STATE" && typeof scenarioCause === "string") {
          assert.ok(named.includes(scenarioCause), `${name}: lab explain names ${scenarioCause}`);
        }
        if (named.length === 1) {
          assert.ok(truth.includes(named[0]!), `${name}: a single cause must be the kernel's`);
        } else if (PACKET_TIMEOUTS.includes(named[0]!) && truth.includes(named[0]!)) {
          // A timeout seen from the packets: the older, less certain cause first, the rest possible.
          assert.equal(conn.candidates[0]!.confidence, "likely");
        } else {
          // Two causes only where the packets cannot tell them apart, and the report says so.
          const pair = [...named].sort().join(" ");
          const section = renderCaptureReport(x).split(`## Connection ${conn.id}:`)[1] ?? "";
          assert.match(section, /they cannot tell these apart/);
          if (pair === "close-with-unread-data linger-zero") {
            assert.match(section, /Settled by:.*TCPAbortOnClose.*TCPAbortOnData/);
          } else if (pair === "peer-lost-state unknown") {
            assert.match(section, /Settled by:.*NO\\_SOCKET/);
          } else {
            assert.equal(pair, "linger-zero listener-closed");
            assert.match(section, /Settled by:.*accept\(\).*TCPAbortOnData/);
          }
        }
        // Who reset, and who closed first, as the scenario expects (the client connects: it is the originator).
        const role = (s: "client" | "server" | null | undefined) =>
          s === "client" ? "originator" : s === "server" ? "responder" : s;
        const expect = artifacts.scenario.expect;
        if (expect.resetBy !== undefined) assert.equal(conn.resetBy, role(expect.resetBy));
        if (expect.closedFirstBy !== undefined) assert.equal(conn.closedFirstBy, role(expect.closedFirstBy));
        if (expect.state !== undefined) assert.equal(conn.state, expect.state);
      });
    }
  }
});
