/**
 * A program of this host as a side: what the lab checks before it makes
 * anything (no Docker needed), each bad input a UsageError saying what to do.
 */
import assert from "node:assert/strict";
import { programInputs } from "../../lab/docker/program_image.ts";
import { checkHostPrograms } from "../../lab/run/host_programs.ts";
import { UsageError } from "../../lab/errors.ts";
import { parseScenario } from "../../lab/scenario/parse.ts";

const ELF_MACHINE_OTHER = Deno.build.arch === "x86_64" ? 183 : 62;

function scenarioWith(program: string, file: string) {
  return parseScenario(
    `name: host\ntitle: t\nserver:\n  steps: [listen, accept, close]\nclient:\n  program: ${program}\nexpect: {}\n`,
    file,
  );
}

Deno.test("bad host programs are refused before anything is made", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "tcplab-program-" });
  try {
    await Deno.writeTextFile(`${dir}/plain`, "not a program");
    const other = new Uint8Array(64);
    other.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
    other[18] = ELF_MACHINE_OTHER;
    await Deno.writeFile(`${dir}/other-arch`, other, { mode: 0o755 });
    await Deno.writeTextFile(`${dir}/script`, "#!/bin/sh\n", { mode: 0o755 });
    await Deno.writeTextFile(`${dir}/broken.json`, "{ defaultAction: ");
    const cases: Array<[string, string, RegExp]> = [
      ["a binary that does not exist", `{ binary: ${dir}/missing }`, /does not exist on this host/],
      ["a file that is not executable", `{ binary: ${dir}/plain }`, /is not an executable file/],
      [
        "a binary for another architecture",
        `{ binary: ${dir}/other-arch }`,
        /cannot run here: .*ELF machine/,
      ],
      ["a script", `{ binary: ${dir}/script }`, /not an ELF binary/],
      [
        "a file to copy that is missing",
        "{ binary: /bin/sh, files: { /etc/x.conf: ./x.conf } }",
        /file \/etc\/x\.conf cannot be copied: \.\/x\.conf is not a file/,
      ],
      [
        "a seccomp profile that is missing",
        "{ binary: /bin/sh, seccomp: ./prod.json }",
        /seccomp profile \.\/prod\.json cannot be read/,
      ],
      [
        "a seccomp profile that is not JSON",
        "{ binary: /bin/sh, seccomp: ./broken.json }",
        /seccomp profile \.\/broken\.json is not JSON/,
      ],
    ];
    for (const [name, program, message] of cases) {
      await t.step(name, async () => {
        const error = await checkHostPrograms(scenarioWith(program, `${dir}/s.yaml`)).then(
          () => null,
          (e) => e,
        );
        assert.ok(error instanceof UsageError, String(error));
        assert.match(error.message, message);
        assert.ok(error.hint.length > 0);
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a host program's image holds its binary, its libraries, the named files and strace", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tcplab-program-" });
  try {
    await Deno.writeTextFile(`${dir}/x.conf`, "x");
    const inputs = await programInputs(
      { binary: "/bin/sh", files: { "/etc/x.conf": "./x.conf" }, writable: ["/run"] },
      "client",
      dir,
    );
    const inImage = inputs.files.map(([, to]) => to);
    assert.equal(inImage[0], "/bin/sh");
    assert.ok(inImage.includes("/etc/x.conf"));
    assert.ok(inImage.includes("/usr/bin/strace"));
    assert.ok(inImage.some((p) => /\/libc\.so/.test(p)), "libc, from ldd");
    assert.equal(new Set(inImage).size, inImage.length, "each path once");
    assert.deepEqual(inputs.folders, ["/run"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a seccomp profile a program of this host names is read before anything is made, by side", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tcplab-program-" });
  try {
    await Deno.writeTextFile(`${dir}/prod.json`, '{\n  "defaultAction": "SCMP_ACT_ALLOW"\n}\n');
    const profiles = await checkHostPrograms(
      scenarioWith("{ binary: /bin/sh, seccomp: ./prod.json }", `${dir}/s.yaml`),
    );
    assert.deepEqual(profiles, { client: '{"defaultAction":"SCMP_ACT_ALLOW"}' });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
