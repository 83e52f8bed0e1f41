/**
 * What a host's kernel config lacks for a scenario's `path:`: config text
 * in, missing features out. The run says so before it starts a container.
 */
import assert from "node:assert/strict";
import {
  featureName,
  KERNEL_FEATURES,
  missingFeatures,
  pathFeatures,
  pathKernelProblem,
  pathKernelRecord,
  pathLacks,
  pathNeeds,
} from "../../lab/evidence/kernel_config.ts";
import { loadCatalog } from "../../lab/scenario/catalog.ts";
import type { PathSpec } from "../../lab/scenario/types.ts";

/** This machine's kernel, in the lines that matter (from its /proc/config.gz): no netem, all else a path uses. */
const THIS_KERNEL = [
  "CONFIG_IP_NF_FILTER=y",
  "CONFIG_NETFILTER_XT_MATCH_COMMENT=y",
  "CONFIG_IP_NF_TARGET_REJECT=y",
  "CONFIG_NETFILTER_XT_MATCH_STATISTIC=y",
  "CONFIG_NF_CONNTRACK=y",
  "CONFIG_NETFILTER_XT_MATCH_CONNTRACK=y",
  "CONFIG_NF_NAT=y",
  "CONFIG_NETFILTER_XT_TARGET_MASQUERADE=y",
  "CONFIG_IP_NF_TARGET_MASQUERADE=y",
  "CONFIG_IP_NF_NAT=y",
  "CONFIG_NET_SCH_HTB=y",
  "CONFIG_NET_SCH_TBF=y",
  "CONFIG_NET_CLS_U32=y",
  "# CONFIG_NET_SCH_NETEM is not set",
  "CONFIG_NETFILTER_NETLINK_QUEUE=y",
  "CONFIG_NETFILTER_XT_TARGET_NFQUEUE=y",
].join("\n");

const LOSS: PathSpec = {
  rules: [{ to: "server", action: "loss", fromMs: 0, untilMs: null, lossPercent: 20 }],
};
const RATE: PathSpec = {
  rules: [{ to: "client", action: "rate", fromMs: 0, untilMs: null, rate: { kbit: 256, burstBytes: 4096 } }],
};

Deno.test("what each kind of path rule needs of the kernel", async (t) => {
  const names = (path: PathSpec) => pathFeatures(path).map(featureName);
  await t.step("loss", () => {
    assert.deepEqual(names(LOSS), [
      "CONFIG_IP_NF_FILTER",
      "CONFIG_NETFILTER_XT_MATCH_COMMENT",
      "CONFIG_NETFILTER_XT_MATCH_STATISTIC",
    ]);
  });
  await t.step("rate alone: no iptables", () => {
    assert.deepEqual(names(RATE), ["CONFIG_NET_SCH_HTB", "CONFIG_NET_SCH_TBF", "CONFIG_NET_CLS_U32"]);
  });
  await t.step("delay and reorder: the NFQUEUE target and the queue the lab's program binds", () => {
    assert.deepEqual(names(loadCatalog().get("reordered-segments")!.path!), [
      "CONFIG_IP_NF_FILTER",
      "CONFIG_NETFILTER_XT_MATCH_COMMENT",
      "CONFIG_NETFILTER_NETLINK_QUEUE",
      "CONFIG_NETFILTER_XT_TARGET_NFQUEUE",
    ]);
  });
  await t.step("reject", () => {
    assert.ok(names(loadCatalog().get("firewall-reset")!.path!).includes("CONFIG_IP_NF_TARGET_REJECT"));
  });
  await t.step("nat: either MASQUERADE option will do", () => {
    const nat = names(loadCatalog().get("nat-idle-expiry")!.path!);
    assert.ok(nat.includes("CONFIG_NF_CONNTRACK"));
    assert.ok(nat.includes("CONFIG_NETFILTER_XT_TARGET_MASQUERADE or CONFIG_IP_NF_TARGET_MASQUERADE"));
  });
  await t.step("every catalog path is met by this kernel", () => {
    for (const [name, scenario] of loadCatalog()) {
      if (scenario.path) {
        assert.deepEqual(missingFeatures(THIS_KERNEL, pathFeatures(scenario.path)), [], name);
      }
    }
  });
});

