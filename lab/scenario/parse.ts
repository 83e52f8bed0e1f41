/**
 * Read a scenario file (YAML, or JSON, which YAML includes) into a
 * {@link Scenario}, refusing anything malformed with one message that names
 * the file, the place in it and what was expected. Pure: text in, scenario out.
 *
 * @module
 */

import { isMap, isScalar, isSeq, LineCounter, type Node, parseDocument, type YAMLMap } from "yaml";
import type { ConnState } from "../analysis/types.ts";
import { CAUSE_IDS, type CauseId, isCauseId } from "../analysis/causes.ts";
import { EVENT_WORDS, type EventWord, isStepName, type Step, STEP_NAMES, STEPS } from "./step_table.ts";
import {
  type Expectation,
  type HostProgram,
  isStepsSide,
  type PathRule,
  type PathSpec,
  type Scenario,
  type Side,
  SIDES,
  type SideSpec,
  type StepMoment,
  TCP_FLAG_NAMES,
} from "./types.ts";

/** A scenario file that cannot be used: where, and what was expected there. */
export class ScenarioError extends SyntaxError {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  /** Where in the scenario, e.g. "client.steps[2]". */
  readonly path: string;
  constructor(file: string, line: number, column: number, path: string, problem: string) {
    super(`${file}:${line}:${column}: ${path ? `${path}: ` : ""}${problem}`);
    this.name = "ScenarioError";
    this.file = file;
    this.line = line;
    this.column = column;
    this.path = path;
  }
}

const STATES: readonly ConnState[] = [
  "S0",
  "S1",
  "SF",
  "REJ",
  "S2",
  "S3",
  "RSTO",
  "RSTR",
  "RSTOS0",
  "RSTRH",
  "SH",
  "SHR",
  "OTH",
];
/** The sysctls a scenario (or --vary) may set: the per-namespace TCP ones Docker allows. */
export const SCENARIO_SYSCTL = /^net\.(ipv4\.tcp_[a-z0-9_]+|core\.somaxconn)$/;
/** The sysctls a scenario's `path:` may set in the middlebox's namespace: connection tracking's own. */
export const PATH_SYSCTL = /^net\.netfilter\.nf_conntrack_[a-z0-9_]+$/;

/**
 * Parse a scenario file's text. `file` is used in messages only.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const text = "name: x\ntitle: t\nserver:\n  steps: [listen, accept, close]\n" +
 *   "client:\n  steps: [connect, {write: 1}, close]\nexpect: {state: SF}\n";
 * assert.deepEqual(parseScenario(text, "x.yaml").client, {
 *   steps: [{ op: "connect" }, { op: "write", bytes: 1 }, { op: "close" }],
 * });
 * assert.throws(() => parseScenario(text.replace("write", "wirte"), "x.yaml"), /x\.yaml:6:20: client\.steps\[1\]: unknown step "wirte"/);
 * ```
 */
