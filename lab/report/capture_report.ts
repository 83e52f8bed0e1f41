/**
 * The Markdown report of `lab explain`, laid out as the run report is for a
 * ticket: the verdict first, as a GitHub alert (how many connections ended
 * abnormally, and how); what was read; counts by Zeek conn_state and by
 * cause; then a section for each abnormal connection kept in detail: the
 * verdict with its candidates and facts, a Mermaid sequence diagram and the
 * kernel behaviour behind each cause. The long evidence is folded: the
 * table of connections, the packets in tcpdump's notation (shortened to the
 * column, as the run report's are), Zeek's differences. No link: the report
 * reads the same wherever it is attached. Pure: an explanation in, text out.
 *
 * @module
 */

import { linkTypeName } from "../analysis/link_types.ts";
import { numberingNote, shortTcpdumpLine, sidesWithoutSyn } from "../analysis/packet_lines.ts";
import { formatRelativeMs } from "../analysis/tcpdump_format.ts";
import { CAUSES, isCauseId } from "../analysis/causes.ts";
import { icmpErrorHandler, type TeardownIcmpErrors } from "../analysis/teardown.ts";
import type {
  CaptureExplanation,
  ConnectionDetail,
  ConnectionPacket,
  ConnectionSummary,
  Role,
} from "../explain/explain_capture.ts";
import { code, escapeCell, escapeText } from "./markdown_escape.ts";
import { folded } from "./markdown_blocks.ts";
import { sequenceDiagram } from "./sequence_diagram.ts";
import { thousands } from "./numbers.ts";

/** What each Zeek conn_state means (Zeek's conn.log documentation). */
export const CONN_STATE_MEANING: Readonly<Record<string, string>> = {
  S0: "SYN seen, no reply",
  S1: "established, not closed",
  SF: "normal establishment and close",
  REJ: "connection attempt rejected",
  S2: "established, the originator's close not answered",
  S3: "established, the responder's close not answered",
  RSTO: "established, the originator reset",
  RSTR: "established, the responder reset",
  RSTOS0: "the originator sent SYN then RST; no SYN-ACK seen",
  RSTRH: "the responder sent SYN-ACK then RST; no SYN seen",
  SH: "the originator sent SYN then FIN; no SYN-ACK seen",
  SHR: "the responder sent SYN-ACK then FIN; no SYN seen",
  OTH: "no SYN seen: mid-stream traffic",
};

/** How many packet lines a detailed section shows at most. */
const _MAX_SECTION_PACKETS = 200;

/**
 * Render an explained capture.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { explainCapture } from "../explain/explain_capture.ts";
 * import { renderCaptureReport } from "./capture_report.ts";
 * const bytes = Deno.readFileSync(new URL("../../tests/testdata/founding_rst_unread.pcap", import.meta.url));
 * const report = renderCaptureReport(explainCapture(bytes, "founding.pcap"));
 * assert.match(report, /\| RSTO \|/);
 * assert.ok(report.includes("sequenceDiagram"));
 * ```
 */
export function renderCaptureReport(x: CaptureExplanation): string {
  const out: string[] = [`# tcplab explain: ${code(x.file)}`, ""];
  out.push(`> [!${_alertKind(x)}]`, `> ${_headline(x)}`, "");
  if (x.cutShort) {
    out.push(
      "> [!WARNING]",
      `> **Cut short:** the capture could not be read past byte ${_n(x.cutShort.offset)}: ` +
        `${escapeText(x.cutShort.problem)}. This report covers the ${_n(x.records)} record${
          _s(x.records)
        } before that point; the rest of the capture is missing, so connections open there may have ended ` +
        "in ways not shown.",
      "",
    );
  }
  out.push(_whatWasRead(x), "");
  out.push(
    "Causes are inferred from the packets alone, with no kernel evidence. Where the packets cannot tell two " +
      "causes apart, both are named, with the evidence that would settle it.",
    "",
  );
  if (x.connections === 0) {
    out.push("No TCP connection in the capture" + (_filtered(x) ? " matches the filter." : "."), "");
    out.push(..._zeek(x));
    return _finish(out);
  }
  out.push(..._summary(x), "");
  out.push(..._table(x), "");
  if (x.rowsOmitted.abnormal + x.rowsOmitted.normal > 0 && x.largest.length > 0) {
    out.push(..._largest(x), "");
  }
  for (const d of x.details) out.push(..._section(d), "");
  if (x.detailsOmitted > 0) {
    out.push(
      `*${_n(x.detailsOmitted)} more abnormal connection${_s(x.detailsOmitted)} not shown in detail ` +
        "(the first few of each state and cause are); see one with `--conn N`.*",
      "",
    );
  }
  out.push(..._zeek(x));
  return _finish(out);
}

