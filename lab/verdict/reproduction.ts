/**
 * What reproduces a run from its report alone: the lab's version, the
 * scenario file's text (saved as scenario.yaml in the run's folder and
 * embedded in the report) and a command that names no path of the machine
 * that ran it.
 *
 * @module
 */

import type { Scenario } from "../scenario/types.ts";
import { LAB_VERSION } from "../version.ts";

/** The name a run's scenario file has in its folder (JSON is YAML too). */
export const SCENARIO_FILE = "scenario.yaml";

/** What reproduces a run. */
export interface Reproduction {
  /** The version of the lab that ran it. */
  labVersion: string;
  /** The command, run at the root of a clone of the lab: `./tcplab run NAME` or `./tcplab run scenario.yaml`. */
  command: string;
  /** Whether the command names the catalog's scenario (true) or the saved file. */
  fromCatalog: boolean;
  /** The scenario file's text as written (null when the run did not keep it). */
  scenarioText: string | null;
}

/**
 * Where a run ran when it was a matrix's cell: the Docker host as the user
 * named it, and the sysctls its column set in both sides' namespaces.
 */
export interface RunPlace {
  host: string;
  sysctls: Readonly<Record<string, string>>;
}

/** The Docker host `deno task lab` (and so `./tcplab`) reaches without `--host`, in both its spellings. */
const _DEFAULT_HOSTS = ["unix:///var/run/docker.sock", "/var/run/docker.sock"];

/**
 * How a scenario's run is reproduced: a catalog scenario by its name, a
 * scenario file of one's own by the copy saved beside the report. A
 * matrix's cell adds its place: its host (`--host`, with the `lab:hosts`
 * task, whose permissions reach any host, when it is not the default
 * socket) and its column's sysctls (`--vary NAME=VALUE`, one value: one
 * column).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadCatalog } from "../scenario/catalog.ts";
 * const seed = loadCatalog().get("seed")!;
 * assert.equal(reproductionOf(seed).command, "./tcplab run seed");
 * const mine = { ...seed, source: "/home/me/cases/mine.yaml" };
 * assert.equal(reproductionOf(mine).command, "./tcplab run scenario.yaml");
 * assert.equal(reproductionOf(mine).scenarioText, seed.text);
 * const cell = { host: "ssh://lab@box", sysctls: { "net.ipv4.tcp_rmem": "4096 131072 6291456" } };
 * assert.equal(
 *   reproductionOf(seed, cell).command,
 *   "deno task lab:hosts run seed --host ssh://lab@box --vary 'net.ipv4.tcp_rmem=4096 131072 6291456'",
 * );
 * ```
 */
export function reproductionOf(scenario: Scenario, place: RunPlace | null = null): Reproduction {
  const fromCatalog = !scenario.source || scenario.source === "catalog";
  const remote = place !== null && !_DEFAULT_HOSTS.includes(place.host);
  const words = [
    ...(remote ? ["deno", "task", "lab:hosts"] : ["./tcplab"]),
    "run",
    fromCatalog ? scenario.name : SCENARIO_FILE,
    ...(remote ? ["--host", place.host] : []),
    ...Object.entries(place?.sysctls ?? {}).flatMap(([name, value]) => ["--vary", `${name}=${value}`]),
  ];
  return {
    labVersion: LAB_VERSION,
    command: words.map(_shellWord).join(" "),
    fromCatalog,
    scenarioText: scenario.text ?? null,
  };
}

/** A word as a POSIX shell reads it back: as it is when it is plain, else in single quotes. */
function _shellWord(word: string): string {
  return /^[\w.,:/@=+%-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}