export function parseScenario(text: string, file: string): Scenario {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const fail = (node: Node | null | undefined, path: string, problem: string): never => {
    const offset = node?.range?.[0] ?? 0;
    const { line, col } = lines.linePos(offset);
    throw new ScenarioError(file, line, col, path, problem);
  };
  const syntax = doc.errors[0];
  if (syntax) {
    const { line, col } = lines.linePos(syntax.pos[0]);
    throw new ScenarioError(file, line, col, "", `not valid YAML or JSON: ${syntax.message.split("\n")[0]}`);
  }
  const root = doc.contents;
  if (!isMap(root)) return fail(root, "", "expected a mapping with name, title, server, client and expect");
  const r = new Reader(root, "", fail);
  r.only([
    "name",
    "title",
    "description",
    "port",
    "server",
    "client",
    "expect",
    "contrast",
    "retry",
    "timeouts",
    "path",
    "restart-server",
  ]);
  const name = r.string("name", true)!;
  if (!/^[a-z0-9][a-z0-9-]*$/.test(name)) {
    fail(r.node("name"), "name", `"${name}" is not a name; expected lowercase letters, digits and dashes`);
  }
  const scenario: Scenario = {
    name,
    title: r.string("title", true)!,
    description: r.string("description", false) ?? "",
    port: r.integer("port", 1, 65535) ?? 9999,
    server: readSide(r.map("server", true)!, "server", fail),
    client: readSide(r.map("client", true)!, "client", fail),
    expect: readExpectation(r.map("expect", true)!, fail),
    source: file,
    text,
  };
  const contrast = r.string("contrast", false);
  if (contrast !== null) scenario.contrast = contrast;
  const timeouts = r.map("timeouts", false);
  if (timeouts) {
    const phases = ["build", "start", "capture", "run", "flush", "collect"] as const;
    timeouts.only([...phases]);
    scenario.timeouts = {};
    for (const p of phases) {
      const seconds = timeouts.integer(p, 1, 3600);
      if (seconds !== null) scenario.timeouts[p] = seconds * 1000;
    }
  }
  const path = r.node("path");
  if (path !== undefined) scenario.path = readPath(path, fail, scenario);
  // `restart-server: {after-client-step: N}`: the server's namespace replaced once the client's step N returned.
  const restart = r.map("restart-server", false);
  if (restart) {
    restart.only(["after-client-step"]);
    // The namespace holder runs the steps and goes with its namespace; a program in a container of its own
    // (a user's program, or steps with `at` moments) would keep the old namespace alive, and the moment is
    // read from the client's steps.
    const sides = [scenario.server, scenario.client];
    if (
      !sides.every(isStepsSide) || sides.some((s) => isStepsSide(s) && s.steps.some((x) => x.op === "at"))
    ) {
      fail(restart.yaml, restart.path, "expected both sides to run the lab's steps, with no `at` step");
    }
    // The moment is any of the client's steps but the last (it is seen when the next one begins).
    const steps = isStepsSide(scenario.client) ? scenario.client.steps.length : 0;
    if (steps < 2) {
      fail(restart.yaml, restart.path, "expected a client that runs two or more of the lab's steps");
    }
    const afterClientStep = restart.integer("after-client-step", 1, steps - 1) ??
      fail(restart.yaml, restart.path, `missing field "after-client-step"`);
    scenario.restart = { side: "server", afterClientStep };
  }
  const retry = r.map("retry", false);
  if (retry) {
    retry.only(["until", "attempts"]);
    retry.oneOf("until", ["fins-cross"], true);
    scenario.retry = { until: "fins-cross", attempts: retry.integer("attempts", 1, 20) ?? 5 };
  }
  return scenario;
}

type Fail = (node: Node | null | undefined, path: string, problem: string) => never;

/** Typed reads from one YAML mapping, failing with the place in the file. */
class Reader {
  constructor(readonly yaml: YAMLMap, readonly path: string, readonly fail: Fail) {}

  at(key: string): string {
    return this.path ? `${this.path}.${key}` : key;
  }

  node(key: string): Node | undefined {
    return this.yaml.get(key, true) as Node | undefined;
  }

  keys(): string[] {
    return this.yaml.items.map((pair) => String(isScalar(pair.key) ? pair.key.value : pair.key));
  }

  only(allowed: string[]): void {
    for (const pair of this.yaml.items) {
      const key = String(isScalar(pair.key) ? pair.key.value : pair.key);
      if (!allowed.includes(key)) {
        this.fail(
          pair.key as Node,
          this.at(key),
          `unknown field "${key}"; expected one of: ${allowed.join(", ")}`,
        );
      }
    }
  }

  required(key: string): Node {
    const node = this.node(key);
    if (node === undefined) this.fail(this.yaml, this.path, `missing field "${key}"`);
    return node!;
  }

  string(key: string, required: boolean): string | null {
    const node = required ? this.required(key) : this.node(key);
    if (node === undefined) return null;
    if (!isScalar(node) || typeof node.value !== "string") {
      return this.fail(node, this.at(key), `expected text, got ${describe(node)}`);
    }
    return node.value;
  }

