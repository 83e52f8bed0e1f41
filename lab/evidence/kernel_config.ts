/**
 * What a host's kernel can do for a scenario's `path:`, read from its
 * kernel config (the text of /proc/config.gz or /boot/config-RELEASE): the
 * options each kind of path rule rests on, and which of them a config lacks.
 * A run checks this before it starts a container, so that a host without,
 * say, the statistic match fails with the option's name rather than with
 * iptables' "No chain/target/match by that name" in the middle of a run.
 *
 * @module
 */

import type { PathRule, PathSpec } from "../scenario/types.ts";

/** A kernel feature a path may use: the config options that provide it (any one will do). */
export interface KernelFeature {
  /** The options, without CONFIG_, any of which provides it (set to y or m). */
  anyOf: string[];
  /** What the lab uses it for. */
  usedFor: string;
}

/**
 * The kernel features of paths, by what needs them. Delay and reordering are NFQUEUE and the lab's queue program
 * (`tcplab queue`); netem, which would do them in the kernel, is listed so that a report can say a host lacks it.
 */
export const KERNEL_FEATURES = {
  filter: { anyOf: ["IP_NF_FILTER"], usedFor: "iptables rules in the middlebox's FORWARD chain" },
  comment: { anyOf: ["NETFILTER_XT_MATCH_COMMENT"], usedFor: "the comment each rule's counter is found by" },
  reject: { anyOf: ["IP_NF_TARGET_REJECT"], usedFor: "reject: a firewall's reset or ICMP error" },
  statistic: { anyOf: ["NETFILTER_XT_MATCH_STATISTIC"], usedFor: "drop: and loss: (which segments to drop)" },
  conntrack: { anyOf: ["NF_CONNTRACK"], usedFor: "nat: connection tracking" },
  ctstate: { anyOf: ["NETFILTER_XT_MATCH_CONNTRACK"], usedFor: "nat: dropping what conntrack calls INVALID" },
  nat: { anyOf: ["NF_NAT"], usedFor: "nat: address translation" },
  masquerade: {
    anyOf: ["NETFILTER_XT_TARGET_MASQUERADE", "IP_NF_TARGET_MASQUERADE"],
    usedFor: "nat: masquerade",
  },
  natTable: { anyOf: ["IP_NF_NAT"], usedFor: "nat: iptables' nat table" },
  htb: { anyOf: ["NET_SCH_HTB"], usedFor: "rate: one direction's packets in a class of their own" },
  tbf: { anyOf: ["NET_SCH_TBF"], usedFor: "rate: the token bucket that shapes them" },
  u32: { anyOf: ["NET_CLS_U32"], usedFor: "rate: the filter by destination address" },
  netem: { anyOf: ["NET_SCH_NETEM"], usedFor: "delay and reordering in the kernel (the lab uses NFQUEUE)" },
  nfqueue: {
    anyOf: ["NETFILTER_NETLINK_QUEUE"],
    usedFor: "delay: and reorder: (the queue that hands the packets to the lab's queue program)",
  },
  nfqueueTarget: {
    anyOf: ["NETFILTER_XT_TARGET_NFQUEUE"],
    usedFor: "delay: and reorder: (iptables' NFQUEUE target)",
  },
} as const satisfies Record<string, KernelFeature>;

/** A feature a path uses, and the path's rules that need it (as the scenario writes them). */
export interface PathNeed {
  feature: KernelFeature;
  /** "`loss:` to the server", "`nat: masquerade`", "every iptables rule"... */
  rules: string[];
}

/** How a rule's action is written in a scenario's `path:`. */
const _ACTION_KEYS: Record<PathRule["action"], string> = {
  "blackhole": "blackhole:",
  "reject-tcp-reset": "reject: tcp-reset",
  "reject-icmp-host-unreachable": "reject: icmp-host-unreachable",
  "drop-first": "drop:",
  "loss": "loss:",
  "rate": "rate:",
  "hold": "delay:`/`reorder:",
};

/**
 * The features a path uses, in the order of {@link KERNEL_FEATURES}, each with
 * the rules that need it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const needs = pathNeeds({ rules: [{ to: "server", action: "loss", fromMs: 0, untilMs: null, lossPercent: 20 }] });
 * assert.deepEqual(needs.at(-1), { feature: KERNEL_FEATURES.statistic, rules: ["`loss:` to the server"] });
 * ```
 */
