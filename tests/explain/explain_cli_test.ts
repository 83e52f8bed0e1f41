/**
 * `deno task lab explain` as a user runs it, with the lab task's own
 * permissions: reports, JSON, filters, and one clear message with exit
 * code 2 for every kind of bad input. No Docker needed.
 */
import assert from "node:assert/strict";
import {
  buildPcapng,
  concat,
  ether,
  fixtureBytes,
  fixtureRecords,
  ipv4Segment,
} from "../analysis/_helpers.ts";

const ROOT = new URL("../..", import.meta.url).pathname;

async function explain(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command("deno", {
    args: ["task", "--quiet", "lab", "explain", ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const decoder = new TextDecoder();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

/** One message (and a hint at most), naming what went wrong; never a stack trace. */
function assertCleanError(stderr: string, pattern: RegExp): void {
  assert.match(stderr, pattern);
  assert.doesNotMatch(stderr, /\n\s+at |Stack backtrace|Uncaught|error: /, `no stack trace in: ${stderr}`);
  assert.ok(stderr.trim().split("\n").length <= 2, `at most two lines: ${stderr}`);
}

Deno.test("lab explain: a report, JSON, a file, filters", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "tcplab-explain-" });
  try {
    await t.step("the report on stdout", async () => {
      const { code, stdout, stderr } = await explain("tests/testdata/multi_interface.pcapng");
      assert.equal(code, 0, stderr);
      assert.match(stdout, /^# tcplab explain: `tests\/testdata\/multi_interface\.pcapng`/);
      assert.match(stdout, /\*\*2 of 3 connections ended abnormally\*\*/);
      assert.match(stdout, /```mermaid/);
    });
    await t.step("--json", async () => {
      const { code, stdout } = await explain("tests/testdata/port_reuse.pcap", "--json");
      assert.equal(code, 0);
      const x = JSON.parse(stdout);
      assert.equal(x.connections, 2);
      assert.deepEqual(x.rows.map((r: { state: string }) => r.state), ["RSTO", "SF"]);
    });
    await t.step("--zeek-boundaries", async () => {
      const states = async (...extra: string[]) => {
        const { code, stdout } = await explain("tests/testdata/syn_after_close.pcap", "--json", ...extra);
        assert.equal(code, 0);
        const x = JSON.parse(stdout);
        return [x.zeek.boundaries, x.rows.length, x.rows[0].zeekSplits.length];
      };
      assert.deepEqual(await states(), ["explain", 1, 3]);
      assert.deepEqual(await states("--zeek-boundaries"), ["zeek", 4, 0]);
    });
    await t.step("--out", async () => {
      const { code, stdout } = await explain("tests/testdata/refused.pcap", "--out", `${dir}/report.md`);
      assert.equal(code, 0);
      assert.equal(stdout.trim(), `report: ${dir}/report.md`);
      assert.match(
        await Deno.readTextFile(`${dir}/report.md`),
        /\| REJ \| connection attempt rejected \| 1 \|/,
      );
    });
    await t.step("--host, --port, --conn", async () => {
      const host = await explain(
        "tests/testdata/port_reuse.pcap",
        "--host",
        "127.0.0.1",
        "--port",
        "19008",
        "--json",
      );
      assert.equal(JSON.parse(host.stdout).connections, 2);
      const other = await explain("tests/testdata/port_reuse.pcap", "--port", "443");
      assert.match(other.stdout, /No TCP connection in the capture matches the filter/);
      const one = await explain("tests/testdata/port_reuse.pcap", "--conn", "1");
      assert.match(one.stdout, /## Connection 1: 127\.0\.0\.1:41008 → 127\.0\.0\.1:19008 \(SF\)/);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("lab explain: bad input gives one clear message naming the file and the byte offset, exit 2", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "tcplab-explain-" });
  const founding = fixtureBytes("founding_rst_unread");
  const last = fixtureRecords("founding_rst_unread").at(-1)!.offset;
  const snap = founding.slice();
  new DataView(snap.buffer).setUint32(16, 60, true); // the snapshot length: 60 bytes
  const frame = concat(ether(0x0800), ipv4Segment({ srcPort: 40000, dstPort: 80, seq: 1, flags: 0x02 }));
  const ng = buildPcapng([{ section: [{ linkType: 1 }] }, { iface: 0, ts: 1n, data: frame }, {
    iface: 0,
    ts: 2n,
    data: frame,
  }]);
  const second = 28 + 20 + 88;
  const disagree = ng.slice();
  new DataView(disagree.buffer).setUint32(ng.length - 4, 92, true);
  const files: Record<string, Uint8Array> = {
    "truncated.pcap": founding.subarray(0, founding.length - 7),
    "magic.pcap": new TextEncoder().encode("these are my notes, not a capture\n"),
    "snaplen.pcap": snap,
    "disagree.pcapng": disagree,
    "empty.pcap": new Uint8Array(),
    "header.pcap": founding.subarray(0, 20),
  };
  for (const [name, bytes] of Object.entries(files)) await Deno.writeFile(`${dir}/${name}`, bytes);
  const cases: Array<[string, string[], RegExp, RegExp | null]> = [
    [
      "a truncated file: the report of what was read, then the message",
      [`${dir}/truncated.pcap`],
      new RegExp(
        `Cannot read ".*truncated\\.pcap" at byte ${last}: record data truncated \\(\\d+ of \\d+ bytes\\); the report covers what was read before it`,
      ),
      /> \*\*Cut short:\*\* the capture could not be read past byte \d+.*the rest of the capture is missing/,
    ],
    [
      "a wrong magic number",
      [`${dir}/magic.pcap`],
      /magic\.pcap" at byte 0: not a capture file: the magic number is 74 68 65 73/,
      null,
    ],
    [
      "a record larger than the snapshot length",
      [`${dir}/snaplen.pcap`],
      /snaplen\.pcap" at byte 24: record length 74 is larger than the snapshot length 60/,
      /Read 0 records/,
    ],
    [
      "a pcapng block whose lengths disagree",
      [`${dir}/disagree.pcapng`],
      new RegExp(
        `disagree\\.pcapng" at byte ${second}: pcapng block lengths disagree: 88 at the start, 92 at the end`,
      ),
      /Read 1 record /,
    ],
    ["a zero-length file", [`${dir}/empty.pcap`], /empty\.pcap" at byte 0: the file is empty/, null],
    [
      "a truncated file header",
      [`${dir}/header.pcap`],
      /header\.pcap" at byte 0: file header truncated \(20 of 24 bytes\)/,
      null,
    ],
    ["a directory", [dir], /Cannot read ".*" at byte 0: it is a directory, not a capture file/, null],
    ["a missing file", [`${dir}/nope.pcap`], /nope\.pcap": no such file/, null],
    ["a bad port", ["tests/testdata/refused.pcap", "--port", "http"], /--port takes a whole number/, null],
    [
      "a bad checksum mode",
      ["tests/testdata/refused.pcap", "--checksums", "strict"],
      /--checksums takes "verify" or "ignore", got "strict"/,
      null,
    ],
    [
      "a bad host",
      ["tests/testdata/refused.pcap", "--host", "example.com"],
      /Cannot filter by host "example\.com"/,
      null,
    ],
    [
      "two files",
      ["tests/testdata/refused.pcap", "tests/testdata/refused.pcapng"],
      /takes one file, got 2/,
      null,
    ],
  ];
  try {
    for (const [name, args, message, report] of cases) {
      await t.step(name, async () => {
        const { code, stdout, stderr } = await explain(...args);
        assert.equal(code, 2, `exit code; stderr: ${stderr}`);
        assertCleanError(stderr, message);
        if (report) assert.match(stdout.replace(/\n/g, " "), report);
        else assert.equal(stdout, "");
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("lab explain: a pcapng fixture reads as its pcap", async () => {
  const [ng, pcap] = await Promise.all([
    explain("tests/testdata/refused.pcapng", "--json"),
    explain("tests/testdata/refused.pcap", "--json"),
  ]);
  const a = JSON.parse(ng.stdout), b = JSON.parse(pcap.stdout);
  assert.equal(a.format, "pcapng");
  assert.deepEqual(a.rows, b.rows);
  assert.deepEqual(a.byCause, { refused: 1 });
});
