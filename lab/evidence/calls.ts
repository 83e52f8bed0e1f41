/**
 * The system calls a program made, from the JSON lines `tcplab run` logs.
 *
 * @module
 */

/** One system call, from its entry to its return. */
export interface Call {
  /** "server" or "client" (or a user's own name for the side). */
  side: string;
  /** 1-based scenario step that made the call. */
  step: number;
  call: string;
  fd: number | null;
  args: string | null;
  enterNs: bigint;
  /** Null when the call never returned (the program was stopped inside it). */
  returnNs: bigint | null;
  /** Monotonic clock at entry, to relate trace events. */
  enterMonoNs: bigint;
  ret: number | null;
  errno: string | null;
  /** Extra results: events, value, local, peer, bytes, iterations. */
  detail: Record<string, string | number>;
}

/** What a program's log says beside its calls. */
export interface ProgramLog {
  calls: Call[];
  /** Real-minus-monotonic clock offset seen by the program, in ns. */
  monoToRealNs: bigint | null;
  /** Whether the program logged its end (it ran all its steps). */
  finished: boolean;
  /** Lines that were not JSON (a crash message, for example). */
  otherLines: string[];
}

/**
 * The call with which the lab's program waits for the lab after a held step (`tcplab run --hold-after`):
 * `sigwaitinfo(SIGUSR1)`, logged as the step's last call; it returns when the lab's work there is done.
 */
export const HOLD_CALL = "sigwaitinfo";

const DETAIL_KEYS = ["events", "value", "local", "peer", "bytes", "iterations"];

/**
 * Parse the JSON lines a `tcplab run` program wrote.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const log = parseProgramLog("client", [
 *   '{"ph":"enter","step":1,"call":"close","fd":3,"real":"10","mono":"4"}',
 *   '{"ph":"return","step":1,"call":"close","fd":3,"ret":0,"errno":null,"real":"12","mono":"6"}',
 * ].join("\n"));
 * assert.equal(log.calls[0]?.returnNs, 12n);
 * ```
 */
export function parseProgramLog(side: string, text: string): ProgramLog {
  const calls: Call[] = [];
  const open = new Map<number, Call>();
  const otherLines: string[] = [];
  let monoToRealNs: bigint | null = null;
  let finished = false;
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(line);
    } catch {
      otherLines.push(line);
      continue;
    }
    const real = typeof entry.real === "string" ? BigInt(entry.real) : null;
    const mono = typeof entry.mono === "string" ? BigInt(entry.mono) : null;
    if (monoToRealNs === null && real !== null && mono !== null) monoToRealNs = real - mono;
    const step = Number(entry.step ?? 0);
    if (entry.ph === "enter") {
      const call: Call = {
        side,
        step,
        call: String(entry.call),
        fd: typeof entry.fd === "number" ? entry.fd : null,
        args: typeof entry.args === "string" ? entry.args : null,
        enterNs: real ?? 0n,
        enterMonoNs: mono ?? 0n,
        returnNs: null,
        ret: null,
        errno: null,
        detail: {},
      };
      calls.push(call);
      open.set(step, call);
    } else if (entry.ph === "return") {
      const call = open.get(step);
      if (!call || call.call !== entry.call) {
        otherLines.push(line);
        continue;
      }
      open.delete(step);
      call.returnNs = real;
      call.ret = typeof entry.ret === "number" ? entry.ret : null;
      call.errno = typeof entry.errno === "string" ? entry.errno : null;
      if (typeof entry.fd === "number") call.fd = entry.fd;
      for (const key of DETAIL_KEYS) {
        const value = entry[key];
        if (typeof value === "string" || typeof value === "number") call.detail[key] = value;
      }
    } else if (entry.ph === "end") {
      finished = true;
    }
  }
  return { calls, monoToRealNs, finished, otherLines };
}