/**
 * The GitHub alert the verdict stands in: CAUTION (red) when a connection
 * ended abnormally, WARNING when the capture holds no connection (the
 * verdict rests on missing evidence), NOTE (blue) when every one ended in
 * order.
 */
function _alertKind(x: CaptureExplanation): "CAUTION" | "WARNING" | "NOTE" {
  return x.connections === 0 ? "WARNING" : x.abnormal > 0 ? "CAUTION" : "NOTE";
}

/** Which Zeek the states and histories follow, how checksums were treated, and where explain parts from it. */
function _zeek(x: CaptureExplanation): string[] {
  const checksums = x.zeek.checksums === "verify"
    ? "checksums verified (`--checksums verify`), as Zeek does by default"
    : "checksums ignored (the default, like `zeek -C`; `--checksums verify` checks them)";
  const boundaries = x.zeek.boundaries === "zeek"
    ? "Zeek's connection boundaries (`--zeek-boundaries`)"
    : "explain's connection boundaries (one connection per ISN; `--zeek-boundaries` draws Zeek's)";
  return [
    `## Zeek ${x.zeek.version}`,
    "",
    `conn_state, history and missed bytes follow the TCP analyzer of Zeek ${x.zeek.version}, with ${checksums} and ${boundaries}.`,
    "",
    folded(
      `Where explain parts from Zeek ${x.zeek.version}: ${x.zeek.differences.length} differences`,
      x.zeek.differences.map((d) => `- ${d}`).join("\n"),
    ),
    "",
  ];
}

function _finish(out: string[]): string {
  return out.join("\n").replace(/\n{3,}/g, "\n\n").trimEnd() + "\n";
}

function _headline(x: CaptureExplanation): string {
  if (x.connections === 0) return "**No TCP connection.**";
  if (x.abnormal === 0) {
    return `**None of the ${_n(x.connections)} connection${_s(x.connections)} ended abnormally** ` +
      "(no RST, no refused or unanswered SYN, no retransmissions left unanswered).";
  }
  const causes = Object.entries(x.abnormalByCause);
  const top = causes.slice(0, 3).map(([cause, n]) => `${_n(n)} ${cause}`);
  return `**${_n(x.abnormal)} of ${_n(x.connections)} connection${_s(x.connections)} ended abnormally** ` +
    `(${top.join("; ")}${
      causes.length > 3 ? `; ${causes.length - 3} other cause${_s(causes.length - 3)}` : ""
    }).`;
}

