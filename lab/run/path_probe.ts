/**
 * The probe of the lab's own path, before the captures start: the server's
 * holder listens on a port of its own, the client's holder connects to it
 * through the run's network and resets the connection. A Docker host whose
 * firewall drops traffic between containers (a daemon with iptables off on
 * a host whose FORWARD policy is DROP, with bridge-nf-call-iptables=1)
 * would otherwise let a run wait for its timeout and then find a teardown
 * the lab does not know. The probe happens before tcpdump starts and before
 * the holders' first snapshots, so neither the captures nor the counters
 * see it; its trace events are left out by its port.
 *
 * What to run is planned here (pure); the run (lab/run/run_scenario.ts)
 * waits for the holders' lines and, when the client's says no answer,
 * throws the error {@link brokenPathError} words.
 *
 * @module
 */

import { LabEnvironmentError } from "../errors.ts";
import type { Scenario, Side } from "../scenario/types.ts";

/**
 * How long the client's holder meets silence, on its own clock, before it
 * says "no answer" (PROBE_LIMIT_MS in containers/endpoint/holder.c, which a
 * test holds to this). The silence counts only once a neighbour answered ARP
 * (a firewall that drops bridged IP lets ARP through), and a refusal starts
 * it again: before the server's namespace is on the bridge, or before its
 * holder listens, nothing is said of the path. A SYN lost early costs 50 ms
 * (the holder sends a fresh one, after a fresh ARP request); a working path
 * answers in well under one: the server's holder listens before the client's
 * holder starts (lab/run/run_scenario.ts), so 2.5 s of silence is a path that
 * drops, and the lab says so within 5 s of its start. The holder decides, not
 * the lab's clock: on a loaded machine its line can reach the lab late, and
 * lateness is no sign of a broken path.
 */
export const PROBE_WINDOW_MS = 2_500;

/** The subnet the lab's networks are made in (lab/run/run_scenario.ts). */
export const LAB_SUBNETS = "10.200.0.0/16";

/**
 * The probe's port: above the ephemeral range (32768-60999), so that no
 * client's own port is it, and never the scenario's.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(probePort(9999), 61999);
 * assert.equal(probePort(61999), 61998);
 * ```
 */
export function probePort(scenarioPort: number): number {
  return scenarioPort === 61999 ? 61998 : 61999;
}

/**
 * The probe's port for a scenario, or null when the plan skips the probe.
 * Every scenario probes today; a scenario whose path is meant to fail (a
 * `path:` section, to come) will skip it here.
 */
export function plannedProbe(scenario: Scenario): number | null {
  return probePort(scenario.port);
}

/**
 * The holder's `--probe` arguments for a side: the server listens, the client connects.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(probeArgs("server", "10.200.0.2", 61999), ["--probe", "listen=61999"]);
 * assert.deepEqual(probeArgs("client", "10.200.0.2", 61999), ["--probe", "connect=10.200.0.2:61999"]);
 * assert.deepEqual(probeArgs("client", "10.200.0.2", null), []);
 * ```
 */
export function probeArgs(side: Side, serverAddress: string, port: number | null): string[] {
  if (port === null) return [];
  return ["--probe", side === "server" ? `listen=${port}` : `connect=${serverAddress}:${port}`];
}

/** What a holder said of its probe: the server's "listening", the client's "connected" or "no answer". */
export type ProbeLine = "listening" | "connected" | "no answer" | "failed";

/**
 * The last probe line in a holder's output, or null before there is one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(probeState("=== tcplab-hold: probe: listening on port 61999\n"), "listening");
 * assert.equal(probeState("=== tcplab-hold: probe: connected to 10.200.0.2:61999 in 1 ms (1 attempt(s))\n"), "connected");
 * assert.equal(probeState("=== tcplab-hold: probe: no answer from 10.200.0.2:61999 in 5000 ms (25 attempt(s), last ETIMEDOUT)\n"), "no answer");
 * assert.equal(probeState("=== tcplab-snapshot BEGIN 1\n"), null);
 * ```
 */
export function probeState(holderStdout: string): ProbeLine | null {
  const lines = [...holderStdout.matchAll(/^=== tcplab-hold: probe: (\S+(?: \S+)?)/gm)];
  const last = lines.at(-1)?.[1];
  if (last === undefined) return null;
  if (last.startsWith("listening")) return "listening";
  if (last.startsWith("connected")) return "connected";
  if (last.startsWith("no answer")) return "no answer";
  return "failed";
}

/**
 * Whether a kernel trace line belongs to the probe (its port on either
 * end): the run's trace keeps the scenario's events only.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.ok(isProbeEvent("inet_sock_set_state: family=AF_INET sport=61999 dport=40000 ", 61999));
 * assert.ok(isProbeEvent("tcp_send_reset: src=10.200.0.3:40000 dest=10.200.0.2:61999 state=", 61999));
 * assert.ok(!isProbeEvent("inet_sock_set_state: sport=9999 dport=619990 ", 61999));
 * ```
 */
export function isProbeEvent(line: string, port: number): boolean {
  return new RegExp(`(?:port=|:)${port}(?!\\d)`).test(line);
}

/** A sysctl of the engine's host as read: its value and its file, or why the lab cannot read it. */
export type SysctlRead = { value: string; source: string } | { unreadable: string };

/** What the lab can read about a host's bridge filtering, for the message. */
export interface BridgeFacts {
  /** The engine's host's bridge-nf-call-iptables ("1", "0"), or why the lab cannot read it. */
  bridgeNfCallIptables: SysctlRead;
  /** The Engine's `BridgeNfIptables` in /info, or null when it does not say. */
  engineBridgeNfIptables: boolean | null;
}

/**
 * The error of a lab whose own path is broken: one line saying what
 * happened and what the lab could read, and a hint saying what to do.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const e = brokenPathError("10.200.0.2:61999", 2000, {
 *   bridgeNfCallIptables: { value: "1", source: "/proc/sys/net/bridge/bridge-nf-call-iptables" },
 *   engineBridgeNfIptables: true,
 * });
 * assert.match(e.message, /drops traffic between the lab's containers/);
 * assert.match(e.message, /bridge-nf-call-iptables = 1/);
 * assert.match(e.hint, /DOCKER-USER/);
 * ```
 */
export function brokenPathError(target: string, waitedMs: number, facts: BridgeFacts): LabEnvironmentError {
  const sysctl = facts.bridgeNfCallIptables;
  const read = [
    "value" in sysctl
      ? `${sysctl.source} = ${sysctl.value}` +
        (sysctl.value === "1" ? " (bridged packets go through iptables' FORWARD chain)" : "")
      : `the lab could not read bridge-nf-call-iptables: ${sysctl.unreadable}`,
  ];
  read.push(
    facts.engineBridgeNfIptables === null
      ? "the engine's /info does not say BridgeNfIptables"
      : `the engine's /info says BridgeNfIptables: ${facts.engineBridgeNfIptables}`,
  );
  return new LabEnvironmentError(
    `This Docker host drops traffic between the lab's containers: the client's namespace got no answer ` +
      `from ${target} in the server's namespace within ${waitedMs} ms, before any capture started; ` +
      `${read.join("; ")}`,
    `allow the lab's bridges in DOCKER-USER (iptables -I DOCKER-USER -s ${LAB_SUBNETS} -d ${LAB_SUBNETS} -j ACCEPT), ` +
      `or run the lab on a daemon with iptables on (not --iptables=false)`,
  );
}
