/**
 * Render a run's result as the Markdown report people attach to tickets.
 * Pure: a RunResult in, text out.
 *
 * @module
 */

import { type Side, SIDES } from "../scenario/types.ts";
import type {
  CallRecord,
  CapturePoint,
  ConnectionResult,
  ContrastSummary,
  PacketRecord,
  PathHoldRecord,
  RunResult,
} from "../verdict/types.ts";
import { focusConnection } from "../verdict/focus.ts";
import { type Reproduction, SCENARIO_FILE } from "../verdict/reproduction.ts";
import { numberingNote, shortTcpdumpLine, sidesWithoutSyn } from "../analysis/packet_lines.ts";
import { formatRelativeMs } from "../analysis/tcpdump_format.ts";
import { explainCause } from "./explanations.ts";
import { code, escapeCell, escapeText } from "./markdown_escape.ts";
import { folded } from "./markdown_blocks.ts";
import type { EnvironmentRecord } from "../evidence/artifacts.ts";
import { HOLD_CALL } from "../evidence/calls.ts";
import { featureName, KERNEL_FEATURES } from "../evidence/kernel_config.ts";
import { sequenceDiagram, type SequenceItem } from "./sequence_diagram.ts";

/** Every connection between the two programs, one row each; the one the verdict is about marked. */
function renderConnections(result: RunResult): string {
  const rows = result.connections.map((c) => {
    const fds = _connectionFds(result, c);
    const fd = (side: Side) => fds[side] === null ? "" : ` fd ${fds[side]}`;
    return `| ${c.id === result.focus ? `**${c.id}**` : c.id} | ${code(c.client)}${fd("client")} | ${
      code(c.server)
    }${fd("server")} | \`${c.state}\` | \`${escapeCell(c.history)}\` | ${c.resetBy ?? ""} | ${
      c.closedFirstBy ?? ""
    } | \`${c.cause}\` |`;
  });
  return [
    "## Connections",
    "",
    `The programs made ${result.connections.length} connections, in the order of their SYNs, each on its ` +
    "own descriptor (fd) in each program. " +
    `The verdict, the expectation and the sections below are about connection ${result.focus}.`,
    "",
    "| # | client | server | state | history | reset by | closed first by | cause |",
    "|---:|---|---|---|---|---|---|---|",
    ...rows,
  ].join("\n");
}

/**
 * The GitHub alert the verdict stands in: CAUTION (red) when a RST ended the
 * connection or refused it, since a reset means data or a connection was
 * lost; WARNING when the run saw no connection or timed out, since the
 * verdict then rests on missing evidence; NOTE (blue) for an orderly end.
 */
function _alertKind(result: RunResult, conn: ConnectionResult | null): "CAUTION" | "WARNING" | "NOTE" {
  if (conn === null || result.timedOut) return "WARNING";
  return conn.resetBy !== null || /^(RST|REJ)/.test(conn.state) ? "CAUTION" : "NOTE";
}

/** The verdict with its first clause (up to the first colon) in bold: `**The client reset the connection:** it…`. */
function _verdictText(verdict: string): string {
  const colon = verdict.indexOf(": ");
  return colon < 0
    ? `**${escapeText(verdict)}**`
    : `**${escapeText(verdict.slice(0, colon + 1))}** ${escapeText(verdict.slice(colon + 2))}`;
}

/**
 * The whole report, in the order a ticket's reader needs it: the verdict as
 * a GitHub alert, the checks, what happened and its proof, the sequence
 * diagram, why Linux does it and what to do instead; then the long evidence
 * folded (timeline, packets, kernel evidence, scenario, environment), and
 * what reproduces the run.
 */
export function renderReport(result: RunResult): string {
  const conn = focusConnection(result);
  const out: string[] = [];
  out.push(`# tcplab: \`${escapeText(result.scenario.name)}\`: ${escapeText(result.scenario.title)}`, "");
  out.push(`> [!${_alertKind(result, conn)}]`, `> ${_verdictText(result.verdict)}`, "");
  for (const warning of result.warnings) out.push("> [!WARNING]", `> ${escapeText(warning)}`, "");
  if (result.timedOut) {
    out.push(
      "> [!WARNING]",
      `> Timed out: ${escapeText(result.timedOut)}; the evidence below is what was collected until then.`,
      "",
    );
  }
  for (const side of SIDES) {
    const host = result.scenario.hostPrograms?.[side];
    if (host) {
      out.push(
        `The ${side} is a program of this host, ${code(host.binary)} (command ${
          code(result.scenario.steps[side].join(" "))
        }), in an image the lab built from it: ${
          host.traced ? TRACED_TEXT : _untracedText(result.scenario.untraced?.[side])
        } ${
          host.stop
            ? `Its scenario names the command that stops it, ${
              code(host.stop.join(" "))
            }, which the lab runs in its container once the client has exited. `
            : ""
        }${_exitText(host.exitCode)}`,
        "",
      );
    } else if (result.scenario.programs[side] === "user") {
      out.push(
        `The ${side} is the user's own program (image ${code(result.scenario.images[side] ?? "?")}, command ${
          code(result.scenario.steps[side].join(" "))
        }): ${_untracedText(result.scenario.untraced?.[side])}`,
        "",
      );
    }
  }
  out.push(renderExpectation(result), "");

  if (result.connections.length > 1) out.push(renderConnections(result), "");
  if (conn) {
    const explanation = explainCause(conn.cause, conn);
    out.push(
      "## What happened" + (result.connections.length > 1 ? ` (connection ${conn.id})` : ""),
      "",
    );
    for (const p of explanation.plain) out.push(p, "");
    out.push(renderProof(result, conn), "");
    out.push("## Sequence diagram", "", renderMermaid(result, conn), "");
    out.push("## Why Linux does this", "");
    for (const p of explanation.why) out.push(p, "");
    if (explanation.instead) out.push("## What to do instead", "", explanation.instead, "");
    if (result.contrast) {
      if (!explanation.instead) out.push("## Contrast", "");
      out.push(renderContrast(result.contrast), "");
    }
    out.push("## Evidence", "");
    out.push(renderTimeline(result, conn), "");
    out.push(renderPackets(result, conn), "");
    out.push(renderKernel(conn, result.captures.server.restartedFile !== undefined), "");
    if (result.pathHolds?.length) {
      out.push(renderPathHolds(result.pathHolds, result.environment.pathKernel), "");
    }
  } else {
    out.push("## What happened", "", "No TCP connection was seen in the captures.", "");
    out.push("## Evidence", "");
  }
  const output = renderProgramOutput(result);
  if (output) out.push(output, "");
  out.push(renderScenario(result), "");
  out.push(renderEnvironment(result), "");
  out.push(renderReproduce(result.reproduce), "");
  return out.join("\n").replace(/\n{3,}/g, "\n\n");
}

