/**
 * The Markdown report of `lab explain`: a summary table of every
 * connection, then a section for each that ended abnormally.
 *
 * @module
 */

import type { ExplainedCapture } from "../explain/explain_capture.ts";
import { code, escapeCell, escapeText } from "./markdown_escape.ts";

const NORMAL = new Set(["SF", "S1", "OTH"]);

/** Render an explained capture. */
export function renderCaptureReport(capture: ExplainedCapture): string {
  const out = [
    `# tcplab explain: ${code(capture.file)}`,
    "",
    `${capture.tcpPackets} TCP packets, ${capture.connections.length} connection${
      capture.connections.length === 1 ? "" : "s"
    }. ` +
    "Causes are inferred from the packets alone: no kernel evidence was available.",
    "",
    "| # | originator | responder | ms | bytes o→r / r→o | state | history | cause |",
    "|---:|---|---|---:|---|---|---|---|",
  ];
  for (const c of capture.connections) {
    const cause = c.candidates.map((k) => `${k.cause} (${k.confidence})`).join(" or ");
    out.push(
      `| ${c.id} | ${c.originator} | ${c.responder} | ${
        c.durationMs.toFixed(3)
      } | ${c.bytes.orig} / ${c.bytes.resp} | ${c.state} | ${escapeCell(c.history)} | ${escapeCell(cause)} |`,
    );
  }
  for (const c of capture.connections.filter((c) => !NORMAL.has(c.state))) {
    out.push("", `## Connection ${c.id}: ${c.originator} > ${c.responder} (${c.state})`, "");
    if (c.resetBy) out.push(`Reset by the ${c.resetBy}.`, "");
    for (const k of c.candidates) out.push(`- ${code(k.cause)}, ${k.confidence}: ${escapeText(k.reason)}`);
    out.push("", "```", ...c.packets, "```");
  }
  return out.join("\n") + "\n";
}
