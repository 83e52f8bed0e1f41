/**
 * The system calls of a user's program, as strace logged them, turned into
 * the same call records the lab's own steps log (lab/evidence/calls.ts):
 * the socket calls, connect/accept with the peer, reads and writes with
 * their byte counts, shutdown, close, setsockopt, poll/epoll and the exit.
 * strace runs as the program's parent in its container with STRACE_OPTIONS:
 * it follows forks and threads (-f), stamps each call with the real-time
 * clock in microseconds (-ttt, the captures' clock) and its duration (-T).
 *
 * Reads, writes and closes count only on the Internet sockets the program
 * made or accepted, under any number dup2() gave them (`nc -e` makes the
 * socket a program's stdin and stdout): the loader's and the program's own
 * files are left out; a close() of one of a socket's numbers while another
 * still names it closes nothing, and is left out too. One set of socket numbers serves all the program's
 * processes, and close-on-exec is not seen: a number a socket had, reused
 * for a file after an exec closed it, would count as the socket's.
 *
 * @module
 */

import type { Call, ProgramLog } from "./calls.ts";

/** The calls strace logs; `?` lets a name that this architecture lacks (poll on arm64) pass. */
const TRACED_CALLS = [
  "socket",
  "connect",
  "accept",
  "accept4",
  "bind",
  "listen",
  "shutdown",
  "close",
  "read",
  "write",
  "readv",
  "writev",
  "recvfrom",
  "sendto",
  "recvmsg",
  "sendmsg",
  "sendfile",
  "splice",
  "setsockopt",
  "ioctl",
  "dup",
  "dup2",
  "dup3",
  "poll",
  "ppoll",
  "select",
  "pselect6",
  "epoll_wait",
  "epoll_pwait",
  "exit_group",
];

/** strace's options, before the program's command: see the module's comment. */
export const STRACE_OPTIONS = [
  "-f",
  "-ttt",
  "-T",
  "-qq",
  "-s",
  "0",
  "-e",
  `trace=${TRACED_CALLS.map((c) => `?${c}`).join(",")}`,
];

/** A line strace wrote: an optional "[pid N]" or "N", then seconds.micros since the epoch. */
const LINE = /^(?:\[pid\s+(\d+)\]\s+|(\d+)\s+)?(\d{9,}\.\d{6}) (.*)$/;

/**
 * A write to the program's own stderr as strace logs it on entry (`-s 0`): the program's bytes
 * reach the same stream right after it, before strace ends the line with the result.
 */
const STDERR_WRITE = /^(?:\[pid\s+\d+\]\s+|\d+\s+)?\d{9,}\.\d{6} write\(2, ""\.\.\., (?=\d)/;

/** How strace's line for a write goes on after the program's bytes. */
const WRITE_END = /^\)\s+= (\d+)/;

/**
 * Split a traced container's stderr: strace's lines, and the program's own.
 * What the program writes to its stderr lands in the middle of strace's line
 * for that write(2, ...): those bytes are taken out of the line into the
 * program's own.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const { trace, rest } = splitTraceLines("1700000000.000001 close(3) = 0 <0.000002>\noops\n");
 * assert.equal(trace, "1700000000.000001 close(3) = 0 <0.000002>\n");
 * assert.equal(rest, "oops\n");
 * const mixed = splitTraceLines('1700000000.000001 write(2, ""..., 3no\n) = 3 <0.000002>\n');
 * assert.equal(mixed.trace, '1700000000.000001 write(2, ""..., 3) = 3 <0.000002>\n');
 * assert.equal(mixed.rest, "no\n");
 * ```
 */
export function splitTraceLines(stderr: string): { trace: string; rest: string } {
  let trace = "";
  let rest = "";
  let at = 0;
  while (at < stderr.length) {
    let [line, next] = _lineAt(stderr, at);
    const write = STDERR_WRITE.exec(line);
    if (write) {
      // The count, then the program's bytes (digits too, maybe), then the rest of strace's line.
      const from = at + write[0].length;
      const split = _stderrBytes(stderr, from);
      if (split) {
        rest += stderr.slice(split.bytesFrom, split.bytesTo);
        const [tail, end] = _lineAt(stderr, split.bytesTo);
        [line, next] = [write[0] + stderr.slice(from, split.bytesFrom) + tail, end];
      }
    }
    const text = stderr.slice(next - 1, next) === "\n" ? `${line}\n` : line;
    if (LINE.test(line)) trace += `${line}\n`;
    else rest += text;
    at = next;
  }
  return { trace, rest };
}

