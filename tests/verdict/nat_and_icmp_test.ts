/**
 * The network's answers that no endpoint sent: a NAT that forgot an idle
 * connection (nat-idle-expiry: the middlebox's own kernel reset it) and a
 * firewall's ICMP error (icmp-reject-connect). Each cause is certain only
 * with its whole proof; without a part of it, it is not given as certain
 * (the ICMP errors in the client's capture still make icmp-error likely).
 */
import assert from "node:assert/strict";
import { recordedRun } from "../_fixtures.ts";
import { analyseRun } from "../../lab/verdict/analyse_run.ts";
import { renderReport } from "../../lab/report/run_report.ts";
import { natMapping, untranslated } from "../../lab/verdict/nat_mapping.ts";
import { readConnections } from "../../lab/analysis/connections.ts";
import { readCapture } from "../../lab/analysis/capture_reader.ts";
import { decodeTcp } from "../../lab/analysis/tcp_decoder.ts";
import { LinkType } from "../../lab/analysis/link_types.ts";
import { buildPcap, concat, fixIpv4HeaderChecksum } from "../analysis/_helpers.ts";

Deno.test("nat-idle-expiry: the middlebox's kernel reset the server's connection, with its proof", async () => {
  const result = analyseRun(await recordedRun("nat-idle-expiry"));
  const conn = result.connections[0]!;
  assert.equal(conn.cause, "nat-mapping-expired");
  assert.equal(conn.confidence, "certain");
  assert.equal(conn.resetBy, "client"); // the address the server took it for
  assert.equal(conn.seenFrom, "server"); // only the server's capture saw the RST
  const proof = conn.candidates.find((c) => c.cause === "nat-mapping-expired")!.reason;
  assert.match(
    proof,
    /the server's capture has an RST from the NAT's address .*, and the client's capture has no RST/,
  );
  assert.match(
    proof,
    /the middlebox's capture has the RST leaving from \S+ to the server, and no RST from the client/,
  );
  assert.match(
    proof,
    /no tcp_send_reset in the client's namespace .* one in the middlebox's \(src \S+, reason NO_SOCKET\)/,
  );
  assert.match(proof, /conntrack table after the run \(\/proc\/net\/nf_conntrack\) has no entry for it/);
  assert.match(proof, /rule tcplab-invalid \(DROP INVALID\) counted \d+ packet/);
  assert.deepEqual(conn.kernel.resetReasons.map((r) => [r.side, r.reason]), [["middlebox", "NO_SOCKET"]]);
  // The server's packets, with the NAT undone, are the connection's: the same numbers as the client's.
  const server = conn.packets.filter((p) => p.capture === "server");
  assert.deepEqual(server.map((p) => p.flags), ["S", "S.", ".", "P.", ".", "P.", ".", "P.", "R"]);
  assert.ok(server.every((p) => p.from !== "other"));
  assert.ok(result.expectation.met);
  const report = renderReport(result);
  assert.ok(report.includes("with the NAT's address, which stands for the client's,"));
  assert.match(report, /middlebox\.\d+ > server: Flags \[R\]/);
});

