import assert from "node:assert/strict";
import { formatAddress } from "../../lab/analysis/addresses.ts";
import { LinkType } from "../../lab/analysis/link_types.ts";
import { decodeTcp, parseTcpOptions } from "../../lab/analysis/tcp_decoder.ts";
import { readCapture } from "../../lab/analysis/capture_reader.ts";
import type { CaptureRecord, TcpPacket } from "../../lab/analysis/types.ts";
import {
  buildPcap,
  concat,
  ether,
  fixIpv4HeaderChecksum,
  fixtureBytes,
  fixtureDatagrams,
  fixturePackets,
  fixtureRecords,
  FRAMINGS,
  tcpdumpLines,
  u32le,
  withIpv4Options,
  withIpv6Extensions,
} from "./_helpers.ts";

function record(linkType: number, data: Uint8Array, originalLength = data.length): CaptureRecord {
  return { index: 1, offset: 24, timeNs: 0n, linkType, originalLength, data };
}

/** The fields that must not depend on how the packet was framed. */
function essence(p: TcpPacket | null) {
  if (p === null) return null;
  return {
    ipVersion: p.ipVersion,
    src: p.src,
    dst: p.dst,
    srcPort: p.srcPort,
    dstPort: p.dstPort,
    flags: p.flags,
    seq: p.seq,
    ack: p.ack,
    window: p.window,
    payloadLength: p.payloadLength,
    options: p.options,
    payload: [...p.payload],
    checksumOk: p.checksumOk,
  };
}

Deno.test("decodeTcp: the founding case, field by field", () => {
  const packets = fixturePackets("founding_rst_unread");
  assert.equal(packets.length, 6);
  const [syn, synAck, ack, data, ackData, rst] = packets as [
    TcpPacket,
    TcpPacket,
    TcpPacket,
    TcpPacket,
    TcpPacket,
    TcpPacket,
  ];
  assert.deepEqual(essence(syn), {
    ipVersion: 4,
    src: "127.0.0.1",
    dst: "127.0.0.1",
    srcPort: 41001,
    dstPort: 19001,
    flags: 0x02,
    seq: 2555649339,
    ack: 0,
    window: 65495,
    payloadLength: 0,
    options: [
      { kind: "mss", value: 65495 },
      { kind: "sackOK" },
      { kind: "TS", value: [3488986357, 0] },
      { kind: "nop" },
      { kind: "wscale", value: 10 },
    ],
    payload: [],
    checksumOk: false, // loopback: checksum offloaded, as tcpdump -vv says too
  });
  assert.equal(syn.headerLength, 40);
  assert.equal(syn.tcpLength, 40);
  assert.deepEqual(syn.link, { linkType: 1 });
  assert.equal(synAck.flags, 0x12);
  assert.equal(synAck.ack, 2555649340);
  assert.equal(ack.flags, 0x10);
  assert.equal(data.flags, 0x18);
  assert.equal(data.payloadLength, 1);
  assert.equal(new TextDecoder().decode(data.payload), "1");
  assert.equal(ackData.ack, 509047190);
  assert.equal(rst.flags, 0x14);
  assert.equal(rst.seq, 2555649340);
  assert.equal(rst.ack, 509047190);
  assert.equal(rst.headerLength, 32);
  assert.deepEqual(rst.options, [
    { kind: "nop" },
    { kind: "nop" },
    { kind: "TS", value: [3488986358, 1020810937] },
  ]);
});

Deno.test("decodeTcp: payload and header are views into the file", () => {
  const bytes = fixtureBytes("founding_rst_unread");
  const records = [...readCapture(bytes, "f")];
  const data = decodeTcp(records[3]!)!;
  assert.equal(data.payload.buffer, bytes.buffer);
  assert.equal(data.tcpHeader?.buffer, bytes.buffer);
});

Deno.test("decodeTcp: IPv6 over Ethernet", () => {
  const [syn, , , request] = fixturePackets("ipv6_read_then_close");
  assert.equal(syn?.ipVersion, 6);
  assert.equal(syn?.src, "::1");
  assert.equal(syn?.dstPort, 19007);
  assert.deepEqual(syn?.options[0], { kind: "mss", value: 65476 });
  assert.equal(new TextDecoder().decode(request?.payload), "ping");
  assert.equal(request?.payloadLength, 4);
});

Deno.test("decodeTcp: Linux cooked captures keep the packet type and interface", () => {
  const ethernet = fixturePackets("founding_rst_unread").map(essence);
  const sll = fixturePackets("founding_any_sll");
  const sll2 = fixturePackets("founding_any_sll2");
  assert.equal(sll.length, 6);
  assert.equal(sll2.length, 6);
  assert.deepEqual(sll[0]?.link, { linkType: 113, packetType: 0 });
  assert.equal(sll2[0]?.link?.linkType, 276);
  assert.equal(sll2[0]?.link?.packetType, 0);
  assert.equal(typeof sll2[0]?.link?.interfaceIndex, "number");
  // Same shape of conversation as the Ethernet capture of the same case.
  assert.deepEqual(sll.map((p) => p.flags), ethernet.map((p) => p?.flags));
  assert.deepEqual(sll2.map((p) => p.payloadLength), ethernet.map((p) => p?.payloadLength));
});

