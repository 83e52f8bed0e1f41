/**
 * Remote hosts for real: a second daemon on this machine reached as a
 * remote one, over TLS (tcp:// with certificates made by openssl here) and
 * through a private sshd on loopback (ssh://). The run on that host must
 * give the seed's verdict, and the images the lab built must be on the
 * second daemon (so it, not the first, was reached). Real containers.
 */
import assert from "node:assert/strict";
import type { Matrix } from "../../lab/matrix/types.ts";
import { runTaskWithEnv } from "../_cli.ts";
import { secondDaemon } from "../_second_daemon.ts";
import { freeLoopbackPort, sshServer } from "../_ssh_server.ts";
import { makeTlsCertificates, makeWrongCaClientDir } from "../_tls_certificates.ts";

const dockerTest = { sanitizeOps: false, sanitizeResources: false };

/** The images on the daemon at `socket`, by tag. */
async function _imageTags(socket: string): Promise<string[]> {
  const out = await new Deno.Command("docker", {
    args: ["-H", `unix://${socket}`, "images", "--format", "{{.Repository}}:{{.Tag}}"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout).split("\n").filter(Boolean);
}

/** `lab:hosts run seed --host HOST --json`, with `env`; the matrix it printed. */
async function _runSeed(host: string, env: Record<string, string>, out: string) {
  const result = await runTaskWithEnv(
    env,
    "lab:hosts",
    "run",
    "seed",
    "--host",
    host,
    "--json",
    "--out",
    out,
  );
  return { ...result, matrix: JSON.parse(result.stdout || "null") as Matrix | null };
}

/** The seed ran on the one host and met its expectations. */
function _assertSeedMet(result: { code: number; stderr: string; matrix: Matrix | null }): void {
  assert.equal(result.code, 0, `exit 0: the seed's expectations are met; stderr: ${result.stderr}`);
  const matrix = result.matrix!;
  assert.deepEqual(matrix.columns.map((c) => [c.status, c.problem]), [["ok", null]]);
  assert.match(matrix.columns[0]!.kernel ?? "", /\d+\.\d+/, "the column names the host's kernel");
  const [cell] = matrix.cells;
  assert.equal(cell?.scenario, "seed");
  assert.equal(cell.met, true, "the seed's verdict on the remote host");
  assert.equal(cell.status, "ok");
}

/** The one host was not reached: exit 3 (the matrix is incomplete), its column says why in one line. */
function _assertUnreachable(
  result: { code: number; stderr: string; matrix: Matrix | null },
  why: RegExp,
): void {
  assert.equal(result.code, 3, `exit 3: the host's column is incomplete; stderr: ${result.stderr}`);
  const [column] = result.matrix!.columns;
  assert.equal(column?.status, "unreachable");
  const problem = column.problem ?? "";
  assert.doesNotMatch(problem, /\n/, "one line");
  assert.match(problem, why, problem);
}

Deno.test({
  name:
    "tcp:// with TLS: a daemon behind certificates made here runs the seed; a wrong CA or no certificates fail in one line",
  ...dockerTest,
  async fn() {
    const certs = await Deno.makeTempDir({ prefix: "tcplab-tls-" });
    const out = await Deno.makeTempDir({ prefix: "tcplab-tls-runs-" });
    let second: Awaited<ReturnType<typeof secondDaemon>> | undefined;
    try {
      const tls = await makeTlsCertificates(certs);
      const port = freeLoopbackPort();
      second = await secondDaemon([
        `--host=tcp://127.0.0.1:${port}`,
        "--tlsverify",
        `--tlscacert=${tls.caCert}`,
        `--tlscert=${tls.serverCert}`,
        `--tlskey=${tls.serverKey}`,
      ]);
      const host = `tcp://127.0.0.1:${port}`;
      assert.deepEqual(await _imageTags(second.socket), [], "the second daemon starts with no image");

      const good = await _runSeed(
        host,
        { DOCKER_TLS_VERIFY: "1", DOCKER_CERT_PATH: tls.clientDir },
        `${out}/good`,
      );
      _assertSeedMet(good);
      assert.ok((await _imageTags(second.socket)).length > 0, "the lab built its images on the TLS host");

      const wrongCa = await makeWrongCaClientDir(certs, tls);
      const wrong = await _runSeed(
        host,
        { DOCKER_TLS_VERIFY: "1", DOCKER_CERT_PATH: wrongCa },
        `${out}/wrong`,
      );
      // It says what failed and where the CA it trusted came from.
      _assertUnreachable(wrong, /its TLS certificate is not signed by the CA in DOCKER_CERT_PATH\/ca\.pem/);

      // A DOCKER_CERT_PATH without the files: refused before anything runs.
      const missing = await _runSeed(
        host,
        { DOCKER_TLS_VERIFY: "1", DOCKER_CERT_PATH: `${certs}/none` },
        `${out}/none`,
      );
      assert.equal(missing.code, 2, missing.stderr);
      assert.match(
        missing.stderr,
        /^tcplab: DOCKER_TLS_VERIFY is set, and .*\/none\/ca\.pem cannot be read \(.*\)\n/,
      );
      assert.match(
        missing.stderr,
        /what to do: set DOCKER_CERT_PATH to the folder with the ca\.pem, cert\.pem and key\.pem/,
      );
    } finally {
      await second?.stop();
      await Deno.remove(certs, { recursive: true });
      await Deno.remove(out, { recursive: true });
    }
  },
});

/** Where Deno keeps its cache, so that a lab run with another HOME finds the same one. */
async function _denoDir(): Promise<string> {
  const out = await new Deno.Command("deno", { args: ["info", "--json"], stdout: "piped" }).output();
  return JSON.parse(new TextDecoder().decode(out.stdout)).denoDir;
}

Deno.test({
  name:
    "ssh://: a daemon reached through sshd on loopback runs the seed; an unknown host, no agent or no docker CLI fails in one line",
  ...dockerTest,
  async fn() {
    const out = await Deno.makeTempDir({ prefix: "tcplab-ssh-runs-" });
    // The lab reads ~/.ssh/known_hosts: a HOME of the test's own, with Deno's cache where it was.
    const home = await Deno.makeTempDir({ prefix: "tcplab-ssh-home-" });
    const second = await secondDaemon();
    let ssh: Awaited<ReturnType<typeof sshServer>> | undefined;
    let noDocker: Awaited<ReturnType<typeof sshServer>> | undefined;
    try {
      ssh = await sshServer(second.socket);
      const env = { HOME: home, DENO_DIR: await _denoDir(), SSH_AUTH_SOCK: ssh.agentSocket };
      assert.deepEqual(await _imageTags(second.socket), [], "the second daemon starts with no image");

      const unknown = await _runSeed(ssh.url, env, `${out}/unknown-host`);
      _assertUnreachable(
        unknown,
        /known_hosts lists no key for 127\.0\.0\.1:\d+, and ssh:\/\/ logs in to known hosts only/,
      );
      assert.deepEqual(await _imageTags(second.socket), [], "nothing was sent to a host not known");

      await Deno.mkdir(`${home}/.ssh`);
      await Deno.writeTextFile(`${home}/.ssh/known_hosts`, ssh.knownHostsLine);
      _assertSeedMet(await _runSeed(ssh.url, env, `${out}/good`));
      assert.ok((await _imageTags(second.socket)).length > 0, "the lab built its images on the ssh host");

      const noAgent = await _runSeed(ssh.url, { ...env, SSH_AUTH_SOCK: "" }, `${out}/no-agent`);
      _assertUnreachable(noAgent, /no key to log in with: .*SSH_AUTH_SOCK is not set/);

      // A host where the login works but the docker CLI is missing.
      noDocker = await sshServer(second.socket, ["ForceCommand no-docker-here system dial-stdio"]);
      await Deno.writeTextFile(`${home}/.ssh/known_hosts`, noDocker.knownHostsLine, { append: true });
      const without = await _runSeed(
        noDocker.url,
        { ...env, SSH_AUTH_SOCK: noDocker.agentSocket },
        `${out}/no-cli`,
      );
      _assertUnreachable(
        without,
        /closed before the engine answered .*check with: ssh -p \d+ root@127\.0\.0\.1 docker version/,
      );
    } finally {
      await noDocker?.stop();
      await ssh?.stop();
      await second.stop();
      await Deno.remove(out, { recursive: true });
      await Deno.remove(home, { recursive: true });
    }
  },
});