/**
 * The contrast run beside this one: its name, how it ended, and the command
 * that runs it (a link to its report would break once the report is
 * attached to a ticket).
 */
function renderContrast(c: ContrastSummary): string {
  return `Contrast, run beside this one: scenario \`${escapeText(c.name)}\` ended \`${c.state}\`, ${
    c.resetBy ? `RST by the ${c.resetBy}` : "with no RST"
  }, cause \`${c.cause}\`. Run it with \`./tcplab run ${escapeText(c.name)}\`.`;
}

/** The focus connection's packets from each capture, shortened to fit a ticket's column. */
function renderPackets(result: RunResult, conn: ConnectionResult): string {
  const out: string[] = [];
  const note = numberingNote(
    sidesWithoutSyn(conn.packets.filter((p) => p.capture === primaryCapture(conn))),
  );
  if (note !== null) out.push(note, "");
  out.push(
    `In tcpdump's notation, time since the first SYN, with the client ${code(conn.client)} and the server ${
      code(conn.server)
    } named instead of their addresses and the TCP options (MSS, SACK, timestamps, window scale) left ` +
      "out: the pcaps have them.",
    "",
  );
  const points = _capturePoints(result);
  for (const point of points) {
    const packets = conn.packets.filter((p) => p.capture === point);
    const capture = result.captures[point];
    out.push(
      capture?.restartedFile
        ? `From the ${point}'s captures (\`${capture.file}\`, its first namespace's, then \`${capture.restartedFile}\`, ` +
          "the fresh namespace's after the restart):"
        : `From the ${point}'s capture (\`${capture?.file}\`):`,
      "",
    );
    if (point === "middlebox") {
      out.push(
        "It sees each packet it forwards twice, arriving and leaving on its one interface; `middlebox.PORT` " +
          "is its own address (a NAT's rewrite, or a packet it sent itself), and `client` and `server` the " +
          "sides' addresses.",
        "",
      );
    }
    const address = result.captures.middlebox?.address;
    const line = (p: PacketRecord) =>
      point === "middlebox" && address !== undefined
        ? _middleboxLine(p.tcpdump, address, conn)
        : shortPacketLine(p);
    // The ICMP errors that quote the connection's packets, in time order with them.
    const rows = [
      ...packets.map((p) => ({ ms: p.ms, text: line(p) })),
      ...(conn.icmpErrors ?? []).filter((e) => e.capture === point).map((e) => ({ ms: e.ms, text: e.text })),
    ].sort((a, b) => a.ms - b.ms);
    out.push("```", ...rows.map((r) => `${formatRelativeMs(r.ms)} ${r.text}`), "```", "");
  }
  return folded(
    `Packets: ${conn.packets.length + (conn.icmpErrors?.length ?? 0)} lines from the ${
      points.length === 2 ? "two" : "three"
    } captures, in tcpdump's notation`,
    out.join("\n").trimEnd(),
  );
}

/**
 * A packet's tcpdump line made short enough for a ticket's column: the
 * sender and receiver by role instead of by address, and no TCP options.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const line = "IP 10.0.0.2.40000 > 10.0.0.1.9999: Flags [R.], seq 1, ack 2, win 63, " +
 *   "options [nop,nop,TS val 1 ecr 2], length 0";
 * assert.equal(
 *   shortPacketLine({ from: "client", tcpdump: line }),
 *   "client > server: Flags [R.], seq 1, ack 2, win 63, length 0",
 * );
 * ```
 */
export function shortPacketLine(p: Pick<PacketRecord, "from" | "tcpdump">): string {
  const to = p.from === "client" ? "server" : "client";
  return shortTcpdumpLine(p.tcpdump, p.from === "other" ? null : { from: p.from, to });
}

/**
 * A line of the middlebox's capture with each address named for whose it is: `client`, `server`, or
 * `middlebox.PORT` (a NAT's rewrite, or a packet it sent itself), and no TCP options.
 */
function _middleboxLine(tcpdump: string, address: string, conn: ConnectionResult): string {
  const name = (endpoint: string) => {
    const at = endpoint.lastIndexOf(".");
    const [host, port] = [endpoint.slice(0, at), endpoint.slice(at + 1)];
    if (host === address) return `middlebox.${port}`;
    if (`${host}:${port}` === conn.client) return "client";
    return `${host}:${port}` === conn.server ? "server" : endpoint;
  };
  return tcpdump.replace(/, options \[[^\]]*\]/, "")
    .replace(/^IP6? (\S+) > (\S+): /, (_m, a: string, b: string) => `${name(a)} > ${name(b)}: `);
}

/**
 * The section that reproduces the run from the report alone: the lab's
 * version, a command with no path of the machine that ran it, and the
 * scenario file itself, folded.
 */
