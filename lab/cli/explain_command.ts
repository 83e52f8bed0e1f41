/**
 * `deno task lab explain FILE`: explain the teardowns in a user's own
 * capture, from the packets alone (no containers).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { explainCapture } from "../explain/explain_capture.ts";
import { renderCaptureReport } from "../report/capture_report.ts";
import { EXIT, UsageError } from "./exit.ts";

/** Read a pcap, explain its connections, print or write the report. */
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
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message, 'see "deno task lab --help"');
  }
  const [file, ...extra] = parsed.positionals;
  if (!file || extra.length > 0) {
    throw new UsageError(
      file ? `"explain" takes one file, got ${parsed.positionals.length}` : '"explain" needs a capture file',
      "run: deno task lab explain capture.pcap [--out report.md] [--json]",
    );
  }
  let bytes: Uint8Array;
  try {
    const info = await Deno.stat(file);
    if (info.isDirectory) {
      throw new UsageError(`Cannot read "${file}": it is a directory`, "name a .pcap file");
    }
    bytes = await Deno.readFile(file);
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
  const explained = explainCapture(bytes, file);
  if (parsed.values.json) {
    console.log(JSON.stringify(explained, null, 2));
  } else {
    const report = renderCaptureReport(explained);
    if (parsed.values.out) {
      await Deno.writeTextFile(parsed.values.out, report);
      console.log(`report: ${parsed.values.out}`);
    } else {
      console.log(report);
    }
  }
  return EXIT.ok;
}
