/**
 * The decoder's ICMP errors: which ICMP messages it reads as errors that
 * quote a TCP header, and what it reads of them (the quoted header, the
 * sender); and the tracker attaching each to the connection it quotes.
 */
import assert from "node:assert/strict";
import { decodeIcmpError, decodeTcp, TcpHeaderFields } from "../../lab/analysis/tcp_decoder.ts";
import { readConnections } from "../../lab/analysis/connections.ts";
import { classifyTeardown } from "../../lab/analysis/teardown.ts";
import { LinkType } from "../../lab/analysis/link_types.ts";
import type { CaptureRecord } from "../../lab/analysis/types.ts";
import { buildPcap, concat, fixIpv4HeaderChecksum, ipv4Segment } from "./_helpers.ts";

const CLIENT: [number, number, number, number] = [10, 0, 0, 1];
const SERVER: [number, number, number, number] = [10, 0, 0, 2];
const ROUTER: [number, number, number, number] = [10, 0, 0, 9];

const SYN = ipv4Segment({ src: CLIENT, dst: SERVER, srcPort: 40000, dstPort: 9999, seq: 100, flags: 0x02 });

/** An ICMPv4 message from `from` to `to` carrying `body` (the quoted datagram, or anything). */
function icmpv4(from: number[], to: number[], type: number, code: number, body: Uint8Array): Uint8Array {
  const ip = new Uint8Array(20);
  ip.set([0x45, 0xc0, 0, 0, 0, 7, 0, 0, 64, 1, 0, 0]);
  ip.set(from, 12);
  ip.set(to, 16);
  const total = 28 + body.length;
  ip[2] = total >> 8;
  ip[3] = total & 255;
  fixIpv4HeaderChecksum(ip);
  return concat(ip, new Uint8Array([type, code, 0, 0, 0, 0, 0, 0]), body);
}

/** An ICMPv6 message between two link-local-like addresses, quoting an IPv6 SYN from port 40000 to 9999. */
function icmpv6(type: number, code: number): Uint8Array {
  const address = (last: number) => [0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), last];
  const quoted = new Uint8Array(60);
  quoted.set([0x60, 0, 0, 0, 0, 20, 6, 64]);
  quoted.set(address(1), 8);
  quoted.set(address(2), 24);
  quoted.set([0x9c, 0x40, 0x27, 0x0f, 0, 0, 0, 100, 0, 0, 0, 0, 0x50, 0x02], 40);
  const ip = new Uint8Array(40);
  ip.set([0x60, 0, 0, 0, 0, 8 + quoted.length, 58, 64]);
  ip.set(address(9), 8);
  ip.set(address(1), 24);
  return concat(ip, new Uint8Array([type, code, 0, 0, 0, 0, 0, 0]), quoted);
}

function record(data: Uint8Array, index = 1): CaptureRecord {
  return { index, offset: 0, timeNs: 0n, linkType: LinkType.RAW, originalLength: data.length, data };
}

Deno.test("the decoder reads an ICMP error's quoted TCP header, and no TCP segment in it", async (t) => {
  await t.step("ICMPv4 destination unreachable (host unreachable) quoting a SYN", () => {
    const data = icmpv4(ROUTER, CLIENT, 3, 1, SYN);
    const f = new TcpHeaderFields();
    assert.equal(f.decode(data, 0, data.length, data.length, LinkType.RAW), false);
    assert.equal(f.icmpType, 3);
    assert.equal(f.icmpCode, 1);
    assert.equal(f.icmpFrom0 >>> 0, 0x0a000009);
    assert.equal(f.src0 >>> 0, 0x0a000001); // the quoted SYN's, not the ICMP's
    assert.equal(f.dst0 >>> 0, 0x0a000002);
    assert.equal(f.srcPort, 40000);
    assert.equal(f.flags, 0x02);
    assert.equal(decodeTcp(record(data)), null);
    assert.deepEqual(decodeIcmpError(record(data)), {
      index: 1,
      timeNs: 0n,
      ipVersion: 4,
      type: 3,
      code: 1,
      from: "10.0.0.9",
      to: "10.0.0.1",
      fromDestination: false,
      quoted: { src: "10.0.0.1", dst: "10.0.0.2", srcPort: 40000, dstPort: 9999, seq: 100, flags: 0x02 },
    });
  });
  await t.step("ICMPv4 time exceeded quoting only the 8 bytes RFC 792 asks for: no flags", () => {
    const icmp = decodeIcmpError(record(icmpv4(ROUTER, CLIENT, 11, 0, SYN.subarray(0, 28))));
    assert.equal(icmp?.type, 11);
    assert.equal(icmp?.quoted.seq, 100);
    assert.equal(icmp?.quoted.flags, null);
  });
  await t.step("ICMPv4 parameter problem quoting a SYN, from the SYN's destination", () => {
    const icmp = decodeIcmpError(record(icmpv4(SERVER, CLIENT, 12, 0, SYN)));
    assert.equal(icmp?.type, 12);
    assert.equal(icmp?.fromDestination, true);
  });
  await t.step("ICMPv6 destination unreachable, time exceeded and parameter problem", () => {
    for (const type of [1, 3, 4]) {
      const icmp = decodeIcmpError(record(icmpv6(type, 0)));
      assert.equal(icmp?.type, type);
      assert.equal(icmp?.from, "2001:db8::9");
      assert.equal(icmp?.quoted.dst, "2001:db8::2");
      assert.equal(icmp?.quoted.dstPort, 9999);
    }
  });
  await t.step(
    "not an error that quotes TCP: echo, redirect, a quoted UDP datagram, a quote cut short",
    () => {
      const udp = SYN.slice();
      udp[9] = 17;
      for (
        const data of [
          icmpv4(CLIENT, SERVER, 8, 0, new Uint8Array(8)),
          icmpv4(ROUTER, CLIENT, 5, 1, SYN),
          icmpv4(ROUTER, CLIENT, 4, 0, SYN),
          icmpv4(ROUTER, CLIENT, 3, 3, udp),
          icmpv4(ROUTER, CLIENT, 3, 1, SYN.subarray(0, 24)),
          icmpv6(128, 0),
        ]
      ) {
        const f = new TcpHeaderFields();
        assert.equal(f.decode(data, 0, data.length, data.length, LinkType.RAW), false);
        assert.equal(f.icmpType, -1);
        assert.equal(decodeIcmpError(record(data)), null);
      }
    },
  );
  await t.step("a TCP segment after an ICMP error is read as TCP again", () => {
    const f = new TcpHeaderFields();
    const icmp = icmpv4(ROUTER, CLIENT, 3, 1, SYN);
    f.decode(icmp, 0, icmp.length, icmp.length, LinkType.RAW);
    assert.equal(f.decode(SYN, 0, SYN.length, SYN.length, LinkType.RAW), true);
    assert.equal(f.icmpType, -1);
  });
});