/** The line that starts at `at` (without its newline), and where the next one starts. */
function _lineAt(text: string, at: number): [string, number] {
  const end = text.indexOf("\n", at);
  return end < 0 ? [text.slice(at), text.length] : [text.slice(at, end), end + 1];
}

/**
 * Where the program's bytes are after a write's count that starts at `from`: the count is the
 * shortest run of digits whose bytes are followed by the write's result, that count.
 */
function _stderrBytes(text: string, from: number): { bytesFrom: number; bytesTo: number } | null {
  for (let digits = from + 1; digits <= from + 20 && /\d/.test(text[digits - 1] ?? ""); digits++) {
    const count = Number(text.slice(from, digits));
    const bytesTo = _afterBytes(text, digits, count);
    const end = WRITE_END.exec(text.slice(bytesTo, bytesTo + 40));
    if (end && Number(end[1]) === count) return { bytesFrom: digits, bytesTo };
  }
  return null;
}

/** Where `count` bytes (UTF-8) of `text` from `at` end. */
function _afterBytes(text: string, at: number, count: number): number {
  const encoder = new TextEncoder();
  let bytes = 0;
  while (bytes < count && at < text.length) {
    const char = String.fromCodePoint(text.codePointAt(at)!);
    bytes += encoder.encode(char).length;
    at += char.length;
  }
  return at;
}

/** The calls that take a descriptor first and count only on the program's sockets. */
const FD_CALLS = new Set([
  "connect",
  "bind",
  "listen",
  "shutdown",
  "close",
  "read",
  "write",
  "readv",
  "writev",
  "recvfrom",
  "sendto",
  "recvmsg",
  "sendmsg",
  "setsockopt",
  "ioctl",
  "sendfile",
  "splice",
]);

/**
 * Parse strace's log of one side's program into call records. `step` is 0:
 * a traced program has no steps.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const log = parseSyscallTrace("client", [
 *   "1700000000.000001 socket(AF_INET, SOCK_STREAM, IPPROTO_TCP) = 3 <0.000010>",
 *   '1700000000.000020 connect(3, {sa_family=AF_INET, sin_port=htons(9999), sin_addr=inet_addr("10.0.0.2")}, 16) = 0 <0.000100>',
 *   "1700000000.000200 setsockopt(3, SOL_SOCKET, SO_LINGER, {l_onoff=1, l_linger=0}, 8) = 0 <0.000003>",
 *   '1700000000.000300 read(3, ""..., 8192) = 5 <0.000004>',
 *   "1700000000.000400 close(3) = 0 <0.000020>",
 * ].join("\n"));
 * assert.deepEqual(log.calls.map((c) => [c.call, c.fd, c.args, c.ret]), [
 *   ["socket", 3, "AF_INET,SOCK_STREAM", 3],
 *   ["connect", 3, null, 0],
 *   ["setsockopt", 3, "SO_LINGER=1,0", 0],
 *   ["read", 3, null, 5],
 *   ["close", 3, null, 0],
 * ]);
 * assert.equal(log.calls[1]?.detail.peer, "10.0.0.2:9999");
 * assert.equal(log.calls[4]?.returnNs, 1700000000000420000n);
 * ```
 */
