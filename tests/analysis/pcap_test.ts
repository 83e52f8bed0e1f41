import assert from "node:assert/strict";
import {
  detectCaptureFormat,
  MAX_RECORD_BYTES,
  PcapError,
  readCapture,
  readPcap,
  readPcapHeader,
} from "../../lab/analysis/pcap.ts";
import { buildPcap, fixtureBytes, FIXTURES, TESTDATA } from "./_helpers.ts";

Deno.test("readPcap reads every fixture: nanosecond Ethernet/SLL records as views", async (t) => {
  for (const name of FIXTURES) {
    await t.step(name, () => {
      const bytes = fixtureBytes(name);
      const header = readPcapHeader(bytes, name);
      assert.equal(header.nanosecond, true);
      assert.equal(header.littleEndian, true);
      const records = [...readPcap(bytes, name)];
      assert.ok(records.length > 0);
      let previous = 0n;
      records.forEach((record, i) => {
        assert.equal(record.index, i + 1);
        assert.equal(record.linkType, header.linkType);
        // A view into the file, not a copy.
        assert.equal(record.data.buffer, bytes.buffer);
        assert.equal(record.data.byteOffset, record.offset + 16);
        assert.ok(record.timeNs >= previous);
        previous = record.timeNs;
      });
    });
  }
});

Deno.test("readPcap: link types and the first record of the founding case", () => {
  assert.equal(readPcapHeader(fixtureBytes("founding_rst_unread"), "f").linkType, 1);
  assert.equal(readPcapHeader(fixtureBytes("founding_any_sll"), "f").linkType, 113);
  assert.equal(readPcapHeader(fixtureBytes("founding_any_sll2"), "f").linkType, 276);
  const [first] = readPcap(fixtureBytes("founding_rst_unread"), "f");
  assert.ok(first);
  assert.equal(first.offset, 24);
  // tcpdump --time-stamp-precision=nano printed 13:10:23.183011627 for it.
  assert.equal(first.timeNs % 1_000_000_000n, 183011627n);
  assert.equal(first.originalLength, first.data.length);
});

Deno.test("readPcap: both magics in both byte orders", async (t) => {
  const data = new Uint8Array([0x45, 1, 2]);
  const cases = [
    { name: "microseconds, little-endian", nanosecond: false, littleEndian: true, want: 7_000_005_000n },
    { name: "microseconds, big-endian", nanosecond: false, littleEndian: false, want: 7_000_005_000n },
    { name: "nanoseconds, little-endian", nanosecond: true, littleEndian: true, want: 7_000_000_005n },
    { name: "nanoseconds, big-endian", nanosecond: true, littleEndian: false, want: 7_000_000_005n },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const file = buildPcap(101, [{ seconds: 7, subsecond: 5, data, originalLength: 60 }], c);
      const header = readPcapHeader(file, "x.pcap");
      assert.equal(header.littleEndian, c.littleEndian);
      assert.equal(header.nanosecond, c.nanosecond);
      assert.equal(header.linkType, 101);
      assert.equal(header.snapLength, 262144);
      const [record] = [...readPcap(file, "x.pcap")];
      assert.equal(record?.timeNs, c.want);
      assert.equal(record?.originalLength, 60);
      assert.deepEqual([...record!.data], [0x45, 1, 2]);
    });
  }
});

Deno.test("readPcap: the link type is the low 16 bits (FCS bits ignored)", () => {
  const file = buildPcap(1, []);
  new DataView(file.buffer).setUint32(20, 0x10000000 | 1, true);
  assert.equal(readPcapHeader(file, "x").linkType, 1);
  assert.deepEqual([...readPcap(file, "x")], []);
});

function assertPcapError(fn: () => unknown, offset: number, message: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof PcapError, `not a PcapError: ${e}`);
    assert.ok(e instanceof SyntaxError);
    assert.equal(e.name, "PcapError");
    assert.equal(e.offset, offset);
    assert.equal(e.message, message);
    return true;
  });
}

