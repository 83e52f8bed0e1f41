/**
 * Render a run's result as the Markdown report people attach to tickets.
 * Pure: a RunResult in, text out.
 *
 * @module
 */

import { type Side, SIDES } from "../scenario/types.ts";
import type { CallRecord, ConnectionResult, PacketRecord, RunResult } from "../verdict/types.ts";
import { focusConnection } from "../verdict/focus.ts";
import { type Reproduction, SCENARIO_FILE } from "../verdict/reproduction.ts";
import { numberingNote, sidesWithoutSyn } from "../analysis/packet_lines.ts";
import { formatRelativeMs } from "../analysis/tcpdump_format.ts";
import { explainCause } from "./explanations.ts";
import { code, escapeCell, escapeText } from "./markdown_escape.ts";
import { sequenceDiagram, type SequenceItem } from "./sequence_diagram.ts";

/** Every connection between the two programs, one row each; the one the verdict is about marked. */
function renderConnections(result: RunResult): string {
  const rows = result.connections.map((c) =>
    `| ${c.id === result.focus ? `**${c.id}**` : c.id} | ${code(c.client)} | ${
      code(c.server)
    } | \`${c.state}\` | \`${escapeCell(c.history)}\` | ${c.resetBy ?? ""} | ${
      c.closedFirstBy ?? ""
    } | \`${c.cause}\` |`
  );
  return [
    "## Connections",
    "",
    `The programs made ${result.connections.length} connections, in the order of their SYNs. ` +
    `The verdict, the expectation and the sections below are about connection ${result.focus}.`,
    "",
    "| # | client | server | state | history | reset by | closed first by | cause |",
    "|---:|---|---|---|---|---|---|---|",
    ...rows,
  ].join("\n");
}

/** The whole report. */
export function renderReport(result: RunResult): string {
  const conn = focusConnection(result);
  const out: string[] = [];
  out.push(`# tcplab: \`${escapeText(result.scenario.name)}\`: ${escapeText(result.scenario.title)}`, "");
  out.push(`> **Verdict:** ${escapeText(result.verdict)}`, "");
  for (const side of SIDES) {
    const host = result.scenario.hostPrograms?.[side];
    if (host) {
      out.push(
        `The ${side} is a program of this host, ${code(host.binary)} (command ${
          code(result.scenario.steps[side].join(" "))
        }), in an image the lab built from it: ${
          host.traced
            ? "its system calls were traced by strace, its parent in its container (forks and threads followed); " +
              "strace stops the program at each call it logs, so the program runs slower than untraced."
            : "its system calls were not traced (`trace: false`); the packets and the kernel's evidence are."
        }`,
        "",
      );
    } else if (result.scenario.programs[side] === "user") {
      out.push(
        `The ${side} is the user's own program (image ${code(result.scenario.images[side] ?? "?")}, command ${
          code(result.scenario.steps[side].join(" "))
        }): its system calls are not logged, the packets and the kernel's evidence are.`,
        "",
      );
    }
  }
  out.push(renderExpectation(result), "");
  for (const warning of result.warnings) out.push(`> **Warning:** ${escapeText(warning)}`, "");
  if (result.timedOut) {
    out.push(
      `> **Timed out:** ${escapeText(result.timedOut)}; the evidence below is what was collected until then.`,
      "",
    );
  }

  if (result.connections.length > 1) out.push(renderConnections(result), "");
  if (conn) {
    const explanation = explainCause(conn.cause, conn);
    out.push(
      "## What happened" + (result.connections.length > 1 ? ` (connection ${conn.id})` : ""),
      "",
    );
    for (const p of explanation.plain) out.push(p, "");
    out.push(renderProof(result, conn), "");
    out.push("## Timeline", "");
    out.push(
      "Both programs' system calls and the packets, on one clock: ms since the client's SYN. A call that blocked " +
        "shows twice, `call(...) …` when it entered the kernel and `… = result` when it returned. Packets from the client's capture.",
      "",
    );
    out.push(
      renderTimeline(result.calls, conn.packets.filter((p) => p.capture === primaryCapture(conn))),
      "",
    );
    out.push("## Packets", "");
    const note = numberingNote(
      sidesWithoutSyn(conn.packets.filter((p) => p.capture === primaryCapture(conn))),
    );
    if (note !== null) out.push(note, "");
    for (const side of SIDES) {
      const packets = conn.packets.filter((p) => p.capture === side);
      out.push(
        `From the ${side}'s capture (\`${
          result.captures[side].file
        }\`), in tcpdump's notation, time since the first SYN:`,
        "",
      );
      out.push("```", ...packets.map((p) => `${formatRelativeMs(p.ms)} ${p.tcpdump}`), "```", "");
    }
    out.push("## Sequence diagram", "", renderMermaid(conn, result.calls), "");
    out.push(renderKernel(conn), "");
    out.push("## Why Linux does this", "");
    for (const p of explanation.why) out.push(p, "");
    if (explanation.instead) {
      out.push("## What to do instead", "", explanation.instead, "");
      if (result.contrast) {
        const c = result.contrast;
        out.push(
          `Contrast, run beside this one: scenario \`${escapeText(c.name)}\` ended \`${c.state}\`, ${
            c.resetBy ? `RST by the ${c.resetBy}` : "with no RST"
          }, cause \`${c.cause}\` ([its report](${c.report})).`,
          "",
        );
      }
    } else if (result.contrast) {
      const c = result.contrast;
      out.push(
        "## Contrast",
        "",
        `Scenario \`${escapeText(c.name)}\`, run beside this one, ended \`${c.state}\`, ${
          c.resetBy ? `RST by the ${c.resetBy}` : "with no RST"
        }, cause \`${c.cause}\` ([its report](${c.report})).`,
        "",
      );
    }
  } else {
    out.push("## What happened", "", "No TCP connection was seen in the captures.", "");
  }
  out.push(renderScenario(result), "");
  out.push(renderEnvironment(result), "");
  out.push(renderReproduce(result.reproduce), "");
  return out.join("\n").replace(/\n{3,}/g, "\n\n");
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
  return conn.packets.some((p) => p.capture === "client") ? "client" : "server";
}

