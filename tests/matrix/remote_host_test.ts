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

Deno.test({
  name: "tcp:// with TLS: a daemon behind certificates made here runs the seed; a wrong CA fails in one line",
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
      assert.equal(wrong.code, 3, `exit 3: the host's column is incomplete; stderr: ${wrong.stderr}`);
      const [column] = wrong.matrix!.columns;
      assert.equal(column?.status, "unreachable");
      const problem = column.problem ?? "";
      assert.doesNotMatch(problem, /\n/, "one line");
      // It says what failed, where the CA it trusted came from, and what to do.
      assert.match(problem, /certificate/, problem);
      assert.match(problem, /DOCKER_CERT_PATH/, problem);
    } finally {
      await second?.stop();
      await Deno.remove(certs, { recursive: true });
      await Deno.remove(out, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "ssh://: a daemon reached through sshd on loopback (key in ssh-agent) runs the seed; no agent fails in one line",
  ...dockerTest,
  async fn() {
    const out = await Deno.makeTempDir({ prefix: "tcplab-ssh-runs-" });
    const second = await secondDaemon();
    let ssh: Awaited<ReturnType<typeof sshServer>> | undefined;
    try {
      ssh = await sshServer(second.socket);
      assert.deepEqual(await _imageTags(second.socket), [], "the second daemon starts with no image");
      _assertSeedMet(await _runSeed(ssh.url, ssh.env, `${out}/good`));
      assert.ok((await _imageTags(second.socket)).length > 0, "the lab built its images on the ssh host");

      const noAgent = await _runSeed(ssh.url, { SSH_AUTH_SOCK: "" }, `${out}/no-agent`);
      assert.equal(noAgent.code, 3, `exit 3: the host's column is incomplete; stderr: ${noAgent.stderr}`);
      const [column] = noAgent.matrix!.columns;
      assert.equal(column?.status, "unreachable");
      const problem = column.problem ?? "";
      assert.doesNotMatch(problem, /\n/, "one line");
      assert.match(problem, /no key to log in with: .*SSH_AUTH_SOCK is not set/, problem);
    } finally {
      await ssh?.stop();
      await second.stop();
      await Deno.remove(out, { recursive: true });
    }
  },
});
