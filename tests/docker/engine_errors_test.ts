/** What the lab says when a remote engine (tcp:// with TLS, ssh://) cannot be reached: one line each. */
import assert from "node:assert/strict";
import { explainConnectError } from "../../lab/docker/engine_errors.ts";
import type { DockerEndpoint, RemoteEngine } from "../../lab/docker/host.ts";
import { LabEnvironmentError } from "../../lab/errors.ts";

/** An endpoint for `remote`, labelled as the user would name it. */
function _endpoint(remote: RemoteEngine): DockerEndpoint {
  const user = remote.username ? `${remote.username}@` : "";
  const scheme = remote.protocol === "ssh" ? "ssh" : "tcp";
  return { label: `${scheme}://${user}${remote.host}:${remote.port}`, socketPath: "", remote };
}

/** What the lab says for `error` from `remote`: its message and hint. */
async function _explain(error: unknown, remote: RemoteEngine): Promise<{ message: string; hint: string }> {
  const explained = await explainConnectError(error, _endpoint(remote), 20_000);
  assert.ok(explained instanceof LabEnvironmentError);
  assert.equal(explained.cause, error, "the original failure is kept as the cause");
  assert.doesNotMatch(explained.message, /\n/, "one line");
  return { message: explained.message, hint: explained.hint };
}

const tls: RemoteEngine = { protocol: "https", host: "127.0.0.1", port: 2376, ca: "", cert: "", key: "" };
const ssh: RemoteEngine = { protocol: "ssh", host: "box", port: 22, username: "me" };

Deno.test("a remote engine's TLS and ssh failures, in words", async (t) => {
  await t.step("the daemon's certificate is not signed by DOCKER_CERT_PATH's CA", async () => {
    const error = Object.assign(new Error("unable to verify the first certificate"), {
      code: "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
    });
    const { message, hint } = await _explain(error, tls);
    assert.equal(
      message,
      "Cannot reach the Docker Engine at tcp://127.0.0.1:2376: its TLS certificate is not signed by the CA " +
        "in DOCKER_CERT_PATH/ca.pem (unable to verify the first certificate)",
    );
    assert.match(hint, /set DOCKER_CERT_PATH/);
  });
  await t.step("the daemon's certificate is for another name", async () => {
    const error = Object.assign(new Error("Hostname/IP does not match certificate's altnames"), {
      code: "ERR_TLS_CERT_ALTNAME_INVALID",
    });
    assert.match((await _explain(error, tls)).message, /its TLS certificate is not made for 127\.0\.0\.1/);
  });
  await t.step("the daemon refuses the client's certificate", async () => {
    const error = new Error("tlsv13 alert certificate required");
    assert.match((await _explain(error, tls)).message, /refused this client's TLS certificate/);
  });
  await t.step("a plain tcp:// engine's failure is not called a TLS one", async () => {
    const error = new Error("unable to verify the first certificate");
    const plain: RemoteEngine = { protocol: "http", host: "127.0.0.1", port: 2375 };
    assert.doesNotMatch((await _explain(error, plain)).message, /DOCKER_CERT_PATH/);
  });
  await t.step("ssh to a host known_hosts does not list", async () => {
    const { message, hint } = await _explain(new Error("Host denied (verification failed)"), ssh);
    assert.match(message, /known_hosts lists no key for box:22, and ssh:\/\/ logs in to known hosts only$/);
    assert.equal(hint, "check the host's key and accept it once: ssh me@box true");
  });
  await t.step("ssh to a host whose key is not the known one", async () => {
    const error = new Error("Host denied (verification failed)");
    const { message, hint } = await _explain(error, { ...ssh, port: 2222, hostKeys: ["AAAAold"] });
    assert.match(message, /its host key is not the one ~\/\.ssh\/known_hosts lists for box:2222/);
    assert.match(hint, /ssh-keygen -R.*ssh -p 2222 me@box true$/);
  });
  await t.step("ssh that logs in, but the stream closes (no docker CLI there)", async () => {
    const error = Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });
    const { message, hint } = await _explain(error, { ...ssh, port: 2222 });
    assert.match(
      message,
      /closed before the engine answered .*check with: ssh -p 2222 me@box docker version$/,
    );
    assert.equal(hint, "give me on box the docker CLI on its PATH and access to the engine");
  });
  await t.step("ssh without an agent", async () => {
    const { message, hint } = await _explain(new Error("All configured authentication methods failed"), ssh);
    assert.match(message, /no key to log in with: ssh:\/\/ uses the keys of ssh-agent, and SSH_AUTH_SOCK/);
    assert.match(hint, /ssh-agent.*ssh-add/);
  });
  await t.step("ssh with an agent whose keys the host refuses", async () => {
    const error = new Error("All configured authentication methods failed");
    const { message, hint } = await _explain(error, { ...ssh, agent: "/a.sock" });
    assert.match(message, /box:22 refused every key of the ssh-agent at SSH_AUTH_SOCK for me$/);
    assert.equal(hint, "add the key that me@box accepts: ssh-add KEYFILE");
  });
});
