/**
 * `--bundle` for real: the founding case run in containers, its bundle
 * unpacked by tar into a new folder and its capture opened by tshark
 * (`./tcplab test` installs it). Needs a running Docker daemon.
 */
import assert from "node:assert/strict";
import type { RunResult } from "../../lab/verdict/types.ts";
import { lab } from "../_cli.ts";

const dockerTest = { sanitizeOps: false, sanitizeResources: false };

async function run(program: string, ...args: string[]): Promise<string> {
  const out = await new Deno.Command(program, { args, stdout: "piped", stderr: "piped" }).output()
    .catch((e) => {
      throw new Error(`${program} is needed here: ./tcplab test installs it`, { cause: e });
    });
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, `${program} ${args.join(" ")} failed: ${stderr}`);
  return new TextDecoder().decode(out.stdout);
}

Deno.test({
  name:
    "`lab run seed --bundle`: one .tar.gz that unpacks to the report, the scenario and one pcapng tshark reads",
  ...dockerTest,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "tcplab-bundle-" });
    try {
      const { code, stdout, stderr } = await lab(
        "run",
        "seed",
        "--no-contrast",
        "--bundle",
        "--out",
        `${dir}/seed`,
      );
      assert.equal(code, 0, `exit code 0 expected; stderr: ${stderr}`);
      assert.match(stdout, new RegExp(`^ {5}bundle: ${dir}/seed\\.tar\\.gz$`, "m"));

      // Unpacked somewhere else, it is a folder named as the run's.
      const unpacked = `${dir}/unpacked`;
      await Deno.mkdir(unpacked);
      await run("tar", "-xzf", `${dir}/seed.tar.gz`, "-C", unpacked);
      const listing = (await run("tar", "-tzf", `${dir}/seed.tar.gz`)).trim().split("\n").sort();
      assert.deepEqual(listing, [
        "seed/",
        "seed/capture.pcapng",
        "seed/evidence/",
        "seed/evidence/client-namespace.log",
        "seed/evidence/client-program.log",
        "seed/evidence/client-program.stderr",
        "seed/evidence/run.json",
        "seed/evidence/server-namespace.log",
        "seed/evidence/server-program.log",
        "seed/evidence/server-program.stderr",
        "seed/evidence/trace.txt",
        "seed/report.md",
        "seed/result.json",
        "seed/scenario.yaml",
      ]);
      const result: RunResult = JSON.parse(await Deno.readTextFile(`${unpacked}/seed/result.json`));
      assert.equal(result.scenario.name, "seed");
      assert.equal(
        await Deno.readTextFile(`${unpacked}/seed/report.md`),
        await Deno.readTextFile(`${dir}/seed/report.md`),
      );
      assert.equal(
        await Deno.readTextFile(`${unpacked}/seed/scenario.yaml`),
        await Deno.readTextFile(new URL("../../lab/scenario/catalog/01-seed.yaml", import.meta.url)),
      );

      // tshark opens the merged capture: both ends by name, and the story on the client's RST.
      const lines = (await run(
        "tshark",
        ...["-r", `${unpacked}/seed/capture.pcapng`, "-T", "fields", "-e", "frame.interface_name"],
        ...["-e", "tcp.flags.reset", "-e", "ip.src", "-e", "frame.comment"],
      )).trim().split("\n").map((l) => l.split("\t"));
      const names = new Set(lines.map((l) => l[0]));
      assert.ok(names.has("client") && names.has("server"), `interfaces: ${[...names].join(", ")}`);
      const client = result.connections[0]!.client.split(":")[0];
      const rst = lines.filter((l) => l[0] === "client" && l[1] === "1" && l[2] === client);
      assert.equal(rst.length, 1, "one RST from the client in the client's capture");
      const comments = rst[0]![3] ?? "";
      assert.match(comments, /client: close\(\) = 0 \(fd \d+, step 3\)/);
      const kernel = result.connections[0]!.kernel;
      if (kernel.traceAvailable && kernel.activeResetReasons) {
        assert.match(comments, /client kernel: tcp_send_reset: .*reason=TCP_ABORT_ON_CLOSE/);
      }

      // The bundle alone reproduces the run: its scenario, run again, gives the same verdict.
      const again = await lab(
        "run",
        `${unpacked}/seed/scenario.yaml`,
        "--no-contrast",
        "--out",
        `${dir}/again`,
      );
      assert.equal(again.code, 0, `the bundle's scenario runs: ${again.stderr}`);
      const rerun: RunResult = JSON.parse(await Deno.readTextFile(`${dir}/again/result.json`));
      assert.equal(rerun.verdict, result.verdict);
      assert.equal(rerun.connections[0]!.cause, result.connections[0]!.cause);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "`lab run seed` without --bundle says how to make one, and makes none",
  ...dockerTest,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "tcplab-bundle-" });
    try {
      const { code, stdout, stderr } = await lab("run", "seed", "--no-contrast", "--out", `${dir}/seed`);
      assert.equal(code, 0, `exit code 0 expected; stderr: ${stderr}`);
      assert.match(
        stdout,
        /^ {5}one file to attach to a ticket: add --bundle \(writes the run's folder as <folder>\.tar\.gz\)$/m,
      );
      assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["seed"]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