function renderReproduce(r: Reproduction): string {
  const where = `At the root of a clone of tcplab ${r.labVersion}, on a Linux host (\`./tcplab\` installs ` +
    "what is missing)";
  const lines = [
    "## Reproduce",
    "",
    r.fromCatalog
      ? `${where}, run the catalog's scenario:`
      : `${where}, save the scenario below as \`${SCENARIO_FILE}\` (the run's folder has it too) and run:`,
    "",
    "```sh",
    r.command,
    "```",
    "",
  ];
  if (r.scenarioText !== null) {
    const fence = "`".repeat(Math.max(3, ...[...r.scenarioText.matchAll(/`+/g)].map((m) => m[0].length + 1)));
    lines.push(
      "<details>",
      `<summary>The scenario file (${SCENARIO_FILE})</summary>`,
      "",
      `${fence}yaml`,
      r.scenarioText.replace(/\n+$/, ""),
      fence,
      "",
      "</details>",
      "",
    );
  }
  return lines.join("\n");
}

function primaryCapture(conn: ConnectionResult): Side {
  return conn.seenFrom;
}

/** The run's capture points, in the report's order: the client's, the server's, the middlebox's when it had one. */
function _capturePoints(result: RunResult): CapturePoint[] {
  return [...SIDES, ...(result.captures.middlebox ? ["middlebox" as const] : [])];
}

function renderExpectation(result: RunResult): string {
  const { met, checks } = result.expectation;
  const checked = checks.filter((c) => c.skipped === null);
  const lines = [
    "## Checks",
    "",
    met
      ? `**Expectation met**: ${checked.length} of ${checked.length} checks passed.`
      : `**Expectation NOT met**: ${checked.filter((c) => !c.ok).length} of ${checked.length} checks failed.`,
    "",
    "| check | expected | actual | |",
    "|---|---|---|---|",
  ];
  for (const c of checks) {
    lines.push(
      `| ${escapeCell(c.what)} | ${escapeCell(c.expected)} | ${escapeCell(c.actual)} | ${
        c.skipped !== null ? `skipped: ${escapeCell(c.skipped)}` : c.ok ? "ok" : "**differs**"
      } |`,
    );
  }
  return lines.join("\n");
}

function renderProof(result: RunResult, conn: ConnectionResult): string {
  const lines = ["**The proof:**", ""];
  const resetter = conn.resetBy;
  const resetPacket = conn.packets.find((p) => p.capture === primaryCapture(conn) && p.flags.startsWith("R"));
  // An RST that the side whose address it carries did not send as itself: the path's, a NAT's middlebox's,
  // or a restarted peer's.
  const fromElsewhere = conn.cause === "path-reset" || conn.cause === "nat-mapping-expired" ||
    conn.cause === "peer-lost-state";
  if (resetPacket && fromElsewhere) {
    const receiver = resetPacket.from === "client" ? "server" : "client";
    lines.push(
      `- Packets: the ${receiver} received ${
        code(`Flags [${resetPacket.flags}], seq ${resetPacket.seq}`)
      } with ${
        conn.cause === "nat-mapping-expired"
          ? `the NAT's address, which stands for the ${resetPacket.from}'s,`
          : `the ${resetPacket.from}'s address`
      } at ${resetPacket.ms.toFixed(3)} ms.`,
    );
    const proof = conn.candidates.find((c) => c.cause === conn.cause)?.reason.split("; ") ?? [];
    for (const line of proof) lines.push(`- Where it came from: ${escapeText(line)}.`);
  } else if (conn.cause === "icmp-error") {
    const syns = conn.packets.filter((p) => p.capture === primaryCapture(conn) && p.flags === "S");
    const icmp = (conn.icmpErrors ?? []).filter((e) => e.capture === primaryCapture(conn));
    const last = icmp[icmp.length - 1];
    lines.push(
      `- Packets: the ${primaryCapture(conn)}'s capture has ${syns.length} SYN${
        syns.length === 1 ? "" : "s"
      } (at ${syns.map((p) => `${p.ms.toFixed(3)} ms`).join(", ")}), no SYN-ACK and no RST${
        last === undefined
          ? ""
          : `, and ${icmp.length} ICMP error${icmp.length === 1 ? "" : "s"} that quote${
            icmp.length === 1 ? "s" : ""
          } its SYNs (at ${
            icmp.map((e) => `${e.ms.toFixed(3)} ms`).join(", ")
          }): ${last.name} from ${last.from}${last.sender === "other" ? "" : `, the ${last.sender}`}`
      }.`,
    );
    const proof = conn.candidates.find((c) => c.cause === conn.cause)?.reason.split("; ") ?? [];
    for (const line of proof) lines.push(`- What ended it: ${escapeText(line)}.`);
  } else if (resetPacket) {
    lines.push(
      `- Packets: the ${resetPacket.from} sent ${
        code(
          `Flags [${resetPacket.flags}], seq ${resetPacket.seq}${
            resetPacket.flags.includes(".") ? `, ack ${resetPacket.ack}` : ""
          }`,
        )
      } at ${resetPacket.ms.toFixed(3)} ms${
        resetter && !conn.packets.some((p) => p.from === resetter && p.flags.includes("F"))
          ? `, and no FIN from the ${resetter} in either capture`
          : ""
      }.`,
    );
  } else {
    const fins = conn.packets.filter((p) => p.capture === primaryCapture(conn) && p.flags.includes("F"));
    lines.push(
      `- Packets: ${fins.length} FIN${fins.length === 1 ? "" : "s"} (${
        fins.map((p) => `${p.from} ${code(`[${p.flags}]`)} at ${p.ms.toFixed(3)} ms`).join(", ") || "none"
      }) and no RST.`,
    );
  }
  lines.push(..._pathRuleProof(result, conn));
  for (const side of SIDES) {
    const moved = Object.entries(conn.kernel.counters[side]).filter(([name]) =>
      /Abort|Rst|Resets|AttemptFails/.test(name)
    );
    if (moved.length > 0) {
      lines.push(
        `- Counters in the ${side}'s network namespace: ${
          moved.map(([n, v]) => code(`${n} ${v > 0 ? "+" : ""}${v}`)).join(", ")
        }.`,
      );
    }
  }
  if (conn.kernel.traceAvailable) {
    const reasons = conn.kernel.resetReasons;
    lines.push(
      reasons.length > 0
        ? `- The kernel's tcp_send_reset: ${
          reasons.map((r) => `${r.side} ${code(`state=${r.state} reason=${r.reason}`)}`).join("; ")
        }${
          conn.kernel.activeResetReasons
            ? ""
            : " (this kernel predates reasons for the resets it sends on its own: 6.12)"
        }.`
        : "- The kernel's tcp_send_reset: no RST sent for this connection.",
    );
  } else {
    lines.push(
      `- The kernel's RST reasons: not recorded (${
        escapeText(conn.kernel.traceNote ?? "tracefs unavailable")
      }).`,
    );
  }
  const count = conn.facts.unreadCount;
  if (
    !fromElsewhere && count !== null && resetter !== null && conn.facts.unreadBytes !== null &&
    count.delivered > 0
  ) {
    const peer = resetter === "client" ? "server" : "client";
    lines.push(
      `- Unread when the ${resetter}'s socket closed: ${_bytes(conn.facts.unreadBytes)}, the ${
        _bytes(count.delivered)
      } of the ${peer}'s that the ${resetter}'s kernel had acknowledged (its ACKs) less the ${
        _bytes(count.read)
      } its program read (its read calls)${
        conn.facts.closedBy === "exit"
          ? "; the program exited without calling close(), and the kernel closed it"
          : ""
      }.`,
    );
  }
  for (const side of SIDES) {
    // A closed listener is proved by what the program did not do: its listen, its wait, no accept().
    const calls = result.calls.filter((c) =>
      c.side === side &&
      (isTeardownCall(c) ||
        (conn.cause === "listener-closed" && ["listen", "poll", "accept"].includes(c.call)))
    );
    if (calls.length > 0) {
      lines.push(
        `- The ${side} program: ${_condensed(calls.map((c) => code(formatCall(c)))).join(", then ")}.`,
      );
    }
  }
  return lines.join("\n");
}

function _bytes(n: number): string {
  return `${n} byte${n === 1 ? "" : "s"}`;
}

/** Texts with each run of equal neighbours said once, with its count: "`read() = 1` (3 times)". */
function _condensed(texts: string[]): string[] {
  const runs: Array<{ text: string; times: number }> = [];
  for (const text of texts) {
    const last = runs[runs.length - 1];
    if (last?.text === text) last.times++;
    else runs.push({ text, times: 1 });
  }
  return runs.map(({ text, times }) => (times > 1 ? `${text} (${times} times)` : text));
}

function isTeardownCall(call: CallRecord): boolean {
  return [
    "close",
    "shutdown",
    "read",
    "epoll_wait",
    "write",
    "connect",
    "_exit",
    // A traced program's reads and writes go through these too (nginx: recvfrom, writev).
    "readv",
    "writev",
    "recvfrom",
    "sendto",
    "recvmsg",
    "sendmsg",
    "sendfile",
  ].includes(call.call) ||
    (call.call === "ioctl" && call.args === "FIONREAD");
}

/**
 * A call as one short text: `read(len=1) = -1 ECONNRESET`; with `withFd`,
 * the descriptor it worked on first: `read(fd 4, len=1) = -1 ECONNRESET`.
 */
export function formatCall(call: CallRecord, withFd = false): string {
  const result = call.returnMs === null
    ? "… (never returned)"
    : call.errno
    ? `= ${call.ret} ${call.errno}`
    : `= ${call.ret}`;
  const details = Object.entries(call.detail)
    .filter(([k, v]) => k !== "bytes" && !(k === "iterations" && v === 1))
    .map(([k, v]) => (k === "events" ? String(v) : `${k}=${v}`));
  return `${_callHead(call, withFd)} ${result}${details.length ? ` ${details.join(" ")}` : ""}`;
}

/** A call's name and arguments, the descriptor first with `withFd`: `read(fd 4, len=1)`. */
function _callHead(call: CallRecord, withFd: boolean): string {
  const fd = withFd && call.fd !== undefined && call.fd !== null && call.fd >= 0 ? `fd ${call.fd}` : "";
  return `${call.call}(${[fd, call.args ?? ""].filter((a) => a !== "").join(", ")})`;
}

/**
 * Each side's descriptor for a connection: the one its connect() gave it
 * from the connection's client address, or its accept() gave it for the
 * connection's client (null when unknown).
 */
function _connectionFds(result: RunResult, conn: ConnectionResult): Record<Side, number | null> {
  const opened = (side: Side, call: string, key: "local" | "peer") =>
    result.calls.find((c) =>
      c.side === side && c.call === call && c.detail[key] === conn.client && (c.ret ?? -1) >= 0
    );
  return {
    client: opened("client", "connect", "local")?.fd ?? null,
    server: opened("server", "accept", "peer")?.ret ?? null,
  };
}

/**
 * The packet cell of the timeline, short enough for its column and kept on
 * one line (no-break spaces): the flags, the ack of a bare ACK or else the
 * sequence numbers (`seq 1:2` for a byte, as tcpdump writes them), and an
 * arrow the way it went. The diagram and
 * the packet lines have every number.
 */
function _timelinePacket(p: PacketRecord): string {
  const numbers = p.flags === "." && p.length === 0
    ? `ack ${p.ack}`
    : `seq ${p.seq}${p.length ? `:${p.seq + p.length}` : ""}`;
  const text = p.from === "client"
    ? `\`[${p.flags}]\` ${numbers} →`
    : p.from === "server"
    ? `← \`[${p.flags}]\` ${numbers}`
    : `\`[${p.flags}]\` ${numbers}`;
  return text.replaceAll(" ", "\u00a0");
}

