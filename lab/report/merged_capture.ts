/**
 * One capture file for a ticket: every capture point of a run in one
 * pcapng, each its own interface (named `client` and `server`, and
 * `middlebox` for a scenario with a `path:`), every
 * record in time order, with the run's story as packet comments: each
 * program's calls and the kernel's RST reasons and state changes.
 *
 * Where a note goes:
 * - a call goes on the next packet of the run's connections that its side's
 *   capture saw at or after the call was entered;
 * - an RST reason goes on the RST it explains: the RST of its connection
 *   from that side, in that side's capture, nearest in time;
 * - a state change goes on the packet of its connection, in its side's
 *   capture, nearest in time: the trace's times are the kernel's
 *   monotonic clock converted to wall time, off from the captures' by some
 *   tens of microseconds, so the packet just after a state change's time
 *   may be one after the packet that caused it;
 * - a note with no packet to go on (a call after the side's last packet)
 *   becomes a record of its own, with the note as its comment, on a third
 *   interface named `events` (there only when needed): an empty Wireshark
 *   exported PDU, which Wireshark shows with no warning.
 *
 * Pure: the captures' bytes and the run's result in, the file's bytes out.
 *
 * @module
 */

import { readCapture } from "../analysis/capture_reader.ts";
import { type PcapngInterface, type PcapngRecord, writePcapng } from "../analysis/pcapng_writer.ts";
import { type Side, SIDES } from "../scenario/types.ts";
import type { CapturePoint, PacketRecord, RunResult } from "../verdict/types.ts";
import { formatCall } from "./run_report.ts";

/** The interface that holds the notes no packet came after. */
export const EVENTS_INTERFACE = "events";

/** The link type of the `events` interface: LINKTYPE_WIRESHARK_UPPER_PDU. */
export const EVENTS_LINK_TYPE = 252;

/** An `events` record's bytes: an exported PDU with no tags but the end of its list, and no payload. */
export const EVENTS_RECORD: Uint8Array = new Uint8Array(4);

/** One note of the run's story, and the packet it goes on. */
export interface CaptureNote {
  /** The comment's text, e.g. `client: close() = 0 (fd 3, step 3)`. */
  text: string;
  /** When it happened, ms since the connection's first SYN, on the captures' clock (null: unknown). */
  ms: number | null;
  /** The packet it goes on, or null: a record of its own on the `events` interface. */
  packet: { capture: CapturePoint; index: number } | null;
}

/** The run's notes, each placed on its packet (see the module's comment), in time order. */
export function captureNotes(result: RunResult): CaptureNote[] {
  const packets = result.connections.flatMap((c) => c.packets);
  const bySide = Object.fromEntries(
    SIDES.map((side) => [side, packets.filter((p) => p.capture === side).sort((a, b) => a.ms - b.ms)]),
  ) as Record<Side, PacketRecord[]>;
  const next = (side: Side, ms: number) => bySide[side].find((p) => p.ms >= ms);
  const nearest = (candidates: PacketRecord[], ms: number | null) =>
    ms === null ? undefined : candidates.reduce<PacketRecord | undefined>(
      (best, p) => (best === undefined || Math.abs(p.ms - ms) < Math.abs(best.ms - ms) ? p : best),
      undefined,
    );
  const place = (p: PacketRecord | undefined) => (p ? { capture: p.capture, index: p.index } : null);

  const notes: CaptureNote[] = [];
  for (const call of result.calls) {
    const about = [
      ...(call.fd === undefined || call.fd === null ? [] : [`fd ${call.fd}`]),
      `step ${call.step}`,
    ];
    notes.push({
      text: `${call.side}: ${formatCall(call)} (${about.join(", ")})`,
      ms: call.enterMs,
      packet: place(next(call.side, call.enterMs)),
    });
  }
  for (const conn of result.connections) {
    // The kernel's notes go on a packet of their own connection.
    const ofSide = (side: CapturePoint | "other") =>
      conn.packets.filter((p) => side === "other" || p.capture === side);
    for (const r of conn.kernel.resetReasons) {
      // The middlebox's own RST carries its own address: "other" to the sides.
      const from = r.side === "middlebox" ? "other" : r.side;
      const resets = ofSide(r.side).filter((p) => p.from === from && p.flags.includes("R"));
      notes.push({ text: `${r.side} kernel: ${r.text}`, ms: r.ms, packet: place(nearest(resets, r.ms)) });
    }
    for (const s of conn.kernel.stateChanges) {
      notes.push({
        text: `${s.side} kernel: ${s.change} (${s.local} to ${s.remote})`,
        ms: s.ms,
        packet: place(nearest(ofSide(s.side), s.ms)),
      });
    }
  }
  // Time order; a note with no time last.
  return notes
    .map((n, i) => ({ n, i }))
    .sort((a, b) => (a.n.ms ?? Infinity) - (b.n.ms ?? Infinity) || a.i - b.i)
    .map(({ n }) => n);
}