  integer(key: string, min: number, max: number): number | null {
    const node = this.node(key);
    if (node === undefined) return null;
    return integerValue(node, this.at(key), min, max, this.fail);
  }

  oneOf<T extends string>(key: string, values: readonly T[], required: boolean): T | null {
    const value = this.string(key, required);
    if (value === null) return null;
    if (!values.includes(value as T)) {
      this.fail(
        this.node(key),
        this.at(key),
        `"${value}" is not allowed; expected one of: ${values.join(", ")}`,
      );
    }
    return value as T;
  }

  map(key: string, required: boolean): Reader | null {
    const node = required ? this.required(key) : this.node(key);
    if (node === undefined) return null;
    if (!isMap(node)) return this.fail(node, this.at(key), `expected a mapping, got ${describe(node)}`);
    return new Reader(node, this.at(key), this.fail);
  }
}

function describe(node: unknown): string {
  if (isMap(node)) return "a mapping";
  if (isSeq(node)) return "a list";
  if (isScalar(node)) {
    return node.value === null ? "nothing" : `${typeof node.value} ${JSON.stringify(node.value)}`;
  }
  return "nothing";
}

function integerValue(node: Node, path: string, min: number, max: number, fail: Fail): number {
  const value = isScalar(node) ? node.value : undefined;
  if (typeof value !== "number" || !Number.isInteger(value)) {
    return fail(node, path, `expected a whole number from ${min} to ${max}, got ${describe(node)}`);
  }
  if (value < min || value > max) {
    return fail(node, path, `${value} is out of range; expected ${min} to ${max}`);
  }
  return value;
}

/**
 * `path:` is a list of rules, or a mapping with `rules`, `nat: masquerade`
 * and `sysctls` (net.netfilter.nf_conntrack_* of the middlebox). Each rule
 * is `to: server|client`, then `blackhole: true`, `reject: tcp-reset`,
 * `reject: icmp-host-unreachable` or `drop: {flags: FIN, skip: 0, count: 1}`
 * (after letting `skip` through, the next `count` segments of the scenario's
 * connection that carry the flag), `loss: {percent: 20}` (each packet of the
 * scenario's connection dropped with that chance), `rate: {kbit: 256, burst: 4k}`
 * (the middlebox's egress to the side no faster than that, with a bucket of
 * `burst` bytes: a whole number, or with k or m), or `delay: {ms: 50}` and/or
 * `reorder: {every: 5, extra-ms: 30}` (each segment of the scenario's
 * connection held `ms`, every 5th one with new data 30 ms more, so that the
 * next ones overtake it), and optionally `from-ms` and `until-ms` (counted from
 * the client's start) or `from-step` and `until-step` (once a side's step has
 * returned, e.g. `from-step: {client: 3}`).
 */
function readPath(node: Node, fail: Fail, sides: Pick<Scenario, Side>): PathSpec {
  if (isMap(node)) {
    const r = new Reader(node, "path", fail);
    r.only(["rules", "nat", "sysctls"]);
    const rules = r.node("rules");
    const spec: PathSpec = {
      rules: rules === undefined ? [] : _readPathRules(rules, "path.rules", fail, sides),
    };
    const nat = r.oneOf("nat", ["masquerade"] as const, false);
    if (nat !== null) spec.nat = nat;
    const sysctls = readSysctls(r, fail, PATH_SYSCTL, "a net.netfilter.nf_conntrack_* sysctl");
    if (sysctls) spec.sysctls = sysctls;
    if (spec.rules.length === 0 && !spec.nat) fail(node, "path", "expected rules or nat");
    return spec;
  }
  if (!isSeq(node)) return fail(node, "path", `expected a list of rules or a mapping, got ${describe(node)}`);
  const rules = _readPathRules(node, "path", fail, sides);
  if (rules.length === 0) fail(node, "path", "expected at least one rule");
  return { rules };
}

const _REJECTS = {
  "tcp-reset": "reject-tcp-reset",
  "icmp-host-unreachable": "reject-icmp-host-unreachable",
} as const;