function _whatWasRead(x: CaptureExplanation): string {
  const links = x.linkTypes.map(linkTypeName).join(", ") || "no interface";
  const parts = [
    `Read ${_n(x.records)} record${_s(x.records)} (${_n(x.bytesRead)} bytes, ${
      x.format ?? "unknown format"
    }, ${links})`,
    `${_n(x.tcpPackets)} TCP packet${_s(x.tcpPackets)} in ${_n(x.connections)} connection${
      _s(x.connections)
    }`,
  ];
  let text = parts.join(": ");
  if (x.firstTime) {
    text += `, ${_seconds(x.durationSeconds)} of capture from ${x.firstTime} to ${x.lastTime}`;
  }
  text += ".";
  if (x.otherRecords > 0) {
    const icmp = x.icmpErrors;
    const skipped = x.otherRecords - icmp;
    text += ` ${_n(x.otherRecords)} other record${_s(x.otherRecords)} (not TCP)` +
      (icmp > 0
        ? `: ${_n(icmp)} ICMP error${_s(icmp)} that quote${
          icmp === 1 ? "s" : ""
        } a packet of a connection here, ${icmp === 1 ? "" : "each "}told with ` +
          `the connection it quotes${skipped > 0 ? `, and ${_n(skipped)} skipped` : ""}.`
        : " skipped.");
  }
  if (_filtered(x)) {
    const f = [
      x.filter.host !== null ? `host ${code(x.filter.host)}` : "",
      x.filter.port !== null ? `port ${x.filter.port}` : "",
      x.filter.conn !== null ? `connection ${x.filter.conn}` : "",
    ].filter((s) => s !== "");
    text += ` Filter: ${f.join(", ")}` +
      (x.filteredOut > 0 ? ` (${_n(x.filteredOut)} TCP packet${_s(x.filteredOut)} left out).` : ".");
  }
  return text;
}

function _filtered(x: CaptureExplanation): boolean {
  return x.filter.host !== null || x.filter.port !== null || x.filter.conn !== null;
}

function _summary(x: CaptureExplanation): string[] {
  const out = ["## Summary", ""];
  out.push("| conn_state | meaning | connections |", "|---|---|---:|");
  for (const [state, n] of Object.entries(x.byState)) {
    out.push(`| ${state} | ${CONN_STATE_MEANING[state] ?? ""} | ${_n(n)} |`);
  }
  out.push("", "| cause (from packets alone) | connections |", "|---|---:|");
  for (const [cause, n] of Object.entries(x.byCause)) {
    const meaning = cause.split(" or ").map((c) => isCauseId(c) ? CAUSES[c].meaning : "").join("; or ");
    out.push(`| ${code(cause)}: ${escapeCell(meaning)} | ${_n(n)} |`);
  }
  const open = (x.byEnd["capture-end"] ?? 0) + (x.byEnd["idle"] ?? 0);
  const notes: string[] = [];
  if (open > 0) {
    notes.push(
      `${_n(open)} connection${_s(open)} had not closed when the capture ended or went quiet for longer ` +
        "than the idle timeout (5 minutes of capture time)",
    );
  }
  if ((x.byEnd["reused"] ?? 0) > 0) {
    const n = x.byEnd["reused"]!;
    notes.push(
      `${_n(n)} ended when a new SYN reused the same addresses and ports (a new connection follows)`,
    );
  }
  if ((x.byEnd["attempt"] ?? 0) > 0) {
    const n = x.byEnd["attempt"]!;
    notes.push(
      `${
        _n(n)
      } ended by Zeek's attempt timer (\`--zeek-boundaries\`: no reply 5 s after the SYN), and what ` +
        "followed on the same addresses and ports is a new connection",
    );
  }
  if (x.evicted > 0) {
    notes.push(
      `${_n(x.evicted)} were still open but were summarised early, because more connections than the ` +
        "tracking limit were open at once; their state is as far as they had got",
    );
  }
  out.push(
    "",
    `At most ${_n(x.peakOpen)} connection${x.peakOpen === 1 ? " was" : "s were"} open at the same moment.` +
      (notes.length ? ` ${notes.join("; ")}.` : ""),
  );
  if (x.badChecksums !== null && x.badChecksums > 0) {
    const n = x.badChecksums;
    out.push(
      "",
      `${_n(n)} TCP packet${
        n === 1 ? " has" : "s have"
      } a bad checksum: each is logged as history C/c (at the ` +
        "1st, 10th, 100th... of a side) and otherwise neither counted nor analysed, as Zeek does. A capture " +
        "taken on the sending host shows the checksums its network card had still to fill in.",
    );
  }
  return out;
}

