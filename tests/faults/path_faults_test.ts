/**
 * What goes wrong on a path, for real: a rule the middlebox's iptables
 * refuses ends the run at once with a LabEnvironmentError (exit 2) that
 * names the rule and quotes iptables, and leaves nothing behind; a run with
 * a middlebox interrupted while its programs run keeps the middlebox's
 * capture and its rule log with the other evidence. Real containers.
 *
 * No scenario file can ask for a rule this host's iptables cannot load: the
 * middlebox's image carries every extension of the host's xtables folder,
 * and the scenario language only writes rules from extensions the lab
 * knows. So the refused rule here is made in the test, with an option
 * iptables refuses (a TCP flag that does not exist), in a scenario object.
 */
import assert from "node:assert/strict";
import { docker, dockerTest, leftBy, names, readUntil, spawnLab } from "../lifecycle/_lab.ts";
import { runScenario } from "../../lab/run/run_scenario.ts";
import { silentProgress } from "../../lab/util/progress.ts";
import { loadCatalog } from "../../lab/scenario/catalog.ts";
import { LabEnvironmentError } from "../../lab/errors.ts";
import type { PathRule, Scenario, TcpFlagName } from "../../lab/scenario/types.ts";

const catalog = loadCatalog();

/** firewall-reset with its second rule replaced by one iptables refuses, from the given moment. */
function withRefusedRule(window: Pick<PathRule, "fromMs" | "fromStep">): Scenario {
  const scenario = structuredClone(catalog.get("firewall-reset")!);
  const refused: PathRule = {
    to: "client",
    action: "drop-first",
    untilMs: null,
    ...window,
    segments: { flag: "BOGUS" as TcpFlagName, skip: 0, count: 1 },
  };
  scenario.path = { rules: [scenario.path!.rules[0]!, refused] };
  return scenario;
}

Deno.test({
  name:
    "a path rule iptables refuses: the run ends before the client starts, naming the rule and iptables' words",
  ...dockerTest,
  async fn(t) {
    const cases: Record<string, Pick<PathRule, "fromMs" | "fromStep">> = {
      "in place from moment 0 (added before the client starts)": { fromMs: 0 },
      "from the client's step 3 (checked with iptables -C before the client starts)": {
        fromMs: 0,
        fromStep: { side: "client", step: 3 },
      },
    };
    for (const [name, window] of Object.entries(cases)) {
      await t.step(name, async () => {
        const reached: string[] = [];
        let runId = "";
        await assert.rejects(
          runScenario(withRefusedRule(window), {
            docker,
            progress: silentProgress,
            at(moment, id) {
              runId = id;
              reached.push(moment);
            },
          }),
          (error: Error) => {
            assert.ok(error instanceof LabEnvironmentError, String(error));
            assert.match(error.message, /refused a rule of the path: (add|check) tcplab-path-2/);
            assert.match(error.message, /iptables said "iptables v[\d.]+.*: Unknown TCP flag `BOGUS'"/);
            assert.ok(!error.message.includes("\n"), "one line");
            assert.match(error.hint, /path rule N/);
            return true;
          },
        );
        // The client never started: the run stopped before the programs' moment.
        assert.ok(reached.includes("run:client"), `reached: ${reached}`);
        assert.ok(!reached.includes("run:programs"), `reached: ${reached}`);
        assert.ok(reached.includes("clean"));
        assert.deepEqual(await docker.listLabelled(runId), []);
        assert.deepEqual(names(await leftBy(Deno.pid)), []);
      });
    }
  },
});

Deno.test({
  name: "SIGINT at run:programs with a middlebox: its capture and rule log are kept with the evidence",
  ...dockerTest,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "tcplab-int-box-" });
    // icmp-reject-connect: its rule is in place before the client starts, so the log has a line by now.
    const child = spawnLab(
      ["run", "icmp-reject-connect", "--no-contrast", "--quiet", "--pause-at", "run:programs", "--out", dir],
      {},
      "piped",
    );
    const said = await readUntil(child.stderr, /paused at "run:programs" \(run \w+\)/);
    assert.match(said, /paused at "run:programs"/);
    child.kill("SIGINT");
    assert.equal((await child.status).code, 130);
    assert.deepEqual(names(await leftBy(child.pid)), []);
    assert.match(await Deno.readTextFile(`${dir}/INTERRUPTED.md`), /interrupted at "run:programs"/);
    const pcap = await Deno.readFile(`${dir}/middlebox.pcap`);
    assert.ok(pcap.length >= 24, "the middlebox's capture, with its header at least");
    assert.match(
      await Deno.readTextFile(`${dir}/evidence/middlebox-rules.log`),
      /^before the client's start: add tcplab-path-1: .* -j REJECT --reject-with icmp-host-unreachable: exit 0$/m,
    );
    assert.match(
      await Deno.readTextFile(`${dir}/evidence/middlebox-namespace.log`),
      /tcplab-snapshot BEGIN 1/,
    );
    for (const side of ["client", "server"]) {
      assert.ok((await Deno.stat(`${dir}/${side}.pcap`)).size >= 24, `the ${side}'s capture`);
    }
    await Deno.remove(dir, { recursive: true });
  },
});
