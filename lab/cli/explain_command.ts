/**
 * `deno task lab explain FILE`: explain the teardowns in a user's own
 * capture, from the packets alone (no containers), streaming the file in
 * constant memory.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { PcapError } from "../analysis/capture_reader.ts";
import { CaptureExplainer, type ExplainOptions } from "../explain/explain_capture.ts";
import { renderCaptureReport } from "../report/capture_report.ts";
import { UsageError } from "../errors.ts";
import { EXIT } from "./exit.ts";

const USAGE =
  "run: deno task lab explain capture.pcap [--out report.md] [--json] [--host ADDRESS] [--port N] [--conn N] [--checksums verify|ignore] [--zeek-boundaries]";

/** Read a pcap or pcapng file, explain its connections, print or write the report. */
export async function explainCommand(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        out: { type: "string" },
        json: { type: "boolean", default: false },
        host: { type: "string" },
        port: { type: "string" },
        conn: { type: "string" },
        checksums: { type: "string" },
        "zeek-boundaries": { type: "boolean", default: false },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message, 'see "deno task lab explain --help"', { cause: error });
  }
  const [file, ...extra] = parsed.positionals;
  if (!file || extra.length > 0) {
    throw new UsageError(
      file ? `"explain" takes one file, got ${parsed.positionals.length}` : '"explain" needs a capture file',
      USAGE,
    );
  }
  const options: ExplainOptions = {};
  const v = parsed.values;
  if (v.host !== undefined) options.host = v.host;
  if (v.port !== undefined) options.port = _integer("--port", v.port, 0, 65535);
  if (v.conn !== undefined) options.conn = _integer("--conn", v.conn, 1, Number.MAX_SAFE_INTEGER);
  if (v.checksums !== undefined) {
    if (v.checksums !== "verify" && v.checksums !== "ignore") {
      throw new UsageError(`--checksums takes "verify" or "ignore", got "${v.checksums}"`, USAGE);
    }
    options.checksums = v.checksums;
  }
  if (v["zeek-boundaries"]) options.zeekBoundaries = true;

  let explainer: CaptureExplainer;
  try {
    explainer = new CaptureExplainer(file, options);
  } catch (error) {
    throw new UsageError(
      (error as Error).message,
      "give --host an IPv4 or IPv6 address, e.g. 10.0.0.5 or fe80::1",
      { cause: error },
    );
  }
  const handle = await _open(file);
  let problem: PcapError | null = null;
  try {
    try {
      _stream(handle, explainer);
    } catch (error) {
      if (error instanceof PcapError && explainer.reader.format !== null) problem = error;
      else throw _readError(error, file, explainer.reader.bytesParsed);
    }
    const explained = explainer.finish((offset, length) => _pread(handle, offset, length), problem);
    const text = v.json ? JSON.stringify(explained, null, 2) + "\n" : renderCaptureReport(explained);
    if (v.out) {
      await _writeReport(v.out, text);
      console.log(`report: ${v.out}`);
    } else {
      await _writeStdout(text);
    }
  } finally {
    handle.close();
  }
  if (problem) {
    // The report says what was read; the exit code says the file is damaged.
    throw new PcapError(
      file,
      problem.offset,
      `${
        problem.message.replace(/^Cannot read ".*" at byte \d+: /, "")
      }; the report covers what was read before it`,
    );
  }
  return EXIT.ok;
}

function _integer(name: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min || n > max) {
    throw new UsageError(`${name} takes a whole number from ${min} to ${max}, got "${text}"`, USAGE);
  }
  return n;
}

async function _open(file: string): Promise<Deno.FsFile> {
  try {
    const info = await Deno.stat(file);
    if (info.isDirectory) {
      throw new UsageError(`Cannot read "${file}" at byte 0: it is a directory, not a capture file`, USAGE);
    }
    return await Deno.open(file, { read: true });
  } catch (error) {
    if (error instanceof UsageError) throw error;
    if (error instanceof Deno.errors.NotFound) {
      throw new UsageError(`Cannot read "${file}": no such file`, "check the path");
    }
    if (error instanceof Deno.errors.PermissionDenied || error instanceof Deno.errors.NotCapable) {
      throw new UsageError(`Cannot read "${file}": permission denied`, "check the file's permissions");
    }
    throw error;
  }
}

/**
 * Read the whole file through the explainer: straight into the reader's
 * buffer, 256 KiB at a time (synchronous reads of that size are the
 * fastest Deno offers here; the work is CPU-bound anyway).
 */
function _stream(handle: Deno.FsFile, explainer: CaptureExplainer): void {
  const reader = explainer.reader;
  while (true) {
    const n = handle.readSync(reader.space());
    if (n === null) break;
    if (n > 0) reader.commit(n);
  }
  reader.end();
}

function _readError(error: unknown, file: string, offset: number): Error {
  if (error instanceof PcapError || error instanceof UsageError) return error;
  if (error instanceof Deno.errors.IsADirectory) {
    return new UsageError(`Cannot read "${file}" at byte 0: it is a directory, not a capture file`, USAGE);
  }
  if (error instanceof Error && error.name !== "Error" && !(error instanceof TypeError)) {
    return new UsageError(
      `Cannot read "${file}" at byte ${offset}: ${error.message}`,
      "check the file and the disk",
    );
  }
  return error as Error;
}

/** Read `length` bytes at `offset` again (for the few packets a report shows). */
function _pread(handle: Deno.FsFile, offset: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  handle.seekSync(offset, Deno.SeekMode.Start);
  let at = 0;
  while (at < length) {
    const n = handle.readSync(out.subarray(at));
    if (n === null || n === 0) break;
    at += n;
  }
  return out.subarray(0, at);
}

async function _writeReport(path: string, text: string): Promise<void> {
  try {
    await Deno.writeTextFile(path, text);
  } catch (error) {
    if (error instanceof Deno.errors.PermissionDenied || error instanceof Deno.errors.NotCapable) {
      throw new UsageError(
        `Cannot write the report to "${path}": permission denied`,
        "give --out a path in this folder or in /tmp (where `deno task lab` may write)",
      );
    }
    if (error instanceof Deno.errors.NotFound) {
      throw new UsageError(`Cannot write the report to "${path}": no such folder`, "create the folder first");
    }
    throw error;
  }
}

async function _writeStdout(text: string): Promise<void> {
  const bytes = new TextEncoder().encode(text);
  let at = 0;
  while (at < bytes.length) at += await Deno.stdout.write(bytes.subarray(at));
}