function _readPathRules(node: Node, path: string, fail: Fail, sides: Pick<Scenario, Side>): PathRule[] {
  if (!isSeq(node)) return fail(node, path, `expected a list of rules, got ${describe(node)}`);
  return node.items.map((item, i): PathRule => {
    const at = `${path}[${i}]`;
    if (!isMap(item)) return fail(item as Node, at, `expected a mapping, got ${describe(item)}`);
    const r = new Reader(item, at, fail);
    r.only([
      "to",
      "blackhole",
      "reject",
      "drop",
      "loss",
      "rate",
      "delay",
      "reorder",
      "from-ms",
      "until-ms",
      "from-step",
      "until-step",
    ]);
    const to = r.oneOf("to", ["server", "client"] as const, true)!;
    const reject = r.oneOf("reject", Object.keys(_REJECTS) as Array<keyof typeof _REJECTS>, false);
    const blackhole = r.node("blackhole");
    if (blackhole !== undefined && !(isScalar(blackhole) && blackhole.value === true)) {
      fail(blackhole, r.at("blackhole"), `expected true, got ${describe(blackhole)}`);
    }
    const drop = r.map("drop", false);
    const loss = r.map("loss", false);
    const rate = r.map("rate", false);
    const delay = r.map("delay", false);
    const reorder = r.map("reorder", false);
    const held = delay !== null || reorder !== null;
    if ([reject !== null, blackhole !== undefined, drop, loss, rate, held].filter(Boolean).length !== 1) {
      fail(
        item,
        at,
        `expected one of "blackhole: true", "reject: tcp-reset|icmp-host-unreachable", ` +
          `"drop: {flags: FIN, count: 1}", "loss: {percent: 20}", "rate: {kbit: 256, burst: 4k}" ` +
          `or "delay: {ms: 50}" and/or "reorder: {every: 5, extra-ms: 30}"`,
      );
    }
    for (const [ms, step] of [["from-ms", "from-step"], ["until-ms", "until-step"]] as const) {
      if (r.node(ms) !== undefined && r.node(step) !== undefined) {
        fail(r.node(step), r.at(step), `expected "${ms}" or "${step}", not both`);
      }
    }
    const fromStep = _readStepMoment(r, "from-step", sides);
    const untilStep = _readStepMoment(r, "until-step", sides);
    // A window's end waits for its beginning: ending at the other side's step, it could hold that side until
    // this one reached its step, which may wait for the other side in turn.
    if (fromStep && untilStep && fromStep.side !== untilStep.side) {
      fail(
        r.node("until-step"),
        r.at("until-step"),
        `expected a step of the ${fromStep.side}, as "from-step" names, not of the ${untilStep.side}`,
      );
    }
    if (fromStep && untilStep && untilStep.step <= fromStep.step) {
      fail(
        r.node("until-step"),
        r.at("until-step"),
        `expected a step after ${fromStep.side}'s step ${fromStep.step}`,
      );
    }
    if (fromStep && r.node("until-ms") !== undefined) {
      fail(r.node("until-ms"), r.at("until-ms"), `expected "until-step" with "from-step"`);
    }
    const fromMs = r.integer("from-ms", 0, 600_000) ?? 0;
    const untilMs = r.integer("until-ms", fromMs + 1, 600_000);
    const window = {
      fromMs,
      untilMs,
      ...(fromStep ? { fromStep } : {}),
      ...(untilStep ? { untilStep } : {}),
    };
    if (drop) {
      drop.only(["flags", "skip", "count"]);
      const flag = drop.oneOf("flags", TCP_FLAG_NAMES, true)!;
      const skip = drop.integer("skip", 0, 1000) ?? 0;
      const count = drop.integer("count", 1, 20) ?? 1;
      return { to, action: "drop-first", ...window, segments: { flag, skip, count } };
    }
    if (loss) {
      loss.only(["percent"]);
      return {
        to,
        action: "loss",
        ...window,
        lossPercent: integerValue(loss.required("percent"), loss.at("percent"), 1, 99, fail),
      };
    }
    if (rate) {
      rate.only(["kbit", "burst"]);
      const kbit = integerValue(rate.required("kbit"), rate.at("kbit"), 8, 10_000_000, fail);
      const burstBytes = _byteCount(rate.required("burst"), rate.at("burst"), fail);
      return { to, action: "rate", ...window, rate: { kbit, burstBytes } };
    }
    if (held) {
      delay?.only(["ms"]);
      reorder?.only(["every", "extra-ms"]);
      const delayMs = delay?.integer("ms", 0, 10_000) ?? 0;
      const every = reorder?.integer("every", 2, 1000) ?? 0;
      const extraMs = reorder?.integer("extra-ms", 1, 10_000) ?? 0;
      if (reorder && (every === 0 || extraMs === 0)) {
        fail(reorder.yaml, reorder.path, `expected both "every" and "extra-ms"`);
      }
      if (delayMs === 0 && !reorder) fail(delay!.yaml, delay!.path, `expected "ms" above 0`);
      return { to, action: "hold", ...window, hold: { delayMs, every, extraMs } };
    }
    return { to, action: reject === null ? "blackhole" : _REJECTS[reject], ...window };
  });
}