/**
 * A call in a timeline cell: inline code that may break after each `|` of a flag set and each
 * comma of its arguments (`socket(AF_INET6,SOCK_STREAM)`), and, in a call that failed
 * (`connect() = -1 EINPROGRESS peer=...`), before the peer's address (zero-width spaces).
 */
function _timelineCall(text: string): string {
  const breakable = text.replace(/( = -\d+ E[A-Z0-9]+) peer=/, "$1 \u200bpeer=").replaceAll(",", ",\u200b");
  return `\`${escapeCell(breakable).replaceAll("\\|", "\\|\u200b")}\``;
}

/** Both programs' calls and the focus connection's packets on one clock, folded. */
function renderTimeline(result: RunResult, conn: ConnectionResult): string {
  const packets = conn.packets.filter((p) => p.capture === primaryCapture(conn));
  const boxPackets = result.captures.middlebox ? conn.packets.filter((p) => p.capture === "middlebox") : null;
  const withFd = result.connections.length > 1;
  type Row = { ms: number; order: number; client: string; wire: string; server: string; mark?: string };
  const rows: Row[] = [];
  // A call that blocked (or that a packet went by) gets two rows, at entry
  // and at return, so that a packet sent while it was inside the kernel
  // shows between them.
  result.calls.forEach((c, i) => {
    const put = (ms: number, order: number, text: string) =>
      rows.push({
        ms,
        order,
        client: c.side === "client" ? text : "",
        wire: "",
        server: c.side === "server" ? text : "",
      });
    const held = c.call === HOLD_CALL && result.scenario.programs[c.side] === "tcplab";
    const done = _timelineCall(formatCall(c, withFd)) +
      (held && c.returnMs !== null
        ? `: held until the lab's work after step ${c.step} was done, ${
          (c.returnMs - c.enterMs).toFixed(1)
        } ms`
        : "");
    if (c.returnMs === null) {
      put(c.enterMs, 2 * i, `${done} (entered, never returned)`);
    } else if (c.returnMs - c.enterMs >= 0.1 || _spans(c, packets)) {
      put(c.enterMs, 2 * i, `${_timelineCall(_callHead(c, withFd))} …`);
      put(c.returnMs, 2 * i + 1, `… ${done}`);
    } else {
      put(c.enterMs, 2 * i, done);
    }
  });
  packets.forEach((p, i) => {
    rows.push({ ms: p.ms, order: 1e6 + i, client: "", wire: _timelinePacket(p), server: "" });
  });
  boxPackets?.forEach((p, i) => {
    // Marked beside its time, so that the packet's cell is no wider than the sides' packets.
    rows.push({ ms: p.ms, order: 2e6 + i, client: "", wire: _timelinePacket(p), server: "", mark: "mb" });
  });
  rows.sort((a, b) => a.ms - b.ms || a.order - b.order);
  const fds = _connectionFds(result, conn);
  return folded(
    `Timeline: ${result.calls.length} system calls and ${packets.length} packets${
      boxPackets ? ` (and the middlebox's ${boxPackets.length})` : ""
    } on one clock`,
    [
      "Both programs' system calls and the packets, on one clock: ms since the client's SYN. A call that " +
      "blocked, or that a packet went by, shows twice: `call(...) …` when it entered the kernel and " +
      "`… = result` when it returned. " +
      `Packets from the ${primaryCapture(conn)}'s capture, → from the client to the server, ← back` +
      (withFd
        ? `; those of connection ${conn.id} only (client fd ${fds.client ?? "?"}, server fd ${
          fds.server ?? "?"
        }).`
        : ".") +
      " Each shows its flags, then the ack of a bare ACK or else its sequence numbers (`seq 1:2` for one " +
      "byte); the packet lines below have every field." +
      (result.calls.some((c) => c.call === HOLD_CALL && result.scenario.programs[c.side] === "tcplab")
        ? ` A side the lab held after a step waits in \`${HOLD_CALL}(SIGUSR1)\` until the lab's work at that ` +
          "moment (a path rule, the server's restart) is done, and only then begins its next step."
        : "") +
      (boxPackets
        ? " Packets marked mb beside their time are the middlebox's own capture: a packet it forwards shows there twice " +
          "(arriving, leaving); one without an arrow has the middlebox's own address."
        : ""),
      "",
      "| ms | client calls | packet | server calls |",
      "|---:|---|---|---|",
      ...rows.map((r) =>
        `| ${r.ms.toFixed(3)}${r.mark ? ` ${r.mark}` : ""} | ${r.client} | ${r.wire} | ${r.server} |`
      ),
    ].join("\n"),
  );
}

