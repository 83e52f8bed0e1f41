/**
 * The engine's failures turned into errors a user can act on: what could
 * not be reached and why, and what to do about it.
 *
 * @module
 */

import { EngineSilentError, LabEnvironmentError } from "../errors.ts";
import type { DockerEndpoint, RemoteEngine } from "./host.ts";

/** The HTTP status of an Engine API error, if it has one. */
export function statusOf(error: unknown): number | undefined {
  return (error as { statusCode?: number })?.statusCode;
}

/** Node's codes for a server certificate that no trusted CA signed. */
const _UNTRUSTED_CERT = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "CERT_SIGNATURE_FAILURE",
]);

/**
 * A TLS handshake's failure with a tcp:// engine, in words (one line each,
 * naming DOCKER_CERT_PATH, where the lab's certificates come from), or null
 * when `code` and `text` are not about TLS.
 */
function _explainTlsError(
  code: string,
  text: string,
  remote: RemoteEngine,
): { problem: string; hint: string } | null {
  const fix = "set DOCKER_CERT_PATH to the folder with the ca.pem, cert.pem and key.pem made for this daemon";
  if (
    _UNTRUSTED_CERT.has(code) || /verify the first certificate|issuer certificate|self[- ]signed/i.test(text)
  ) {
    return {
      problem: `its TLS certificate is not signed by the CA in DOCKER_CERT_PATH/ca.pem (${text})`,
      hint: fix,
    };
  }
  if (code === "ERR_TLS_CERT_ALTNAME_INVALID" || /altnames|not in the cert's/i.test(text)) {
    return {
      problem: `its TLS certificate is not made for ${remote.host} (${text})`,
      hint: `use the name or address the certificate was made for, or make one for ${remote.host}`,
    };
  }
  if (/alert|bad certificate|certificate required|unknown ca/i.test(text)) {
    return {
      problem: `the daemon refused this client's TLS certificate, DOCKER_CERT_PATH/cert.pem (${text})`,
      hint: fix,
    };
  }
  return null;
}

/** The ssh command that logs in where an ssh:// engine is, e.g. "ssh -p 2222 me@box". */
function _sshLogin(remote: RemoteEngine): string {
  const port = remote.port === 22 ? "" : `-p ${remote.port} `;
  return `ssh ${port}${remote.username ?? "USER"}@${remote.host}`;
}

/** `explainConnectError` for an engine on another machine: no socket file to look at. */
function _explainRemoteError(
  error: unknown,
  endpoint: DockerEndpoint,
  remote: RemoteEngine,
  answerTimeoutMs: number,
): Error {
  const code = (error as { code?: string })?.code ?? "";
  const text = String((error as Error)?.message ?? error);
  const where = `Cannot reach the Docker Engine at ${endpoint.label}`;
  const address = `${remote.host}:${remote.port}`;
  if (error instanceof Deno.errors.NotCapable || /Requires net access/i.test(text)) {
    return new LabEnvironmentError(
      `${where}: Deno was not allowed to connect to ${address}`,
      "run the same command with deno task lab:hosts, which allows other hosts",
      { cause: error },
    );
  }
  if (error instanceof EngineSilentError) {
    return new LabEnvironmentError(
      `${where}: nothing answered within ${answerTimeoutMs / 1000} s`,
      `check that dockerd on ${remote.host} is healthy and that ${address} is its API port`,
      { cause: error },
    );
  }
  if (code === "ECONNREFUSED" || /ECONNREFUSED|refused/i.test(text)) {
    return new LabEnvironmentError(
      `${where}: nothing listens on ${address}`,
      `start dockerd on ${remote.host} with its API on port ${remote.port}, or fix the address`,
      { cause: error },
    );
  }
  if (remote.protocol === "https") {
    const tls = _explainTlsError(code, text, remote);
    if (tls) return new LabEnvironmentError(`${where}: ${tls.problem}`, tls.hint, { cause: error });
  }
  if (remote.protocol === "ssh" && /Host denied|verification failed/i.test(text)) {
    const login = _sshLogin(remote);
    return new LabEnvironmentError(
      remote.hostKeys?.length
        ? `${where}: its host key is not the one ~/.ssh/known_hosts lists for ${address} (changed, or someone is in between)`
        : `${where}: ~/.ssh/known_hosts lists no key for ${address}, and ssh:// logs in to known hosts only`,
      remote.hostKeys?.length
        ? `check the host's new key; if it changed on purpose, remove the old one (ssh-keygen -R) and run: ${login} true`
        : `check the host's key and accept it once: ${login} true`,
      { cause: error },
    );
  }
  if (remote.protocol === "ssh" && (code === "ECONNRESET" || /socket hang up/i.test(text))) {
    // Logged in (a refused login says so), but what ran there closed the stream.
    const login = _sshLogin(remote);
    return new LabEnvironmentError(
      `${where}: the connection closed before the engine answered (docker system dial-stdio failed there?); check with: ${login} docker version`,
      `give ${
        remote.username ?? "the user"
      } on ${remote.host} the docker CLI on its PATH and access to the engine`,
      { cause: error },
    );
  }
  if (remote.protocol === "ssh" && /authentication methods failed/i.test(text)) {
    const user = remote.username ?? "the user";
    return new LabEnvironmentError(
      remote.agent
        ? `${where}: ${address} refused every key of the ssh-agent at SSH_AUTH_SOCK for ${user}`
        : `${where}: no key to log in with: ssh:// uses the keys of ssh-agent, and SSH_AUTH_SOCK is not set`,
      remote.agent
        ? `add the key that ${user}@${remote.host} accepts: ssh-add KEYFILE`
        : 'start an agent and add your key: eval "$(ssh-agent)" && ssh-add',
      { cause: error },
    );
  }
  if (code === "ENOTFOUND" || code === "EAI_AGAIN" || /ENOTFOUND|EAI_AGAIN|lookup/i.test(text)) {
    return new LabEnvironmentError(
      `${where}: the name ${remote.host} does not resolve`,
      "check the host name, or use its address",
      { cause: error },
    );
  }
  return new LabEnvironmentError(
    `${where}: ${text}`,
    `check that dockerd on ${remote.host} runs and answers on ${address}`,
    { cause: error },
  );
}