/** A byte count written as a whole number or with k or m (1024s): `4k`, `1500`; from 1500 (one packet) to 64m. */
function _byteCount(node: Node, path: string, fail: Fail): number {
  const m = isScalar(node) ? /^(\d+)\s*([km]?)b?$/i.exec(String(node.value)) : null;
  const bytes = m ? Number(m[1]) * ({ "": 1, k: 1024, m: 1024 * 1024 }[m[2]!.toLowerCase()] ?? 1) : NaN;
  if (!(bytes >= 1500 && bytes <= 64 * 1024 * 1024)) {
    return fail(node, path, `expected bytes from 1500 to 64m, such as 4k or 16000, got ${describe(node)}`);
  }
  return bytes;
}

/**
 * `from-step: {client: 3}`: once that side's step 3 has returned. The side runs the lab's steps, and the step
 * is any of them but the last (the moment is seen when the next one begins).
 */
function _readStepMoment(r: Reader, key: string, sides: Pick<Scenario, Side>): StepMoment | undefined {
  const moment = r.map(key, false);
  if (!moment) return undefined;
  moment.only([...SIDES]);
  const [side, ...more] = moment.keys() as Side[];
  if (side === undefined || more.length > 0) {
    return r.fail(moment.yaml, moment.path, "expected one side and its step, e.g. {client: 3}");
  }
  const spec = sides[side];
  if (!isStepsSide(spec) || spec.steps.length < 2) {
    return r.fail(moment.yaml, moment.path, `expected a side that runs two or more of the lab's steps`);
  }
  return { side, step: moment.integer(side, 1, spec.steps.length - 1)! };
}

function readSide(r: Reader, side: Side, fail: Fail): SideSpec {
  r.only(["steps", "program", "sysctls"]);
  const sysctls = readSysctls(r, fail);
  const stepsNode = r.node("steps");
  const program = r.map("program", false);
  if ((stepsNode === undefined) === (program === null)) {
    fail(
      r.yaml,
      r.path,
      `expected either "steps" (the lab's program) or "program" (your own image), not ${
        program ? "both" : "neither"
      }`,
    );
  }
  if (program) {
    const sides = sysctls ? { sysctls } : {};
    if (program.node("binary") !== undefined) {
      const host = readHostProgram(program, fail);
      if (host.stop && side === "client") {
        fail(
          program.node("stop"),
          program.at("stop"),
          "expected no stop command for the client: the run ends when it exits",
        );
      }
      return { program: host, ...sides };
    }
    program.only(["image", "command", "env"]);
    const image = program.string("image", true)!;
    const command = readWords(program, "command", `["nc", "-l", "-p", "{port}"]`, fail);
    const env = readEnv(program);
    return { program: { image, command, ...(env ? { env } : {}) }, ...sides };
  }
  // An empty list is allowed: that side runs no program (a server where nothing listens).
  if (!isSeq(stepsNode)) {
    return fail(
      stepsNode,
      r.at("steps"),
      `expected a list of steps for the ${side}, e.g. [connect, {write: 1}, close]`,
    );
  }
  const steps = stepsNode.items.map((item, i) => readStep(item as Node, `${r.at("steps")}[${i}]`, fail));
  return { steps, ...(sysctls ? { sysctls } : {}) };
}

