import assert from "node:assert/strict";
import {
  CaptureReader,
  MAX_RECORD_BYTES,
  PcapError,
  readCapture,
} from "../../lab/analysis/capture_reader.ts";
import { buildPcap, fixtureBytes, FIXTURES, TESTDATA } from "./_helpers.ts";

Deno.test("readCapture reads every fixture: nanosecond Ethernet/SLL records as views", async (t) => {
  for (const name of FIXTURES) {
    await t.step(name, () => {
      const bytes = fixtureBytes(name);
      const records = [...readCapture(bytes, name)];
      assert.ok(records.length > 0);
      let previous = 0n;
      records.forEach((record, i) => {
        assert.equal(record.index, i + 1);
        assert.equal(record.linkType, records[0]!.linkType);
        // A view into the file, not a copy.
        assert.equal(record.data.buffer, bytes.buffer);
        assert.equal(record.data.byteOffset, record.offset + 16);
        assert.ok(record.timeNs >= previous);
        previous = record.timeNs;
      });
    });
  }
});

Deno.test("readCapture: link types and the first record of the founding case", () => {
  const linkType = (name: string) => readCapture(fixtureBytes(name), "f").next().value?.linkType;
  assert.equal(linkType("founding_rst_unread"), 1);
  assert.equal(linkType("founding_any_sll"), 113);
  assert.equal(linkType("founding_any_sll2"), 276);
  const [first] = readCapture(fixtureBytes("founding_rst_unread"), "f");
  assert.ok(first);
  assert.equal(first.offset, 24);
  // tcpdump --time-stamp-precision=nano printed 13:10:23.183011627 for it.
  assert.equal(first.timeNs % 1_000_000_000n, 183011627n);
  assert.equal(first.originalLength, first.data.length);
});

Deno.test("readCapture: both magics in both byte orders", async (t) => {
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
      const [record] = [...readCapture(file, "x.pcap")];
      assert.equal(record?.timeNs, c.want);
      assert.equal(record?.originalLength, 60);
      assert.deepEqual([...record!.data], [0x45, 1, 2]);
    });
  }
});

Deno.test("readCapture: the link type is the low 16 bits (FCS bits ignored)", () => {
  const file = buildPcap(1, []);
  new DataView(file.buffer).setUint32(20, 0x10000000 | 1, true);
  const reader = new CaptureReader("x", { record() {} });
  reader.readAll(file);
  assert.deepEqual(reader.linkTypes, [1]);
  assert.deepEqual([...readCapture(file, "x")], []);
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

Deno.test("readCapture: bad input says where and what", async (t) => {
  const good = buildPcap(1, [
    { data: new Uint8Array(60) },
    { data: new Uint8Array(40) },
  ], { snapLength: 100 });
  const secondRecord = 24 + 16 + 60;

  await t.step("empty file", () => {
    assertPcapError(
      () => readCapture(new Uint8Array(), "x.pcap"),
      0,
      'Cannot read "x.pcap" at byte 0: the file is empty',
    );
  });
  await t.step("not a pcap file (text)", () => {
    assertPcapError(
      () => readCapture(new TextEncoder().encode("hello world, not a capture"), "notes.txt"),
      0,
      'Cannot read "notes.txt" at byte 0: not a capture file: the magic number is 68 65 6c 6c, ' +
        "expected a1b2c3d4 or a1b23c4d (pcap, in either byte order) or 0a0d0d0a (pcapng)",
    );
  });
  await t.step("shorter than a magic number", () => {
    assertPcapError(
      () => readCapture(new Uint8Array([0xd4, 0xc3]), "x.pcap"),
      0,
      'Cannot read "x.pcap" at byte 0: not a capture file: only 2 byte(s), too short for a magic number',
    );
  });
  await t.step("file header truncated", () => {
    assertPcapError(
      () => readCapture(good.subarray(0, 10), "x.pcap"),
      0,
      'Cannot read "x.pcap" at byte 0: file header truncated (10 of 24 bytes)',
    );
  });
  await t.step("record header truncated", () => {
    const records = readCapture(good.subarray(0, 24 + 8), "x.pcap");
    assertPcapError(
      () => records.next(),
      24,
      'Cannot read "x.pcap" at byte 24: record header truncated (8 of 16 bytes)',
    );
  });
  await t.step("record data truncated, after the good records", () => {
    const cut = good.subarray(0, secondRecord + 16 + 30);
    const records = readCapture(cut, "x.pcap");
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
    const records = readCapture(file, "x.pcap");
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
      () => [...readCapture(file, "x.pcap")],
      24,
      `Cannot read "x.pcap" at byte 24: record length ${
        MAX_RECORD_BYTES + 1
      } is absurd (more than 262144 bytes): the file is corrupt`,
    );
  });
  await t.step("a truncated fixture", () => {
    const bytes = fixtureBytes("founding_rst_unread");
    const cut = bytes.subarray(0, bytes.length - 5);
    const records = [...readCapture(bytes, "f")];
    const last = records[records.length - 1]!;
    assertPcapError(
      () => [...readCapture(cut, "founding_rst_unread.pcap")],
      last.offset,
      `Cannot read "founding_rst_unread.pcap" at byte ${last.offset}: ` +
        `record data truncated (${last.data.length - 5} of ${last.data.length} bytes)`,
    );
  });
});

Deno.test("readCapture: reads pcapng as it reads pcap", () => {
  const bytes = fixtureBytes("refused");
  assert.equal([...readCapture(bytes, "refused.pcap")].length, 2);
  const ng = Deno.readFileSync(new URL("refused.pcapng", TESTDATA));
  const fromNg = [...readCapture(ng, "refused.pcapng")];
  const fromPcap = [...readCapture(bytes, "refused.pcap")];
  assert.deepEqual(
    fromNg.map((r) => [r.index, r.timeNs, r.linkType, r.originalLength, [...r.data]]),
    fromPcap.map((r) => [r.index, r.timeNs, r.linkType, r.originalLength, [...r.data]]),
  );
  assert.throws(() => readCapture(new Uint8Array([1, 2, 3, 4]), "x"), PcapError);
  // A pcapng file whose second block is cut: the first record, then the error.
  const cut = ng.subarray(0, ng.length - 10);
  const records = readCapture(cut, "cut.pcapng");
  assert.equal(records.next().value?.index, 1);
  assert.throws(() => records.next(), /Cannot read "cut.pcapng" at byte \d+: block truncated/);
});
