/**
 * Thousands of random mutations and truncations of the test captures,
 * with a fixed seed so that a failure repeats: explaining them may fail
 * only with a PcapError (a message naming the file and the byte offset),
 * never crash, and never hang; the report and the JSON render for every
 * capture that could be read.
 */
import assert from "node:assert/strict";
import { PcapError } from "../../lab/analysis/capture_reader.ts";
import { CaptureExplainer, explainCapture } from "../../lab/explain/explain_capture.ts";
import { renderCaptureReport } from "../../lab/report/capture_report.ts";
import { fixtureBytes, FIXTURES, TESTDATA } from "../analysis/_helpers.ts";

const SEED = 20251125;
const CASES = 4000;

/** A seeded PRNG (mulberry32), so that every run sees the same mutations. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function mutate(source: Uint8Array, random: () => number): { bytes: Uint8Array; how: string } {
  const int = (n: number) => Math.floor(random() * n);
  const kind = int(6);
  const bytes = source.slice();
  switch (kind) {
    case 0: {
      const at = int(bytes.length + 1);
      return { bytes: bytes.subarray(0, at), how: `truncated to ${at}` };
    }
    case 1: {
      const n = 1 + int(8);
      for (let i = 0; i < n; i++) bytes[int(bytes.length)] = int(256);
      return { bytes, how: `${n} random bytes` };
    }
    case 2: {
      // A 32-bit field set to a hostile value (a length, most likely).
      const at = int(Math.max(1, bytes.length - 4)) & ~3;
      const values = [0, 1, 0xffffffff, 0x7fffffff, 12, 13, 16, 65536, int(2 ** 32)];
      new DataView(bytes.buffer).setUint32(at, values[int(values.length)]!, random() < 0.5);
      return { bytes, how: `word at ${at}` };
    }
    case 3: {
      // A slice of the file repeated, or moved.
      const from = int(bytes.length), to = Math.min(bytes.length, from + int(200));
      const at = int(bytes.length);
      const out = new Uint8Array(bytes.length + (to - from));
      out.set(bytes.subarray(0, at));
      out.set(bytes.subarray(from, to), at);
      out.set(bytes.subarray(at), at + (to - from));
      return { bytes: out, how: `spliced ${from}-${to} at ${at}` };
    }
    case 4: {
      const n = int(64);
      const out = new Uint8Array(bytes.length + n);
      const at = int(bytes.length);
      out.set(bytes.subarray(0, at));
      for (let i = 0; i < n; i++) out[at + i] = int(256);
      out.set(bytes.subarray(at), at + n);
      return { bytes: out, how: `${n} bytes inserted at ${at}` };
    }
    default: {
      const end = int(bytes.length + 1);
      const n = 1 + int(4);
      for (let i = 0; i < n; i++) {
        const at = int(bytes.length);
        bytes[at] = bytes[at]! ^ (1 << int(8));
      }
      return { bytes: bytes.subarray(0, end), how: `bits flipped, truncated to ${end}` };
    }
  }
}

Deno.test(`fuzz: ${CASES} mutations of the test captures (seed ${SEED})`, () => {
  const random = prng(SEED);
  const sources = [
    ...FIXTURES.map((name) => fixtureBytes(name)),
    Deno.readFileSync(new URL("refused.pcapng", TESTDATA)),
    Deno.readFileSync(new URL("multi_interface.pcapng", TESTDATA)),
  ];
  let explained = 0, rejected = 0, cutShort = 0;
  for (let i = 0; i < CASES; i++) {
    const source = sources[Math.floor(random() * sources.length)]!;
    const { bytes, how } = mutate(source, random);
    try {
      // Every fourth case goes through the streaming reader in small chunks.
      let x;
      if (i % 4 === 0) {
        const explainer = new CaptureExplainer(`fuzz-${i}.pcap`);
        let problem: PcapError | null = null;
        try {
          const size = 1 + Math.floor(random() * 300);
          for (let at = 0; at < bytes.length; at += size) {
            explainer.reader.push(bytes.subarray(at, at + size));
          }
          explainer.reader.end();
        } catch (error) {
          if (!(error instanceof PcapError) || explainer.reader.format === null) throw error;
          problem = error;
        }
        x = explainer.finish((offset, length) => bytes.subarray(offset, offset + length), problem);
      } else {
        x = explainCapture(bytes, `fuzz-${i}.pcap`);
      }
      renderCaptureReport(x);
      JSON.stringify(x);
      explained++;
      if (x.cutShort) cutShort++;
    } catch (error) {
      if (!(error instanceof PcapError)) {
        throw new Error(`case ${i} (${how}): ${error instanceof Error ? error.stack : error}`);
      }
      assert.match(error.message, /^Cannot read "fuzz-\d+\.pcap" at byte \d+: \S/, `case ${i} (${how})`);
      rejected++;
    }
  }
  // The mutations reach both outcomes, and captures cut short in the middle.
  assert.ok(
    explained > CASES / 4 && rejected > CASES / 100 && cutShort > CASES / 20,
    `${explained} ${rejected} ${cutShort}`,
  );
});