/** A program from this host: `binary`, `args`, and the `files` and `writable` folders it needs. */
function readHostProgram(r: Reader, fail: Fail): HostProgram {
  r.only(["binary", "args", "files", "writable", "env", "trace", "stop", "seccomp"]);
  const binary = r.string("binary", true)!;
  if (!binary.startsWith("/")) {
    fail(r.node("binary"), r.at("binary"), `expected an absolute path, got "${binary}"`);
  }
  const args = r.node("args") === undefined ? [] : readWords(r, "args", `["-", "TCP:{server}:{port}"]`, fail);
  const program: HostProgram = { binary, args };
  const files = r.map("files", false);
  if (files) {
    program.files = {};
    for (const key of files.keys()) {
      if (!key.startsWith("/")) {
        fail(files.node(key), files.at(key), `expected an absolute path in the image, got "${key}"`);
      }
      program.files[key] = files.string(key, true)!;
    }
  }
  if (r.node("writable") !== undefined) {
    program.writable = readWords(r, "writable", `["/run", "/var/lib/nginx"]`, fail);
    for (const path of program.writable) {
      if (!path.startsWith("/")) {
        fail(r.node("writable"), r.at("writable"), `expected absolute paths, got "${path}"`);
      }
    }
  }
  const env = readEnv(r);
  if (env) program.env = env;
  const seccomp = r.string("seccomp", false);
  if (seccomp !== null) program.seccomp = seccomp;
  const trace = r.node("trace");
  if (trace !== undefined) {
    if (!isScalar(trace) || typeof trace.value !== "boolean") {
      fail(trace, r.at("trace"), `expected true or false, got ${describe(trace)}`);
    }
    program.trace = (trace as unknown as { value: boolean }).value;
  }
  if (r.node("stop") !== undefined) {
    program.stop = readWords(r, "stop", `["/usr/sbin/nginx", "-s", "quit"]`, fail);
    if (!program.stop[0]?.startsWith("/")) {
      fail(r.node("stop"), r.at("stop"), "expected a command that starts with an absolute path in the image");
    }
  }
  return program;
}

/** A list of words, e.g. a command. */
function readWords(r: Reader, key: string, example: string, fail: Fail): string[] {
  const node = r.required(key);
  if (!isSeq(node) || node.items.some((i) => !isScalar(i) || typeof i.value !== "string")) {
    fail(node, r.at(key), `expected a list of words, e.g. ${example}`);
  }
  return (node as unknown as { items: Array<{ value: string }> }).items.map((i) => i.value);
}

/** A program's environment, or null when it has none. */
function readEnv(r: Reader): Record<string, string> | null {
  const envReader = r.map("env", false);
  if (!envReader) return null;
  const env: Record<string, string> = {};
  for (const key of envReader.keys()) env[key] = envReader.string(key, true)!;
  return env;
}

function readSysctls(
  r: Reader,
  fail: Fail,
  allowed = SCENARIO_SYSCTL,
  expected = "a net.ipv4.tcp_* sysctl or net.core.somaxconn",
): Record<string, string> | null {
  const sysctls = r.map("sysctls", false);
  if (!sysctls) return null;
  const out: Record<string, string> = {};
  for (const key of sysctls.keys()) {
    const node = sysctls.node(key);
    if (!allowed.test(key)) {
      fail(node, sysctls.at(key), `"${key}" cannot be set per scenario; expected ${expected}`);
    }
    if (!isScalar(node) || (typeof node.value !== "string" && typeof node.value !== "number")) {
      fail(
        node,
        sysctls.at(key),
        `expected a value such as 5 or "4096 87380 6291456", got ${describe(node)}`,
      );
    }
    out[key] = String((node as { value: unknown }).value);
  }
  return out;
}