/** A raw-IP capture of these datagrams, one a second. */
function capture(...datagrams: Uint8Array[]): Uint8Array {
  return buildPcap(LinkType.RAW, datagrams.map((data, i) => ({ seconds: 1_700_000_000 + i, data })));
}

Deno.test("an ICMP error goes to the connection whose packet it quotes", () => {
  const other = ipv4Segment({ src: CLIENT, dst: SERVER, srcPort: 40001, dstPort: 9999, seq: 7, flags: 0x02 });
  const stranger = ipv4Segment({
    src: CLIENT,
    dst: SERVER,
    srcPort: 40002,
    dstPort: 9999,
    seq: 9,
    flags: 0x02,
  });
  const { connections, icmpErrors, packets } = readConnections(
    capture(
      SYN,
      other,
      icmpv4(ROUTER, CLIENT, 3, 13, SYN),
      icmpv4(ROUTER, CLIENT, 3, 1, SYN.subarray(0, 20)),
      icmpv4(ROUTER, CLIENT, 3, 1, stranger),
    ),
    "icmp.pcap",
  );
  assert.equal(packets.length, 2);
  assert.equal(icmpErrors.length, 1); // the second quotes no TCP header, the third no connection here
  assert.equal(connections[0]?.icmpErrors?.[0]?.code, 13);
  assert.equal(connections[0]?.icmpErrors?.[0]?.quotes, "orig");
  assert.equal(connections[1]?.icmpErrors, undefined);
  const teardown = classifyTeardown(connections[0]!);
  assert.equal(
    teardown.icmpErrors?.last.name,
    "ICMP destination unreachable (communication administratively prohibited)",
  );
  assert.equal(teardown.icmpErrors?.last.fromPeer, false);
  assert.equal(teardown.icmpErrors?.last.quoted, "orig");
});

Deno.test("a SYN answered by a parameter problem: the attempt ended with EPROTO, and its counter is named", () => {
  const { connections } = readConnections(capture(SYN, icmpv4(SERVER, CLIENT, 12, 0, SYN)), "icmp.pcap");
  const teardown = classifyTeardown(connections[0]!);
  assert.equal(teardown.icmpErrors?.last.name, "ICMP parameter problem (pointer indicates the error)");
  assert.equal(teardown.icmpErrors?.last.fromPeer, true);
  const [cause] = teardown.candidates;
  assert.equal(cause?.cause, "icmp-error");
  assert.match(cause!.reason, /\(tcp_v4_err\(\)\), and connect\(\) fails with EPROTO/);
  assert.match(cause!.settledBy!, /connect\(\) result \(EPROTO\) and its Icmp\.InParmProbs counter/);
});

Deno.test("SYNs that went on after an ICMP error: the reason names more than a locked socket", () => {
  const again = ipv4Segment({
    src: CLIENT,
    dst: SERVER,
    srcPort: 40000,
    dstPort: 9999,
    seq: 100,
    flags: 0x02,
  });
  const { connections } = readConnections(
    capture(SYN, icmpv4(ROUTER, CLIENT, 3, 1, SYN), again),
    "icmp.pcap",
  );
  const [cause] = classifyTeardown(connections[0]!).candidates;
  assert.equal(cause?.cause, "syn-timeout");
  assert.match(
    cause!.reason,
    /e\.g\. because the error met a socket that connect\(\) held \(TcpExt\.LockDroppedIcmps/,
  );
  assert.match(cause!.reason, /TcpExt\.OutOfWindowIcmps/);
});

Deno.test("an ICMPv6 error that ended an attempt: tcp_v6_err() and the Icmp6 counter are named", () => {
  const unreachable = icmpv6(1, 3); // address unreachable, quoting the SYN that follows its two headers
  const { connections } = readConnections(capture(unreachable.subarray(48), unreachable), "icmp6.pcap");
  const [cause] = classifyTeardown(connections[0]!).candidates;
  assert.equal(cause?.cause, "icmp-error");
  assert.match(cause!.reason, /\(tcp_v6_err\(\)\), and connect\(\) fails with EHOSTUNREACH/);
  assert.match(cause!.settledBy!, /its Icmp6InDestUnreachs counter/);
});
