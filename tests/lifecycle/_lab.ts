/**
 * What the lifecycle tests share: the lab's command line run as `deno task
 * lab` runs it (same permissions), the host's view of a container's network
 * namespace, the lab's tracefs instances, and what a lab process left.
 *
 * @module
 */

import assert from "node:assert/strict";
import { DockerClient } from "../../lab/docker/client.ts";
import { statusOf } from "../../lab/docker/engine_errors.ts";
import { parseDockerHost } from "../../lab/docker/host.ts";
import { OWNER_LABEL } from "../../lab/docker/labels.ts";
import type { LabelledResource } from "../../lab/docker/types.ts";
import { listTraceInstances } from "../../lab/run/tracefs.ts";

/** The repository's root folder, with a trailing slash. */
export const ROOT = new URL("../..", import.meta.url).pathname;

/** The engine the tests use (DOCKER_HOST is honoured, as by the lab). */
export const docker = new DockerClient(parseDockerHost(Deno.env.get("DOCKER_HOST")));

/** Tests that talk to Docker keep log streams and sockets open past their end. */
export const dockerTest = { sanitizeOps: false, sanitizeResources: false };

/** The socket `deno task lab` is allowed to open. */
export const TASK_SOCKET = "/var/run/docker.sock";

/**
 * The permission flags of the `lab` task in deno.json, read from it so that
 * the tests run the lab exactly as users do. The tests run `deno run` with
 * them instead of `deno task lab`: a signal to `deno task` does not reach
 * the lab, which runs as its child.
 */
export function labTaskFlags(): string[] {
  const config = JSON.parse(Deno.readTextFileSync(`${ROOT}deno.json`));
  const words = String(config.tasks.lab.command).trim().split(/\s+/);
  assert.deepEqual(words.slice(0, 2), ["deno", "run"], "the lab task is `deno run FLAGS... lab/main.ts`");
  assert.equal(words.at(-1), "lab/main.ts", "the lab task is `deno run FLAGS... lab/main.ts`");
  return words.slice(2, -1);
}

/** The lab task's flags with its socket replaced by `socketPath` (what the README says to run). */
export function labFlagsForSocket(socketPath: string): string[] {
  return labTaskFlags().map((flag) => flag.replaceAll(TASK_SOCKET, socketPath));
}

/** Environment variables passed on to the lab; the others (TCPLAB_DEBUG...) are not. */
const KEPT_ENV = ["PATH", "HOME", "DENO_DIR", "XDG_CACHE_HOME", "DOCKER_HOST", "TMPDIR"];

/** How to run the lab: extra environment (null removes a variable), folder, flags. */
export interface LabCall {
  env?: Record<string, string | null>;
  cwd?: string;
  flags?: string[];
}

function labCommand(
  args: string[],
  call: LabCall,
  output: "piped" | "null",
  stderr: "piped" | "null" = output,
): Deno.Command {
  const env: Record<string, string> = { NO_COLOR: "1" };
  for (const name of KEPT_ENV) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  for (const [name, value] of Object.entries(call.env ?? {})) {
    if (value === null) delete env[name];
    else env[name] = value;
  }
  return new Deno.Command(Deno.execPath(), {
    args: ["run", ...(call.flags ?? labTaskFlags()), "lab/main.ts", ...args],
    cwd: call.cwd ?? ROOT,
    env,
    clearEnv: true,
    stdin: "null",
    stdout: output,
    stderr,
  });
}

/** What a finished lab process said. */
export interface LabOutput {
  /** The lab process's pid, which its resources' owner label names. */
  pid: number;
  code: number;
  stdout: string;
  stderr: string;
}

/** Run the lab's command line to its end. */
export async function runLab(args: string[], call: LabCall = {}): Promise<LabOutput> {
  const child = labCommand(args, call, "piped").spawn();
  const out = await child.output();
  const decoder = new TextDecoder();
  return {
    pid: child.pid,
    code: out.code,
    stdout: decoder.decode(out.stdout),
    stderr: decoder.decode(out.stderr),
  };
}

/**
 * Start the lab's command line and return the process. Its stdout is
 * discarded; its stderr too, unless `stderr` is "piped" (then it must be read).
 */
export function spawnLab(
  args: string[],
  call: LabCall = {},
  stderr: "piped" | "null" = "null",
): Deno.ChildProcess {
  return labCommand(args, call, "null", stderr).spawn();
}

/** Read a child's stderr until a line matches; the text so far. */
export async function readUntil(stream: ReadableStream<Uint8Array>, pattern: RegExp): Promise<string> {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!pattern.test(text)) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  // The rest is read (and dropped), so that the child never blocks on a full pipe.
  (async () => {
    while (!(await reader.read()).done);
  })().catch(() => {});
  return text;
}

