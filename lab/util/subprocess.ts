/**
 * A program run to its end on this machine, its output decoded: how the lab
 * calls gcc, ldd and the tracefs helper.
 *
 * @module
 */

/** What a program printed, and how it ended. */
export interface ProgramOutput {
  success: boolean;
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Run `program` with `args` and wait for it. Throws what Deno.Command throws
 * (Deno.errors.NotFound when the program is not installed).
 */
export async function runToEnd(program: string, args: string[]): Promise<ProgramOutput> {
  const out = await new Deno.Command(program, { args, stdout: "piped", stderr: "piped" }).output();
  const decoder = new TextDecoder();
  return {
    success: out.success,
    code: out.code,
    stdout: decoder.decode(out.stdout),
    stderr: decoder.decode(out.stderr),
  };
}