export function pathNeeds(path: PathSpec): PathNeed[] {
  const f = KERNEL_FEATURES;
  const label = (r: PathRule) => `\`${_ACTION_KEYS[r.action]}\` to the ${r.to}`;
  const of = (...actions: PathRule["action"][]) =>
    path.rules.filter((r) => actions.includes(r.action)).map(label);
  const filtered = path.rules.filter((r) => r.action !== "rate").map(label);
  const iptables = [...filtered, ...(path.nat ? ["`nat: masquerade`"] : [])];
  const nat = path.nat ? ["`nat: masquerade`"] : [];
  const rated = of("rate");
  const needs: PathNeed[] = [
    { feature: f.filter, rules: iptables },
    { feature: f.comment, rules: iptables },
    { feature: f.reject, rules: of("reject-tcp-reset", "reject-icmp-host-unreachable") },
    { feature: f.statistic, rules: of("drop-first", "loss") },
    ...[f.conntrack, f.ctstate, f.nat, f.masquerade, f.natTable].map((feature) => ({ feature, rules: nat })),
    ...[f.htb, f.tbf, f.u32].map((feature) => ({ feature, rules: rated })),
    ...[f.nfqueue, f.nfqueueTarget].map((feature) => ({ feature, rules: of("hold") })),
  ];
  return needs.filter((n) => n.rules.length > 0);
}

/**
 * The features a path uses, in the order of {@link KERNEL_FEATURES}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const used = pathFeatures({ rules: [{ to: "server", action: "loss", fromMs: 0, untilMs: null, lossPercent: 20 }] });
 * assert.deepEqual(used.map((f) => f.anyOf[0]), ["IP_NF_FILTER", "NETFILTER_XT_MATCH_COMMENT", "NETFILTER_XT_MATCH_STATISTIC"]);
 * ```
 */
export function pathFeatures(path: PathSpec): KernelFeature[] {
  return pathNeeds(path).map((n) => n.feature);
}

/**
 * The features a kernel config lacks: those none of whose options it sets
 * to y or m ("# CONFIG_X is not set", or no line at all).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const config = "CONFIG_NET_SCH_TBF=y\n# CONFIG_NET_SCH_NETEM is not set\nCONFIG_NET_SCH_HTB=m\n";
 * const { tbf, netem, htb } = KERNEL_FEATURES;
 * assert.deepEqual(missingFeatures(config, [tbf, netem, htb]), [netem]);
 * ```
 */
export function missingFeatures(config: string, needed: readonly KernelFeature[]): KernelFeature[] {
  const set = new Set<string>();
  for (const line of config.split("\n")) {
    const m = /^CONFIG_([A-Z0-9_]+)=([ym])\s*$/.exec(line);
    if (m) set.add(m[1]!);
  }
  return needed.filter((feature) => !feature.anyOf.some((option) => set.has(option)));
}

/** How a feature is named in a message: `CONFIG_A` or `CONFIG_A or CONFIG_B`. */
export function featureName(feature: KernelFeature): string {
  return feature.anyOf.map((o) => `CONFIG_${o}`).join(" or ");
}

/**
 * The options a path needs and a kernel config lacks, each with the rules
 * that need it: "CONFIG_X (needed for `loss:` to the server)", joined by
 * ", "; null when it lacks none.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const path = { rules: [{ to: "server" as const, action: "loss" as const, fromMs: 0, untilMs: null, lossPercent: 20 }] };
 * const config = "CONFIG_IP_NF_FILTER=y\nCONFIG_NETFILTER_XT_MATCH_COMMENT=y\n";
 * assert.equal(pathLacks(path, config), "CONFIG_NETFILTER_XT_MATCH_STATISTIC (needed for `loss:` to the server)");
 * assert.equal(pathLacks(path, config + "CONFIG_NETFILTER_XT_MATCH_STATISTIC=m\n"), null);
 * ```
 */
export function pathLacks(path: PathSpec, config: string): string | null {
  const needs = pathNeeds(path);
  const missing = new Set(missingFeatures(config, needs.map((n) => n.feature)));
  const lacking = needs.filter((n) => missing.has(n.feature));
  if (lacking.length === 0) return null;
  return lacking.map((n) => `${featureName(n.feature)} (needed for ${n.rules.join(", ")})`).join(", ");
}