/**
 * Every capture of a run in one pcapng, in time order, with the run's notes
 * as comments (see {@link captureNotes}). `captures` holds each side's
 * capture file (pcap or pcapng), and the middlebox's when the run had one;
 * a capture point without its file has an interface and no packets.
 * `application` names the writer in the file's header.
 */
export function mergeCaptures(
  result: RunResult,
  captures: Record<Side, Uint8Array | null> & { middlebox?: Uint8Array | null },
  application: string,
): Uint8Array {
  const interfaces: PcapngInterface[] = [];
  const interfaceOf = (name: string, linkType: number) => {
    let id = interfaces.findIndex((i) => i.name === name && i.linkType === linkType);
    if (id < 0) id = interfaces.push({ name, linkType }) - 1;
    return id;
  };
  type Merged = PcapngRecord & { comments: string[]; order: number };
  const records: Merged[] = [];
  const bySide = new Map<string, Merged>();
  const points: CapturePoint[] = [...SIDES, ...("middlebox" in captures ? ["middlebox" as const] : [])];
  for (const side of points) {
    const bytes = captures[side] ?? null;
    if (bytes === null) {
      interfaceOf(side, 1);
      continue;
    }
    for (const r of readCapture(bytes, `${side}.pcap`)) {
      const merged: Merged = {
        interfaceId: interfaceOf(side, r.linkType),
        timeNs: r.timeNs,
        data: r.data,
        originalLength: r.originalLength,
        comments: [],
        order: records.length,
      };
      records.push(merged);
      bySide.set(`${side} ${r.index}`, merged);
    }
  }

  const t0 = _firstSynNs(result);
  const lastNs = records.reduce((max, r) => (r.timeNs > max ? r.timeNs : max), 0n);
  for (const note of captureNotes(result)) {
    const target = note.packet ? bySide.get(`${note.packet.capture} ${note.packet.index}`) : undefined;
    if (target) {
      target.comments.push(note.text);
      continue;
    }
    // A note of its own, at its time (when that is known), after the packets otherwise.
    const at = t0 !== null && note.ms !== null ? t0 + BigInt(Math.round(note.ms * 1e6)) : lastNs;
    records.push({
      interfaceId: interfaceOf(EVENTS_INTERFACE, EVENTS_LINK_TYPE),
      timeNs: at,
      data: EVENTS_RECORD,
      originalLength: EVENTS_RECORD.length,
      comments: [note.text],
      order: records.length,
    });
  }
  records.sort((a, b) => (a.timeNs < b.timeNs ? -1 : a.timeNs > b.timeNs ? 1 : a.order - b.order));
  return writePcapng(interfaces, records, application);
}

/** The time of the connection's first SYN (ms 0 of the result), ns since the epoch, or null with no packets. */
function _firstSynNs(result: RunResult): bigint | null {
  const p = result.connections[0]?.packets[0];
  return p ? BigInt(p.timeNs) - BigInt(Math.round(p.ms * 1e6)) : null;
}
