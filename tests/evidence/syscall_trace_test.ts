/**
 * strace's log of a user's program, parsed into the lab's call records:
 * a real log (socat with linger=0 against the lab's server, recorded by the
 * lab) and the shapes -f gives a program that forks or runs threads.
 */
import assert from "node:assert/strict";
import {
  parseSyscallTrace,
  ptraceRefusal,
  splitStraceMessages,
  UNTRACED_BECAUSE,
} from "../../lab/evidence/syscall_trace.ts";
import { socketUse } from "../../lab/verdict/cause.ts";

const SOCAT = await Deno.readTextFile(
  new URL("../testdata/strace/socat-linger-zero.strace", import.meta.url),
);

Deno.test("socat's traced calls: its socket's calls only, the loader's files left out", () => {
  const log = parseSyscallTrace("client", SOCAT);
  assert.deepEqual(log.calls.map((c) => `${c.call}(${c.fd ?? ""}${c.args ? ` ${c.args}` : ""}) = ${c.ret}`), [
    "socket(6 AF_INET,SOCK_STREAM) = 6",
    "setsockopt(6 SO_LINGER=1,0) = 0",
    "connect(6) = 0",
    "pselect6() = 2",
    "write(6) = 6",
    "pselect6() = 2",
    "shutdown(6 SHUT_RDWR) = 0",
    "exit_group() = 0",
  ]);
  assert.equal(log.calls[2]?.detail.peer, "10.200.13.226:9999");
  assert.equal(log.calls[4]?.detail.bytes, 6);
  assert.equal(log.finished, true);
  assert.deepEqual(log.otherLines, []);
});

Deno.test("timestamps are the real-time clock's, in ns; a call returns after its duration", () => {
  const connect = parseSyscallTrace("client", SOCAT).calls.find((c) => c.call === "connect")!;
  assert.equal(connect.enterNs, 1796052020242038000n);
  assert.equal(connect.returnNs, 1796052020242038000n + 1_635_000n);
});

Deno.test("the verdict's socketUse reads traced calls as it reads the lab's own", () => {
  const calls = parseSyscallTrace("client", SOCAT).calls.map((c) => ({
    ...c,
    side: "client" as const,
    enterMs: 0,
    returnMs: 0,
  }));
  assert.deepEqual(socketUse(calls, "10.200.13.226:9999"), { closedBy: "exit", bytesRead: 0 });
});

Deno.test("-f: calls of several processes, unfinished and resumed, accept4 and reads with byte counts", () => {
  const log = parseSyscallTrace(
    "server",
    [
      "1700000000.000001 socket(AF_INET6, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_IP) = 3 <0.000010>",
      "1700000000.000002 socket(AF_UNIX, SOCK_STREAM, 0) = 4 <0.000010>",
      "1700000000.000003 listen(3, 511) = 0 <0.000010>",
      "[pid    12] 1700000000.000010 accept4(3,  <unfinished ...>",
      '[pid    13] 1700000000.000020 write(4, ""..., 3) = 3 <0.000001>',
      '[pid    12] 1700000000.000500 <... accept4 resumed>{sa_family=AF_INET6, sin6_port=htons(40000), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "::ffff:10.0.0.3", &sin6_addr), sin6_scope_id=0}, [28], SOCK_CLOEXEC) = 5 <0.000490>',
      '[pid    12] 1700000000.000600 recvfrom(5, ""..., 4096, 0, NULL, NULL) = 100 <0.000002>',
      "[pid    12] 1700000000.000700 setsockopt(5, SOL_TCP, TCP_NODELAY, [1], 4) = 0 <0.000002>",
      '[pid    12] 1700000000.000800 connect(5, {sa_family=AF_INET, sin_port=htons(1), sin_addr=inet_addr("10.0.0.9")}, 16) = -1 EISCONN (Transport endpoint is already connected) <0.000002>',
      "[pid    12] 1700000000.000900 close(5) = 0 <0.000002>",
      '[pid    12] 1700000000.001000 read(5, ""..., 1) = -1 EBADF (Bad file descriptor) <0.000002>',
      "1700000000.002000 exit_group(1) = ?",
    ].join("\n"),
  );
  assert.deepEqual(log.calls.map((c) => [c.call, c.fd, c.args, c.ret, c.errno]), [
    ["socket", 3, "AF_INET6,SOCK_STREAM", 3, null],
    ["listen", 3, null, 0, null],
    ["accept", 5, null, 5, null],
    ["recvfrom", 5, null, 100, null],
    ["setsockopt", 5, "TCP_NODELAY=1", 0, null],
    ["connect", 5, null, -1, "EISCONN"],
    ["close", 5, null, 0, null],
    ["exit_group", null, null, 1, null],
  ]);
  const accept = log.calls[2]!;
  assert.equal(accept.detail.peer, "::ffff:10.0.0.3:40000");
  assert.equal(accept.enterNs, 1700000000000010000n, "an unfinished call enters when it began");
  assert.equal(accept.returnNs, 1700000000000010000n + 490_000n);
});