Deno.test("a config that lacks an option: the feature is missing, whether unset, absent or with another value", () => {
  const without = THIS_KERNEL.replace(
    "CONFIG_NETFILTER_XT_MATCH_STATISTIC=y",
    "# CONFIG_NETFILTER_XT_MATCH_STATISTIC is not set",
  );
  assert.deepEqual(missingFeatures(without, pathFeatures(LOSS)), [KERNEL_FEATURES.statistic]);
  const absent = THIS_KERNEL.replace("CONFIG_NET_SCH_TBF=y\n", "");
  assert.deepEqual(missingFeatures(absent, pathFeatures(RATE)).map(featureName), ["CONFIG_NET_SCH_TBF"]);
  // A module is as good as built in; a string value names no feature.
  const modules = THIS_KERNEL.replace("CONFIG_NET_SCH_TBF=y", "CONFIG_NET_SCH_TBF=m");
  assert.deepEqual(missingFeatures(modules, pathFeatures(RATE)), []);
  assert.deepEqual(missingFeatures('CONFIG_NET_SCH_TBF="y"\n', [KERNEL_FEATURES.tbf]), [KERNEL_FEATURES.tbf]);
  // One of two options is enough.
  const oneMasquerade = THIS_KERNEL.replace("CONFIG_NETFILTER_XT_TARGET_MASQUERADE=y\n", "");
  assert.deepEqual(missingFeatures(oneMasquerade, [KERNEL_FEATURES.masquerade]), []);
  assert.deepEqual(missingFeatures("", [KERNEL_FEATURES.masquerade]), [KERNEL_FEATURES.masquerade]);
});

Deno.test("the environment's record: what the path used, what the host lacks, or why it is unknown", () => {
  assert.deepEqual(pathKernelRecord(LOSS, { config: THIS_KERNEL, source: "/proc/config.gz" }), {
    source: "/proc/config.gz",
    used: ["CONFIG_IP_NF_FILTER", "CONFIG_NETFILTER_XT_MATCH_COMMENT", "CONFIG_NETFILTER_XT_MATCH_STATISTIC"],
    lacking: ["CONFIG_NET_SCH_NETEM"],
  });
  assert.deepEqual(pathKernelRecord(RATE, { unreadable: "a remote host" }), {
    source: null,
    unreadable: "a remote host",
    used: ["CONFIG_NET_SCH_HTB", "CONFIG_NET_SCH_TBF", "CONFIG_NET_CLS_U32"],
    lacking: [],
  });
});

Deno.test("what stops a run: one line naming every option the path needs and the host lacks", () => {
  const both: PathSpec = { rules: [...LOSS.rules, ...RATE.rules] };
  const config = THIS_KERNEL.replace("CONFIG_NET_SCH_TBF=y", "# CONFIG_NET_SCH_TBF is not set")
    .replace("CONFIG_NETFILTER_XT_MATCH_STATISTIC=y", "");
  const problem = pathKernelProblem(both, { config, source: "/boot/config-6.1.0" })!;
  assert.equal(problem.split("\n").length, 1);
  assert.equal(
    problem,
    "this kernel lacks CONFIG_NETFILTER_XT_MATCH_STATISTIC (needed for `loss:` to the server), " +
      "CONFIG_NET_SCH_TBF (needed for `rate:` to the client), as its config /boot/config-6.1.0 says",
  );
  assert.equal(pathKernelProblem(both, { config: THIS_KERNEL, source: "/proc/config.gz" }), null);
  assert.equal(pathKernelProblem(both, { unreadable: "a remote host" }), null);
});

Deno.test("which of a path's rules need each option, as the scenario writes them", async (t) => {
  const rules = (name: string) =>
    pathNeeds(loadCatalog().get(name)!.path!).map((n) => `${featureName(n.feature)}: ${n.rules.join(", ")}`);
  await t.step("firewall-reset: both rules are iptables rules; only one rejects", () => {
    assert.deepEqual(rules("firewall-reset"), [
      "CONFIG_IP_NF_FILTER: `reject: tcp-reset` to the server, `blackhole:` to the client",
      "CONFIG_NETFILTER_XT_MATCH_COMMENT: `reject: tcp-reset` to the server, `blackhole:` to the client",
      "CONFIG_IP_NF_TARGET_REJECT: `reject: tcp-reset` to the server",
    ]);
  });
  await t.step("nat-idle-expiry: the NAT needs iptables and conntrack", () => {
    const nat = rules("nat-idle-expiry");
    assert.ok(nat.includes("CONFIG_IP_NF_FILTER: `nat: masquerade`"), nat.join("\n"));
    assert.ok(nat.includes("CONFIG_NF_CONNTRACK: `nat: masquerade`"), nat.join("\n"));
  });
  await t.step("rate alone: tc only", () => {
    assert.deepEqual(pathNeeds(RATE).map((n) => n.rules), [
      ["`rate:` to the client"],
      ["`rate:` to the client"],
      ["`rate:` to the client"],
    ]);
  });
});

Deno.test("what a config lacks for a path, with the rules that need it; nothing when it lacks nothing", () => {
  const noTbf = THIS_KERNEL.replace("CONFIG_NET_SCH_TBF=y", "# CONFIG_NET_SCH_TBF is not set");
  assert.equal(pathLacks(RATE, noTbf), "CONFIG_NET_SCH_TBF (needed for `rate:` to the client)");
  assert.equal(pathLacks(LOSS, noTbf), null);
  const noFilter = THIS_KERNEL.replace("CONFIG_IP_NF_FILTER=y", "");
  assert.equal(
    pathLacks(loadCatalog().get("firewall-reset")!.path!, noFilter),
    "CONFIG_IP_NF_FILTER (needed for `reject: tcp-reset` to the server, `blackhole:` to the client)",
  );
});
