import assert from "node:assert/strict";
import { CaptureReader, readCapture } from "../../lab/analysis/capture_reader.ts";
import { type PcapngRecord, writePcapng } from "../../lab/analysis/pcapng_writer.ts";
import { recordedRunDir } from "../_fixtures.ts";

interface ReadBack {
  interface: string | null;
  linkType: number;
  timeNs: bigint;
  originalLength: number;
  data: number[];
  comments: string[];
}

/** Every record of a pcapng file as CaptureReader delivers it, fed in chunks of `chunk` bytes. */
function readBack(bytes: Uint8Array, chunk: number): { records: ReadBack[]; names: (string | null)[] } {
  const records: ReadBack[] = [];
  const reader = new CaptureReader("written.pcapng", {
    record(data, start, capturedLength, originalLength, linkType, seconds, nanos) {
      records.push({
        interface: reader.interfaceNames[reader.recordInterface] ?? null,
        linkType,
        timeNs: BigInt(seconds) * 1_000_000_000n + BigInt(nanos),
        originalLength,
        data: [...data.subarray(start, start + capturedLength)],
        comments: reader.recordComments(),
      });
    },
  });
  for (let i = 0; i < bytes.length; i += chunk) reader.push(bytes.subarray(i, i + chunk));
  reader.end();
  assert.equal(reader.format, "pcapng");
  return { records, names: reader.interfaceNames };
}

const INTERFACES = [
  { name: "client", linkType: 1 },
  { name: "server", linkType: 101 },
  { name: "events", linkType: 147 },
];

const RECORDS: PcapngRecord[] = [
  {
    interfaceId: 0,
    timeNs: 1_795_613_709_780_293_063n,
    data: new Uint8Array([1, 2, 3]),
    originalLength: 3,
    comments: [],
  },
  {
    interfaceId: 1,
    timeNs: 1_795_613_709_780_304_805n,
    data: new Uint8Array([4, 5, 6, 7, 8]),
    originalLength: 1500,
    comments: ["client: close() = 0 (fd 3, step 3)", "reason=TCP_ABORT_ON_CLOSE", "é → ü"],
  },
  {
    interfaceId: 2,
    timeNs: 1_795_613_709_790_000_000n,
    data: new Uint8Array(),
    originalLength: 0,
    comments: ["x"],
  },
  // Time 0; the others are above 2^32 ns: both halves of the 64-bit timestamp are written.
  { interfaceId: 0, timeNs: 0n, data: new Uint8Array([9]), originalLength: 1, comments: ["abcd"] },
];

Deno.test("writePcapng: CaptureReader reads back the same records, interface names and comments", async (t) => {
  const file = writePcapng(INTERFACES, RECORDS, "tcplab test");
  assert.equal(file.length % 4, 0, "blocks are padded to 32 bits");
  for (const chunk of [file.length, 7, 1]) {
    await t.step(`read in chunks of ${chunk} bytes`, () => {
      const { records, names } = readBack(file, chunk);
      assert.deepEqual(names, ["client", "server", "events"]);
      assert.deepEqual(
        records,
        RECORDS.map((r) => ({
          interface: INTERFACES[r.interfaceId]!.name,
          linkType: INTERFACES[r.interfaceId]!.linkType,
          timeNs: r.timeNs,
          originalLength: r.originalLength,
          data: [...r.data],
          comments: r.comments,
        })),
      );
    });
  }
});

Deno.test("writePcapng: a recorded run's capture written again reads back record for record", async () => {
  const bytes = await Deno.readFile(`${recordedRunDir("seed")}/client.pcap`);
  const original = [...readCapture(bytes, "client.pcap")];
  const file = writePcapng(
    [{ name: "client", linkType: original[0]!.linkType }],
    original.map((r) => ({
      interfaceId: 0,
      timeNs: r.timeNs,
      data: r.data,
      originalLength: r.originalLength,
      comments: [],
    })),
    "tcplab test",
  );
  const again = [...readCapture(file, "client.pcapng")];
  assert.equal(again.length, original.length);
  assert.deepEqual(
    again.map((r) => [r.timeNs, r.linkType, r.originalLength, [...r.data]]),
    original.map((r) => [r.timeNs, r.linkType, r.originalLength, [...r.data]]),
  );
});

Deno.test("writePcapng: a record that does not fit the file is a RangeError", async (t) => {
  const record = RECORDS[0]!;
  await t.step("an interface that is not there", () => {
    assert.throws(
      () => writePcapng(INTERFACES, [{ ...record, interfaceId: 3 }], "x"),
      (e) => e instanceof RangeError && /interface 3: the file has 3/.test(e.message),
    );
  });
  await t.step("shorter on the wire than captured", () => {
    assert.throws(
      () => writePcapng(INTERFACES, [{ ...record, originalLength: 2 }], "x"),
      (e) => e instanceof RangeError && /3 captured bytes but 2 on the wire/.test(e.message),
    );
  });
  await t.step("a comment longer than an option can be", () => {
    assert.throws(
      () => writePcapng(INTERFACES, [{ ...record, comments: ["x".repeat(70_000)] }], "x"),
      (e) => e instanceof RangeError && /option of 70000 bytes/.test(e.message),
    );
  });
});