function _role(r: Role | null): string {
  return r === null ? "" : r === "originator" ? "orig" : "resp";
}

/** A connection's row: addresses and ports, when and how long, packets, bytes, Zeek's words, who ended it, why. */
function _row(c: ConnectionSummary): string {
  const cause = c.candidates.map((k) => `${k.cause} (${k.confidence})`).join(" or ");
  const missed = c.missedBytes > 0 ? ` (${_n(c.missedBytes)} missed)` : "";
  const cells = [
    `${c.id}`,
    `${c.originator} → ${c.responder}`,
    `${c.start.slice(11, 26)}, ${_ms(c.durationMs)} ms`,
    `${_n(c.packets.orig)} / ${_n(c.packets.resp)}`,
    `${_n(c.bytes.orig)} / ${_n(c.bytes.resp)}${missed}`,
    `${c.state}, ${escapeCell(c.history)}`,
    _role(c.closedFirstBy),
    escapeCell(cause),
  ];
  return `| ${cells.join(" | ")} |`;
}

/**
 * The head of the connection tables: few columns, each of a few words
 * that can wrap, so the table fits a ticket's column.
 */
const _TABLE_HEAD = [
  "| # | originator → responder | start (UTC), duration | packets o→r / r→o | bytes o→r / r→o (missed) | " +
  "state, history | first FIN/RST | cause |",
  "|---:|---|---|---:|---:|---|---|---|",
];

function _table(x: CaptureExplanation): string[] {
  const abnormal = x.rows.filter((r) => r.abnormal).length;
  const body = [
    abnormal > 0
      ? "Abnormal connections first (reset, refused, unanswered), then the others; each group in order of the first packet."
      : "In order of the first packet.",
    "",
    ..._TABLE_HEAD,
    ...x.rows.map(_row),
  ];
  const noted = x.rows.filter((r) => r.zeekNote !== null);
  if (noted.length > 0) {
    body.push("", "Where Zeek would draw other connection boundaries:", "");
    for (const r of noted) body.push(`- #${r.id}: ${escapeText(r.zeekNote!)}`);
  }
  const out = [
    "## Connections",
    "",
    folded(
      `${_n(x.rows.length)} connection${_s(x.rows.length)}${
        abnormal > 0 ? ` (${_n(abnormal)} abnormal)` : ""
      }: addresses, duration, packets, bytes, Zeek state and history, cause`,
      body.join("\n"),
    ),
  ];
  const { abnormal: a, normal: n } = x.rowsOmitted;
  if (a + n > 0) {
    out.push(
      "",
      `*... and ${_n(a + n)} more connection${_s(a + n)} not listed (${_n(a)} abnormal, ${_n(n)} normal). ` +
        "Narrow the list with `--host ADDRESS` or `--port N`, or show one connection with `--conn N`.*",
    );
  }
  return out;
}

function _largest(x: CaptureExplanation): string[] {
  return [
    "## Largest connections",
    "",
    folded(
      `The ${_n(x.largest.length)} largest by payload bytes, both ways together`,
      [..._TABLE_HEAD, ...x.largest.map(_row)].join("\n"),
    ),
  ];
}

