/**
 * The house: the imports under lab/, read from `deno info --json`, against
 * the folder order that README.md's section for contributors gives. Every
 * import runs down that list; no file imports itself back through others;
 * lab/analysis imports nothing outside itself; `lab explain` loads no
 * Docker code.
 */
import assert from "node:assert/strict";

const ROOT = new URL("../..", import.meta.url).pathname;

/** The roots of the lab's graph: main.ts, and each command, which main.ts loads by a path it makes at run time. */
function roots(): string[] {
  const commands = [...Deno.readDirSync(`${ROOT}lab/cli`)].filter((e) => e.name.endsWith("_command.ts"));
  return ["lab/main.ts", ...commands.map((e) => `lab/cli/${e.name}`).sort()];
}

/** Imports between the lab's own files (paths from lab/), for the modules the roots reach. */
async function importsFrom(roots: string[]): Promise<Map<string, string[]>> {
  const edges = new Map<string, string[]>();
  for (const root of roots) {
    for (const [from, to] of await _importsFrom(root)) edges.set(from, to);
  }
  return edges;
}

async function _importsFrom(root: string): Promise<Map<string, string[]>> {
  const out = await new Deno.Command(Deno.execPath(), { args: ["info", "--json", root], cwd: ROOT }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const graph = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    modules: {
      specifier: string;
      dependencies?: { code?: { specifier?: string }; type?: { specifier?: string } }[];
    }[];
  };
  const local = (specifier: string | undefined) => /\/lab\/(.+)$/.exec(specifier ?? "")?.[1] ?? null;
  const edges = new Map<string, string[]>();
  for (const m of graph.modules) {
    const from = local(m.specifier);
    if (from === null || !m.specifier.startsWith("file:")) continue;
    const to = (m.dependencies ?? []).flatMap((d) => [local(d.code?.specifier), local(d.type?.specifier)])
      .filter((t): t is string => t !== null && t !== from);
    edges.set(from, [...new Set(to)]);
  }
  return edges;
}

/** The folders (and top-level files) of lab/, in README.md's order, top first. */
function readmeOrder(): string[] {
  const readme = Deno.readTextFileSync(`${ROOT}README.md`);
  const section = readme.slice(readme.indexOf("## For contributors"));
  return [...section.matchAll(/^ {4}lab\/(\S+?)\/?\s/gm)].map((m) => m[1]!);
}

const room = (file: string) => file.includes("/") ? file.split("/")[0]! : file;

Deno.test("the house: every import runs down the README's list, and no file imports itself back", async (t) => {
  const edges = await importsFrom(roots());
  const order = readmeOrder();
  assert.ok(order.length > 5, `README.md lists the folders: ${order}`);
  await t.step("every folder and top-level file of lab/ is in the list", () => {
    for (const file of edges.keys()) {
      assert.ok(order.includes(room(file)), `lab/${room(file)} is in README.md`);
    }
  });
  await t.step("imports run down the list", () => {
    for (const [from, tos] of edges) {
      for (const to of tos) {
        if (room(from) === room(to)) continue;
        assert.ok(
          order.indexOf(room(from)) < order.indexOf(room(to)),
          `lab/${from} imports lab/${to}: ${room(to)} stands above ${room(from)}`,
        );
      }
    }
  });
  await t.step("no import cycle between files", () => {
    const state = new Map<string, "open" | "done">();
    const visit = (file: string, path: string[]) => {
      if (state.get(file) === "done") return;
      assert.notEqual(state.get(file), "open", `import cycle: ${[...path, file].join(" -> ")}`);
      state.set(file, "open");
      for (const to of edges.get(file) ?? []) visit(to, [...path, file]);
      state.set(file, "done");
    };
    for (const file of edges.keys()) visit(file, []);
  });
  await t.step("lab/analysis imports nothing outside itself", () => {
    for (const [from, tos] of edges) {
      if (room(from) === "analysis") assert.deepEqual(tos.filter((to) => room(to) !== "analysis"), [], from);
    }
  });
});

/** Every module a root loads. */
async function loaded(root: string): Promise<string[]> {
  const out = await new Deno.Command(Deno.execPath(), { args: ["info", "--json", root], cwd: ROOT }).output();
  return (JSON.parse(new TextDecoder().decode(out.stdout)).modules as { specifier: string }[])
    .map((m) => m.specifier);
}

Deno.test("the house: main.ts reads no command's modules before it knows the command", async () => {
  // Deno reads every module of the graph before main runs: --version and --help read these alone.
  const files = (await loaded("lab/main.ts")).filter((s) => s.startsWith("file:")).map((s) =>
    /\/lab\/(.+)$/.exec(s)?.[1]
  );
  assert.deepEqual(files.sort(), [
    "cli/exit.ts",
    "cli/help.ts",
    "errors.ts",
    "main.ts",
    "run/moments.ts",
    "version.ts",
  ]);
  assert.equal(roots().length, 5, "main.ts and the four commands (run, list, clean, explain)");
});

Deno.test("the house: lab explain loads no Docker code", async () => {
  const specifiers = await loaded("lab/cli/explain_command.ts");
  assert.deepEqual(specifiers.filter((s) => /dockerode|\/lab\/(docker|run|session)\//.test(s)), []);
});

Deno.test("the house: the run plan is pure, and loads no Docker client", async () => {
  const specifiers = await loaded("lab/run/plan.ts");
  assert.deepEqual(specifiers.filter((s) => /dockerode|\/lab\/docker\/client\.ts/.test(s)), []);
});
