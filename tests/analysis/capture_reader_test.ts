import assert from "node:assert/strict";
import {
  CaptureReader,
  PcapError,
  READ_CHUNK_BYTES,
  readCapture,
} from "../../lab/analysis/capture_reader.ts";
import {
  buildPcap,
  buildPcapng,
  ether,
  fixtureBytes,
  fixtureRecords,
  FIXTURES,
  ipv4Segment,
  TESTDATA,
} from "./_helpers.ts";

interface Seen {
  linkType: number;
  timeNs: bigint;
  capturedLength: number;
  originalLength: number;
  recordOffset: number;
  dataOffset: number;
  bytes: number[];
}

/** Every record of `bytes`, fed whole (no copy) or in chunks of `chunk` bytes. */
function read(bytes: Uint8Array, name: string, chunk = 0): { seen: Seen[]; reader: CaptureReader } {
  const seen: Seen[] = [];
  const reader = new CaptureReader(name, {
    record(data, start, capturedLength, originalLength, linkType, seconds, nanos, recordOffset, dataOffset) {
      seen.push({
        linkType,
        timeNs: BigInt(seconds) * 1_000_000_000n + BigInt(nanos),
        capturedLength,
        originalLength,
        recordOffset,
        dataOffset,
        bytes: [...data.subarray(start, start + capturedLength)],
      });
    },
  });
  if (chunk === 0) reader.readAll(bytes);
  else {
    for (let i = 0; i < bytes.length; i += chunk) reader.push(bytes.subarray(i, i + chunk));
    reader.end();
  }
  return { seen, reader };
}

function assertPcapError(fn: () => unknown, offset: number, message: RegExp): void {
  assert.throws(fn, (e) => {
    assert.ok(e instanceof PcapError, `a PcapError, got ${e}`);
    assert.equal(e.offset, offset, e.message);
    assert.match(e.message, message);
    return true;
  });
}

Deno.test("CaptureReader: every fixture, whole or in chunks, as readCapture reads it", async (t) => {
  for (const name of FIXTURES) {
    await t.step(name, () => {
      const bytes = fixtureBytes(name);
      const expected = fixtureRecords(name).map((r) => ({
        linkType: r.linkType,
        timeNs: r.timeNs,
        capturedLength: r.data.length,
        originalLength: r.originalLength,
        recordOffset: r.offset,
        dataOffset: r.offset + 16,
        bytes: [...r.data],
      }));
      for (const chunk of [0, 1, 7, 100, 4096]) {
        const { seen, reader } = read(bytes, `${name}.pcap`, chunk);
        assert.deepEqual(seen, expected, `chunks of ${chunk}`);
        assert.equal(reader.format, "pcap");
        assert.equal(reader.records, expected.length);
        assert.equal(reader.bytesParsed, bytes.length);
      }
    });
  }
});

Deno.test("CaptureReader: pcapng written by Wireshark's tools", async (t) => {
  await t.step("editcap's conversion of a pcap gives the same records", () => {
    const ng = Deno.readFileSync(new URL("refused.pcapng", TESTDATA));
    const { seen, reader } = read(ng, "refused.pcapng", 3);
    const pcap = fixtureRecords("refused");
    assert.equal(reader.format, "pcapng");
    assert.equal(reader.sections, 1);
    assert.deepEqual(
      seen.map((s) => [s.timeNs, s.linkType, s.bytes]),
      pcap.map((r) => [r.timeNs, r.linkType, [...r.data]]),
    );
  });
  await t.step("mergecap's three captures: three interfaces, two link types, in time order", () => {
    const ng = Deno.readFileSync(new URL("multi_interface.pcapng", TESTDATA));
    const { seen, reader } = read(ng, "multi_interface.pcapng");
    assert.deepEqual(reader.linkTypes, [1, 276]);
    const sources = ["founding_rst_unread", "ipv6_read_then_close", "founding_any_sll2"].flatMap((f) =>
      fixtureRecords(f)
    );
    const key = (time: bigint, link: number, bytes: number[]) => `${time} ${link} ${bytes.join(",")}`;
    assert.deepEqual(
      seen.map((s) => key(s.timeNs, s.linkType, s.bytes)),
      sources.map((r) => key(r.timeNs, r.linkType, [...r.data])).sort((a, b) =>
        BigInt(a.split(" ")[0]!) < BigInt(b.split(" ")[0]!) ? -1 : 1
      ),
    );
  });
});