/** The permissions `deno task lab` has, with `socketPath` in place of /var/run/docker.sock. */
function _denoRunCommand(socketPath: string): string {
  return `deno run --allow-net=unix:${socketPath} --allow-read --allow-write=.,/tmp,${socketPath} ` +
    "--allow-run=gcc,ldd,zcat,.cache/tracefs_helper --allow-env --allow-sys=hostname,osRelease lab/main.ts";
}

/**
 * What is at the socket's path when no engine answers there: nothing, a
 * socket, something else (described), or null when it cannot be looked at.
 */
async function _describeSocketPath(path: string): Promise<"missing" | "socket" | string | null> {
  try {
    const info = await Deno.stat(path);
    if (info.isSocket) return "socket";
    return info.isDirectory ? "a directory" : info.isFile ? "a regular file" : "not a socket";
  } catch (error) {
    return error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory
      ? "missing"
      : null;
  }
}

/**
 * The engine could not be reached (or did not answer in `answerTimeoutMs`):
 * a LabEnvironmentError that says why, from what is at the socket's path or
 * the network's answer, and what to do; the original as its cause.
 */
export async function explainConnectError(
  error: unknown,
  endpoint: DockerEndpoint,
  answerTimeoutMs: number,
): Promise<Error> {
  const code = (error as { code?: string })?.code ?? "";
  const text = String((error as Error)?.message ?? error);
  const where = `Cannot reach the Docker Engine at ${endpoint.label}`;
  if (endpoint.remote) return _explainRemoteError(error, endpoint, endpoint.remote, answerTimeoutMs);
  if (error instanceof Deno.errors.NotCapable || /Requires (net|read|write) access/i.test(text)) {
    return new LabEnvironmentError(
      `${where}: Deno was not allowed to open the socket`,
      endpoint.socketPath === "/var/run/docker.sock"
        ? "run the lab with deno task lab, which allows it"
        : `deno task lab only allows /var/run/docker.sock; run: ${_denoRunCommand(endpoint.socketPath)}`,
      { cause: error },
    );
  }
  if (error instanceof EngineSilentError) {
    return new LabEnvironmentError(
      `${where}: the socket accepted the connection but nothing answered within ${answerTimeoutMs / 1000} s`,
      "check that dockerd is healthy (its log, systemctl status docker) and that DOCKER_HOST names its socket",
      { cause: error },
    );
  }
  const missing = code === "ENOENT" || code === "ENOTDIR" || /ENOENT|ENOTDIR|No such file/i.test(text);
  const refused = code === "ECONNREFUSED" || code === "ENOTSOCK" ||
    /ECONNREFUSED|ENOTSOCK|refused/i.test(text);
  const found = missing || refused
    ? await _describeSocketPath(endpoint.socketPath) ?? (missing ? "missing" : "socket")
    : null;
  if (found === "missing") {
    return new LabEnvironmentError(
      `${where}: no socket there (${endpoint.socketPath} does not exist)`,
      "start the Docker daemon (dockerd --bridge=none &) or point DOCKER_HOST at its socket",
      { cause: error },
    );
  }
  if (found === "socket") {
    return new LabEnvironmentError(
      `${where}: nothing listens on the socket`,
      "start the Docker daemon (dockerd --bridge=none &) or point DOCKER_HOST at a live socket",
      { cause: error },
    );
  }
  if (found !== null) {
    return new LabEnvironmentError(
      `${where}: ${endpoint.socketPath} is ${found}, not a socket`,
      "point DOCKER_HOST at the Docker daemon's socket (unix:///var/run/docker.sock by default)",
      { cause: error },
    );
  }
  if (code === "EACCES" || /EACCES|permission/i.test(text)) {
    return new LabEnvironmentError(
      `${where}: permission denied`,
      "run as root or as a member of the docker group",
      { cause: error },
    );
  }
  return new LabEnvironmentError(
    `${where}: ${text}`,
    "check that dockerd runs and that DOCKER_HOST names its socket",
    { cause: error },
  );
}
