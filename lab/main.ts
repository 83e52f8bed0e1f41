/**
 * The lab's entry point: `deno task lab [COMMAND] [OPTIONS]`.
 * Only this module decides exit codes.
 *
 * @module
 */

// Each command is imported when it runs: `explain` never loads dockerode, which
// saves a fifth of a second and 30 MB. The errors' module imports nothing, so they are
// told apart with instanceof all the same.
import { EXIT } from "./cli/exit.ts";
import { LabEnvironmentError, RunInterrupted, UsageError } from "./errors.ts";
import { LAB_VERSION } from "./version.ts";
import { RUN_MOMENTS } from "./run/moments.ts";

/** The top-level help text. */
export const HELP = `tcplab ${LAB_VERSION}: reproduce a TCP teardown in two containers and explain it

Usage:
  deno task lab                      run the founding case (scenario "seed") and its contrast
  deno task lab run NAME|FILE... [opts]
                                     run catalog scenarios by name, or scenario files (YAML/JSON)
  deno task lab list                 list the shipped scenarios
  deno task lab explain FILE [--out report.md] [--json] [--host ADDR] [--port N] [--conn N]
                                     explain the connections in a pcap or pcapng capture of your own,
                                     from its packets alone (no containers); streamed, any size
  deno task lab clean [--run ID]     remove everything the lab left behind (containers, networks,
                                     volumes, tracefs instances), of every run or of run ID only

Options for run:
  --out DIR         write the report here (default: runs/<UTC time>-<scenario>/)
  --all             run the whole catalog, side by side, and write summary.md and summary.json
  --jobs N          at most N scenarios at once (default: all)
  --timeout P=S     limit phase P to S seconds (build, start, capture, run, flush, collect;
                    defaults 120, 30, 15, 30, 10, 15); repeat for several phases
  --no-contrast     do not also run the scenario's contrast (seed's is seed-read-first)
  --pause-at M      hold each run at moment M until Enter is pressed, to look at its containers and
                    captures by hand (Ctrl-C stops the run there and cleans up); M is one of
                    ${RUN_MOMENTS.join(", ")}
Several hosts and settings (one matrix report, matrix.md and matrix.json; use deno task lab:hosts,
which has the network permissions other hosts need):
  --host H          a Docker host: unix:///path, tcp://HOST:PORT (TLS from DOCKER_TLS_VERIFY and
                    DOCKER_CERT_PATH) or ssh://USER@HOST; repeat for several (default: DOCKER_HOST)
  --vary S=V1,V2    run each scenario once per value of sysctl S (net.ipv4.tcp_*); repeatable
  --per-host N      at most N runs at once on one host (default 4)
  --json            print the machine-readable result on stdout instead of the report's path
  --quiet           no progress on stderr
Common options:
  -h, --help        this help;  --version  the lab's version

Each run gets its own Internal Docker network (no host address on its bridge; each namespace's
holder deletes the default route Docker before 25 adds, so there is no route out), a
namespace holder, a tcpdump capture and a program per side (images built locally, never pulled),
and writes report.md, result.json and the pcap files.

Exit codes: 0 every expectation met; 1 an expectation not met; 2 bad input or a lab/environment
failure (the message says what to do); 3 a matrix left incomplete (a host unreachable, refused or
failed midway); 130/143 interrupted by SIGINT/SIGTERM.

Docker: DOCKER_HOST (a unix socket) is honoured; Deno needs --allow-net=unix:PATH, and read and
write access to PATH, for a socket other than /var/run/docker.sock.`;

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
  if (first === "-h" || first === "--help" || first === "help") {
    console.log(HELP);
    return EXIT.ok;
  }
  if (first === "--version") {
    console.log(LAB_VERSION);
    return EXIT.ok;
  }
  if (first === undefined || first.startsWith("-")) {
    return await (await import("./cli/run_command.ts")).runCommand(args, signal, true);
  }
  switch (first) {
    case "run":
      return await (await import("./cli/run_command.ts")).runCommand(rest, signal, false);
    case "list":
      return (await import("./cli/list_command.ts")).listCommand(rest);
    case "clean":
      return await (await import("./cli/clean_command.ts")).cleanCommand(rest);
    case "explain":
      return await (await import("./cli/explain_command.ts")).explainCommand(rest);
    default:
      throw new UsageError(
        `Unknown command "${first}"`,
        'run "deno task lab --help" to see the commands (run, list, explain, clean)',
      );
  }
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
