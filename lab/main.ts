/**
 * The lab's entry point: `deno task lab [COMMAND] [OPTIONS]`.
 * Only this module decides exit codes.
 *
 * @module
 */

// Each command is imported when it runs: `explain` never loads dockerode, which
// saves a fifth of a second and 30 MB. The errors' module imports nothing, so they are
// told apart with instanceof all the same. The commands' paths are made at run time
// (_command): Deno reads every module a literal import() names before main runs, so
// literal paths would make `--version` and `explain` read the run's 150 modules too.
import { EXIT } from "./cli/exit.ts";
import { LabEnvironmentError, RunInterrupted, UsageError } from "./errors.ts";
import { LAB_VERSION } from "./version.ts";
import { helpFor } from "./cli/help.ts";

// What main calls in each command's module (lab/cli/*.ts; deno check holds them to it).
type RunCommand = { runCommand(args: string[], signal: AbortSignal, bare: boolean): Promise<number> };
type ListCommand = { listCommand(args: string[]): number };
type CleanCommand = { cleanCommand(args: string[]): Promise<number> };
type ExplainCommand = { explainCommand(args: string[]): Promise<number> };

/** Run the command line and return the exit code. */
export async function main(args: string[]): Promise<number> {
  const controller = new AbortController();
  let interruptedBy: "SIGINT" | "SIGTERM" | null = null;
  const onSignal = (name: "SIGINT" | "SIGTERM") => () => {
    if (interruptedBy) {
      console.error(
        `tcplab: ${name} again: still removing what the run created; stopping now would leave it (then run "deno task lab clean")`,
      );
      return;
    }
    interruptedBy = name;
    console.error(`tcplab: ${name}: stopping; removing what this run created...`);
    controller.abort();
  };
  const handlers = { SIGINT: onSignal("SIGINT"), SIGTERM: onSignal("SIGTERM") };
  Deno.addSignalListener("SIGINT", handlers.SIGINT);
  Deno.addSignalListener("SIGTERM", handlers.SIGTERM);
  let code: number;
  try {
    code = await dispatch(args, controller.signal);
  } catch (error) {
    code = reportError(error, controller.signal.aborted);
  } finally {
    Deno.removeSignalListener("SIGINT", handlers.SIGINT);
    Deno.removeSignalListener("SIGTERM", handlers.SIGTERM);
  }
  if (interruptedBy) {
    console.error("tcplab: interrupted; what the run created was removed");
    return interruptedBy === "SIGTERM" ? EXIT.sigterm : EXIT.sigint;
  }
  return code;
}

async function dispatch(args: string[], signal: AbortSignal): Promise<number> {
  const [first, ...rest] = args;
  const help = helpFor(args);
  if (help !== null) {
    console.log(help);
    return EXIT.ok;
  }
  if (first === "--version") {
    console.log(LAB_VERSION);
    return EXIT.ok;
  }
  if (first === undefined || first.startsWith("-")) {
    return await (await _command<RunCommand>("run_command")).runCommand(args, signal, true);
  }
  switch (first) {
    case "run":
      return await (await _command<RunCommand>("run_command")).runCommand(rest, signal, false);
    case "list":
      return (await _command<ListCommand>("list_command")).listCommand(rest);
    case "clean":
      return await (await _command<CleanCommand>("clean_command")).cleanCommand(rest);
    case "explain":
      return await (await _command<ExplainCommand>("explain_command")).explainCommand(rest);
    default:
      throw new UsageError(
        `Unknown command "${first}"`,
        'run "deno task lab --help" to see the commands (run, list, explain, clean)',
      );
  }
}

/** The module of a command in lab/cli/, loaded now (see the note at the top). */
function _command<T>(name: string): Promise<T> {
  return import(new URL(`./cli/${name}.ts`, import.meta.url).href);
}

/** One line (and a hint) for an error; its exit code. */
function reportError(error: unknown, aborted: boolean): number {
  if (error instanceof RunInterrupted || aborted) return EXIT.sigint;
  if (error instanceof UsageError || error instanceof LabEnvironmentError) {
    console.error(`tcplab: ${error.message}\n  what to do: ${error.hint}`);
    return EXIT.failure;
  }
  if (error instanceof SyntaxError) {
    console.error(`tcplab: ${error.message}`);
    return EXIT.failure;
  }
  console.error(
    `tcplab: ${
      (error as Error)?.message ?? error
    }\n  what to do: run again with TCPLAB_DEBUG=1 for details, and report it if it persists`,
  );
  if (Deno.env.get("TCPLAB_DEBUG")) console.error(error);
  return EXIT.failure;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
