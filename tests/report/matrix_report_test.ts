/**
 * matrix.md says its result in its first line, and a column whose runs saw
 * no handshake is a broken lab path, never a difference between kernels.
 * Pure: matrices built here, as lab/session/matrix.ts builds them.
 */
import assert from "node:assert/strict";
import { findDifferences } from "../../lab/matrix/differences.ts";
import { BROKEN_PATH, brokenPath, markBrokenColumns, matrixComplete } from "../../lab/matrix/result.ts";
import { kernelLacking } from "../../lab/evidence/kernel_config.ts";
import type { Matrix, MatrixCell, MatrixColumn } from "../../lab/matrix/types.ts";
import { renderMatrix } from "../../lab/report/matrix_report.ts";
import { parseArgs } from "node:util";
import { parseVariants } from "../../lab/cli/matrix_options.ts";
import { loadCatalog } from "../../lab/scenario/catalog.ts";
import { reproductionOf, SCENARIO_FILE } from "../../lab/verdict/reproduction.ts";

function column(host: string): MatrixColumn {
  return {
    host,
    variant: {},
    kernel: "6.18",
    dockerVersion: "20.10",
    arch: "amd64",
    status: "ok",
    problem: null,
    traceAvailable: true,
  };
}

/** A cell as the session makes it from a run's focus connection (null: no connection). */
function cell(
  column: number,
  state: string | null,
  met: boolean,
  cause: string,
  resetBy: string | null,
): MatrixCell {
  const broken = brokenPath(state, met);
  return {
    scenario: "seed",
    column,
    status: broken ? "broken" : "ok",
    problem: broken ? BROKEN_PATH : null,
    state,
    resetBy,
    cause,
    resetReasons: state === "RSTO" ? ["TCP_ABORT_ON_CLOSE"] : [],
    met,
    report: `h${column}/seed/report.md`,
    reproduce: `./tcplab run seed --host h${column}`,
  };
}

function matrix(columns: MatrixColumn[], cells: MatrixCell[]): Matrix {
  const marked = markBrokenColumns(columns, cells);
  return {
    scenarios: ["seed"],
    columns: marked,
    cells,
    differences: findDifferences(["seed"], marked, cells),
    complete: matrixComplete(marked, cells),
  };
}

Deno.test("a column where no capture saw a handshake is a broken lab path, not a difference", async (t) => {
  for (const [name, state] of [["SYNs unanswered (S0)", "S0"], ["no connection at all", null]] as const) {
    await t.step(name, () => {
      const m = matrix([column("a"), column("b")], [
        cell(0, "RSTO", true, "close-with-unread-data", "client"),
        cell(1, state, false, "unknown", null),
      ]);
      assert.deepEqual(m.differences, []);
      assert.equal(m.complete, false);
      assert.equal(m.columns[1]!.status, "broken");
      const md = renderMatrix(m);
      assert.equal(
        md.split("\n")[0],
        "# tcplab matrix: incomplete: host b broken lab path (no capture saw a handshake); 1 of 2 columns ran, no difference",
      );
      assert.doesNotMatch(md, /\(differs\)/);
      assert.match(md, /\| 2 \| `b` \|.*\| \*\*broken\*\*: no capture saw a handshake/);
      assert.match(md, /\| broken: no capture saw a handshake/);
    });
  }
});

Deno.test("a refused connection (REJ) is an answer: the column ran", () => {
  assert.equal(brokenPath("REJ", true), false);
  assert.equal(brokenPath("REJ", false), false);
});

Deno.test("the first line says the result of a complete matrix", async (t) => {
  await t.step("one difference", () => {
    const m = matrix([column("a"), column("b")], [
      cell(0, "RSTO", true, "close-with-unread-data", "client"),
      cell(1, "SF", false, "graceful-close", null),
    ]);
    assert.equal(renderMatrix(m).split("\n")[0], "# tcplab matrix: 2 columns, 1 difference");
  });
  await t.step("no difference", () => {
    const m = matrix([column("a"), column("b")], [
      cell(0, "RSTO", true, "close-with-unread-data", "client"),
      cell(1, "RSTO", true, "close-with-unread-data", "client"),
    ]);
    assert.equal(renderMatrix(m).split("\n")[0], "# tcplab matrix: 2 columns, no difference");
  });
  await t.step("an unreachable host", () => {
    const b = { ...column("b"), status: "unreachable" as const, problem: "nothing listens", kernel: null };
    const m = matrix([column("a"), b], [cell(0, "RSTO", true, "close-with-unread-data", "client")]);
    assert.equal(
      renderMatrix(m).split("\n")[0],
      "# tcplab matrix: incomplete: host b unreachable; 1 of 2 columns ran, no difference",
    );
  });
});

