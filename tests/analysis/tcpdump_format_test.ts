import assert from "node:assert/strict";
import { decodeTcp } from "../../lab/analysis/tcp_decoder.ts";
import { readCapture } from "../../lab/analysis/capture_reader.ts";
import {
  createTcpdumpState,
  formatRelativeTime,
  formatTcpdump,
  formatTimestamp,
  tcpdumpFlags,
  TcpdumpFormatter,
} from "../../lab/analysis/tcpdump_format.ts";
import type { TcpPacket } from "../../lab/analysis/types.ts";
import {
  afterTimestamp,
  buildPcap,
  concat,
  fixIpv4HeaderChecksum,
  fixtureDatagrams,
  fixturePath,
  FIXTURES,
  FRAMINGS,
  ipv4Segment,
  type RecordSpec,
  type SegmentSpec,
  tcpdumpLines,
  withIpv4Options,
  withIpv6Extensions,
} from "./_helpers.ts";

/** Format every record of a pcap (bytes) and compare line by line with tcpdump. */
async function assertSameAsTcpdump(file: Uint8Array | string, label: string): Promise<number> {
  const bytes = typeof file === "string" ? Deno.readFileSync(file) : file;
  const want = (await tcpdumpLines(file)).map(afterTimestamp);
  // tcpdump names a Linux cooked v2 interface index with if_indextoname() on
  // the reading host; take the name from its own line (Deno cannot read /sys
  // without --allow-all), so the rest of the line is what gets compared.
  let current = "";
  const formatter = new TcpdumpFormatter({ interfaceName: () => current.slice(0, current.indexOf(" ")) });
  const got = [...readCapture(bytes, label)].map((record, i) => {
    current = want[i] ?? "";
    const packet = decodeTcp(record);
    return packet === null ? "(not TCP)" : formatter.format(packet);
  });
  assert.deepEqual(got, want);
  return got.length;
}

Deno.test("formatTcpdump matches live tcpdump -nn -r on every fixture", async (t) => {
  for (const name of FIXTURES) {
    await t.step(name, async () => {
      const count = await assertSameAsTcpdump(fixturePath(name), name);
      assert.ok(count > 0);
    });
  }
});

Deno.test("formatTcpdump: the founding case reads as in the report", async () => {
  const lines = (await tcpdumpLines(fixturePath("founding_rst_unread"))).map(afterTimestamp);
  assert.match(lines[3]!, /Flags \[P\.\], seq 1:2, ack 1, win 64, .*length 1$/);
  assert.match(lines[4]!, /Flags \[\.\], ack 2, win 64, .*length 0$/);
  assert.match(lines[5]!, /Flags \[R\.\], seq 1, ack 2, win 64, .*length 0$/);
  await assertSameAsTcpdump(fixturePath("founding_rst_unread"), "founding");
});

Deno.test("formatTcpdump matches tcpdump on other framings of the same datagrams", async (t) => {
  const datagrams = [
    ...fixtureDatagrams("founding_rst_unread"),
    ...fixtureDatagrams("ipv6_read_then_close"),
  ];
  const plain = (d: RecordSpec): RecordSpec => ({
    seconds: d.seconds ?? 0,
    subsecond: d.subsecond ?? 0,
    data: d.data,
  });
  for (const framing of FRAMINGS.filter((f) => f.tcpdumpReads !== false)) {
    await t.step(framing.name, async () => {
      const records = datagrams.map((d) => ({ ...plain(d), data: framing.frame(d.data) }));
      await assertSameAsTcpdump(buildPcap(framing.linkType, records), framing.name);
    });
  }
  await t.step("IPv4 options", async () => {
    const v4 = fixtureDatagrams("founding_rst_unread");
    const records = v4.map((d) => ({ ...plain(d), data: withIpv4Options(d.data) }));
    await assertSameAsTcpdump(buildPcap(101, records), "ipv4 options");
  });
  await t.step("IPv4 first fragment", async () => {
    const data = fixtureDatagrams("founding_rst_unread")[3]!.data.slice();
    data[6] = 0x20;
    fixIpv4HeaderChecksum(data);
    await assertSameAsTcpdump(buildPcap(101, [{ data }]), "fragment");
  });
  await t.step("IPv6 hop-by-hop and destination options", async () => {
    const v6 = fixtureDatagrams("ipv6_read_then_close");
    const records = v6.map((d) => ({ ...plain(d), data: withIpv6Extensions(d.data) }));
    await assertSameAsTcpdump(buildPcap(101, records), "ipv6 extensions");
  });
  await t.step("IPv6 first fragment", async () => {
    const v6 = fixtureDatagrams("ipv6_read_then_close");
    const records = v6.map((d) => {
      const ip = d.data;
      const out = concat(ip.subarray(0, 40), new Uint8Array([6, 0, 0, 1, 0, 0, 0, 9]), ip.subarray(40));
      out[6] = 44;
      const length = ((out[4]! << 8) | out[5]!) + 8;
      out[4] = length >> 8;
      out[5] = length & 255;
      return { ...plain(d), data: out };
    });
    await assertSameAsTcpdump(buildPcap(101, records), "ipv6 fragment");
  });
});

