/**
 * Failures of the lab's environment, triggered for real: each gets one clear
 * message on stderr (what is wrong, then what to do), exit code 2, and
 * leaves nothing behind. The lab runs as `deno task lab` runs it: `deno run`
 * with the task's permissions, with the socket swapped where DOCKER_HOST
 * names another one (as the README says to do).
 *
 * No test here opens a TCP connection: DOCKER_HOST=tcp://... runs without
 * any TCP permission, and the other cases use unix sockets in a temporary
 * folder.
 */
import assert from "node:assert/strict";
import {
  assertCleanError,
  docker,
  dockerTest,
  labFlagsForSocket,
  labLines,
  ROOT,
  runLab,
  TASK_SOCKET,
  testRunId,
} from "./_lab.ts";

/** A run of the founding case that must fail before it starts anything. */
const RUN = ["run", "seed", "--no-contrast", "--quiet"];

/**
 * Run TypeScript in a process of its own with every permission (`deno eval`),
 * from the repository's root; its stdout. For what the test process may not
 * do under `deno task test`: open a unix socket other than the engine's.
 */
async function denoEval(code: string): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", code],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  assert.ok(out.success, `deno eval: ${decoder.decode(out.stderr)}`);
  return decoder.decode(out.stdout);
}

/** A folder holding links to these programs (found on PATH) and nothing else. */
async function pathWith(dir: string, programs: string[]): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  for (const program of programs) {
    const found = (Deno.env.get("PATH") ?? "").split(":").map((d) => `${d}/${program}`).find((p) => {
      try {
        return Deno.statSync(p).isFile;
      } catch {
        return false;
      }
    });
    assert.ok(found, `${program} is on this host's PATH`);
    await Deno.symlink(found, `${dir}/${program}`);
  }
  return dir;
}