Deno.test("nat-idle-expiry without a part of its proof is not a certain NAT expiry", async () => {
  const run = await recordedRun("nat-idle-expiry");
  const noMiddleboxCapture = { ...run, middlebox: { ...run.middlebox!, pcap: null } };
  const noTrace = { ...run, trace: { ...run.trace, text: "" } };
  // A tcp_send_reset in the client's namespace for the connection: the client's kernel would have sent one.
  const mbReset = run.trace.text.split("\n").find((l) => l.includes("reason=NO_SOCKET"))!;
  const clientReset = mbReset.replace(`src=${run.middlebox!.address}:`, `src=${run.sides.client.address}:`);
  const clientSent = { ...run, trace: { ...run.trace, text: `${run.trace.text}\n${clientReset}` } };
  for (const [what, artifacts] of Object.entries({ noMiddleboxCapture, clientSent })) {
    const conn = analyseRun(artifacts).connections[0]!;
    assert.ok(
      !conn.candidates.some((c) => c.cause === "nat-mapping-expired"),
      `${what}: ${conn.cause} ${conn.candidates.map((c) => c.reason).join(" / ")}`,
    );
  }
  // Without the trace the packets still prove it; the proof says the trace is not there to check.
  const traced = analyseRun(noTrace).connections[0]!;
  assert.equal(traced.cause, "nat-mapping-expired");
  assert.match(traced.candidates[0]!.reason, /no tcp_send_reset in the client's namespace/);
});

Deno.test("natMapping pairs the NAT's port with the client's from the middlebox's two copies of the SYN", async () => {
  const run = await recordedRun("nat-idle-expiry");
  const packets = readConnections(run.middlebox!.pcap!, "middlebox.pcap").packets;
  const addresses = { client: run.sides.client.address, server: run.sides.server.address };
  const nat = natMapping(packets, addresses, run.middlebox!.address);
  assert.equal(nat.ports.size, 1);
  const rst = packets.find((p) => (p.flags & 0x04) !== 0 && p.src === run.middlebox!.address)!;
  const undone = untranslated(rst, nat);
  assert.equal(undone.src, addresses.client);
  assert.equal(undone.srcPort, nat.ports.get(rst.srcPort));
  assert.equal(rst.src, run.middlebox!.address, "the capture's own packet is left as it was");
});

Deno.test("behind the NAT, an ICMP error in the server's capture quotes the NAT's address and is the connection's", async () => {
  const run = await recordedRun("nat-idle-expiry");
  const records = [...readCapture(run.sides.server.pcap!, "server.pcap")];
  const at = records.findIndex((r) => {
    const p = decodeTcp(r);
    return p !== null && p.flags === 0x02 && p.dstPort !== run.probePort;
  });
  const syn = records[at]!;
  assert.equal(syn.linkType, LinkType.ETHERNET);
  // The server answers the NAT's SYN with a port unreachable, quoting it: from the SYN's destination to its source.
  const quoted = syn.data.subarray(14);
  const ip = new Uint8Array(20);
  ip.set([0x45, 0, (28 + quoted.length) >> 8, (28 + quoted.length) & 255, 0, 1, 0, 0, 64, 1, 0, 0]);
  ip.set(quoted.subarray(16, 20), 12);
  ip.set(quoted.subarray(12, 16), 16);
  fixIpv4HeaderChecksum(ip);
  const icmp = concat(syn.data.subarray(0, 14), ip, new Uint8Array([3, 3, 0, 0, 0, 0, 0, 0]), quoted);
  const spec = (timeNs: bigint, data: Uint8Array) => ({
    seconds: Number(timeNs / 1_000_000_000n),
    subsecond: Number(timeNs % 1_000_000_000n),
    data,
  });
  const pcap = buildPcap(
    LinkType.ETHERNET,
    [
      ...records.slice(0, at + 1).map((r) => spec(r.timeNs, r.data)),
      spec(syn.timeNs + 1_000n, icmp),
      ...records.slice(at + 1).map((r) => spec(r.timeNs, r.data)),
    ],
    { nanosecond: true },
  );
  const result = analyseRun({ ...run, sides: { ...run.sides, server: { ...run.sides.server, pcap } } });
  const errors = result.connections[0]!.icmpErrors ?? [];
  assert.deepEqual(errors.map((e) => [e.capture, e.sender, e.quoted]), [["server", "server", "client"]]);
  // Its own addresses stay as the server's capture has them.
  assert.match(errors[0]!.text, /^server > middlebox: ICMP port unreachable, for \[S\] seq \d+$/);
});

Deno.test("icmp-reject-connect: connect() failed with EHOSTUNREACH, and the rule's counter proves the ICMP", async () => {
  const result = analyseRun(await recordedRun("icmp-reject-connect"));
  const conn = result.connections[0]!;
  assert.equal(conn.state, "S0");
  assert.equal(conn.resetBy, null);
  assert.equal(conn.cause, "icmp-error");
  assert.equal(conn.confidence, "certain");
  const proof = conn.candidates[0]!.reason;
  assert.match(proof, /the client's connect\(\) failed with EHOSTUNREACH/);
  assert.match(proof, /rule tcplab-path-1 \(icmp-host-unreachable\) counted \d+ packets?/);
  assert.match(proof, /Icmp\.InDestUnreachs \+\d+ in the client's namespace/);
  assert.deepEqual(
    conn.kernel.stateChanges.filter((s) => s.side === "client").map((s) => s.change),
    ["TCP_SYN_SENT -> TCP_CLOSE"],
  );
  assert.equal(conn.packets.filter((p) => p.capture === "server").length, 0);
  assert.ok(result.expectation.met);
  assert.match(renderReport(result), /What ended it: the client's connect\(\) failed with EHOSTUNREACH/);
});

Deno.test("icmp-reject-connect without the middlebox's rule counter is an ICMP error from the packets only", async () => {
  const run = await recordedRun("icmp-reject-connect");
  const conn = analyseRun({ ...run, middlebox: { ...run.middlebox!, counters: "" } }).connections[0]!;
  // The client's capture has the ICMP errors that quote its SYNs: likely, not certain without the rule's proof.
  assert.equal(conn.cause, "icmp-error");
  assert.equal(conn.confidence, "likely");
  assert.doesNotMatch(conn.candidates[0]!.reason, /rule tcplab-path-1/);
  assert.match(conn.candidates[0]!.reason, /from 10\.200\.6\.164, a router or firewall between/);
});