function _section(d: ConnectionDetail): string[] {
  const out = [`## Connection ${d.id}: ${d.originator} → ${d.responder} (${d.state})`, ""];
  out.push(_verdict(d), "");
  for (const c of d.candidates) {
    out.push(
      `- ${code(c.cause)}, ${c.confidence}: ${escapeText(c.reason)}.` +
        (c.settledBy ? ` *Settled by:* ${escapeText(c.settledBy)}.` : ""),
    );
  }
  out.push("", _facts(d), "");
  const shown = _limit(d);
  out.push("### Sequence diagram", "", ..._mermaid(d, shown), "");
  const why = _why(d);
  if (why.length > 0) out.push("### Why Linux does this", "", ...why, "");
  const first = d.packetLines[0]?.index ?? "?";
  const last = d.packetLines[d.packetLines.length - 1]?.index ?? "?";
  const names = (p: ConnectionPacket) =>
    p.from === "originator" ? { from: "orig", to: "resp" } : { from: "resp", to: "orig" };
  out.push(
    folded(
      `Packets: frames ${first} to ${last} of the file, in tcpdump's notation`,
      [
        "In tcpdump's notation (`tcpdump -nn`), time since the connection's first packet, with the originator " +
        "(orig) and the responder (resp) named instead of their addresses, and the TCP options left out: the " +
        "capture has them." +
        _numbering(d),
        "",
        "```",
        ...shown.map((item) =>
          typeof item === "number"
            ? `... ${_n(item)} packet${_s(item)} not shown ...`
            : `${formatRelativeMs(item.ms)} ${shortTcpdumpLine(item.tcpdump, names(item))}`
        ),
        "```",
      ].join("\n"),
    ),
  );
  return out;
}

/** The packet lines to show, with the number of packets left out where they were. */
function _limit(d: ConnectionDetail): Array<ConnectionPacket | number> {
  const lines = d.packetLines;
  const items: Array<ConnectionPacket | number> = [];
  const gapAt = d.omittedPackets > 0 ? d.omittedAfter : -1;
  let extra = 0;
  let head = lines.length;
  if (lines.length > _MAX_SECTION_PACKETS) {
    head = _MAX_SECTION_PACKETS / 2;
    extra = lines.length - _MAX_SECTION_PACKETS;
  }
  for (let i = 0; i < lines.length; i++) {
    if (i === gapAt) items.push(d.omittedPackets);
    if (extra > 0 && i === head) {
      items.push(extra);
      i += extra - 1;
      continue;
    }
    items.push(lines[i]!);
  }
  // Merge neighbouring gaps.
  const merged: Array<ConnectionPacket | number> = [];
  for (const item of items) {
    const last = merged[merged.length - 1];
    if (typeof item === "number" && typeof last === "number") merged[merged.length - 1] = last + item;
    else merged.push(item);
  }
  return merged;
}

function _verdict(d: ConnectionDetail): string {
  const t = d.teardown;
  const reset = t.resetPacket !== null ? d.packetLines.find((p) => p.flags.startsWith("R")) : undefined;
  const who = d.resetBy ?? d.closedFirstBy;
  let how: string;
  if (d.kind === "refused") how = `The connection was refused: the responder answered the SYN with RST`;
  else if (d.kind === "no-handshake" && d.resetBy === null) how = "The SYN was never answered";
  else if (d.resetBy) how = `The ${d.resetBy} reset the connection`;
  else if (who) how = `The ${who} closed first`;
  else how = "Neither side closed or reset the connection in the capture";
  if (reset) {
    how += ` (${code(`[${reset.flags}]`)}, seq ${reset.seq}${
      reset.flags.includes(".") ? `, ack ${reset.ack}` : ""
    }, at ${reset.ms.toFixed(3)} ms)`;
  }
  const one = d.candidates.length === 1;
  const causes = d.candidates.map((c) => `${code(c.cause)} (${c.confidence})`).join(" or ");
  return `**${how}.** ` +
    (one ? `Cause: ${causes}.` : `The packets fit ${causes}; they cannot tell these apart.`);
}