Deno.test({
  name: "a Docker Engine that cannot be reached: one clear message, exit 2, nothing created",
  ...dockerTest,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "tcplab-fail-" });
    try {
      await t.step("DOCKER_HOST names a path where there is no socket", async () => {
        const socket = `${dir}/absent.sock`;
        const out = await runLab(RUN, {
          env: { DOCKER_HOST: `unix://${socket}` },
          flags: labFlagsForSocket(socket),
        });
        await assertCleanError(out, /no socket there/, /start the Docker daemon .*DOCKER_HOST/);
        assert.ok(out.stderr.includes(socket), "the message names the path");
      });

      await t.step("DOCKER_HOST names a socket nothing listens on", async () => {
        // A socket file whose listener is gone: Deno removes the path it bound on close, so keep
        // a second name for the socket.
        const socket = `${dir}/dead.sock`;
        await denoEval(`
          const listener = Deno.listen({ transport: "unix", path: ${JSON.stringify(`${dir}/bound.sock`)} });
          Deno.linkSync(${JSON.stringify(`${dir}/bound.sock`)}, ${JSON.stringify(socket)});
          listener.close();
        `);
        assert.ok((await Deno.lstat(socket)).isSocket);
        const out = await runLab(RUN, { env: { DOCKER_HOST: socket }, flags: labFlagsForSocket(socket) });
        await assertCleanError(out, /nothing listens on the socket/, /start the Docker daemon/);
      });

      await t.step("DOCKER_HOST names a file that is not a socket", async () => {
        const file = `${dir}/notes.txt`;
        await Deno.writeTextFile(file, "not a socket\n");
        const out = await runLab(RUN, {
          env: { DOCKER_HOST: `unix://${file}` },
          flags: labFlagsForSocket(file),
        });
        await assertCleanError(out, /notes\.txt is a regular file, not a socket/, /DOCKER_HOST/);
      });

      await t.step("DOCKER_HOST with an unsupported scheme (tcp://)", async () => {
        // The task's own flags: no TCP permission at all, so nothing could be sent anywhere.
        const out = await runLab(RUN, { env: { DOCKER_HOST: "tcp://127.0.0.1:2375" } });
        await assertCleanError(
          out,
          /DOCKER_HOST="tcp:\/\/127\.0\.0\.1:2375" is not supported: the lab talks to a unix socket/,
          /unix:\/\/\/var\/run\/docker\.sock/,
        );
      });

      await t.step(
        "a socket other than the task's, with the task's permissions: the advice works",
        async () => {
          const socket = `${dir}/docker.sock`;
          await Deno.symlink(TASK_SOCKET, socket);
          const out = await runLab(RUN, { env: { DOCKER_HOST: `unix://${socket}` } });
          await assertCleanError(out, /Deno was not allowed to open the socket/, /--allow-net=unix:/);
          // The hint is a command line: run it (with clean, which is harmless) and the engine answers.
          const advice = labLines(out.stderr)[1]!.replace(/^.*?run: /, "").trim().split(/\s+/);
          assert.deepEqual(advice.slice(0, 2), ["deno", "run"]);
          assert.ok(advice.includes(`--allow-net=unix:${socket}`), advice.join(" "));
          const cleaned = await runLab(["clean", "--run", testRunId("nothing")], {
            env: { DOCKER_HOST: `unix://${socket}` },
            flags: advice.slice(2, -1),
          });
          assert.equal(cleaned.code, 0, cleaned.stderr);
          assert.equal(cleaned.stdout.trim(), "nothing to remove");
        },
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "an engine that accepts the connection and never answers: a clear error, not a hang",
  ...dockerTest,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "tcplab-fail-" });
    try {
      // A socket that accepts and never answers, and the lab's client asking it, with a short
      // wait (the lab waits ENGINE_ANSWER_TIMEOUT_MS). Both in a process of their own, which may
      // open a socket other than the engine's.
      const said = await denoEval(`
        import { DockerClient } from "./lab/docker/client.ts";
        const path = ${JSON.stringify(`${dir}/silent.sock`)};
        const listener = Deno.listen({ transport: "unix", path });
        const accepted = [];
        (async () => { for await (const conn of listener) accepted.push(conn); })().catch(() => {});
        const client = new DockerClient({ label: "unix://" + path, socketPath: path }, { answerTimeoutMs: 300 });
        const error = await client.info().then(() => null, (e) => e);
        console.log(JSON.stringify({ name: error?.name, message: error?.message, hint: error?.hint }));
        Deno.exit(0);
      `);
      const error = JSON.parse(said);
      assert.equal(error.name, "LabEnvironmentError");
      assert.match(error.message, /accepted the connection but nothing answered within 0\.3 s/);
      assert.match(error.hint, /dockerd/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "tcpdump missing from PATH: one clear message, exit 2, nothing created",
  ...dockerTest,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "tcplab-fail-" });
    try {
      // Everything a build and a run need (gcc and its assembler and linker, ldd) but tcpdump.
      const path = await pathWith(`${dir}/bin`, ["gcc", "as", "ld", "ldd"]);
      const out = await runLab(RUN, { env: { PATH: path } });
      await assertCleanError(
        out,
        /Cannot build the lab's image: tcpdump is not on PATH/,
        /apt-get install -y tcpdump/,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "gcc missing when the images must be built: one clear message, exit 2, no image built",
  ...dockerTest,
  async fn() {
    // Images are tagged by a hash of their inputs, and this host has them already. A copy of
    // the lab whose Dockerfiles carry one more LABEL has new inputs, so both images must be
    // built; the label also finds any image built from them.
    const dir = await Deno.makeTempDir({ prefix: "tcplab-fail-" });
    const nonce = testRunId("gcc");
    const label = `tcplab.test=${nonce}`;
    try {
      const copy = `${dir}/lab`;
      await Deno.mkdir(copy);
      const cp = await new Deno.Command("cp", {
        args: ["-r", `${ROOT}lab`, `${ROOT}containers`, `${ROOT}deno.json`, `${ROOT}deno.lock`, copy],
      }).output();
      assert.ok(cp.success, "copy of the lab");
      await Deno.writeTextFile(`${copy}/containers/endpoint/Dockerfile`, `LABEL ${label}\n`, {
        append: true,
      });
      // Let Deno set the copy up once, so that its first-use notes do not mix with the lab's message.
      await new Deno.Command(Deno.execPath(), {
        args: ["cache", "lab/main.ts", "lab/cli/run_command.ts"],
        cwd: copy,
        stderr: "null",
      })
        .output();

      const path = await pathWith(`${dir}/bin`, ["tcpdump", "ldd"]);
      const out = await runLab(RUN, { env: { PATH: path }, cwd: copy });
      await assertCleanError(out, /gcc is not installed/, /apt-get install -y gcc libc6-dev/);
      assert.deepEqual(await docker.listImages(label), [], "no image was built from the copy's inputs");
    } finally {
      for (const image of await docker.listImages(label)) await docker.removeImage(image.id);
      await Deno.remove(dir, { recursive: true });
    }
  },
});