function renderExpectation(result: RunResult): string {
  const { met, checks } = result.expectation;
  const checked = checks.filter((c) => c.skipped === null);
  const lines = [
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
  if (resetPacket) {
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
  if (count !== null && resetter !== null && conn.facts.unreadBytes !== null && count.delivered > 0) {
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
      lines.push(`- The ${side} program: ${calls.map((c) => code(formatCall(c))).join(", then ")}.`);
    }
  }
  return lines.join("\n");
}

function _bytes(n: number): string {
  return `${n} byte${n === 1 ? "" : "s"}`;
}

function isTeardownCall(call: CallRecord): boolean {
  return ["close", "shutdown", "read", "epoll_wait", "write", "connect", "_exit"].includes(call.call) ||
    (call.call === "ioctl" && call.args === "FIONREAD");
}

/** A call as one short text: `read(fd 4, 1) = -1 ECONNRESET`. */
export function formatCall(call: CallRecord): string {
  const args = call.args ? `(${call.args})` : "()";
  const result = call.returnMs === null
    ? "… (never returned)"
    : call.errno
    ? `= ${call.ret} ${call.errno}`
    : `= ${call.ret}`;
  const details = Object.entries(call.detail)
    .filter(([k, v]) => k !== "bytes" && !(k === "iterations" && v === 1))
    .map(([k, v]) => (k === "events" ? String(v) : `${k}=${v}`));
  return `${call.call}${args} ${result}${details.length ? ` ${details.join(" ")}` : ""}`;
}

function renderTimeline(calls: CallRecord[], packets: PacketRecord[]): string {
  type Row = { ms: number; order: number; client: string; wire: string; server: string };
  const rows: Row[] = [];
  // A call that blocked gets two rows, at entry and at return, so that a
  // packet sent while it was inside the kernel shows between them.
  calls.forEach((c, i) => {
    const put = (ms: number, order: number, text: string) =>
      rows.push({
        ms,
        order,
        client: c.side === "client" ? text : "",
        wire: "",
        server: c.side === "server" ? text : "",
      });
    const done = `\`${escapeCell(formatCall(c))}\``;
    if (c.returnMs === null) {
      put(c.enterMs, 2 * i, `${done} (entered, never returned)`);
    } else if (c.returnMs - c.enterMs >= 0.1) {
      put(c.enterMs, 2 * i, `\`${escapeCell(`${c.call}(${c.args ?? ""})`)}\` …`);
      put(c.returnMs, 2 * i + 1, `… ${done}`);
    } else {
      put(c.enterMs, 2 * i, done);
    }
  });
  packets.forEach((p, i) => {
    const arrow = p.from === "client" ? "client → server" : p.from === "server" ? "server → client" : "→";
    rows.push({
      ms: p.ms,
      order: 1e6 + i,
      client: "",
      wire: `${arrow} \`[${p.flags}]\` seq ${p.seq}${
        p.flags.includes(".") ? `, ack ${p.ack}` : ""
      }, len ${p.length}`,
      server: "",
    });
  });
  rows.sort((a, b) => a.ms - b.ms || a.order - b.order);
  return [
    "| ms | client calls | packet | server calls |",
    "|---:|---|---|---|",
    ...rows.map((r) => `| ${r.ms.toFixed(3)} | ${r.client} | ${r.wire} | ${r.server} |`),
  ].join("\n");
}

/** The focus connection's packets (from the primary capture) and the programs' teardown calls, in time order. */
function renderMermaid(conn: ConnectionResult, calls: CallRecord[]): string {
  const items: Array<{ ms: number; item: SequenceItem }> = [];
  for (const p of conn.packets.filter((p) => p.capture === primaryCapture(conn))) {
    items.push({
      ms: p.ms,
      item: { fromLeft: p.from === "client", flags: p.flags, seq: p.seq, ack: p.ack, length: p.length },
    });
  }
  for (const c of calls) {
    if (
      !["close", "shutdown", "read", "epoll_wait"].includes(c.call) &&
      !(c.call === "ioctl" && c.args === "FIONREAD")
    ) continue;
    items.push({
      ms: c.returnMs ?? c.enterMs,
      item: { note: formatCall(c), over: c.side === "client" ? "left" : "right" },
    });
  }
  items.sort((a, b) => a.ms - b.ms);
  return sequenceDiagram(
    { id: "C", label: `client ${conn.client}` },
    { id: "S", label: `server ${conn.server}` },
    items.map((i) => i.item),
    { resetArrow: "--x" },
  ).join("\n");
}

function renderKernel(conn: ConnectionResult): string {
  const k = conn.kernel;
  const out = [
    "## Kernel evidence",
    "",
    "### Counters (after − before, in each side's own network namespace)",
    "",
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
      "```",
      ...k.resetReasons.map((r) =>
        `${r.ms === null ? "" : `${formatRelativeMs(r.ms)} `}${r.side}: ${r.text}`
      ),
      "```",
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
      "```",
      ...k.stateChanges.map((s) =>
        `${s.ms === null ? "" : `${formatRelativeMs(s.ms)} `}${s.side} ${s.local} > ${s.remote}: ${s.change}`
      ),
      "```",
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
  return out.join("\n");
}

/** Counters that speak of how connections end: aborts, resets, failures, TIME_WAIT, overflows. */
function isTeardownCounter(name: string): boolean {
  return /Abort|Rst|Reset|AttemptFails|\.TW|Listen(Overflows|Drops)|TimeWait/.test(name);
}

function renderScenario(result: RunResult): string {
  const s = result.scenario;
  return [
    "## Scenario",
    "",
    escapeText(s.description),
    "",
    "| side | program | what its container ran |",
    "|---|---|---|",
    ...SIDES.map((side) =>
      `| ${side} | ${programText(result, side)} | ${
        s.steps[side].length ? s.steps[side].map((step) => escapeCell(code(step))).join(" ") : "nothing"
      } |`
    ),
  ].join("\n");
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

function renderEnvironment(result: RunResult): string {
  const e = result.environment;
  const lines = [
    "## Environment",
    "",
    `- Kernel ${e.kernel} (${e.arch}), Docker Engine ${e.dockerVersion} (API ${e.dockerApiVersion}), tcplab ${e.labVersion}, Deno ${e.denoVersion}`,
    `- Run ${result.runId}, started ${result.startedAt}; network \`${e.network.name}\` ${e.network.subnet} (Internal, no host address on the bridge)`,
    `- Images: ${Object.entries(e.images).map(([tag, id]) => `${code(tag)} ${id.slice(0, 19)}`).join(", ")}`,
    "- Captures: " + SIDES.map((side) => {
      const c = result.captures[side];
      return `${side} ${c.packets} packets, ${
        c.stats ? `${c.stats.droppedByKernel} dropped by the kernel` : "drop count unknown"
      }`;
    }).join("; "),
    "",
    "| container | role | user | capabilities |",
    "|---|---|---|---|",
    ...e.containers.map((c) =>
      `| ${code(c.name)} | ${c.role} | ${c.user} | ${
        c.capabilities.length ? c.capabilities.join(", ") : "none"
      } |`
    ),
  ];
  return lines.join("\n");
}
