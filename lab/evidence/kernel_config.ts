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

import type { PathSpec } from "../scenario/types.ts";

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
  const actions = new Set(path.rules.map((r) => r.action));
  const f = KERNEL_FEATURES;
  const iptables = actions.size > (actions.has("rate") ? 1 : 0) || path.nat !== undefined;
  return [
    ...(iptables ? [f.filter, f.comment] : []),
    ...(actions.has("reject-tcp-reset") || actions.has("reject-icmp-host-unreachable") ? [f.reject] : []),
    ...(actions.has("drop-first") || actions.has("loss") ? [f.statistic] : []),
    ...(path.nat ? [f.conntrack, f.ctstate, f.nat, f.masquerade, f.natTable] : []),
    ...(actions.has("rate") ? [f.htb, f.tbf, f.u32] : []),
    ...(actions.has("hold") ? [f.nfqueue, f.nfqueueTarget] : []),
  ];
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
 * What stops a run whose path needs what the host's kernel config lacks, in
 * one line naming the options; null when nothing is missing or the config
 * could not be read (the run goes on, and its report says what is unknown).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const path = { rules: [{ to: "server" as const, action: "loss" as const, fromMs: 0, untilMs: null, lossPercent: 20 }] };
 * const config = "CONFIG_IP_NF_FILTER=y\nCONFIG_NETFILTER_XT_MATCH_COMMENT=y\n";
 * assert.equal(
 *   pathKernelProblem(path, { config, source: "/proc/config.gz" }),
 *   "This host's kernel lacks CONFIG_NETFILTER_XT_MATCH_STATISTIC (/proc/config.gz), which the scenario's " +
 *     "path needs for drop: and loss: (which segments to drop)",
 * );
 * assert.equal(pathKernelProblem(path, { unreadable: "a remote host" }), null);
 * ```
 */
export function pathKernelProblem(path: PathSpec, read: KernelConfigRead): string | null {
  if ("unreadable" in read) return null;
  const missing = missingFeatures(read.config, pathFeatures(path));
  if (missing.length === 0) return null;
  return `This host's kernel lacks ${missing.map(featureName).join(", ")} (${read.source}), which the ` +
    `scenario's path needs for ${missing.map((f) => f.usedFor).join("; ")}`;
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