Deno.test("readPcap: bad input says where and what", async (t) => {
  const good = buildPcap(1, [
    { data: new Uint8Array(60) },
    { data: new Uint8Array(40) },
  ], { snapLength: 100 });
  const secondRecord = 24 + 16 + 60;

  await t.step("empty file", () => {
    assertPcapError(
      () => readPcap(new Uint8Array(), "x.pcap"),
      0,
      'Cannot read "x.pcap" at byte 0: the file is empty',
    );
  });
  await t.step("not a pcap file (text)", () => {
    assertPcapError(
      () => readPcap(new TextEncoder().encode("hello world, not a capture"), "notes.txt"),
      0,
      'Cannot read "notes.txt" at byte 0: not a pcap file: the magic number is 68 65 6c 6c, ' +
        "expected a1b2c3d4 or a1b23c4d in either byte order",
    );
  });
  await t.step("shorter than a magic number", () => {
    assertPcapError(
      () => readPcap(new Uint8Array([0xd4, 0xc3]), "x.pcap"),
      0,
      'Cannot read "x.pcap" at byte 0: not a pcap file: only 2 byte(s), too short for a magic number',
    );
  });
  await t.step("file header truncated", () => {
    assertPcapError(
      () => readPcap(good.subarray(0, 10), "x.pcap"),
      0,
      'Cannot read "x.pcap" at byte 0: file header truncated (10 of 24 bytes)',
    );
  });
  await t.step("record header truncated", () => {
    const records = readPcap(good.subarray(0, 24 + 8), "x.pcap");
    assertPcapError(
      () => records.next(),
      24,
      'Cannot read "x.pcap" at byte 24: record header truncated (8 of 16 bytes)',
    );
  });
  await t.step("record data truncated, after the good records", () => {
    const cut = good.subarray(0, secondRecord + 16 + 30);
    const records = readPcap(cut, "x.pcap");
    assert.equal(records.next().value?.index, 1);
    assertPcapError(
      () => records.next(),
      secondRecord,
      `Cannot read "x.pcap" at byte ${secondRecord}: record data truncated (30 of 40 bytes)`,
    );
  });
  await t.step("record length larger than the snapshot length", () => {
    const file = good.slice();
    new DataView(file.buffer).setUint32(secondRecord + 8, 101, true);
    const records = readPcap(file, "x.pcap");
    records.next();
    assertPcapError(
      () => records.next(),
      secondRecord,
      `Cannot read "x.pcap" at byte ${secondRecord}: record length 101 is larger than the snapshot length 100`,
    );
  });
  await t.step("absurd record length", () => {
    const file = buildPcap(1, [{ data: new Uint8Array(4) }], { snapLength: 0 });
    new DataView(file.buffer).setUint32(24 + 8, MAX_RECORD_BYTES + 1, true);
    assertPcapError(
      () => [...readPcap(file, "x.pcap")],
      24,
      `Cannot read "x.pcap" at byte 24: record length ${
        MAX_RECORD_BYTES + 1
      } is absurd (more than 262144 bytes): the file is corrupt`,
    );
  });
  await t.step("a truncated fixture", () => {
    const bytes = fixtureBytes("founding_rst_unread");
    const cut = bytes.subarray(0, bytes.length - 5);
    const records = [...readPcap(bytes, "f")];
    const last = records[records.length - 1]!;
    assertPcapError(
      () => [...readPcap(cut, "founding_rst_unread.pcap")],
      last.offset,
      `Cannot read "founding_rst_unread.pcap" at byte ${last.offset}: ` +
        `record data truncated (${last.data.length - 5} of ${last.data.length} bytes)`,
    );
  });
});

Deno.test("readCapture: dispatches on the magic, and reads pcapng", () => {
  const bytes = fixtureBytes("refused");
  assert.equal(detectCaptureFormat(bytes), "pcap");
  assert.equal([...readCapture(bytes, "refused.pcap")].length, 2);
  const ng = Deno.readFileSync(new URL("refused.pcapng", TESTDATA));
  assert.equal(detectCaptureFormat(ng), "pcapng");
  const fromNg = [...readCapture(ng, "refused.pcapng")];
  const fromPcap = [...readCapture(bytes, "refused.pcap")];
  assert.deepEqual(
    fromNg.map((r) => [r.index, r.timeNs, r.linkType, r.originalLength, [...r.data]]),
    fromPcap.map((r) => [r.index, r.timeNs, r.linkType, r.originalLength, [...r.data]]),
  );
  assert.throws(() => readPcap(ng, "a.pcapng"), /it is pcapng; use readCapture/);
  assert.throws(() => readCapture(new Uint8Array([1, 2, 3, 4]), "x"), PcapError);
  // A pcapng file whose second block is cut: the first record, then the error.
  const cut = ng.subarray(0, ng.length - 10);
  const records = readCapture(cut, "cut.pcapng");
  assert.equal(records.next().value?.index, 1);
  assert.throws(() => records.next(), /Cannot read "cut.pcapng" at byte \d+: block truncated/);
});