/** Whether a packet went by while the call was inside the kernel. */
function _spans(c: CallRecord, packets: PacketRecord[]): boolean {
  const returned = c.returnMs;
  return returned !== null && packets.some((p) => p.ms > c.enterMs && p.ms < returned);
}

/** The calls a sequence diagram shows: those that read, wait, take FIONREAD, shut down, close or exit. */
function _diagramCall(c: CallRecord): boolean {
  return ["close", "shutdown", "read", "epoll_wait", "_exit", "exit", "exit_group"].includes(c.call) ||
    (c.call === "ioctl" && c.args === "FIONREAD");
}

/**
 * The calls of one connection: with one connection, every call; with
 * several, those on its descriptors (and the epoll_wait calls of an epoll
 * that watches one) and those that end a program.
 */
function _connectionCalls(result: RunResult, conn: ConnectionResult): CallRecord[] {
  if (result.connections.length <= 1) return result.calls;
  const fds = _connectionFds(result, conn);
  const epolls = new Set(
    result.calls.filter((c) =>
      c.call === "epoll_ctl" && fds[c.side] !== null && (c.args ?? "").includes(`fd=${fds[c.side]} `)
    ).map((c) => `${c.side} ${c.fd}`),
  );
  return result.calls.filter((c) =>
    c.fd === fds[c.side] || ["_exit", "exit", "exit_group"].includes(c.call) ||
    (c.call === "epoll_wait" && epolls.has(`${c.side} ${c.fd}`))
  );
}

/**
 * The focus connection's packets (from the primary capture) and the
 * programs' teardown calls, in time order. A call's note stands where the
 * call began; one inside which a packet of the diagram went by shows twice,
 * `call(...) …` where it began and `… = result` where it returned. With
 * several connections, calls name their descriptor.
 */
