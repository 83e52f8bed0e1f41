import assert from "node:assert/strict";
import { formatAddress, parseAddress } from "../../lab/analysis/addresses.ts";
import { decodeTcp, TcpHeaderFields } from "../../lab/analysis/tcp_decoder.ts";
import type { CaptureRecord } from "../../lab/analysis/types.ts";
import {
  fixtureDatagrams,
  fixtureRecords,
  FIXTURES,
  FRAMINGS,
  ipv4Segment,
  withIpv4Options,
  withIpv6Extensions,
} from "./_helpers.ts";

/** The fields both decoders give, or null when the record is not TCP. */
function slow(record: CaptureRecord) {
  const p = decodeTcp(record);
  if (p === null) return null;
  const hlen = p.headerLength ?? 20;
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
    headerLength: hlen,
    tcpLength: p.tcpLength,
    wellFormed: hlen >= 20 && hlen <= (p.tcpLength ?? hlen) && (p.tcpHeader?.length ?? hlen) >= hlen,
  };
}

function words(version: number, w: number[]): string {
  const bytes = new Uint8Array(version === 4 ? 4 : 16);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < bytes.length / 4; i++) view.setInt32(i * 4, w[i]!);
  return formatAddress(bytes);
}

function fast(record: CaptureRecord, f = new TcpHeaderFields()) {
  // Decode from inside a larger buffer, as the stream reader hands records over.
  const buffer = new Uint8Array(record.data.length + 10);
  buffer.set(record.data, 7);
  if (!f.decode(buffer, 7, record.data.length, record.originalLength, record.linkType)) return null;
  return {
    ipVersion: f.ipVersion,
    src: words(f.ipVersion, [f.src0, f.src1, f.src2, f.src3]),
    dst: words(f.ipVersion, [f.dst0, f.dst1, f.dst2, f.dst3]),
    srcPort: f.srcPort,
    dstPort: f.dstPort,
    flags: f.flags,
    seq: f.seq >>> 0,
    ack: f.ack >>> 0,
    window: f.window,
    payloadLength: f.payloadLength,
    headerLength: f.headerLength,
    tcpLength: f.tcpLength,
    wellFormed: f.wellFormed,
  };
}

function record(data: Uint8Array, linkType: number, originalLength = data.length): CaptureRecord {
  return { index: 1, offset: 0, timeNs: 0n, linkType, originalLength, data };
}

Deno.test("TcpHeaderFields agrees with decodeTcp on every fixture", async (t) => {
  const shared = new TcpHeaderFields();
  for (const name of FIXTURES) {
    await t.step(name, () => {
      for (const r of fixtureRecords(name)) assert.deepEqual(fast(r, shared), slow(r));
    });
  }
});

Deno.test("TcpHeaderFields agrees with decodeTcp on every framing, IP options and IPv6 extensions", async (t) => {
  const datagrams = [
    ...fixtureDatagrams("founding_rst_unread").map((d) => d.data),
    ...fixtureDatagrams("ipv6_read_then_close").map((d) => d.data),
  ];
  const variants = [
    ...datagrams,
    withIpv4Options(datagrams[3]!),
    withIpv6Extensions(datagrams[datagrams.length - 1]!),
  ];
  for (const framing of FRAMINGS) {
    await t.step(framing.name, () => {
      for (const ip of variants) {
        const r = record(framing.frame(ip), framing.linkType);
        const expected = slow(r);
        assert.notEqual(expected, null);
        assert.deepEqual(fast(r), expected);
      }
    });
  }
  await t.step("Linux cooked v1 and v2", () => {
    for (const name of ["founding_any_sll", "founding_any_sll2"]) {
      for (const r of fixtureRecords(name)) assert.deepEqual(fast(r), slow(r));
    }
  });
  await t.step("not TCP, a later fragment, a short record, an unknown link type", () => {
    const syn = ipv4Segment({ srcPort: 1, dstPort: 2, seq: 3, flags: 0x02 });
    const udp = syn.slice();
    udp[9] = 17;
    const fragment = syn.slice();
    fragment[7] = 8;
    for (
      const r of [record(udp, 101), record(fragment, 101), record(syn.subarray(0, 30), 101), record(syn, 147)]
    ) {
      assert.equal(slow(r), null);
      assert.equal(fast(r), null);
    }
  });
});

Deno.test("TcpHeaderFields agrees with decodeTcp on 5,000 random mutations (seed 7)", () => {
  let seed = 7;
  const random = () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 4294967296;
  };
  const sources = [
    ...fixtureRecords("founding_rst_unread"),
    ...fixtureRecords("ipv6_read_then_close"),
    ...fixtureRecords("founding_any_sll2"),
    ...fixtureRecords("founding_any_sll"),
  ];
  const shared = new TcpHeaderFields();
  for (let i = 0; i < 5000; i++) {
    const source = sources[Math.floor(random() * sources.length)]!;
    const data = source.data.slice(0, Math.max(0, Math.floor(random() * (source.data.length + 8))));
    const flips = 1 + Math.floor(random() * 4);
    for (let k = 0; k < flips && data.length > 0; k++) {
      data[Math.floor(random() * data.length)] = random() * 256;
    }
    const r = record(data, source.linkType, Math.floor(random() * 2000));
    assert.deepEqual(fast(r, shared), slow(r), `mutation ${i}`);
  }
});

Deno.test("parseAddress", async (t) => {
  const cases: Array<[string, string | null]> = [
    ["10.0.0.5", "10.0.0.5"],
    ["::1", "::1"],
    ["[fe80::1]", "fe80::1"],
    ["2001:db8::cb:0:cab5", "2001:db8::cb:0:cab5"],
    ["::ffff:10.0.0.5", "::ffff:10.0.0.5"],
    ["1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"],
    ["10.0.0.256", null],
    ["1:2:3:4:5:6:7:8:9", null],
    ["1::2::3", null],
    ["localhost", null],
    ["", null],
  ];
  for (const [text, expected] of cases) {
    await t.step(text || "(empty)", () => {
      const bytes = parseAddress(text);
      assert.equal(bytes === null ? null : formatAddress(bytes), expected);
    });
  }
});
