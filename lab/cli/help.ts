/**
 * The lab's help texts: the commands in one screen, and each command's own
 * help (`deno task lab COMMAND --help`) with its options and an example of
 * each. Written once here; main.ts prints them.
 *
 * @module
 */

import { RUN_MOMENTS } from "../run/moments.ts";
import { LAB_VERSION } from "../version.ts";

/** The commands that have a help of their own. */
export type CommandName = "run" | "list" | "explain" | "clean";

/** The top-level help text: the commands, where each one's options are, the exit codes. */
export const HELP = `tcplab ${LAB_VERSION}: reproduce a TCP teardown in two containers and explain it

Usage:
  deno task lab                      run the founding case (scenario "seed") and its contrast
  deno task lab run NAME|FILE... [opts]
                                     run catalog scenarios by name, or scenario files (YAML/JSON)
  deno task lab list                 list the shipped scenarios
  deno task lab explain FILE [opts]  explain the connections in a pcap or pcapng capture of your own,
                                     from its packets alone (no containers); streamed, any size
  deno task lab clean [--run ID]     remove everything the lab left behind (containers, networks,
                                     volumes, tracefs instances), of every run or of run ID only

Each command's options, with examples: deno task lab COMMAND --help
Several Docker hosts (--host) need deno task lab:hosts, which has the network permissions they need.

Common options:
  -h, --help        this help (after a command: that command's help);  --version  the lab's version

Each run gets its own Internal Docker network (no host address on its bridge; each namespace's
holder deletes the default route Docker before 25 adds, so there is no route out), a
namespace holder, a tcpdump capture and a program per side (images built locally, never pulled),
and writes report.md, result.json, scenario.yaml and the pcap files.

Exit codes: 0 every expectation met; 1 an expectation not met; 2 bad input or a lab/environment
failure (the message says what to do); 3 a matrix left incomplete (a host unreachable, refused or
failed midway); 130/143 interrupted by SIGINT/SIGTERM.

Docker: DOCKER_HOST (a unix socket) is honoured; a socket other than /var/run/docker.sock needs
deno task lab:hosts.`;

