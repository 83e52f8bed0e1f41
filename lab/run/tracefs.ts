/**
 * A tracefs instance of the run's own: the kernel's RST and socket-state
 * events, with the reasons the kernel gives for each RST.
 *
 * Deno wants --allow-all before it touches /sys, so the lab does not read
 * tracefs itself: a small C program beside this module (tracefs_helper.c),
 * compiled on first use into .cache/, does it, and the lab only needs
 * --allow-run for that one file.
 *
 * @module
 */

import { type ProgramOutput, runToEnd } from "../util/subprocess.ts";
import type { TraceArtifacts } from "../evidence/artifacts.ts";

const SOURCE = new URL("./tracefs_helper.c", import.meta.url);
const CACHE = new URL("../../.cache/", import.meta.url);
const BINARY = new URL("tracefs_helper", CACHE);
const STAMP = new URL("tracefs_helper.source", CACHE);

/** A started trace; `finish` reads it and removes the instance. Calling it twice is harmless. */
export interface TraceSession {
  finish(): Promise<TraceArtifacts>;
}

/**
 * Start tracing into a fresh instance named `name` (it must start with
 * "tcplab-"). Where tracefs is not there, not writable, or the helper
 * cannot be built, the session records why instead of failing.
 */
export async function startTrace(name: string): Promise<TraceSession> {
  const helper = await ensureHelper();
  if (typeof helper !== "string") return unavailable(helper.note);
  const started = await runHelper(helper, ["start", name]);
  if (!started.success) {
    return unavailable(
      started.code === 4
        ? "the lab is not root, so it cannot create a tracefs instance: run it as root to record the kernel's RST reasons"
        : started.code === 3
        ? `tracefs is not usable here (${
          started.stderr.trim() || "not mounted"
        }); as root: mount -t tracefs nodev /sys/kernel/tracing`
        : `the tracefs helper failed: ${started.stderr.trim()}`,
    );
  }
  const info = JSON.parse(started.stdout) as { reasonField: boolean; activeResetReasons: boolean };
  let result: Promise<TraceArtifacts> | null = null;
  return {
    finish() {
      result ??= runHelper(helper, ["stop", name]).then((stopped) => ({
        available: stopped.success,
        note: stopped.success ? null : `the trace could not be read: ${stopped.stderr.trim()}`,
        reasonField: info.reasonField,
        activeResetReasons: info.activeResetReasons,
        text: stopped.stdout,
      }));
      return result;
    },
  };
}

/** Remove the lab's tracefs instances for which `keep` is false; return their names. */
export async function removeTraceInstances(keep: (name: string) => boolean): Promise<string[]> {
  const helper = await ensureHelper();
  const names = await listTraceInstances();
  if (typeof helper !== "string" || names === null) return [];
  const removed: string[] = [];
  for (const name of names.filter((n) => !keep(n))) {
    if ((await runHelper(helper, ["stop", name])).success) removed.push(name);
  }
  return removed;
}

/** The lab's tracefs instances (tcplab-*), or null when that cannot be told (no tracefs, not root, no gcc). */
export async function listTraceInstances(): Promise<string[] | null> {
  const helper = await ensureHelper();
  if (typeof helper !== "string") return null;
  const listed = await runHelper(helper, ["list"]);
  return listed.success ? listed.stdout.split("\n").filter((n) => n !== "") : null;
}

let helperReady: Promise<string | { note: string }> | null = null;

/**
 * The helper's path, or why there is none. Built once per process, when it is missing or its source
 * changed: the runs of `run --all` all ask at once.
 */
function ensureHelper(): Promise<string | { note: string }> {
  return helperReady ??= buildHelper();
}

/**
 * Compile the helper into .cache/ when it is missing or its source changed. gcc writes the file
 * itself: Deno does not let the lab write a file that --allow-run lets it run.
 */
async function buildHelper(): Promise<string | { note: string }> {
  const source = await Deno.readTextFile(SOURCE);
  const path = BINARY.pathname;
  try {
    if ((await Deno.readTextFile(STAMP)) === source) {
      await Deno.stat(BINARY);
      return path;
    }
  } catch {
    // not built yet
  }
  try {
    await Deno.mkdir(CACHE, { recursive: true });
    const out = await runToEnd("gcc", ["-O2", "-Wall", "-Wextra", "-o", path, SOURCE.pathname]);
    if (!out.success) return { note: `the tracefs helper did not compile: ${out.stderr.trim()}` };
    await Deno.writeTextFile(STAMP, source);
    return path;
  } catch (error) {
    return { note: `the tracefs helper could not be built (${(error as Error).message}); install gcc` };
  }
}

/** Run the helper; one that cannot start is a failure with its reason on stderr. */
async function runHelper(path: string, args: string[]): Promise<ProgramOutput> {
  try {
    return await runToEnd(path, args);
  } catch (error) {
    return { success: false, code: -1, stdout: "", stderr: (error as Error).message };
  }
}

/** A session that records nothing and says why (a remote Docker host: its kernel is not this machine's). */
export function noTrace(note: string): TraceSession {
  return unavailable(note);
}

function unavailable(note: string): TraceSession {
  return {
    finish: () =>
      Promise.resolve({ available: false, note, reasonField: false, activeResetReasons: false, text: "" }),
  };
}
