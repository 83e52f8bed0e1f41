/**
 * The system calls of a user's program, as strace logged them, turned into
 * the same call records the lab's own steps log (lab/evidence/calls.ts):
 * the socket calls, connect/accept with the peer, reads and writes with
 * their byte counts, shutdown, close, setsockopt, poll/epoll and the exit.
 * strace runs as the program's parent in its container with STRACE_OPTIONS:
 * it follows forks and threads (-f), stamps each call with the real-time
 * clock in microseconds (-ttt, the captures' clock) and its duration (-T),
 * and writes its log to a file of its own (-o), so that the program's stderr
 * stays the program's; strace's own messages still go to stderr, and
 * splitStraceMessages takes them out.
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

/**
 * The calls strace logs, each with whether its first argument is a descriptor that counts only on the
 * program's sockets (`socket`, `accept` and `dup` name theirs otherwise; see parseSyscallTrace).
 */
const TRACED_CALLS: Readonly<Record<string, { onSocket: boolean }>> = {
  socket: { onSocket: false },
  connect: { onSocket: true },
  accept: { onSocket: false },
  accept4: { onSocket: false },
  bind: { onSocket: true },
  listen: { onSocket: true },
  shutdown: { onSocket: true },
  close: { onSocket: true },
  read: { onSocket: true },
  write: { onSocket: true },
  readv: { onSocket: true },
  writev: { onSocket: true },
  recvfrom: { onSocket: true },
  sendto: { onSocket: true },
  recvmsg: { onSocket: true },
  sendmsg: { onSocket: true },
  sendfile: { onSocket: true },
  splice: { onSocket: true },
  setsockopt: { onSocket: true },
  ioctl: { onSocket: true },
  dup: { onSocket: false },
  dup2: { onSocket: false },
  dup3: { onSocket: false },
  poll: { onSocket: false },
  ppoll: { onSocket: false },
  select: { onSocket: false },
  pselect6: { onSocket: false },
  epoll_wait: { onSocket: false },
  epoll_pwait: { onSocket: false },
  exit_group: { onSocket: false },
};

/** Whether a call's first argument counts only on the program's sockets. */
function _onSocket(name: string): boolean {
  return TRACED_CALLS[name]?.onSocket ?? false;
}

/**
 * strace's options, before `-o FILE` and the program's command: see the module's comment. `?`
 * lets a name that this architecture lacks (poll on arm64) pass.
 */
export const STRACE_OPTIONS = [
  "-f",
  "-ttt",
  "-T",
  "-qq",
  "-s",
  "0",
  "-e",
  `trace=${Object.keys(TRACED_CALLS).map((c) => `?${c}`).join(",")}`,
];

/** Why a user's program was not traced, as the report (Markdown: code in backticks) and result.json say it. */
export const UNTRACED_BECAUSE = {
  image: "it came as an image (`image:`), where the lab puts no strace",
  traceOff: "the scenario says `trace: false`",
  untracedRun: "the run was untraced (`--untraced`)",
  noStrace: "this host has no strace to put in its image (apt-get install strace)",
  refused: (line: string) => `strace may not trace in its container (\`${line.replaceAll("`", "'")}\`)`,
} as const;

/** A line strace wrote: an optional "[pid N]" or "N", then seconds.micros since the epoch. */
const LINE = /^(?:\[pid\s+(\d+)\]\s+|(\d+)\s+)?(\d{9,}\.\d{6}) (.*)$/;

/** A message of strace's own on its stderr: "strace: ..." or "/usr/bin/strace: ...". */
const STRACE_MESSAGE = /^(?:\S*\/)?strace: /;

/**
 * Split a traced container's stderr: strace's own messages (its log of the
 * calls goes to a file of its own, `-o`), and the program's stderr. A line
 * of the program's that begins with "strace: " would count as strace's.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const { messages, rest } = splitStraceMessages("/usr/bin/strace: exec: No such file or directory\noops\n");
 * assert.equal(messages, "/usr/bin/strace: exec: No such file or directory\n");
 * assert.equal(rest, "oops\n");
 * ```
 */
export function splitStraceMessages(stderr: string): { messages: string; rest: string } {
  const lines = stderr.split(/(?<=\n)/);
  return {
    messages: lines.filter((l) => STRACE_MESSAGE.test(l)).join(""),
    rest: lines.filter((l) => !STRACE_MESSAGE.test(l)).join(""),
  };
}

/**
 * strace's message that says it may not trace in its container (ptrace
 * refused: a seccomp profile, an LSM, Yama's ptrace_scope 3), or null when
 * its messages say no such thing. strace then runs no program.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const refused = "/usr/bin/strace: test_ptrace_get_syscall_info: PTRACE_TRACEME: Operation not permitted\n" +
 *   "/usr/bin/strace: ptrace(PTRACE_TRACEME, ...): Operation not permitted\n";
 * assert.equal(ptraceRefusal(refused), "ptrace(PTRACE_TRACEME, ...): Operation not permitted");
 * assert.equal(ptraceRefusal("strace -- version 6.1\n"), null);
 * ```
 */
export function ptraceRefusal(messages: string): string | null {
  const lines = messages.split("\n").filter((l) => STRACE_MESSAGE.test(l));
  const refused = lines.filter((l) =>
    /ptrace|PTRACE_/.test(l) && /Operation not permitted|Permission denied/.test(l)
  );
  // The first refusal that names ptrace() itself says the most; strace's self-tests come before it.
  const line = refused.find((l) => /: ptrace\(/.test(l)) ?? refused[0];
  return line === undefined ? null : line.replace(STRACE_MESSAGE, "");
}

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
      fd: _onSocket(name) ? fd : null,
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
    } else if (_onSocket(name)) {
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