const frame = ipv4Segment({ srcPort: 40000, dstPort: 80, seq: 1, flags: 0x02 });
const ethernetFrame = new Uint8Array([...ether(0x0800), ...frame]);

Deno.test("CaptureReader: pcapng sections, interfaces, resolutions, block kinds", async (t) => {
  const blocks = [
    {
      section: [{ linkType: 1 }, { linkType: 101, tsresol: 9 }, {
        linkType: 101,
        tsresol: 0x80 | 20,
        tsoffset: 100,
      }],
    },
    { iface: 0, ts: 1_700_000_000_123_456n, data: ethernetFrame },
    { iface: 1, ts: 1_700_000_000_123_456_789n, data: frame },
    { iface: 2, ts: (5n << 20n) + (1n << 19n), data: frame }, // 5.5 s in units of 2^-20 s, plus 100 s
    { other: 4, bodyLength: 40 }, // a name resolution block: skipped
    { simple: ethernetFrame }, // interface 0, no time: the previous packet's
    { obsolete: 1, ts: 2_000_000_000_000_000_001n, data: frame },
    // A new section: its own interfaces.
    { section: [{ linkType: 101, tsresol: 3 }] },
    { iface: 0, ts: 1_700_000_000_999n, data: frame, originalLength: 1000 },
  ];
  const expected = [
    [1, 1_700_000_000_123_456_000n],
    [101, 1_700_000_000_123_456_789n],
    [101, 105_500_000_000n],
    [1, 105_500_000_000n],
    [101, 2_000_000_000_000_000_001n],
    [101, 1_700_000_000_999_000_000n],
  ];
  for (const littleEndian of [true, false]) {
    await t.step(littleEndian ? "little-endian" : "big-endian", () => {
      const bytes = buildPcapng(blocks, { littleEndian });
      for (const chunk of [0, 5, 64]) {
        const { seen, reader } = read(bytes, "x.pcapng", chunk);
        assert.deepEqual(seen.map((s) => [s.linkType, s.timeNs]), expected, `chunks of ${chunk}`);
        assert.equal(reader.sections, 2);
        assert.equal(seen[5]?.originalLength, 1000);
        assert.deepEqual(seen[0]?.bytes, [...ethernetFrame]);
        assert.deepEqual(seen[3]?.bytes, [...ethernetFrame]);
        assert.equal(bytes[seen[1]!.dataOffset], 0x45, "dataOffset points at the packet in the file");
      }
    });
  }
  await t.step("a block larger than the read buffer", () => {
    const big = READ_CHUNK_BYTES * 3 + 8;
    const bytes = buildPcapng([
      { section: [{ linkType: 1 }] },
      { other: 0x0bad, bodyLength: big },
      { iface: 0, ts: 1n, data: ethernetFrame },
    ]);
    assert.equal(read(bytes, "big.pcapng", 65536).seen.length, 1);
  });
});