function readStep(node: Node, path: string, fail: Fail): Step {
  let op: string;
  let arg: Node | undefined;
  if (isScalar(node) && typeof node.value === "string") {
    op = node.value;
  } else if (isMap(node) && node.items.length === 1) {
    const pair = node.items[0]!;
    op = String(isScalar(pair.key) ? pair.key.value : pair.key);
    arg = pair.value as Node;
  } else {
    return fail(node, path, `expected a step such as close or {write: 1}, got ${describe(node)}`);
  }
  if (!isStepName(op)) {
    return fail(node, path, `unknown step "${op}"; expected one of: ${STEP_NAMES.join(", ")}`);
  }
  const spec = STEPS[op];
  const argPath = `${path}.${op}`;
  const needs = (what: string): never => fail(arg ?? node, argPath, `expected ${what}`);
  const number = (what: string): number => {
    if (arg === undefined) needs(what);
    const [min, max] = spec.range ?? [0, 0];
    return integerValue(arg!, argPath, min, max, fail);
  };
  // The fields of the step's kind of argument; the table's types say they fit its name.
  const step = (fields: object): Step => ({ op, ...fields }) as Step;
  switch (spec.argument) {
    case "none":
      if (arg !== undefined && !(isScalar(arg) && arg.value === null)) {
        fail(arg, argPath, `"${op}" takes no argument; write it as - ${op}`);
      }
      return step({});
    case "bytes":
      return step({ bytes: number(`a number of bytes, e.g. {${op}: 1}`) });
    case "ms":
      return step({ ms: number(`milliseconds, e.g. {${op}: 100}`) });
    case "seconds":
      return step({ seconds: number(`whole seconds, e.g. {${op}: 2}`) });
    case "count":
      return step({ count: number(`a number, e.g. {${op}: 3}`) });
    case "connection":
      return step({
        conn: number(`a connection's number, e.g. {${op}: 2} (the second made by connect or accept)`),
      });
    case "listen": {
      if (arg === undefined || (isScalar(arg) && arg.value === null)) return step({});
      if (!isMap(arg)) return needs("{backlog: N} or nothing");
      const r = new Reader(arg, argPath, fail);
      r.only(["backlog"]);
      const backlog = r.integer("backlog", 0, 65535);
      return step(backlog === null ? {} : { backlog });
    }
    case "events":
      return step({ events: readEvents(arg, argPath, fail) });
    case "epoll": {
      if (arg !== undefined && isMap(arg)) {
        const r = new Reader(arg, argPath, fail);
        r.only(["events", "until"]);
        const until = r.node("until");
        return step({
          events: readEvents(r.required("events"), r.at("events"), fail),
          ...(until === undefined ? {} : { until: readEvents(until, r.at("until"), fail) }),
        });
      }
      return step({ events: readEvents(arg, argPath, fail) });
    }
    case "shutdown": {
      const how = isScalar(arg) ? arg.value : undefined;
      if (how !== "wr" && how !== "rd" && how !== "rdwr") return needs(`wr, rd or rdwr, e.g. {${op}: wr}`);
      return step({ how });
    }
    case "switch": {
      const on = isScalar(arg) ? arg.value : undefined;
      if (typeof on !== "boolean") return needs(`true or false, e.g. {${op}: true}`);
      return step({ on });
    }
    case "linger": {
      if (!isMap(arg)) return needs("{on: true, seconds: 0}");
      const r = new Reader(arg, argPath, fail);
      r.only(["on", "seconds"]);
      const onNode = r.required("on");
      if (!isScalar(onNode) || typeof onNode.value !== "boolean") {
        fail(onNode, r.at("on"), "expected true or false");
      }
      return step({ on: (onNode as { value: boolean }).value, seconds: r.integer("seconds", 0, 3600) ?? 0 });
    }
  }
}