Deno.test("a traced container's stderr: strace's own messages apart from the program's stderr", () => {
  // strace's log goes to its file (-o); on stderr only its messages meet the program's own lines.
  const { messages, rest } = splitStraceMessages(
    "2024/01/01 00:00:00 socat[1] E connect: refused\n/usr/bin/strace: exec: No such file or directory\n" +
      "curl: (63) Maximum file size exceeded",
  );
  assert.equal(messages, "/usr/bin/strace: exec: No such file or directory\n");
  assert.equal(
    rest,
    "2024/01/01 00:00:00 socat[1] E connect: refused\ncurl: (63) Maximum file size exceeded",
  );
});

Deno.test("strace refused ptrace in its container: the line that says so, in the reason a run gives", () => {
  // What strace 6.1 wrote (and exit status 1, no program run) in a container of the lab's socat image
  // run with a seccomp profile that denies ptrace:
  //   docker run --security-opt seccomp=PROFILE ... /usr/bin/strace -f -qq -o /t/x /usr/bin/socat -V
  // with PROFILE {"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["ptrace"],"action":"SCMP_ACT_ERRNO"}]}.
  const stderr = [
    "/usr/bin/strace: test_ptrace_get_syscall_info: PTRACE_TRACEME: Operation not permitted",
    "/usr/bin/strace: ptrace(PTRACE_TRACEME, ...): Operation not permitted",
    "/usr/bin/strace: PTRACE_SETOPTIONS: Operation not permitted",
    "/usr/bin/strace: detach: waitpid(9): No child processes",
    "",
  ].join("\n");
  const line = ptraceRefusal(splitStraceMessages(stderr).messages);
  assert.equal(line, "ptrace(PTRACE_TRACEME, ...): Operation not permitted");
  assert.equal(
    UNTRACED_BECAUSE.refused(line!),
    "strace may not trace in its container (`ptrace(PTRACE_TRACEME, ...): Operation not permitted`)",
  );
  assert.equal(ptraceRefusal("/usr/bin/strace: exec: No such file or directory\n"), null);
});

Deno.test("a socket dup2()ed to stdin and stdout (busybox nc -e httpd): its reads, sendfile and shutdown count, not the close of its old number", () => {
  // As busybox nc -l -e httpd -i left them, cut short: nc accepts and makes the socket fds 0 and 1.
  const log = parseSyscallTrace(
    "server",
    [
      "1700000000.000001 socket(AF_INET6, SOCK_STREAM, IPPROTO_TCP) = 3 <0.000010>",
      "1700000000.000002 accept(3, NULL, NULL) = 4 <0.000100>",
      "1700000000.000003 dup2(4, 0) = 0 <0.000002>",
      "1700000000.000004 dup2(4, 1) = 1 <0.000002>",
      "1700000000.000005 close(4) = 0 <0.000002>",
      '1700000000.000006 read(0, ""..., 1024) = 42 <0.000002>',
      "1700000000.000008 sendfile(1, 3, [0] => [25], 25) = 25 <0.000002>",
      "1700000000.000009 shutdown(1, SHUT_WR) = 0 <0.000002>",
      "1700000000.000010 exit_group(0) = ?",
    ].join("\n"),
  );
  assert.deepEqual(
    log.calls.map((c) =>
      `${c.call}(${c.fd})=${c.ret}${c.detail.bytes !== undefined ? ` ${c.detail.bytes}B` : ""}`
    ),
    [
      "socket(3)=3",
      "accept(4)=4",
      "read(0)=42 42B",
      "sendfile(1)=25 25B",
      "shutdown(1)=0",
      "exit_group(null)=0",
    ],
  );
});