function renderMermaid(result: RunResult, conn: ConnectionResult): string {
  const packets = conn.packets.filter((p) => p.capture === primaryCapture(conn));
  const withFd = result.connections.length > 1;
  const items: Array<{ ms: number; order: number; item: SequenceItem }> = [];
  packets.forEach((p, i) => {
    items.push({
      ms: p.ms,
      order: 2 * i + 1,
      item: { fromLeft: p.from === "client", flags: p.flags, seq: p.seq, ack: p.ack, length: p.length },
    });
  });
  // An RST the path sent carries a side's address; the diagram says who sent it.
  const pathRst = conn.cause === "path-reset" || conn.cause === "nat-mapping-expired"
    ? packets.findIndex((p) => p.flags.startsWith("R"))
    : -1;
  if (pathRst >= 0) {
    const rst = packets[pathRst]!;
    items.push({
      ms: rst.ms,
      order: 2 * pathRst + 2,
      item: {
        note: conn.cause === "nat-mapping-expired"
          ? "the middlebox's own kernel sent this RST (the NAT had forgotten the connection)"
          : "a firewall on the path sent this RST",
        over: rst.from === "client" ? "right" : "left",
      },
    });
  }
  for (const c of _connectionCalls(result, conn).filter(_diagramCall)) {
    const over = c.side === "client" ? "left" : "right";
    if (c.returnMs !== null && _spans(c, packets)) {
      const head = _callHead(c, withFd);
      items.push({ ms: c.enterMs, order: 0, item: { note: `${head} …`, over } });
      const outcome = formatCall(c, withFd).slice(head.length + 1);
      items.push({ ms: c.returnMs, order: 0, item: { note: `… ${c.call}() ${outcome}`, over } });
    } else {
      items.push({ ms: c.enterMs, order: 0, item: { note: formatCall(c, withFd), over } });
    }
  }
  items.sort((a, b) => a.ms - b.ms || a.order - b.order);
  return sequenceDiagram(
    { id: "C", label: `client ${conn.client}` },
    { id: "S", label: `server ${conn.server}` },
    items.map((i) => i.item),
    { resetArrow: "--x" },
  ).join("\n");
}

function renderKernel(conn: ConnectionResult, serverRestarted: boolean): string {
  const k = conn.kernel;
  const out = [
    "### Counters (after − before, in each side's own network namespace)",
    "",
    // A restarted server had two namespaces: the column is the first one's, its last snapshot taken at the cut.
    ...(serverRestarted
      ? [
        "The server's column is its first namespace's, from before the run to the moment it was cut off; the " +
        "fresh namespace's Tcp.OutRsts, when it moved, is in the proof above.",
        "",
      ]
      : []),
  ];
  const names = [...new Set(SIDES.flatMap((s) => Object.keys(k.counters[s])))].sort();
  const table = (rows: string[]) => [
    "| counter | client | server |",
    "|---|---:|---:|",
    ...rows.map((n) => {
      const cell = (s: Side) => {
        const v = k.counters[s][n];
        return v === undefined ? "" : `${v > 0 ? "+" : ""}${v}`;
      };
      return `| ${n} | ${cell("client")} | ${cell("server")} |`;
    }),
  ];
  const teardown = names.filter(isTeardownCounter);
  if (names.length === 0) {
    out.push("No TCP counter moved.");
  } else {
    out.push(...(teardown.length ? table(teardown) : ["No abort, reset or failure counter moved."]));
    const others = names.filter((n) => !isTeardownCounter(n));
    if (others.length) {
      out.push(
        "",
        `<details><summary>${others.length} other counters that moved</summary>`,
        "",
        ...table(others),
        "",
        "</details>",
      );
    }
  }
  out.push("", "### RST reasons (tcp:tcp_send_reset)", "");
  if (!k.traceAvailable) {
    out.push(`Not recorded: ${escapeText(k.traceNote ?? "tracefs unavailable")}.`);
  } else if (k.resetReasons.length === 0) {
    out.push("The kernel sent no RST for this connection.");
  } else {
    out.push(
      "| s since the SYN | side | state | reason |",
      "|---:|---|---|---|",
      ...k.resetReasons.map((r) =>
        `| ${r.ms === null ? "" : formatRelativeMs(r.ms)} | ${r.side} | ${r.state ?? ""} | ${
          r.reason === null ? escapeCell(r.text) : `\`${r.reason}\``
        } |`
      ),
    );
    if (!k.activeResetReasons) {
      out.push(
        "",
        "This kernel does not name the reasons for resets it sends on its own (they come with 6.12).",
      );
    }
  }
  out.push("", "### TCP state changes (sock:inet_sock_set_state)", "");
  if (!k.traceAvailable) {
    out.push("Not recorded (see above).");
  } else {
    out.push(
      "| s since the SYN | side | socket | change |",
      "|---:|---|---|---|",
      ...k.stateChanges.map((s) =>
        `| ${s.ms === null ? "" : formatRelativeMs(s.ms)} | ${s.side} | ${s.local} > ${s.remote} | ${
          s.change.replace(" -> ", " → ")
        } |`
      ),
    );
  }
  out.push("", "### Sockets left after the programs exited (/proc/net/tcp)", "");
  for (const side of SIDES) {
    const left = k.socketsLeft[side];
    out.push(
      `- ${side}: ${
        left.length === 0 ? "none" : left.map((s) => `${s.state} ${s.local} > ${s.remote}`).join("; ")
      }`,
    );
  }
  return folded("Kernel evidence: counters, RST reasons, state changes, sockets left", out.join("\n"));
}

/** Counters that speak of how connections end: aborts, resets, failures, TIME_WAIT, overflows. */
function isTeardownCounter(name: string): boolean {
  return /Abort|Rst|Reset|AttemptFails|\.TW|Listen(Overflows|Drops)|TimeWait/.test(name);
}

/**
 * The path's delay and reorder rules: who held the packets (and why not netem, as far as the host's kernel
 * config tells), what each rule asked for, and what the middlebox's queue program held; when it never bound
 * its queues, that nothing was held.
 */
function renderPathHolds(holds: PathHoldRecord[], kernel: EnvironmentRecord["pathKernel"]): string {
  const bound = holds.every((h) => h.bound);
  const lines = ["### Held on the path", "", _heldBy(kernel, bound), ""];
  for (const h of holds) {
    const asked = [
      ...(h.delayMs > 0 ? [`delay: {ms: ${h.delayMs}}`] : []),
      ...(h.every > 0 ? [`reorder: {every: ${h.every}, extra-ms: ${h.extraMs}}`] : []),
    ].join(", ");
    const queue = h.comment.replace("tcplab-path-", "");
    const rule = `Rule ${code(h.comment)} (to the ${h.to}: ${code(asked)})`;
    const count = h.queued === null ? "an unknown number of" : h.queued;
    if (!h.bound) {
      lines.push(
        `${rule} matched ${count} packets (\`-j NFQUEUE --queue-num ${queue} --queue-bypass\`); with no queue ` +
          `program bound, \`--queue-bypass\` let each of them through undelayed: nothing was held.`,
      );
      continue;
    }
    const others = h.heldCount - h.heldLongerIds.length;
    lines.push(
      `${rule} sent ${count} packets to NFQUEUE queue ${queue} (\`-j NFQUEUE --queue-num ${queue}\`); the middlebox's ` +
        `queue program (\`tcplab queue\`, run as 0:0 with the middlebox's NET_ADMIN) ${
          h.heldCount === 0
            ? "held none of them"
            : `held ${h.heldCount} of them before letting them go on: ${others} ${
              h.longestOtherMs === 0 ? "at once (each under 1 ms)" : `for at most ${h.longestOtherMs} ms`
            } (the rule's delay: ${h.delayMs} ms)${
              h.heldLongerMs
                ? `, and ${h.heldLongerIds.length} (the ${
                  h.heldLongerIds.map(_ordinal).join(", ")
                } that came) for ${
                  h.heldLongerMs.min === h.heldLongerMs.max
                    ? `${h.heldLongerMs.min} ms`
                    : `${h.heldLongerMs.min} to ${h.heldLongerMs.max} ms`
                }, so that packets that came after could overtake ${
                  h.heldLongerIds.length === 1 ? "it" : "them"
                }`
                : ""
            }`
        }. Each packet's line is in \`evidence/middlebox-queue.log\`.`,
    );
  }
  return lines.join("\n");
}