export function parseSyscallTrace(side: string, text: string): ProgramLog {
  const calls: Call[] = [];
  const otherLines: string[] = [];
  /** The program's socket descriptors, each with the socket it names (dup2() gives one socket two). */
  const sockets = new Map<number, number>();
  let socketCount = 0;
  /** A call strace left unfinished, by process, with its arguments so far. */
  const pending = new Map<string, { enterNs: bigint; name: string; head: string }>();
  let finished = false;
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    const m = LINE.exec(line);
    if (!m) {
      otherLines.push(line);
      continue;
    }
    const pid = m[1] ?? m[2] ?? "first";
    const stampNs = _microsToNs(m[3]!);
    let body = m[4]!;
    let enterNs = stampNs;
    const unfinished = /^(\w+)\((.*?)\s*<unfinished \.\.\.>$/.exec(body);
    if (unfinished) {
      pending.set(pid, { enterNs, name: unfinished[1]!, head: unfinished[2]! });
      continue;
    }
    const resumed = /^<\.\.\. (\w+) resumed>(.*)$/.exec(body);
    if (resumed) {
      const start = pending.get(pid);
      pending.delete(pid);
      if (!start || start.name !== resumed[1]) continue;
      enterNs = start.enterNs;
      body = `${start.name}(${start.head}${resumed[2]}`;
    }
    const call =
      /^(\w+)\((.*)\)\s+=\s+(-?\d+|\?|0x[0-9a-f]+)(?:\s+(E[A-Z0-9]+)[^<]*)?(?:\s+\([^<]*\))?\s*(?:<(\d+\.\d+)>)?\s*$/
        .exec(body);
    if (!call) {
      otherLines.push(line);
      continue;
    }
    const [, name, args, retText, errno, duration] = call as unknown as [
      string,
      string,
      string,
      string,
      string | undefined,
      string | undefined,
    ];
    const ret = retText === "?"
      ? null
      : retText.startsWith("0x")
      ? Number.parseInt(retText, 16)
      : Number(retText);
    const fd = /^(\d+)/.exec(args) ? Number(/^(\d+)/.exec(args)![1]) : null;
    const record: Call = {
      side,
      step: 0,
      call: name === "accept4" ? "accept" : name,
      fd: FD_CALLS.has(name) ? fd : null,
      args: null,
      enterNs,
      returnNs: duration ? enterNs + _microsToNs(duration) : null,
      enterMonoNs: 0n,
      ret,
      errno: errno ?? null,
      detail: {},
    };
    if (name === "dup" || name === "dup2" || name === "dup3") {
      // A socket under another number (inetd, `nc -e`: the socket becomes stdin and stdout).
      if (ret === null || ret < 0 || fd === null) continue;
      const socket = sockets.get(fd);
      if (socket !== undefined) sockets.set(ret, socket);
      else sockets.delete(ret);
      continue;
    }
    if (name === "exit_group") {
      finished = true;
      record.returnNs = enterNs;
      record.ret = Number(args);
      calls.push(record);
      continue;
    }
    if (name === "socket") {
      if (!/^AF_INET6?,/.test(args) || ret === null || ret < 0) continue;
      sockets.set(ret, ++socketCount);
      record.fd = ret;
      record.args = args.split(/,\s*/).slice(0, 2).map((a) => a.split("|")[0]).join(",");
    } else if (name === "accept" || name === "accept4") {
      if (fd === null || !sockets.has(fd)) continue;
      if (ret !== null && ret >= 0) sockets.set(ret, ++socketCount);
      const peer = _address(args);
      if (peer) record.detail.peer = peer;
      record.fd = ret !== null && ret >= 0 ? ret : fd;
    } else if (FD_CALLS.has(name)) {
      if (fd === null || !sockets.has(fd)) continue;
      if (name === "close") {
        const socket = sockets.get(fd);
        sockets.delete(fd);
        // Another descriptor still names the socket: this close() does not close it.
        if ([...sockets.values()].includes(socket!)) continue;
      }
      if (name === "connect") {
        const peer = _address(args);
        if (peer) record.detail.peer = peer;
      }
      if (name === "shutdown") record.args = /SHUT_\w+/.exec(args)?.[0] ?? null;
      if (name === "setsockopt") record.args = _socketOption(args);
      if (name === "ioctl") {
        if (!/FIONREAD/.test(args)) continue;
        record.args = "FIONREAD";
        const value = /\[(\d+)\]/.exec(args);
        if (value) record.detail.value = Number(value[1]);
      }
      if (ret !== null && ret >= 0 && /^(read|write|readv|writev|recv|send|splice)/.test(name)) {
        record.detail.bytes = ret;
      }
    }
    calls.push(record);
  }
  return { calls, monoToRealNs: null, finished, otherLines };
}

/** "SO_LINGER=1,0", "SO_KEEPALIVE=1", "TCP_NODELAY=1": the option as the lab's own steps log it. */
function _socketOption(args: string): string | null {
  const m = /^\d+,\s*\w+,\s*(\w+),\s*(.*),\s*\d+$/.exec(args);
  if (!m) return null;
  const [, option, value] = m as unknown as [string, string, string];
  const linger = /l_onoff=(\d+),\s*l_linger=(\d+)/.exec(value);
  if (linger) return `${option}=${linger[1]},${linger[2]}`;
  const number = /^\[(-?\d+)\]$/.exec(value);
  return number ? `${option}=${number[1]}` : option;
}

/** "address:port" of an IPv4 or IPv6 sockaddr as strace writes it. */
function _address(args: string): string | null {
  const port = /sin6?_port=htons\((\d+)\)/.exec(args)?.[1];
  const host = /inet_addr\("([^"]+)"\)/.exec(args)?.[1] ?? /inet_pton\(AF_INET6,\s*"([^"]+)"/.exec(args)?.[1];
  return port && host ? `${host}:${port}` : null;
}

function _microsToNs(seconds: string): bigint {
  const [whole, fraction = ""] = seconds.split(".");
  return BigInt(whole!) * 1_000_000_000n + BigInt(fraction.padEnd(9, "0").slice(0, 9));
}