/** Run `deno task lab ARGS` itself, for commands that are not killed. */
export async function taskLab(args: string[]): Promise<Omit<LabOutput, "pid">> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["task", "--quiet", "lab", ...args],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

/**
 * The lines the lab wrote on stderr: without the line Deno itself prints at
 * startup when a program named in --allow-run (gcc, ldd) is not on PATH.
 */
export function labLines(stderr: string): string[] {
  return stderr.split("\n")
    .filter((line) => line.trim() !== "")
    .filter((line) => !/^Info Failed to resolve '[^']+' for allow-run: cannot find binary path$/.test(line));
}

/**
 * One message for the user: at most two lines, the first saying what is
 * wrong, the second what to do; no stack trace; nothing left labelled by
 * the lab process.
 */
export async function assertCleanError(out: LabOutput, what: RegExp, hint: RegExp): Promise<void> {
  assert.equal(out.code, 2, `exit code 2 expected; stderr: ${out.stderr}`);
  assert.doesNotMatch(
    out.stderr,
    /\n\s+at |Stack backtrace|Uncaught|error: /,
    `no stack trace in: ${out.stderr}`,
  );
  const lines = labLines(out.stderr);
  assert.ok(lines.length >= 1 && lines.length <= 2, `one or two lines: ${out.stderr}`);
  assert.match(lines[0]!, /^tcplab: /);
  assert.match(lines[0]!, what);
  assert.match(lines[1] ?? "", /^ {2}what to do: /);
  assert.match(lines[1] ?? "", hint);
  assert.deepEqual(names(await leftBy(out.pid)), [], "nothing labelled by the failed lab process is left");
}

/**
 * A file of the host, read with cat: Deno wants --allow-all before it reads
 * /proc, and `deno task test` gives --allow-run but not that.
 */
export async function hostFile(path: string): Promise<string> {
  const out = await new Deno.Command("cat", { args: [path], stdout: "piped", stderr: "piped" }).output();
  const decoder = new TextDecoder();
  if (!out.success) throw new Error(`cat ${path}: ${decoder.decode(out.stderr).trim()}`);
  return decoder.decode(out.stdout);
}

/** A program's output, or a failure naming it. */
export async function hostCommand(name: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(name, { args, stdout: "piped", stderr: "piped" }).output();
  const decoder = new TextDecoder();
  if (!out.success) throw new Error(`${name} ${args.join(" ")}: ${decoder.decode(out.stderr).trim()}`);
  return decoder.decode(out.stdout);
}

/**
 * The lab's tracefs instances, as the lab's own helper lists them; null
 * when that cannot be told here (no helper built yet, no tracefs, not root).
 */
export function tracefsInstances(): Promise<string[] | null> {
  return listTraceInstances();
}

/** The owner label a lab process with this pid puts on what it creates. */
export function ownerOf(pid: number): string {
  return `${Deno.hostname()}:${pid}`;
}

/** What is labelled as made by the lab process with this pid. */
export async function leftBy(pid: number): Promise<LabelledResource[]> {
  return (await docker.listLabelled()).filter((r) => r.labels[OWNER_LABEL] === ownerOf(pid));
}

/** "kind name" of each resource, for messages and comparisons. */
export function names(resources: LabelledResource[]): string[] {
  return resources.map((r) => `${r.kind} ${r.name}`).sort();
}

/** Remove whatever is left of a run, whatever state it is in (a test's last resort). */
export async function removeRun(runId: string): Promise<void> {
  for (const kind of ["container", "volume", "network"] as const) {
    const left = (await docker.listLabelled(runId)).filter((r) => r.kind === kind);
    await Promise.allSettled(left.map((r) => docker.removeResource(r)));
  }
}

/** A run id of the tests' own, valid wherever the lab's are. */
export function testRunId(prefix: string): string {
  const bytes = crypto.getRandomValues(new Uint8Array(4));
  return `${prefix}${[...bytes].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/**
 * Create a network the way a run does (`DockerClient.createNetwork`, a random
 * /28 of 10.200.0.0/16, another one when the engine reports an overlap).
 */
export async function createRunNetwork(
  name: string,
  labels: Record<string, string>,
): Promise<{ id: string; subnet: string; address: (offset: number) => string }> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const block = crypto.getRandomValues(new Uint16Array(1))[0]! % 4096;
    const prefix = `10.200.${block >> 4}`;
    const base = (block & 15) * 16;
    try {
      const id = await docker.createNetwork(name, `${prefix}.${base}/28`, labels);
      return { id, subnet: `${prefix}.${base}/28`, address: (offset) => `${prefix}.${base + offset}` };
    } catch (error) {
      if (statusOf(error) === 409 || !/overlap|pool/i.test(String((error as Error).message))) throw error;
    }
  }
  throw new Error(`no free /28 in 10.200.0.0/16 for ${name}`);
}