/**
 * Who made the path's delay: the lab's queue program, and whether the host's kernel had netem to do it; or,
 * when the program never bound its queues, that it was to make it and held nothing.
 */
function _heldBy(kernel: EnvironmentRecord["pathKernel"], bound: boolean): string {
  const netem = featureName(KERNEL_FEATURES.netem);
  const why = !kernel || kernel.source === null
    ? `whether this kernel has netem is unknown${
      kernel?.unreadable ? ` (${escapeText(kernel.unreadable)})` : ""
    }`
    : kernel.lacking.includes(netem)
    ? `this kernel has no netem (its config, ${code(kernel.source)}, lacks ${code(netem)})`
    : `this kernel has netem (${code(netem)}), which the lab does not use`;
  const by =
    "by the lab's queue program in the middlebox (`tcplab queue`, which keeps NET_ADMIN), not by netem";
  return bound
    ? `Delay and reordering were made ${by}: ${why}.`
    : `Delay and reordering were to be made ${by}: ${why}. The queue program did not bind its queues, so it ` +
      "held nothing (what it said is in `evidence/middlebox-queue.log`).";
}

/** 1 -> "1st", 2 -> "2nd", 11 -> "11th". */
function _ordinal(n: number): string {
  const tens = n % 100;
  const suffix = tens >= 11 && tens <= 13 ? "th" : ["th", "st", "nd", "rd"][n % 10] ?? "th";
  return `${n}${suffix}`;
}

function renderScenario(result: RunResult): string {
  const s = result.scenario;
  return folded(
    "Scenario: what each side's container ran",
    [
      escapeText(s.description),
      "",
      "| side | program | what its container ran |",
      "|---|---|---|",
      ...SIDES.map((side) =>
        `| ${side} | ${programText(result, side)} | ${
          s.steps[side].length ? s.steps[side].map((step) => escapeCell(code(step))).join(" ") : "nothing"
        } |`
      ),
    ].join("\n"),
  );
}

/** Who wrote a side's program: the lab (tcplab run), the user (an image), or none ran. */
function programText(result: RunResult, side: Side): string {
  const s = result.scenario;
  const host = s.hostPrograms?.[side];
  return host
    ? `your program, ${code(host.binary)} of this host${host.traced ? ", traced by strace" : ""}`
    : s.programs[side] === "user"
    ? `your program, image ${code(s.images[side] ?? "?")}`
    : s.programs[side] === "none"
    ? "none (nothing ran on this side)"
    : "the lab's `tcplab run`";
}

/** What the report says of a traced program of this host: how, and what tracing costs. */
const TRACED_TEXT =
  "its system calls were traced by strace, its parent in its container (forks and threads " +
  "followed); strace's log and its messages are kept apart from the program's stdout and stderr. strace stops " +
  "the program at each call it logs, which slows it (socat copying 1 MB took 4 to 20 times as long " +
  "traced when measured for docs/strace-cost.md); `--untraced` runs it without.";

/**
 * What the report says of a user's program whose calls were not traced, and why (UNTRACED_BECAUSE:
 * Markdown already, strace's words in code).
 */
function _untracedText(why: string | undefined): string {
  return `its system calls were not traced${
    why ? `: ${why}` : ""
  }; the packets and the kernel's evidence are.`;
}

/** How a program of this host ended, in a sentence. */
function _exitText(exitCode: number | null): string {
  return exitCode === null ? "Its exit status is unknown." : `It exited with status ${exitCode}.`;
}

/** Bytes as megabytes with one decimal, e.g. "4.2 MB". */
function _megabytes(bytes: number): string {
  return `${(bytes / 1_000_000).toFixed(1)} MB`;
}

/** The last lines of a program's output shown in the report; the evidence folder has them all. */
const OUTPUT_LINES = 12;

/** What the programs of this host wrote, and how they ended, folded; null without one. */
function renderProgramOutput(result: RunResult): string | null {
  const programs = SIDES.flatMap((side) => {
    const host = result.scenario.hostPrograms?.[side];
    return host ? [{ side, host }] : [];
  });
  if (programs.length === 0) return null;
  const body = programs.flatMap(({ side, host }) => [
    `The ${side}'s ${code(host.binary)}: ${
      host.exitCode === null ? "exit status unknown" : `exit status ${host.exitCode}`
    }.`,
    "",
    ..._outputBlock("stdout", host.stdout, `evidence/${side}-program.log`),
    ..._outputBlock("stderr", host.stderr, `evidence/${side}-program.stderr`),
    ...(host.straceMessages.trim() === ""
      ? []
      : _outputBlock("strace's own messages", host.straceMessages, `evidence/${side}-strace.stderr`)),
  ]);
  const whose = programs.map(({ side }) => `the ${side}'s`).join(" and ");
  const what = programs.length > 1 ? "programs" : "program";
  return folded(`Output of ${whose} ${what}: exit status, stdout, stderr`, body.join("\n").trim());
}

