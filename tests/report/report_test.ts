import assert from "node:assert/strict";
import { analyseRun } from "../../lab/verdict/analyse_run.ts";
import { renderReport } from "../../lab/report/run_report.ts";
import { recordedRun } from "../_fixtures.ts";
import { parseScenario } from "../../lab/scenario/parse.ts";
import { LAB_VERSION } from "../../lab/version.ts";

Deno.test("the founding case's recorded run is explained as close with unread data", async () => {
  const result = analyseRun(await recordedRun("seed"));
  const conn = result.connections[0]!;
  assert.equal(result.connections.length, 1);
  assert.equal(conn.state, "RSTO");
  assert.equal(conn.resetBy, "client");
  assert.equal(conn.closedFirstBy, "client");
  assert.equal(conn.cause, "close-with-unread-data");
  assert.equal(conn.confidence, "certain");
  assert.deepEqual(conn.facts, {
    unreadBytes: 1,
    unreadCount: { delivered: 1, read: 0 },
    closedBy: "close",
    resetSeq: 1,
    resetAck: 2,
    resetFlags: "R.",
    finsCrossed: false,
  });
  assert.equal(conn.kernel.counters.client["TcpExt.TCPAbortOnClose"], 1);
  assert.deepEqual(conn.kernel.resetReasons.map((r) => [r.side, r.reason]), [[
    "client",
    "TCP_ABORT_ON_CLOSE",
  ]]);
  assert.equal(result.expectation.met, true);
  assert.match(result.verdict, /^The client reset the connection: it called close\(\) with 1 byte unread/);
  // Both captures are in the result, and neither shows a FIN.
  for (const capture of ["client", "server"] as const) {
    const packets = conn.packets.filter((p) => p.capture === capture);
    assert.deepEqual(packets.map((p) => p.flags), ["S", "S.", ".", "P.", ".", "R."]);
  }
});

Deno.test("the contrast's recorded run is a FIN handshake with the client in TIME_WAIT", async () => {
  const result = analyseRun(await recordedRun("seed-read-first"));
  const conn = result.connections[0]!;
  assert.equal(conn.state, "SF");
  assert.equal(conn.resetBy, null);
  assert.equal(conn.closedFirstBy, "client");
  assert.equal(conn.cause, "graceful-close");
  assert.ok(conn.kernel.socketsLeft.client.some((s) => s.state === "TIME_WAIT"));
  assert.equal(conn.kernel.resetReasons.length, 0);
  assert.equal(result.expectation.met, true);
});

Deno.test("an expectation that the run does not meet is reported with what differed", async () => {
  const artifacts = await recordedRun("seed");
  artifacts.scenario = {
    ...artifacts.scenario,
    expect: { ...artifacts.scenario.expect, state: "SF", resetBy: null },
  };
  const result = analyseRun(artifacts);
  assert.equal(result.expectation.met, false);
  const failed = result.expectation.checks.filter((c) => !c.ok).map((c) => [c.what, c.expected, c.actual]);
  assert.deepEqual(failed, [["Zeek conn_state", "SF", "RSTO"], ["reset by", "none", "client"]]);
  assert.match(renderReport(result), /\*\*Expectation NOT met\*\*: 2 of \d+ checks failed/);
});

const RECORDED = [...Deno.readDirSync(new URL("../testdata/runs/", import.meta.url))]
  .filter((e) => e.isDirectory)
  .map((e) => e.name)
  .sort();

Deno.test("every recorded catalog run, analysed again, meets its scenario's expectation", async (t) => {
  assert.ok(RECORDED.length >= 11);
  for (const name of RECORDED) {
    await t.step(name, async () => {
      const result = analyseRun(await recordedRun(name));
      const failed = result.expectation.checks.filter((c) => !c.ok);
      assert.deepEqual(failed, [], `${name}: ${result.verdict}`);
    });
  }
});

Deno.test("reports of the recorded runs", async (t) => {
  for (const name of RECORDED) {
    await t.step(name, async (t) => {
      const report = renderReport(analyseRun(await recordedRun(name)));
      await t.assertSnapshot(report);
    });
  }
});