const C: Pick<SegmentSpec, "src" | "dst" | "srcPort" | "dstPort"> = {
  src: [10, 0, 0, 1],
  dst: [10, 0, 0, 2],
  srcPort: 40000,
  dstPort: 9999,
};
const S: Pick<SegmentSpec, "src" | "dst" | "srcPort" | "dstPort"> = {
  src: [10, 0, 0, 2],
  dst: [10, 0, 0, 1],
  srcPort: 9999,
  dstPort: 40000,
};
const TS = [8, 10, 0, 0, 0, 7, 0, 0, 0, 9];
const bytes = (n: number) => new Uint8Array(n).fill(0x61);

Deno.test("formatTcpdump matches tcpdump on crafted segments", async (t) => {
  const cases: Array<{ name: string; segments: SegmentSpec[]; cut?: number }> = [
    {
      name: "handshake, data, SACK relative to the peer's base",
      segments: [
        { ...C, seq: 1000, flags: 0x02, options: [2, 4, 5, 180, 4, 2, ...TS, 1, 3, 3, 7] },
        { ...S, seq: 5000, ack: 1001, flags: 0x12, options: [2, 4, 5, 180, 1, 1, 4, 2] },
        { ...C, seq: 1001, ack: 5001, flags: 0x10 },
        { ...C, seq: 1011, ack: 5001, flags: 0x18, payload: bytes(10) },
        {
          ...S,
          seq: 5001,
          ack: 1001,
          flags: 0x10,
          options: [1, 1, 5, 10, 0, 0, 0x03, 0xf3, 0, 0, 0x03, 0xfd],
        },
        { ...C, seq: 1001, ack: 5001, flags: 0x18, payload: bytes(10) },
        { ...S, seq: 5001, ack: 1021, flags: 0x19, payload: bytes(3) },
        { ...C, seq: 1021, ack: 5005, flags: 0x11 },
        { ...S, seq: 5005, ack: 1022, flags: 0x10 },
      ],
    },
    {
      name: "SACK blocks from the other direction",
      segments: [
        { ...S, seq: 5000, ack: 1001, flags: 0x12 },
        {
          ...C,
          seq: 1001,
          ack: 5001,
          flags: 0x10,
          options: [1, 1, 5, 10, 0, 0, 0x13, 0x9d, 0, 0, 0x13, 0xa7],
        },
      ],
    },
    {
      name: "urgent, ECN and no flags",
      segments: [
        { ...C, seq: 1, ack: 1, flags: 0x38, urgent: 3, payload: bytes(3) },
        { ...C, seq: 4, ack: 1, flags: 0xd0 },
        { ...C, seq: 4, flags: 0x00 },
        { ...C, seq: 4, flags: 0x42 },
        { ...C, seq: 4, ack: 1, flags: 0x10, window: 0 },
      ],
    },
    {
      name: "RST without ACK shows raw numbers; RST with data",
      segments: [
        { ...C, seq: 77, flags: 0x04 },
        { ...S, seq: 99, ack: 5, flags: 0x14, payload: bytes(4) },
      ],
    },
    {
      name: "bad header lengths",
      segments: [
        { ...C, seq: 1, ack: 1, flags: 0x10, dataOffset: 4 },
        { ...C, seq: 1, ack: 1, flags: 0x10, dataOffset: 15 },
        { ...C, seq: 1, ack: 1, flags: 0x10, dataOffset: 6, options: [1, 1] },
      ],
    },
    {
      name: "odd options",
      segments: [
        { ...C, seq: 1, flags: 0x02, options: [1, 2, 1, 1] },
        { ...C, seq: 1, flags: 0x02, options: [3, 4, 7, 0] },
        { ...C, seq: 1, flags: 0x02, options: [99, 4, 0xab, 0xcd] },
        { ...C, seq: 1, flags: 0x02, options: [28, 4, 0x01, 0x2d] },
        { ...C, seq: 1, flags: 0x02, options: [34, 2, 1, 1] },
        { ...C, seq: 1, flags: 0x02, options: [34, 6, 1, 2, 3, 4, 1, 1] },
        { ...C, seq: 1, flags: 0x02, options: [254, 4, 0xf9, 0x89] },
        { ...C, seq: 1, flags: 0x02, options: [254, 4, 0x12, 0x34] },
        { ...C, seq: 1, flags: 0x02, options: [5, 11, ...new Array<number>(9).fill(0), 1] },
        { ...C, seq: 1, flags: 0x02, options: [6, 6, 0, 0, 0, 5, 1, 1] },
        { ...C, seq: 1, flags: 0x02, options: [4, 2, 0, 0] },
        { ...C, seq: 1, flags: 0x02, options: [2, 8, 5, 180] },
      ],
    },
    {
      name: "equal ports: addresses decide the direction",
      segments: [
        {
          src: [10, 0, 0, 9],
          dst: [10, 0, 0, 3],
          srcPort: 7000,
          dstPort: 7000,
          seq: 50,
          ack: 60,
          flags: 0x10,
        },
        {
          src: [10, 0, 0, 3],
          dst: [10, 0, 0, 9],
          srcPort: 7000,
          dstPort: 7000,
          seq: 65,
          ack: 55,
          flags: 0x18,
          payload: bytes(2),
        },
        {
          src: [10, 0, 0, 9],
          dst: [10, 0, 0, 3],
          srcPort: 7000,
          dstPort: 7000,
          seq: 55,
          ack: 67,
          flags: 0x10,
        },
      ],
    },
    {
      name: "wrap-around of relative numbers",
      segments: [
        { ...S, seq: 0xfffffff0, ack: 0xfffffffe, flags: 0x12 },
        { ...C, seq: 0xffffffff, ack: 0xfffffff1, flags: 0x18, payload: bytes(5) },
        { ...S, seq: 0xfffffff1, ack: 4, flags: 0x10 },
      ],
    },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      const file = buildPcap(101, c.segments.map((s) => ({ data: ipv4Segment(s) })));
      await assertSameAsTcpdump(file, c.name);
    });
  }
  await t.step("options cut by the snapshot length", async () => {
    const full = ipv4Segment({ ...C, seq: 1, flags: 0x02, options: [2, 4, 5, 180, 4, 2, ...TS, 1, 3, 3, 7] });
    const records = [24, 25, 32, 38].map((n) => ({
      data: full.subarray(0, 20 + n),
      originalLength: full.length,
    }));
    await assertSameAsTcpdump(buildPcap(101, records), "cut");
  });
});