/**
 * Why a scenario with this path is not run on a host (a matrix's cell):
 * "this kernel lacks CONFIG_X (needed for `loss:` to the server)"; null when
 * there is no path, the config has what it needs, or the config could not
 * be read (the run goes on, and its report says the options are unknown).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const path = { rules: [{ to: "server" as const, action: "loss" as const, fromMs: 0, untilMs: null, lossPercent: 20 }] };
 * const config = "CONFIG_IP_NF_FILTER=y\nCONFIG_NETFILTER_XT_MATCH_COMMENT=y\n";
 * assert.equal(
 *   kernelLacking(path, { config, source: "/proc/config.gz" }),
 *   "this kernel lacks CONFIG_NETFILTER_XT_MATCH_STATISTIC (needed for `loss:` to the server)",
 * );
 * assert.equal(kernelLacking(path, { unreadable: "the Docker engine is on another host" }), null);
 * assert.equal(kernelLacking(undefined, { config: "", source: "/proc/config.gz" }), null);
 * ```
 */
export function kernelLacking(path: PathSpec | undefined, read: KernelConfigRead): string | null {
  if (!path || "unreadable" in read) return null;
  const lacks = pathLacks(path, read.config);
  return lacks === null ? null : `this kernel lacks ${lacks}`;
}

/**
 * What stops a run whose path needs what the host's kernel config lacks, in
 * one line naming the options and the config that says so ({@link kernelLacking}
 * with its source); null when nothing is missing or the config could not be
 * read (the run goes on, and its report says what is unknown).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const path = { rules: [{ to: "server" as const, action: "loss" as const, fromMs: 0, untilMs: null, lossPercent: 20 }] };
 * const config = "CONFIG_IP_NF_FILTER=y\nCONFIG_NETFILTER_XT_MATCH_COMMENT=y\n";
 * assert.equal(
 *   pathKernelProblem(path, { config, source: "/proc/config.gz" }),
 *   "this kernel lacks CONFIG_NETFILTER_XT_MATCH_STATISTIC (needed for `loss:` to the server), " +
 *     "as its config /proc/config.gz says",
 * );
 * assert.equal(pathKernelProblem(path, { unreadable: "a remote host" }), null);
 * ```
 */
export function pathKernelProblem(path: PathSpec, read: KernelConfigRead): string | null {
  const lacking = kernelLacking(path, read);
  return lacking === null || "unreadable" in read ? null : `${lacking}, as its config ${read.source} says`;
}

/** What the report's environment says of a path's kernel features. */
export interface PathKernelRecord {
  /** Where the kernel config was read, or null when it could not be. */
  source: string | null;
  /** Why the config could not be read (a remote Docker host; no config file), when `source` is null. */
  unreadable?: string;
  /** The features the path used, named as {@link featureName} names them. */
  used: string[];
  /** Every feature of {@link KERNEL_FEATURES} the config lacks, used or not (empty when it could not be read). */
  lacking: string[];
}

/** A host's kernel config as read: its text and where it came from, or why it could not be read. */
export type KernelConfigRead = { config: string; source: string } | { unreadable: string };

/**
 * The environment's record of a path's kernel features, from the config as
 * read (or the reason it could not be).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const path = { rules: [{ to: "server" as const, action: "blackhole" as const, fromMs: 0, untilMs: null }] };
 * const config = "CONFIG_IP_NF_FILTER=y\nCONFIG_NETFILTER_XT_MATCH_COMMENT=y\n";
 * const record = pathKernelRecord(path, { config, source: "/proc/config.gz" });
 * assert.deepEqual(record.used, ["CONFIG_IP_NF_FILTER", "CONFIG_NETFILTER_XT_MATCH_COMMENT"]);
 * assert.ok(record.lacking.includes("CONFIG_NET_SCH_NETEM"));
 * ```
 */
export function pathKernelRecord(path: PathSpec, read: KernelConfigRead): PathKernelRecord {
  const used = pathFeatures(path).map(featureName);
  if ("unreadable" in read) return { source: null, unreadable: read.unreadable, used, lacking: [] };
  const all = Object.values(KERNEL_FEATURES) as KernelFeature[];
  return {
    source: read.source,
    used,
    lacking: [...new Set(missingFeatures(read.config, all).map(featureName))],
  };
}