function _facts(d: ConnectionDetail): string {
  const t = d.teardown;
  const facts: string[] = [
    `${_n(d.packets.orig + d.packets.resp)} packets in ${_ms(d.durationMs)} ms`,
    `payload ${_n(d.bytes.orig)} bytes originator → responder, ${_n(d.bytes.resp)} back`,
    `Zeek ${code(d.state)}, history ${code(d.history)}`,
  ];
  if (d.missedBytes > 0) {
    facts.push(`${_n(d.missedBytes)} byte(s) acknowledged but never captured (Zeek's missed_bytes)`);
  }
  if (d.zeekNote !== null) facts.push(d.zeekNote.replace(/\.$/, ""));
  if (d.startedMidStream) facts.push("no SYN captured: the capture started after the connection did");
  if (d.ended === "capture-end") facts.push("the capture ended before the connection did");
  if (d.resetBy !== null) {
    facts.push(
      `before its RST the ${d.resetBy} had received ${_n(t.receivedByResetter ?? 0)} byte(s), acknowledged ` +
        `${_n(t.ackedByResetter ?? 0)}, sent ${_n(t.sentByResetter ?? 0)}` +
        (t.unreadBytes ? `, and never answered the last ${_n(t.unreadBytes)}` : ""),
    );
  }
  if (t.unansweredRetransmissions) {
    const u = t.unansweredRetransmissions;
    facts.push(
      `${u.count} unanswered retransmission(s) or probe(s) by the ${
        u.by === "orig" ? "originator" : "responder"
      } at the end`,
    );
  }
  if (t.halfClose) facts.push("data kept flowing after the first FIN (a half-close)");
  if (t.icmpErrors) {
    facts.push(_icmpErrorsFact(t.icmpErrors));
  }
  return `Facts: ${facts.join("; ")}.`;
}

/**
 * The ICMP errors of a connection in one clause: how many, the last one's
 * kind and sender, and, for one that came after the handshake, that it did
 * not end the connection.
 */
function _icmpErrorsFact(icmp: TeardownIcmpErrors): string {
  const last = icmp.last;
  const quoted = last.quoted === "orig" ? "originator" : "responder";
  const peer = last.quoted === "orig" ? "responder" : "originator";
  const sender = last.fromPeer
    ? `${last.from}, the ${peer} itself`
    : `${last.from}, a router or firewall between (not the ${peer})`;
  const what = icmp.count === 1
    ? `an ICMP error quoted the ${quoted}'s packets: ${last.name} from ${sender}`
    : `${icmp.count} ICMP errors quoted the connection's packets, the last (of the ${quoted}'s) ${last.name} ` +
      `from ${sender}`;
  if (last.errno === null) {
    return `${what}; it sets no error for TCP (fragmentation needed only lowers the path MTU; an unknown ` +
      "code is ignored)";
  }
  if (!last.afterHandshake) return what;
  return `${what}; it came after the handshake, and an ICMP error does not end an established connection: ` +
    `the kernel keeps it as a soft error (${icmpErrorHandler(last)}), which a later timeout reports as ` +
    `${last.errno} instead of ETIMEDOUT`;
}

function _mermaid(d: ConnectionDetail, shown: Array<ConnectionPacket | number>): string[] {
  return sequenceDiagram(
    { id: "L", label: `originator ${d.originator}` },
    { id: "R", label: `responder ${d.responder}` },
    shown.map((item) =>
      typeof item === "number" ? item : {
        fromLeft: item.from === "originator",
        flags: item.flags,
        seq: item.seq,
        ack: item.ack,
        length: item.length,
      }
    ),
    { resetArrow: "-x" },
  );
}

/** The numbering note (packet_lines.ts) when a side's SYN was not captured, after a space; else "". */
function _numbering(d: ConnectionDetail): string {
  const note = numberingNote(sidesWithoutSyn(d.packetLines));
  return note === null ? "" : ` ${note}`;
}

function _why(d: ConnectionDetail): string[] {
  const out: string[] = [];
  for (const c of d.candidates) {
    const text = CAUSES[c.cause].kernel;
    if (text) out.push(`- ${code(c.cause)}: ${text}`);
  }
  return out;
}

function _ms(ms: number): string {
  return ms >= 1000 ? _n(Math.round(ms)) : ms.toFixed(3);
}

function _seconds(s: number): string {
  if (s >= 100) return `${_n(Math.round(s))} s`;
  return s >= 1 ? `${s.toFixed(3)} s` : `${(s * 1000).toFixed(3)} ms`;
}

function _n(n: number): string {
  return thousands(n);
}

function _s(n: number): string {
  return n === 1 ? "" : "s";
}