/** One stream of a program's output: its last lines in a code block, or that it was empty. */
function _outputBlock(name: string, text: string, file: string): string[] {
  const lines = text.replace(/\n$/, "").split("\n");
  if (text.trim() === "") return [`${name}: empty.`, ""];
  const shown = lines.slice(-OUTPUT_LINES);
  const fence = "`".repeat(Math.max(3, ...[...text.matchAll(/`+/g)].map((m) => m[0].length + 1)));
  const left = lines.length - shown.length;
  const wrapped = shown.some((line) => line.length > OUTPUT_WIDTH);
  return [
    `${name}${left > 0 ? ` (its last ${shown.length} lines; ${code(file)} has all ${lines.length})` : ""}${
      wrapped
        ? ` (lines over ${OUTPUT_WIDTH} characters wrapped, each part after the first indented by two spaces)`
        : ""
    }:`,
    "",
    `${fence}text`,
    ...shown.flatMap(_wrapLine),
    fence,
    "",
  ];
}

/** The characters of an output line that fit the report's column of code. */
const OUTPUT_WIDTH = 96;

/** A line of output cut at spaces into parts of at most OUTPUT_WIDTH characters, the later ones indented. */
function _wrapLine(line: string): string[] {
  const parts: string[] = [];
  let rest = line;
  while (rest.length > OUTPUT_WIDTH) {
    const space = rest.lastIndexOf(" ", OUTPUT_WIDTH);
    const cut = space > 2 ? space : OUTPUT_WIDTH;
    parts.push(rest.slice(0, cut));
    rest = `  ${rest.slice(cut).trimStart()}`;
  }
  parts.push(rest);
  return parts;
}

/**
 * A path's loss and rate rules with their counters in the middlebox, and the segments each side's kernel
 * sent again (Tcp.RetransSegs): what the path did, which differs from run to run. Nothing without such rules.
 */
function _pathRuleProof(result: RunResult, conn: ConnectionResult): string[] {
  if (!result.pathRules) return [];
  const lines = result.pathRules.map((r) => {
    const c = r.counter;
    const did = c === null
      ? "no counter was found in the middlebox's listing"
      : c.target === "TBF"
      ? `its TBF ${escapeText(c.line.replace(/^tbf [^:]*: /, ""))}`
      : `its counter: ${c.packets} packet${c.packets === 1 ? "" : "s"} dropped (${c.bytes} bytes)`;
    return `- The path's rule ${code(r.comment)}, ${escapeText(r.rule)}: ${did}.`;
  });
  for (const side of SIDES) {
    const again = conn.kernel.counters[side]["Tcp.RetransSegs"] ?? 0;
    if (again > 0) {
      lines.push(
        `- Retransmissions: the ${side}'s kernel sent ${again} segment${again === 1 ? "" : "s"} again (${
          code(`Tcp.RetransSegs +${again}`)
        }).`,
      );
    }
  }
  return lines;
}

/**
 * The environment's line on a path's kernel options: those its rules used, and whether the host's kernel
 * has them, as its config says (or why that is unknown); then what else of a path's options it lacks.
 */
function _pathKernelLines(k: EnvironmentRecord["pathKernel"]): string[] {
  if (!k) return [];
  const used = k.used.length ? k.used.map(code).join(", ") : "none";
  if (k.source === null) {
    return [
      `- Kernel options: the path used ${used}; whether this host's kernel has them is unknown: ${
        escapeText(k.unreadable ?? "")
      }`,
    ];
  }
  const missing = k.used.filter((o) => k.lacking.includes(o));
  const others = k.lacking.filter((o) => !k.used.includes(o));
  const has = missing.length === 0
    ? `this host's kernel has each${
      k.used.some((o) => o.includes(" or ")) ? ' (of an "or", at least one)' : ""
    } (set to y or m in ${code(k.source)})`
    : `this host's kernel lacks ${missing.map(code).join(", ")} (as ${code(k.source)} says)`;
  return [
    `- Kernel options: the path used ${used}, and ${has}; ${
      others.length
        ? `of the other options a path can use, it lacks ${others.map(code).join(", ")}`
        : "it lacks none of the other options a path can use"
    }`,
  ];
}

function renderEnvironment(result: RunResult): string {
  const e = result.environment;
  const lines = [
    `- Kernel ${e.kernel} (${e.arch}), Docker Engine ${e.dockerVersion} (API ${e.dockerApiVersion}), tcplab ${e.labVersion}, Deno ${e.denoVersion}`,
    `- Run ${result.runId}, started ${result.startedAt}; network \`${e.network.name}\` ${e.network.subnet} (Internal, no host address on the bridge)`,
    `- Images: ${
      Object.entries(e.images).map(([tag, id]) => {
        const size = e.imageSizes?.[tag];
        return `${code(tag)} ${id.slice(0, 19)}${size === undefined ? "" : ` (${_megabytes(size)})`}`;
      }).join(", ")
    }`,
    "- Captures: " + _capturePoints(result).map((side) => {
      const c = result.captures[side]!;
      return `${side} ${c.packets} packets, ${
        c.stats ? `${c.stats.droppedByKernel} dropped by the kernel` : "drop count unknown"
      }`;
    }).join("; "),
    ..._pathKernelLines(e.pathKernel),
    "",
    "| container | role | user | capabilities |",
    "|---|---|---|---|",
    ...e.containers.map((c) =>
      `| ${code(c.name)} | ${c.role} | ${c.user} | ${
        c.capabilities.length ? c.capabilities.join(", ") : "none"
      } |`
    ),
  ];
  return folded("Environment: kernel, Docker, images, captures, containers", lines.join("\n"));
}