Deno.test("formatTcpdump: packets built without raw header bytes", () => {
  const state = createTcpdumpState();
  const base: TcpPacket = {
    index: 1,
    timeNs: 0n,
    ipVersion: 4,
    src: "10.201.0.20",
    dst: "10.201.0.10",
    srcPort: 54466,
    dstPort: 9999,
    flags: 0x02,
    seq: 116175859,
    ack: 0,
    window: 64240,
    payloadLength: 0,
    options: [
      { kind: "mss", value: 1460 },
      { kind: "sackOK" },
      { kind: "TS", value: [123, 0] },
      { kind: "nop" },
      { kind: "wscale", value: 7 },
    ],
    payload: new Uint8Array(),
    checksumOk: null,
  };
  assert.equal(
    formatTcpdump(base, state),
    "IP 10.201.0.20.54466 > 10.201.0.10.9999: Flags [S], seq 116175859, win 64240, " +
      "options [mss 1460,sackOK,TS val 123 ecr 0,nop,wscale 7], length 0",
  );
  const synAck = {
    ...base,
    src: base.dst,
    dst: base.src,
    srcPort: 9999,
    dstPort: 54466,
    flags: 0x12,
    seq: 2096622783,
    ack: 116175860,
    window: 65160,
    options: [],
  };
  assert.equal(
    formatTcpdump(synAck, state),
    "IP 10.201.0.10.9999 > 10.201.0.20.54466: Flags [S.], seq 2096622783, ack 116175860, win 65160, length 0",
  );
  const data = { ...synAck, flags: 0x18, seq: 2096622784, ack: 116175860, window: 64, payloadLength: 1 };
  assert.equal(
    formatTcpdump(
      { ...data, options: [{ kind: "nop" }, { kind: "nop" }, { kind: "TS", value: [1, 2] }] },
      state,
    ),
    "IP 10.201.0.10.9999 > 10.201.0.20.54466: Flags [P.], seq 1:2, ack 1, win 64, " +
      "options [nop,nop,TS val 1 ecr 2], length 1",
  );
  const rst = { ...base, flags: 0x14, seq: 116175860, ack: 2096622785, window: 63, options: [] };
  assert.equal(
    formatTcpdump(rst, state),
    "IP 10.201.0.20.54466 > 10.201.0.10.9999: Flags [R.], seq 1, ack 2, win 63, length 0",
  );
});