function readEvents(node: Node | undefined, path: string, fail: Fail): EventWord[] {
  const words = isSeq(node)
    ? node.items.map((i) => (isScalar(i) ? String(i.value) : ""))
    : isScalar(node) && typeof node.value === "string"
    ? node.value.split("|")
    : null;
  if (!words || words.length === 0) {
    return fail(node, path, `expected event words, e.g. [in, out, rdhup, hup] or "in|out"`);
  }
  for (const w of words) {
    if (!EVENT_WORDS.includes(w as EventWord)) {
      fail(node, path, `unknown event "${w}"; expected some of: ${EVENT_WORDS.join(", ")}`);
    }
  }
  return words as EventWord[];
}

function readExpectation(r: Reader, fail: Fail): Expectation {
  r.only([
    "connection",
    "connections",
    "state",
    "resetBy",
    "closedFirstBy",
    "cause",
    "resetReasons",
    "counters",
    "socketsLeft",
    "statesSeen",
  ]);
  const expect: Expectation = {};
  for (const key of ["connection", "connections"] as const) {
    const n = r.integer(key, 1, 64);
    if (n !== null) expect[key] = n;
  }
  const state = r.oneOf("state", STATES, false);
  if (state) expect.state = state;
  for (const key of ["resetBy", "closedFirstBy"] as const) {
    const node = r.node(key);
    if (node === undefined) continue;
    const value = isScalar(node) ? node.value : undefined;
    if (value !== null && value !== "client" && value !== "server") {
      fail(node, r.at(key), `expected client, server or null, got ${describe(node)}`);
    }
    expect[key] = value as Side | null;
  }
  const causeNode = r.node("cause");
  if (causeNode !== undefined) {
    const list = isSeq(causeNode) ? causeNode.items : [causeNode];
    const causes = list.map((i) => (isScalar(i) ? String(i.value) : ""));
    for (const c of causes) {
      if (!isCauseId(c)) {
        fail(causeNode, r.at("cause"), `unknown cause "${c}"; expected one of: ${CAUSE_IDS.join(", ")}`);
      }
    }
    expect.cause = causes.length === 1 ? causes[0] as CauseId : causes as CauseId[];
  }
  const reasons = r.node("resetReasons");
  if (reasons !== undefined) {
    if (!isSeq(reasons)) fail(reasons, r.at("resetReasons"), "expected a list such as [TCP_ABORT_ON_CLOSE]");
    expect.resetReasons = (reasons as unknown as { items: Node[] }).items.map((i) =>
      isSeq(i) ? i.items.map((j) => String(isScalar(j) ? j.value : "")) : String(isScalar(i) ? i.value : "")
    );
  }
  const counters = r.map("counters", false);
  if (counters) {
    counters.only(["client", "server"]);
    expect.counters = {};
    for (const side of ["client", "server"] as const) {
      const s = counters.map(side, false);
      if (!s) continue;
      const values: Record<string, number> = {};
      for (const key of s.keys()) {
        if (!/^(TcpExt|Tcp|Ip|IpExt)\.\w+$/.test(key)) {
          fail(
            s.node(key),
            s.at(key),
            `"${key}" is not a counter name; expected e.g. TcpExt.TCPAbortOnClose`,
          );
        }
        values[key] = s.integer(key, -1e9, 1e9)!;
      }
      expect.counters[side] = values;
    }
  }
  for (const key of ["socketsLeft", "statesSeen"] as const) {
    const m = r.map(key, false);
    if (!m) continue;
    m.only(["client", "server"]);
    const out: Partial<Record<Side, string[]>> = {};
    for (const side of ["client", "server"] as const) {
      const node = m.node(side);
      if (node === undefined) continue;
      if (!isSeq(node)) fail(node, m.at(side), "expected a list of TCP states such as [TIME_WAIT]");
      out[side] = (node as unknown as { items: Node[] }).items.map((i) => String(isScalar(i) ? i.value : ""));
    }
    expect[key] = out;
  }
  return expect;
}