const v4 = fixtureDatagrams("founding_rst_unread");
const v6 = fixtureDatagrams("ipv6_read_then_close");
Deno.test("decodeTcp: every framing gives the same packet", async (t) => {
  for (const framing of FRAMINGS) {
    await t.step(framing.name, () => {
      for (const datagrams of [v4, v6]) {
        for (const d of datagrams) {
          const want = essence(decodeTcp(record(LinkType.RAW, d.data)));
          const got = decodeTcp(record(framing.linkType, framing.frame(d.data)));
          assert.ok(want !== null);
          assert.deepEqual(essence(got), want);
        }
      }
    });
  }
  await t.step("VLAN ids are kept", () => {
    const qinq = FRAMINGS.find((f) => f.name.startsWith("QinQ"))!;
    const got = decodeTcp(record(1, qinq.frame(v4[0]!.data)));
    assert.deepEqual(got?.link, { linkType: 1, vlanIds: [10, 100] });
  });
  await t.step("raw IPv4 (228) and IPv6 (229)", () => {
    assert.equal(decodeTcp(record(228, v4[0]!.data))?.ipVersion, 4);
    assert.equal(decodeTcp(record(229, v6[0]!.data))?.ipVersion, 6);
  });
});

Deno.test("decodeTcp: IP options, fragments, extension headers, other protocols", async (t) => {
  const data = v4[3]!.data; // the 1-byte PSH,ACK
  const plain = essence(decodeTcp(record(101, data)));

  await t.step("IPv4 options are skipped", () => {
    assert.deepEqual(essence(decodeTcp(record(101, withIpv4Options(data)))), plain);
  });
  await t.step("a first fragment is TCP, its checksum unchecked", () => {
    const frag = data.slice();
    frag[6] = 0x20; // MF
    fixIpv4HeaderChecksum(frag);
    assert.deepEqual(essence(decodeTcp(record(101, frag))), { ...plain!, checksumOk: null });
  });
  await t.step("a later fragment is not TCP", () => {
    const frag = data.slice();
    frag[6] = 0x00;
    frag[7] = 0x03; // offset 24 bytes
    fixIpv4HeaderChecksum(frag);
    assert.equal(decodeTcp(record(101, frag)), null);
  });
  await t.step("UDP is not TCP", () => {
    const udp = data.slice();
    udp[9] = 17;
    assert.equal(decodeTcp(record(101, udp)), null);
  });
  await t.step("ARP and unknown link types are not TCP", () => {
    assert.equal(decodeTcp(record(1, concat(ether(0x0806), new Uint8Array(28)))), null);
    assert.equal(decodeTcp(record(105, data)), null);
    assert.equal(decodeTcp(record(0, concat(u32le(7), data))), null);
  });
  await t.step("a record cut inside the TCP header is skipped", () => {
    assert.equal(decodeTcp(record(101, data.subarray(0, 30), data.length)), null);
  });
  await t.step("IPv6 extension headers are skipped", () => {
    for (const d of v6) {
      const want = essence(decodeTcp(record(101, d.data)));
      assert.deepEqual(essence(decodeTcp(record(101, withIpv6Extensions(d.data)))), want);
    }
  });
  await t.step("IPv6 fragments: the first is TCP, a later one is not", () => {
    const ip = v6[3]!.data;
    const first = concat(ip.subarray(0, 40), new Uint8Array([6, 0, 0, 1, 0, 0, 0, 9]), ip.subarray(40));
    first[6] = 44;
    const length = ((first[4]! << 8) | first[5]!) + 8;
    first[4] = length >> 8;
    first[5] = length & 255;
    const want = essence(decodeTcp(record(101, ip)))!;
    assert.deepEqual(essence(decodeTcp(record(101, first))), { ...want, checksumOk: null });
    const later = first.slice();
    later[42] = 0;
    later[43] = 0x08; // offset 1 (x 8 bytes)
    assert.equal(decodeTcp(record(101, later)), null);
  });
});

Deno.test("decodeTcp: lengths come from the IP header, not the capture", async (t) => {
  const records = fixtureRecords("founding_rst_unread");
  await t.step("snapshot length cut the payload", () => {
    const full = records[3]!;
    const cut = record(1, full.data.subarray(0, full.data.length - 1), full.originalLength);
    const p = decodeTcp(cut)!;
    assert.equal(p.payloadLength, 1);
    assert.equal(p.payload.length, 0);
    assert.equal(p.checksumOk, null);
  });
  await t.step("Ethernet padding is not payload", () => {
    const rst = records[5]!;
    const padded = record(1, concat(rst.data, new Uint8Array(6)));
    const p = decodeTcp(padded)!;
    assert.equal(p.payloadLength, 0);
    assert.equal(p.payload.length, 0);
    assert.equal(p.checksumOk, false);
  });
  await t.step("IPv4 total length 0 (TSO) falls back to the wire length", () => {
    const ip = v4[3]!.data.slice();
    ip[2] = 0;
    ip[3] = 0;
    assert.equal(decodeTcp(record(101, ip))?.payloadLength, 1);
  });
});