Deno.test("CaptureReader: bad input says where and what, after the good records", async (t) => {
  const good = buildPcap(1, [{ data: new Uint8Array(60) }, { data: new Uint8Array(40) }], {
    snapLength: 100,
  });
  const second = 24 + 16 + 60;
  const ng = buildPcapng([
    { section: [{ linkType: 1 }] },
    { iface: 0, ts: 1n, data: ethernetFrame },
    { iface: 0, ts: 2n, data: ethernetFrame },
  ]);
  const ngSecond = 28 + 20 + (12 + 20 + ((ethernetFrame.length + 3) & ~3));
  const patched = (bytes: Uint8Array, at: number, value: number, le = true) => {
    const copy = bytes.slice();
    new DataView(copy.buffer).setUint32(at, value, le);
    return copy;
  };
  const cases: Array<[string, Uint8Array, number, RegExp, number]> = [
    ["an empty file", new Uint8Array(), 0, /the file is empty/, 0],
    [
      "text, not a capture",
      new TextEncoder().encode("GET / HTTP/1.1\r\n"),
      0,
      /not a capture file: the magic number is 47 45 54 20, expected a1b2c3d4 or a1b23c4d \(pcap, in either byte order\) or 0a0d0d0a \(pcapng\)/,
      0,
    ],
    ["two bytes", new Uint8Array([0xd4, 0xc3]), 0, /too short for a magic number/, 0],
    ["a truncated file header", good.subarray(0, 20), 0, /file header truncated \(20 of 24 bytes\)/, 0],
    [
      "a truncated record header",
      good.subarray(0, 24 + 8),
      24,
      /record header truncated \(8 of 16 bytes\)/,
      0,
    ],
    [
      "truncated record data",
      good.subarray(0, second + 16 + 30),
      second,
      /record data truncated \(30 of 40/,
      1,
    ],
    [
      "a record longer than the snapshot length",
      patched(good, second + 8, 101),
      second,
      /record length 101 is larger than the snapshot length 100/,
      1,
    ],
    ["an absurd record length", patched(good, 24 + 8, 0x7fffffff), 24, /is absurd/, 0],
    [
      "pcapng: a block whose lengths disagree",
      patched(ng, ngSecond + new DataView(ng.buffer).getUint32(ngSecond + 4, true) - 4, 99),
      ngSecond,
      /pcapng block lengths disagree: \d+ at the start, 99 at the end/,
      1,
    ],
    [
      "pcapng: a captured length larger than its block",
      patched(ng, ngSecond + 20, 4000),
      ngSecond,
      /lengths disagree: captured length 4000 does not fit/,
      1,
    ],
    [
      "pcapng: a block length not a multiple of 4",
      patched(ng, ngSecond + 4, 13),
      ngSecond,
      /block length 13 is invalid/,
      1,
    ],
    [
      "pcapng: an absurd block length",
      patched(ng, ngSecond + 4, 0x7ffffff0),
      ngSecond,
      /block length \d+ is absurd/,
      1,
    ],
    [
      "pcapng: an unknown interface",
      patched(ng, ngSecond + 8, 3),
      ngSecond,
      /interface 3, but the section describes only 1/,
      1,
    ],
    ["pcapng: a bad byte-order magic", patched(ng, 8, 0x12345678), 8, /byte-order magic is/, 0],
    ["pcapng: a truncated block", ng.subarray(0, ng.length - 3), ngSecond, /block truncated/, 1],
  ];
  for (const [name, bytes, offset, message, before] of cases) {
    await t.step(name, () => {
      for (const chunk of [0, 1, 16]) {
        let delivered = 0;
        const reader = new CaptureReader("bad.cap", { record: () => void delivered++ });
        assertPcapError(
          () => {
            if (chunk === 0) reader.readAll(bytes);
            else {
              for (let i = 0; i < bytes.length; i += chunk) reader.push(bytes.subarray(i, i + chunk));
              reader.end();
            }
          },
          offset,
          message,
        );
        assert.equal(delivered, before, `records before the error, chunks of ${chunk}`);
      }
    });
  }
  await t.step("the message names the file and the offset", () => {
    assert.throws(
      () => new CaptureReader("my capture.pcap", { record() {} }).readAll(good.subarray(0, 30)),
      { message: 'Cannot read "my capture.pcap" at byte 24: record header truncated (6 of 16 bytes)' },
    );
  });
  await t.step("readCapture agrees on a truncated fixture", () => {
    const bytes = fixtureBytes("founding_rst_unread");
    const cut = bytes.subarray(0, bytes.length - 5);
    let message = "";
    try {
      [...readCapture(cut, "f.pcap")];
    } catch (e) {
      message = (e as Error).message;
    }
    assert.throws(() => read(cut, "f.pcap", 9), { message });
  });
});