Deno.test("a scenario whose path needs what a host's kernel lacks: not run there, and the matrix incomplete", async (t) => {
  // Host b's kernel config (a fixture): iptables without the statistic match.
  const config =
    "CONFIG_IP_NF_FILTER=y\nCONFIG_NETFILTER_XT_MATCH_COMMENT=y\n# CONFIG_NETFILTER_XT_MATCH_STATISTIC is not set\n";
  const lossy = loadCatalog().get("lossy-upload")!;
  const problem = kernelLacking(lossy.path, { config, source: "/proc/config.gz" })!;
  const lacking: MatrixCell = {
    ...cell(1, null, false, "unknown", null),
    scenario: "lossy-upload",
    status: "lacking",
    problem,
    cause: null,
    met: null,
    report: null,
    reproduce: null,
  };
  const ran = { ...cell(0, "SF", true, "graceful-close", null), scenario: "lossy-upload" };
  const m: Matrix = { ...matrix([column("a"), column("b")], [ran, lacking]), scenarios: ["lossy-upload"] };
  await t.step("the cell names the option and the rule that needs it", () => {
    assert.equal(
      problem,
      "this kernel lacks CONFIG_NETFILTER_XT_MATCH_STATISTIC (needed for `loss:` to the server)",
    );
    assert.match(
      renderMatrix(m),
      /^\| `lossy-upload` \| \[SF, no RST.*\]\(h0\/seed\/report\.md\) \| not run: this kernel lacks CONFIG_NETFILTER_XT_MATCH_STATISTIC \(needed for `loss:` to the server\) \|$/m,
    );
  });
  await t.step("the column ran and is no broken path; the matrix is incomplete (exit 3)", () => {
    assert.deepEqual(m.columns.map((c) => c.status), ["ok", "ok"]);
    assert.equal(m.complete, false);
    assert.deepEqual(m.differences, []);
    assert.equal(
      renderMatrix(m).split("\n")[0],
      "# tcplab matrix: incomplete: host b's kernel lacks what 1 scenario needs; 2 of 2 columns ran, 1 cell not run, no difference",
    );
    assert.match(
      renderMatrix(m),
      /\*\*the matrix is incomplete\*\* \(see the columns below, and the cells marked "not run"\)/,
    );
  });
  await t.step("a config that has it, or cannot be read: the scenario runs", () => {
    assert.equal(
      kernelLacking(lossy.path, { config: config + "CONFIG_NETFILTER_XT_MATCH_STATISTIC=m\n", source: "x" }),
      null,
    );
    assert.equal(kernelLacking(lossy.path, { unreadable: "the Docker engine is on another host" }), null);
  });
  await t.step("a column whose other runs all saw no handshake is still broken", () => {
    const broken = { ...cell(1, "S0", false, "unknown", null) };
    assert.equal(markBrokenColumns([column("a"), column("b")], [ran, lacking, broken])[1]!.status, "broken");
  });
});

/** The words of a command as a POSIX shell splits them (plain words and single quotes, as reproductionOf writes). */
function _words(command: string): string[] {
  return [...command.matchAll(/(?:'[^']*'|[^\s'])+/g)].map((m) => m[0].replace(/'([^']*)'/g, "$1"));
}

Deno.test("each cell's reproduce command runs that cell: its host and its column's sysctls", async (t) => {
  const seed = loadCatalog().get("seed")!;
  const mine = { ...seed, source: "/home/me/cases/mine.yaml" };
  const cases = [
    { name: "the default socket, defaults", host: "unix:///var/run/docker.sock", sysctls: {} },
    {
      name: "the default socket as a path",
      host: "/var/run/docker.sock",
      sysctls: { "net.ipv4.tcp_fin_timeout": "5" },
    },
    { name: "another socket", host: "unix:///tmp/other.sock", sysctls: { "net.ipv4.tcp_fin_timeout": "60" } },
    {
      name: "ssh, two sysctls, a value with spaces",
      host: "ssh://lab@box",
      sysctls: { "net.ipv4.tcp_rmem": "4096 131072 6291456", "net.core.somaxconn": "8" },
    },
    { name: "tcp", host: "tcp://10.0.0.5:2376", sysctls: { "net.ipv4.tcp_syn_retries": "1" } },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      for (const scenario of [seed, mine]) {
        const command = reproductionOf(scenario, { host: c.host, sysctls: c.sysctls }).command;
        const words = _words(command);
        const remote = !c.host.endsWith("/var/run/docker.sock");
        const task = remote ? ["deno", "task", "lab:hosts", "run"] : ["./tcplab", "run"];
        assert.deepEqual(words.slice(0, task.length), task, command);
        // Read back as the run command reads its options: the same host, one column with the cell's sysctls.
        const { values, positionals } = parseArgs({
          args: words.slice(task.length),
          allowPositionals: true,
          options: { host: { type: "string", multiple: true }, vary: { type: "string", multiple: true } },
        });
        assert.deepEqual(positionals, [scenario === seed ? "seed" : SCENARIO_FILE]);
        assert.deepEqual(values.host ?? [], remote ? [c.host] : []);
        assert.deepEqual(parseVariants(values.vary ?? []), [c.sysctls]);
      }
    });
  }
  await t.step("matrix.md lists each cell that ran with its command", () => {
    const b = { ...column("ssh://lab@box"), variant: { "net.ipv4.tcp_fin_timeout": "5" } };
    const ran = cell(0, "RSTO", true, "close-with-unread-data", "client");
    const remote = {
      ...cell(1, "RSTO", true, "close-with-unread-data", "client"),
      reproduce: reproductionOf(seed, { host: b.host, sysctls: b.variant }).command,
    };
    const md = renderMatrix(matrix([column("a"), b], [ran, remote]));
    const section = md.split("## Reproduce\n")[1] ?? "";
    assert.match(section, /^- `seed` in column 1: `\.\/tcplab run seed --host h0`$/m);
    assert.match(
      section,
      /^- `seed` in column 2: `deno task lab:hosts run seed --host ssh:\/\/lab@box --vary net\.ipv4\.tcp_fin_timeout=5`$/m,
    );
    const unreachable = { ...column("c"), status: "unreachable" as const, problem: "nothing listens" };
    assert.doesNotMatch(renderMatrix(matrix([unreachable], [])), /## Reproduce/);
  });
});
