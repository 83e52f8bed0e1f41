/**
 * A side's program as a run drives it, wherever it runs: the lab's own steps
 * run by the namespace holder (`tcplab hold --steps`, no container of their
 * own), or a container joined to the holder's namespace (a user's program,
 * or steps with `at` moments, which are fixed when the program is made).
 *
 * The holder's output carries three things: its own lines and snapshots,
 * the steps' log (JSON lines, relayed whole) on stdout, and tcpdump's
 * messages beside the steps' stderr (relayed as "[steps] ..." lines) on
 * stderr. The split functions here take them apart.
 *
 * @module
 */

import type { ContainerHandle, ExecResult } from "../docker/types.ts";
import { splitStraceMessages } from "../evidence/syscall_trace.ts";
import { HOLD_CALL } from "../evidence/calls.ts";

/** A program the run can start, watch and stop. */
export interface ProgramHandle {
  name: string;
  /** Let it begin (start its container, or tell the holder to go). */
  go(): Promise<void>;
  /** Wait until `test` holds for its stdout so far. */
  waitForStdout(test: (text: string) => boolean, timeoutMs: number, what: string): Promise<void>;
  /** Wait for it to exit; its exit code. */
  exited(): Promise<number>;
  /** Stop it now (a run that took too long). */
  kill(): Promise<void>;
  /**
   * Let the lab's steps go on after a held step (`tcplab run --hold-after`): SIGUSR1 to the steps, through
   * their holder when it runs them. Sent once the step's hold is in the log; a user's program has no holds.
   */
  release(): Promise<void>;
  /** Run a command beside it, as `user`, in its container (a scenario's `stop`); the holder's steps have none. */
  exec?(command: string[], user: string): Promise<ExecResult>;
  stdout(): string;
  /** Its stderr: the program's own (strace's messages taken out). */
  stderr(): string;
  /** strace's own messages on stderr, for a traced program ("" otherwise). */
  straceMessages(): string;
  /** strace's log of its system calls, read once the program exited; null for an untraced one. */
  syscallTrace(): Promise<string | null>;
}

/**
 * A program in a container of its own, started by `go`. A traced one runs
 * under strace, which writes its log to `straceLog` in the container (a
 * volume, so that it is still there after the exit) and its own messages to
 * stderr, where they are taken out of the program's.
 */
export function containerProgram(container: ContainerHandle, straceLog: string | null = null): ProgramHandle {
  const stderr = () => container.logs.text("stderr");
  return {
    name: container.name,
    go: () => container.start(),
    waitForStdout: (test, timeoutMs, what) => container.logs.waitFor("stdout", test, timeoutMs, what),
    exited: () => container.wait(),
    kill: () => container.signal("SIGKILL"),
    release: () => container.signal("SIGUSR1"),
    exec: (command, user) => container.exec(command, user),
    stdout: () => container.logs.text("stdout"),
    stderr: () => straceLog === null ? stderr() : splitStraceMessages(stderr()).rest,
    straceMessages: () => straceLog === null ? "" : splitStraceMessages(stderr()).messages,
    syscallTrace: async () =>
      straceLog === null
        ? null
        : new TextDecoder().decode(await container.readFile(straceLog).catch(() => new Uint8Array())),
  };
}

/**
 * Wait until a program of the lab's steps has returned from step `step`
 * (1-based, as its log counts them): the step is done once its hold begins
 * (a held step: the lab's work there is awaited), the next step begins, or
 * the program ends.
 */
export function stepReturned(
  program: ProgramHandle,
  step: number,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const done = new RegExp(
    `"ph":"enter","step":${step},"call":"${HOLD_CALL}"|"ph":"enter","step":${step + 1},|"ph":"end"`,
  );
  return program.waitForStdout((t) => done.test(t), timeoutMs, `${what}: step ${step}`);
}

const STEPS_EXITED = /=== tcplab-hold: steps exited with status (\d+)\n/;

/** The steps a holder runs: SIGHUP lets them begin (and, once begun, go on after a hold), SIGQUIT kills them. */
export function holderSteps(holder: ContainerHandle): ProgramHandle {
  return {
    name: `${holder.name} (steps)`,
    go: () => holder.signal("SIGHUP"),
    waitForStdout: (test, timeoutMs, what) =>
      holder.logs.waitFor("stdout", (t) => test(stepsLog(t)), timeoutMs, what),
    async exited() {
      await holder.logs.waitFor(
        "stdout",
        (t) => STEPS_EXITED.test(t),
        24 * 3600_000,
        `${holder.name}: steps`,
      );
      return Number(STEPS_EXITED.exec(holder.logs.text("stdout"))![1]);
    },
    kill: () => holder.signal("SIGQUIT"),
    release: () => holder.signal("SIGHUP"),
    stdout: () => stepsLog(holder.logs.text("stdout")),
    stderr: () => stepsStderr(holder.logs.text("stderr")),
    straceMessages: () => "",
    syscallTrace: () => Promise.resolve(null),
  };
}

/** The steps' log lines (JSON objects) in a holder's stdout. */
export function stepsLog(holderStdout: string): string {
  return holderStdout.split("\n").filter((line) => line.startsWith("{")).map((l) => `${l}\n`).join("");
}

/** The holder's own lines and snapshots: its stdout without the steps' log. */
export function holderOwnLog(holderStdout: string): string {
  return holderStdout.split("\n").filter((line) => !line.startsWith("{")).join("\n");
}

const STEPS_PREFIX = "[steps] ";

/** The steps' stderr in a holder's stderr. */
export function stepsStderr(holderStderr: string): string {
  return holderStderr.split("\n").filter((line) => line.startsWith(STEPS_PREFIX))
    .map((line) => `${line.slice(STEPS_PREFIX.length)}\n`).join("");
}

/** tcpdump's messages in a holder's stderr. */
export function captureStderr(holderStderr: string): string {
  return holderStderr.split("\n").filter((line) => !line.startsWith(STEPS_PREFIX)).join("\n");
}