Deno.test("formatTcpdump: Linux cooked v2 prefix", () => {
  const packet = decodeTcp([...readCapture(Deno.readFileSync(fixturePath("founding_any_sll2")), "f")][0]!)!;
  assert.ok(packet.link?.interfaceIndex !== undefined);
  const named = formatTcpdump(packet, createTcpdumpState(), { interfaceName: () => "lo" });
  assert.ok(named.startsWith("lo    In  IP 127.0.0.1.41010 > 127.0.0.1.19010: Flags [S]"), named);
  const unnamed = formatTcpdump(packet, createTcpdumpState());
  assert.ok(unnamed.startsWith("?     In  IP "), unnamed);
  const out = formatTcpdump(
    { ...packet, link: { linkType: 276, interfaceIndex: 3, packetType: 4 } },
    createTcpdumpState(),
    {
      interfaceName: (i) => (i === 3 ? "veth12345" : undefined),
    },
  );
  assert.ok(out.startsWith("veth12345 Out IP "), out);
});

Deno.test("tcpdumpFlags", async (t) => {
  const cases: Array<[number, string]> = [
    [0x02, "S"],
    [0x12, "S."],
    [0x10, "."],
    [0x18, "P."],
    [0x19, "FP."],
    [0x11, "F."],
    [0x04, "R"],
    [0x14, "R."],
    [0xc2, "SEW"],
    [0x00, "none"],
    [0x3f, "FSRP.U"],
  ];
  for (const [flags, want] of cases) {
    await t.step(`0x${flags.toString(16)} -> ${want}`, () => assert.equal(tcpdumpFlags(flags), want));
  }
});

Deno.test("formatTimestamp matches tcpdump's time column (UTC)", async (t) => {
  const path = fixturePath("shutdown_drain");
  const records = [...readCapture(Deno.readFileSync(path), "shutdown_drain")];
  for (const precision of ["micro", "nano"] as const) {
    await t.step(precision, async () => {
      const extra = precision === "nano" ? ["--time-stamp-precision=nano"] : [];
      const lines = await tcpdumpLines(path, extra);
      assert.deepEqual(
        records.map((r) => formatTimestamp(r.timeNs, precision)),
        lines.map((line) => line.slice(0, line.indexOf(" "))),
      );
    });
  }
  await t.step("relative times", () => {
    const first = records[0]!.timeNs;
    assert.equal(formatRelativeTime(first, first), "+0.000000");
    assert.equal(formatRelativeTime(first + 123_456n, first), "+0.000123");
    assert.equal(formatRelativeTime(first + 123_456n, first, "nano"), "+0.000123456");
    assert.equal(formatRelativeTime(first, first + 1_500_000_000n), "-1.500000");
  });
});