/** Each command's help: what it does, every option with an example. */
export const COMMAND_HELP: Readonly<Record<CommandName, string>> = {
  run: `deno task lab run NAME|FILE... [options]: run scenarios in containers and explain how each ended

Names a catalog scenario (deno task lab list) or a scenario file of your own (YAML or JSON).
Each run writes report.md, result.json, scenario.yaml and the pcaps into its folder.

Options:
  --out DIR         write the report here (default: runs/<UTC time>-<scenario>/)
                      deno task lab run seed --out runs/my-seed
  --all             run the whole catalog side by side; writes summary.md and summary.json
                      deno task lab run --all --json
  --jobs N          at most N scenarios at once (default: all)
                      deno task lab run --all --jobs 4
  --timeout P=S     limit phase P to S seconds (build, start, capture, run, flush, collect;
                    defaults 120, 30, 15, 30, 10, 15); repeat for several phases
                      deno task lab run seed --timeout run=10 --timeout start=60
  --no-contrast     do not also run the scenario's contrast (seed's is seed-read-first)
                      deno task lab run seed --no-contrast
  --untraced        run every program of this host without strace (its calls are then not in the
                    report); strace stops a program at each call, so this shows the untraced timing
                      deno task lab run socat-linger-zero --untraced
  --pause-at M      hold each run at moment M until Enter is pressed, to look at its containers and
                    captures by hand (Ctrl-C stops the run there and cleans up); M is one of
                    ${RUN_MOMENTS.join(", ")}
                      deno task lab run seed --pause-at run
  --json            print the machine-readable result on stdout instead of the report's path
                      deno task lab run seed --json
  --quiet           no progress on stderr
                      deno task lab run --all --quiet

Several hosts and settings (one matrix report, matrix.md and matrix.json):
  --host H          a Docker host: unix:///path, tcp://HOST:PORT (TLS from DOCKER_TLS_VERIFY and
                    DOCKER_CERT_PATH) or ssh://USER@HOST (keys from the ssh-agent at SSH_AUTH_SOCK,
                    the host's key from ~/.ssh/known_hosts);
                    repeat for several (default: DOCKER_HOST);
                    needs deno task lab:hosts (the network permissions other hosts need)
                      deno task lab:hosts run seed --host unix:///var/run/docker.sock --host ssh://me@box
  --vary S=V1,V2    run each scenario once per value of sysctl S (net.ipv4.tcp_*); repeatable
                      deno task lab run seed --vary net.ipv4.tcp_fin_timeout=5,60
  --per-host N      at most N runs at once on one host (default 4)
                      deno task lab:hosts run --all --host tcp://lab-2:2376 --per-host 2

Exit codes: 0 every expectation met; 1 an expectation not met; 2 bad input or a lab failure;
3 a matrix left incomplete; 130/143 interrupted.`,

  list: `deno task lab list: the shipped scenarios, what each shows and the outcome it expects

Takes no options. Run one of them by name:
  deno task lab list
  deno task lab run linger-zero`,

  explain: `deno task lab explain FILE [options]: explain the connections in a capture of your own

Reads a pcap or pcapng file from its packets alone (no containers, constant memory, any size) and
says for every connection how it ended, who closed or reset first, and why.

Options:
  --out FILE        write the report to FILE instead of stdout
                      deno task lab explain capture.pcap --out report.md
  --json            the machine-readable explanation instead of Markdown
                      deno task lab explain capture.pcap --json
  --host ADDR       only connections with this IPv4 or IPv6 address at one end
                      deno task lab explain capture.pcap --host 10.0.0.5
  --port N          only connections with this port at one end
                      deno task lab explain capture.pcap --port 443
  --conn N          only the N-th connection (in the order of their first packet)
                      deno task lab explain capture.pcap --conn 2
  --checksums M     verify: check TCP checksums as Zeek does (a bad one is history C/c and is not
                    analysed, and the report counts them); ignore (the default, like zeek -C): a
                    capture taken on the sending host carries unfinished, offloaded checksums
                      deno task lab explain capture.pcap --checksums verify
  --zeek-boundaries Zeek's connection boundaries: an attempt with no reply ends after 5 s and any
                    SYN after a close starts a new connection (without it, one connection per ISN,
                    and each row notes where Zeek would split it)
                      deno task lab explain capture.pcap --zeek-boundaries

Exit codes: 0 explained; 2 the file cannot be read (a damaged file is explained up to the damage).`,

  clean: `deno task lab clean [--run ID]...: remove what the lab left behind

Removes every container, volume and network labelled for the lab, and the lab's tracefs instances,
and lists what it removed. Without --run, the resources of runs still in progress go too:
  deno task lab clean

Options:
  --run ID          only the run ID (what follows "tcplab-" in its network's and containers' names);
                    repeat for several
                      deno task lab clean --run 3f9a0c1b2d`,
};

/**
 * The help a command line asks for, or null when it asks for none: the
 * command's own after `COMMAND --help` (or `-h`), the top-level one
 * otherwise. A `--help` after `--` is an argument, not a request.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(helpFor(["run", "seed", "--help"]), COMMAND_HELP.run);
 * assert.equal(helpFor(["clean", "-h"]), COMMAND_HELP.clean);
 * assert.equal(helpFor(["--help"]), HELP);
 * assert.equal(helpFor(["help", "explain"]), COMMAND_HELP.explain);
 * assert.equal(helpFor(["run", "seed"]), null);
 * assert.equal(helpFor(["run", "--", "--help"]), null);
 * ```
 */
export function helpFor(args: readonly string[]): string | null {
  const [first, ...rest] = args;
  if (first === "help") return _isCommand(rest[0]) ? COMMAND_HELP[rest[0]] : HELP;
  const end = args.indexOf("--");
  const options = end === -1 ? args : args.slice(0, end);
  if (!options.includes("--help") && !options.includes("-h")) return null;
  return _isCommand(first) ? COMMAND_HELP[first] : HELP;
}

function _isCommand(word: string | undefined): word is CommandName {
  return word !== undefined && Object.hasOwn(COMMAND_HELP, word);
}
