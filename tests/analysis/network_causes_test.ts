/**
 * The network's causes that the packets alone can name: retransmissions of
 * one segment until silence (retransmission-timeout), and an RST whose IP
 * TTL or IP ID differs from its sender's other packets (path-reset, with the
 * measured values). Checked on captures the lab recorded in real containers
 * (tests/testdata/runs/) and on small synthetic connections for the IP ID.
 */
import assert from "node:assert/strict";
import { readConnections } from "../../lab/analysis/connections.ts";
import { classifyTeardown, type Teardown } from "../../lab/analysis/teardown.ts";
import type { Connection, TcpPacket } from "../../lab/analysis/types.ts";
import { explainCapture } from "../../lab/explain/explain_capture.ts";
import { connectionsOf } from "./_helpers.ts";

const RUNS = new URL("../testdata/runs/", import.meta.url);

function recordedCapture(run: string, side: string): { bytes: Uint8Array; file: string } {
  const file = `${run}/${side}.pcap`;
  return { bytes: Deno.readFileSync(new URL(file, RUNS)), file };
}

/** The teardown of a recorded run's scenario connection (port 9999) in one side's capture. */
function recordedTeardown(run: string, side: string): Teardown {
  const { bytes, file } = recordedCapture(run, side);
  const conn = readConnections(bytes, file).connections.find((c) => c.responder.port === 9999);
  assert.ok(conn, `${file}: the scenario's connection`);
  return classifyTeardown(conn);
}

Deno.test("retransmissions of one segment until silence: retransmission-timeout", async (t) => {
  await t.step("retransmit-timeout, the client's capture: likely, with the count", () => {
    const td = recordedTeardown("retransmit-timeout", "client");
    assert.equal(td.kind, "open");
    assert.deepEqual(td.candidates.map((c) => [c.cause, c.confidence]), [
      ["retransmission-timeout", "likely"],
      ["unknown", "possible"],
    ]);
    // The count is the capture's: the client's last data segment, and how often it went out again.
    const { bytes, file } = recordedCapture("retransmit-timeout", "client");
    const conn = readConnections(bytes, file).connections.find((c) => c.responder.port === 9999)!;
    const sent = conn.packets.filter((p, i) => conn.directions[i] === "orig" && p.payloadLength > 0);
    const resent = sent.filter((p) => p.seq === sent.at(-1)!.seq).length - 1;
    assert.ok(resent >= 2, `the capture resends the last segment (${resent} times)`);
    assert.match(
      td.candidates[0]!.reason,
      new RegExp(`the originator sent the same segment ${resent} more times at the end`),
    );
    assert.match(td.candidates[0]!.settledBy!, /TCPAbortOnTimeout/);
  });
  await t.step("keepalive-dead-peer: probes, not one segment resent, then the prober's RST", () => {
    const td = recordedTeardown("keepalive-dead-peer", "client");
    assert.ok(!td.candidates.some((c) => c.cause === "retransmission-timeout"));
    assert.equal(td.candidates[0]!.cause, "abort-after-retransmissions");
  });
  await t.step("lab explain names it for the connection", () => {
    const { bytes, file } = recordedCapture("retransmit-timeout", "client");
    const row = explainCapture(bytes, file).rows.find((r) => r.responder.endsWith(":9999"));
    assert.equal(row?.cause, "retransmission-timeout or unknown");
  });
});

Deno.test("an RST unlike its sender's other packets: path-reset, probably a middlebox", async (t) => {
  await t.step("firewall-reset, the client's capture: TTL 64 against 63, likely, with the IP IDs", () => {
    const td = recordedTeardown("firewall-reset", "client");
    assert.deepEqual(td.candidates.map((c) => [c.cause, c.confidence]), [["path-reset", "likely"]]);
    assert.match(
      td.candidates[0]!.reason,
      /probably sent by a middlebox: its IP TTL is 64 where every other packet the responder sent had 63 \(IP ID 0, the responder's last 26084\)/,
    );
  });
  await t.step("lab explain names it", () => {
    const { bytes, file } = recordedCapture("firewall-reset", "client");
    const row = explainCapture(bytes, file).rows.find((r) => r.responder.endsWith(":9999"));
    assert.equal(row?.cause, "path-reset");
  });

  // One connection whose server counts its IP IDs up from 6000, then sends an RST with `rstId`.
  const packet = (from: "client" | "server", flags: number, seq: number, ack: number, ipId: number) => {
    const c = from === "client";
    return {
      index: 0,
      timeNs: 0n,
      ipVersion: 4,
      src: c ? "10.0.0.1" : "10.0.0.2",
      dst: c ? "10.0.0.2" : "10.0.0.1",
      srcPort: c ? 40000 : 9999,
      dstPort: c ? 9999 : 40000,
      flags,
      seq,
      ack,
      ttl: 64,
      ipId,
      window: 100,
      payloadLength: flags === 0x18 ? 1 : 0,
      options: [],
      payload: new Uint8Array(),
      checksumOk: null,
    } satisfies TcpPacket;
  };
  const withReset = (rstFlags: number, rstId: number): Teardown => {
    const [conn] = connectionsOf([
      packet("client", 0x02, 100, 0, 300),
      packet("server", 0x12, 500, 101, 0), // a SYN-ACK has IP ID 0 on Linux
      packet("client", 0x10, 101, 501, 301),
      packet("client", 0x18, 101, 501, 302),
      packet("server", 0x10, 501, 102, 6000),
      packet("server", 0x18, 501, 102, 6001),
      packet("client", 0x10, 102, 502, 303),
      packet("client", 0x18, 102, 502, 304),
      packet("server", rstFlags, 502, 103, rstId),
    ]) as [Connection];
    return classifyTeardown(conn);
  };
  await t.step("same TTL, an IP ID off the sender's counter: possible, with the IDs", () => {
    const td = withReset(0x04, 41234);
    assert.deepEqual(td.candidates.map((c) => [c.cause, c.confidence]), [["path-reset", "possible"]]);
    assert.match(td.candidates[0]!.reason, /its IP ID 41234 does not follow the counter .* \(last 6001\)/);
  });
  await t.step("an active RST that continues the counter is its sender's own", () => {
    const td = withReset(0x14, 6002);
    assert.ok(!td.candidates.some((c) => c.cause === "path-reset"));
  });
  await t.step("IP ID 0 proves nothing: Linux sends an RST without a socket with ID 0 too", () => {
    const td = withReset(0x04, 0);
    assert.ok(!td.candidates.some((c) => c.cause === "path-reset"));
  });
});