Deno.test("the seed report reads as the ticket needs it", async () => {
  const report = renderReport(analyseRun(await recordedRun("seed")));
  const lines = report.split("\n");
  // The verdict first, as a GitHub alert: CAUTION, since a RST ended the connection.
  assert.deepEqual(lines.slice(2, 4), [
    "> [!CAUTION]",
    "> **The client reset the connection:** it called close() with 1 byte unread in its receive queue, " +
    "so Linux sent RST instead of FIN.",
  ]);
  for (
    const needed of [
      "RFC 2525 section 2.17",
      "`__tcp_close()` in net/ipv4/tcp.c",
      "client > server: Flags [R.], seq 1, ack 2, win 63, length 0",
      "```mermaid",
      "reason=TCP_ABORT_ON_CLOSE",
      "| TcpExt.TCPAbortOnClose | +1 |  |",
      "`read(len=1) = -1 ECONNRESET`",
      "`epoll_wait(maxevents=8 timeout=-1) = 1 EPOLLIN|EPOLLRDHUP|EPOLLHUP|EPOLLERR`",
      "./tcplab run seed",
      "tcplab 0.1.0",
      "name: seed",
      "<summary>Environment: kernel, Docker, images, captures, containers</summary>",
    ]
  ) {
    assert.ok(report.includes(needed), `the report should contain ${JSON.stringify(needed)}`);
  }
  // The timeline puts the client's FIONREAD before its RST, and the RST before the server's ECONNRESET.
  const timeline = lines.findIndex((l) => l.startsWith("<summary>Timeline"));
  const at = (text: string) => lines.findIndex((l, i) => i > timeline && l.includes(text));
  const rst = "`[R.]`\u00a0seq\u00a01\u00a0→";
  assert.ok(at("ioctl(FIONREAD) = 0 value=1") < at(rst));
  assert.ok(at(rst) < at("read(len=1) = -1 ECONNRESET"));
  // The long evidence is folded; no link leaves the run's folder.
  assert.ok(report.includes("<summary>Timeline: "));
  assert.ok(report.includes("<summary>Packets: "));
  assert.ok(!report.includes("](../"), "no link out of the run's folder");
  // The diagram's notes stand where each call began: close() before the RST it caused.
  const diagram = lines.slice(lines.indexOf("```mermaid"));
  const note = (text: string) => diagram.findIndex((l) => l.includes(text));
  assert.ok(note("Note over C: close() …") < note("C--xS: [R.]"));
  assert.ok(note("C--xS: [R.]") < note("Note over C: … close() = 0"));
  // No code line wider than a ticket's column (about 90 characters of code font).
  const fenced = report.split(/^```.*$/m).filter((_, i) => i % 2 === 1).join("\n").split("\n");
  assert.ok(report.includes("reason | `TCP_ABORT_ON_CLOSE`") || report.includes("| `TCP_ABORT_ON_CLOSE` |"));
  for (const line of fenced) {
    if (!line.startsWith("    Note") && !line.startsWith("  ")) {
      assert.ok(line.length <= 100, `a code line of ${line.length} characters: ${line}`);
    }
  }
});

Deno.test("text from a scenario file cannot inject HTML or links into a ticket", async () => {
  const artifacts = await recordedRun("seed");
  artifacts.scenario = {
    ...artifacts.scenario,
    name: "seed",
    title: "<img src=x onerror=alert(1)> [click me](https://example.invalid/x) `tick",
    description: "<script>alert(1)</script> ![pixel](https://example.invalid/p.png) | table | break",
  };
  const report = renderReport(analyseRun(artifacts));
  assert.ok(!report.includes("<img"), "no raw HTML tag");
  assert.ok(!report.includes("<script"), "no raw script tag");
  assert.doesNotMatch(report, /(?<!\\)\]\(https:\/\/example/, "no link or image syntax survives unescaped");
  assert.match(
    report,
    /&lt;img src=x onerror=alert\(1\)&gt; \\\[click me\\\]\(https:\/\/example\.invalid\/x\)/,
  );
});

Deno.test("a run of a scenario file of one's own is reproduced from the report alone", async () => {
  const artifacts = await recordedRun("seed");
  const text = artifacts.scenario.text!;
  artifacts.scenario = { ...artifacts.scenario, source: "/home/someone/cases/my-case.yaml" };
  const result = analyseRun(artifacts);
  const report = renderReport(result);
  assert.ok(!report.includes("/home/someone"), "no path of the machine that ran it");
  assert.match(report, /^```sh\n\.\/tcplab run scenario\.yaml\n```$/m);
  assert.match(report, /save the scenario below as `scenario\.yaml`/);
  assert.match(report, new RegExp(`tcplab ${LAB_VERSION.replaceAll(".", "\\.")}`));
  // The file itself, folded, exactly as written.
  const folded =
    /<details>\n<summary>The scenario file \(scenario\.yaml\)<\/summary>\n\n```yaml\n([^]*?)\n```\n\n<\/details>/
      .exec(report);
  assert.equal(folded?.[1], text.replace(/\n+$/, ""));
  assert.deepEqual(parseScenario(folded[1]!, "scenario.yaml").expect, artifacts.scenario.expect);
});