Deno.test("decodeTcp: checksumOk agrees with tcpdump -vv", async (t) => {
  for (const [name, datagram] of [["IPv4", v4[3]!.data], ["IPv6", v6[3]!.data]] as const) {
    await t.step(name, async () => {
      const file = (ip: Uint8Array) => buildPcap(101, [{ data: ip }]);
      const before = (await tcpdumpLines(file(datagram), ["-vv"])).join("\n");
      const should = /incorrect -> 0x([0-9a-f]{4})/.exec(before);
      assert.ok(should, before);
      assert.equal(decodeTcp(record(101, datagram))?.checksumOk, false);
      const fixed = datagram.slice();
      const at = (name === "IPv4" ? 20 : 40) + 16;
      const value = parseInt(should[1]!, 16);
      fixed[at] = value >> 8;
      fixed[at + 1] = value & 255;
      const after = (await tcpdumpLines(file(fixed), ["-vv"])).join("\n");
      assert.match(after, /\(correct\)/);
      assert.equal(decodeTcp(record(101, fixed))?.checksumOk, true);
    });
  }
});

Deno.test("parseTcpOptions", async (t) => {
  const cases: Array<{ name: string; bytes: number[]; want: unknown }> = [
    {
      name: "SYN options",
      bytes: [2, 4, 0xff, 0xd7, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7],
      want: [
        { kind: "mss", value: 65495 },
        { kind: "sackOK" },
        { kind: "TS", value: [1, 0] },
        { kind: "nop" },
        { kind: "wscale", value: 7 },
      ],
    },
    {
      name: "sack blocks",
      bytes: [1, 1, 5, 18, 0, 0, 0, 10, 0, 0, 0, 20, 0, 0, 0, 30, 0, 0, 0, 40],
      want: [{ kind: "nop" }, { kind: "nop" }, { kind: "sack", value: [[10, 20], [30, 40]] }],
    },
    {
      name: "end of list stops parsing",
      bytes: [1, 0, 2, 4, 5, 180],
      want: [{ kind: "nop" }, { kind: "eol" }],
    },
    {
      name: "unknown options keep their data",
      bytes: [99, 4, 0xab, 0xcd, 34, 2],
      want: [
        { kind: "unknown-99", data: new Uint8Array([0xab, 0xcd]) },
        { kind: "tfo", data: new Uint8Array() },
      ],
    },
    {
      name: "a malformed length stops parsing",
      bytes: [1, 2, 1, 2, 4, 0],
      want: [{ kind: "nop" }],
    },
    {
      name: "an option running past the end stops parsing",
      bytes: [8, 10, 0, 0],
      want: [],
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      assert.deepEqual(parseTcpOptions(new Uint8Array(c.bytes)), c.want);
    });
  }
});

Deno.test("formatAddress follows tcpdump's addrtostr6", async (t) => {
  const v6addr = (words: number[]) => new Uint8Array(words.flatMap((w) => [w >> 8, w & 255]));
  const cases: Array<[string, Uint8Array, string]> = [
    ["IPv4", new Uint8Array([10, 201, 0, 20]), "10.201.0.20"],
    ["loopback", v6addr([0, 0, 0, 0, 0, 0, 0, 1]), "::1"],
    ["unspecified", v6addr([0, 0, 0, 0, 0, 0, 0, 0]), "::"],
    ["link-local", v6addr([0xfe80, 0, 0, 0, 0, 0, 0, 1]), "fe80::1"],
    ["longest run wins", v6addr([0x2001, 0xdb8, 0, 0, 1, 0, 0, 0]), "2001:db8:0:0:1::"],
    ["first run wins a tie", v6addr([0x2001, 0xdb8, 0, 0, 1, 0, 0, 1]), "2001:db8::1:0:0:1"],
    ["a single zero stays", v6addr([1, 0, 2, 0, 3, 0, 4, 0]), "1:0:2:0:3:0:4:0"],
    ["IPv4-mapped", v6addr([0, 0, 0, 0, 0, 0xffff, 0x0a00, 0x0001]), "::ffff:10.0.0.1"],
    ["IPv4-compatible", v6addr([0, 0, 0, 0, 0, 0, 0x0a00, 0x0001]), "::10.0.0.1"],
  ];
  for (const [name, bytes, want] of cases) {
    await t.step(name, () => assert.equal(formatAddress(bytes), want));
  }
});
