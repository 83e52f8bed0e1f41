/**
 * Run the lab's command line as a user does, with `deno task`.
 *
 * @module
 */

const ROOT = new URL("..", import.meta.url).pathname;

/** What a run of the command line gave. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** `deno task --quiet TASK ARGS...` in the repository, output captured. */
export function runTask(task: "lab" | "lab:hosts", ...args: string[]): Promise<CliResult> {
  return runTaskWithEnv({}, task, ...args);
}

/** The same, with more environment variables for the lab. */
export async function runTaskWithEnv(
  env: Record<string, string>,
  task: "lab" | "lab:hosts",
  ...args: string[]
): Promise<CliResult> {
  const out = await new Deno.Command("deno", {
    args: ["task", "--quiet", task, ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...env },
  }).output();
  const decoder = new TextDecoder();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

/** `deno task lab ARGS...`. */
export function lab(...args: string[]): Promise<CliResult> {
  return runTask("lab", ...args);
}