Deno.test("a program of this host that ran untraced: the report and result.json say so, and why", async (t) => {
  for (
    const why of [
      "the run was untraced (`--untraced`)",
      "this host has no strace to put in its image (apt-get install strace)",
      "strace may not trace in its container (`ptrace(PTRACE_TRACEME, ...): Operation not permitted`)",
    ]
  ) {
    await t.step(why, async () => {
      // The recorded traced run, as an untraced one would have come back from the run.
      const artifacts = await recordedRun("socat-linger-zero");
      delete artifacts.sides.client.syscallTrace;
      artifacts.sides.client.untraced = why;
      const result = analyseRun(artifacts);
      assert.deepEqual(result.scenario.untraced, { client: why });
      assert.equal(result.scenario.hostPrograms?.client?.traced, false);
      assert.deepEqual(result.calls.filter((c) => c.side === "client"), []);
      const report = renderReport(result);
      const line = report.split("\n").find((l) => l.startsWith("The client is a program of this host"))!;
      assert.ok(
        line.includes(`its system calls were not traced: ${why}; the packets and the kernel's evidence are.`),
        line,
      );
      assert.ok(!line.includes("traced by strace"), line);
    });
  }
});

Deno.test("strace's own messages are shown apart from the program's stderr", async () => {
  const artifacts = await recordedRun("socat-linger-zero");
  artifacts.sides.client.straceMessages = "/usr/bin/strace: Process 7 detached\n";
  const result = analyseRun(artifacts);
  assert.equal(result.scenario.hostPrograms?.client?.straceMessages, "/usr/bin/strace: Process 7 detached\n");
  const report = renderReport(result);
  assert.match(report, /strace's own messages:\n\n```text\n\/usr\/bin\/strace: Process 7 detached\n```/);
  assert.ok(!result.scenario.hostPrograms?.client?.stderr.includes("strace:"));
});

Deno.test("a recorded run of the user's own image says why its calls were not traced", async () => {
  const artifacts = await recordedRun("seed");
  artifacts.scenario = {
    ...artifacts.scenario,
    server: { program: { image: "my-server:1.4", command: ["/usr/bin/my-server"] } },
  };
  artifacts.sides.server.program = "user";
  const result = analyseRun(artifacts);
  assert.deepEqual(result.scenario.untraced, {
    server: "it came as an image (`image:`), where the lab puts no strace",
  });
});

Deno.test("a path's kernel options: one line, true to the config as read", async (t) => {
  const recorded = await recordedRun("lossy-upload");
  const line = (pathKernel: NonNullable<typeof recorded.environment.pathKernel>) => {
    const report = renderReport(
      analyseRun({ ...recorded, environment: { ...recorded.environment, pathKernel } }),
    );
    const lines = report.split("\n").filter((l) => l.startsWith("- Kernel options: "));
    assert.equal(lines.length, 1, report);
    return lines[0]!;
  };
  const used = [
    "CONFIG_IP_NF_FILTER",
    "CONFIG_NETFILTER_XT_MATCH_COMMENT",
    "CONFIG_NETFILTER_XT_MATCH_STATISTIC",
  ];
  await t.step("read: the path's options are there; what else it lacks", () => {
    assert.equal(
      line({ source: "/proc/config.gz", used, lacking: ["CONFIG_NET_SCH_NETEM"] }),
      "- Kernel options: the path used `CONFIG_IP_NF_FILTER`, `CONFIG_NETFILTER_XT_MATCH_COMMENT`, " +
        "`CONFIG_NETFILTER_XT_MATCH_STATISTIC`, and this host's kernel has each (set to y or m in " +
        "`/proc/config.gz`); of the other options a path can use, it lacks `CONFIG_NET_SCH_NETEM`",
    );
  });
  await t.step("an option the path used and the config lacks is never said to be there", () => {
    const text = line({
      source: "/boot/config-6.1.0",
      used,
      lacking: ["CONFIG_NETFILTER_XT_MATCH_STATISTIC"],
    });
    assert.match(
      text,
      /this host's kernel lacks `CONFIG_NETFILTER_XT_MATCH_STATISTIC` \(as `\/boot\/config-6\.1\.0` says\)/,
    );
    assert.doesNotMatch(text, /has each/);
    assert.match(text, /it lacks none of the other options a path can use$/);
  });
  await t.step("either of two options: at least one", () => {
    const masquerade = "CONFIG_NETFILTER_XT_TARGET_MASQUERADE or CONFIG_IP_NF_TARGET_MASQUERADE";
    assert.match(
      line({ source: "/proc/config.gz", used: [masquerade], lacking: [] }),
      /has each \(of an "or", at least one\)/,
    );
  });
  await t.step("unread: unknown, and why", () => {
    assert.equal(
      line({
        source: null,
        unreadable: "the Docker engine is on another host, whose kernel config the lab cannot read",
        used,
        lacking: [],
      }),
      "- Kernel options: the path used `CONFIG_IP_NF_FILTER`, `CONFIG_NETFILTER_XT_MATCH_COMMENT`, " +
        "`CONFIG_NETFILTER_XT_MATCH_STATISTIC`; whether this host's kernel has them is unknown: the Docker " +
        "engine is on another host, whose kernel config the lab cannot read",
    );
  });
});
