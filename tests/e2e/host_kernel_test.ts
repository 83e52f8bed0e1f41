/**
 * A scenario with a `path:` run as a user runs it (`deno task lab`, with the
 * task's own permissions, which allow no file of /proc): the host's kernel
 * config is read, and the report says in one line which options the path
 * used and that this host's kernel has each. Real containers.
 */
import assert from "node:assert/strict";
import { runTask } from "../_cli.ts";
import type { RunResult } from "../../lab/verdict/types.ts";

/** This machine's kernel config, as the test (with --allow-all) reads it; null when it has none to read. */
async function _config(): Promise<string | null> {
  const out = await new Deno.Command("zcat", {
    args: ["-f", "/proc/config.gz"],
    stdout: "piped",
    stderr: "null",
  })
    .output().catch(() => null);
  return out?.success ? new TextDecoder().decode(out.stdout) : null;
}

const config = await _config();

Deno.test({
  name:
    `a path's run through \`deno task lab\`: its report names the kernel options used, and that the host has each${
      config === null ? " (ignored: no /proc/config.gz here)" : ""
    }`,
  ignore: config === null,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "tcplab-host-kernel-" });
    try {
      const { code, stdout, stderr } = await runTask("lab", "run", "lossy-upload", "--json", "--out", dir);
      assert.equal(code, 0, stderr);
      const result: RunResult = JSON.parse(stdout);
      assert.equal(
        result.environment.pathKernel?.source,
        "/proc/config.gz",
        "read with the task's permissions",
      );
      for (const option of result.environment.pathKernel!.used) {
        assert.match(
          config!,
          new RegExp(`^${option}=[ym]$`, "m"),
          `${option} is set in this machine's config`,
        );
      }
      const report = await Deno.readTextFile(`${dir}/report.md`);
      const lines = report.split("\n").filter((l) => l.startsWith("- Kernel options: "));
      assert.equal(lines.length, 1, "one line");
      assert.match(
        lines[0]!,
        /^- Kernel options: the path used `CONFIG_IP_NF_FILTER`, `CONFIG_NETFILTER_XT_MATCH_COMMENT`, `CONFIG_NETFILTER_XT_MATCH_STATISTIC`, and this host's kernel has each \(set to y or m in `\/proc\/config\.gz`\); /,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
