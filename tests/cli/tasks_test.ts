/**
 * The test tasks in deno.json: `test` runs everything, `test:unit` every
 * test folder that needs no Docker daemon. Every folder of tests is in one
 * of the two lists below, so that a new folder cannot be forgotten.
 */
import assert from "node:assert/strict";

const ROOT = new URL("../..", import.meta.url);
/** The test folders whose tests start containers: they need a Docker daemon. */
const NEED_DOCKER = ["e2e", "faults", "lifecycle", "matrix"];

Deno.test("test:unit names every test folder that needs no Docker daemon, and no other", () => {
  const tasks = JSON.parse(Deno.readTextFileSync(new URL("deno.json", ROOT))).tasks;
  const unit = String(tasks["test:unit"].command);
  const folders = [...Deno.readDirSync(new URL("tests/", ROOT))]
    .filter((e) => e.isDirectory && e.name !== "testdata")
    .filter((e) =>
      [...Deno.readDirSync(new URL(`tests/${e.name}/`, ROOT))].some((f) => f.name.endsWith("_test.ts"))
    )
    .map((e) => e.name)
    .sort();
  for (const folder of folders) {
    const named = unit.split(/\s+/).includes(`tests/${folder}/`);
    assert.equal(
      named,
      !NEED_DOCKER.includes(folder),
      `tests/${folder}/ ${named ? "is" : "is not"} in test:unit`,
    );
  }
  assert.match(unit, /--doc lab\//, "the doc tests need no daemon");
  assert.match(String(tasks.test.command), /--doc lab\/ tests\/$/, "test runs everything");
});

Deno.test("the lab's lockfile holds only what the lab imports; the tests' packages are in tests/deno.lock", () => {
  // Deno reads deno.json's imports and deno.lock at every start: with the packages only the tests use
  // (a browser driver, Markdown, Mermaid) there, `deno task lab --version` ran a quarter more instructions.
  const config = JSON.parse(Deno.readTextFileSync(new URL("deno.json", ROOT)));
  const lock = JSON.parse(Deno.readTextFileSync(new URL("deno.lock", ROOT)));
  assert.deepEqual(Object.keys(lock.specifiers).sort(), Object.values(config.imports).sort());
  for (const name of ["test", "test:unit", "check"]) {
    const command = String(config.tasks[name].command);
    for (const run of command.split("&&").filter((c) => /deno (test|check)/.test(c))) {
      assert.match(run, /--lock=tests\/deno\.lock/, `${name}: ${run.trim()}`);
    }
  }
});
