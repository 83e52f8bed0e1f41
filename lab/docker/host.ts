/**
 * Where the Docker Engine listens: `--host` values and DOCKER_HOST, read
 * into an endpoint the client connects to (pure).
 *
 * @module
 */

import { LabEnvironmentError } from "../errors.ts";
import { knownHostKeys } from "./known_hosts.ts";

/** Where the Docker Engine listens. */
export interface DockerEndpoint {
  /** Text for messages, e.g. "unix:///var/run/docker.sock". */
  label: string;
  /** The unix socket; empty for a remote engine. */
  socketPath: string;
  /** A remote engine, over TCP (TLS from DOCKER_CERT_PATH) or SSH. */
  remote?: RemoteEngine;
}

/** How dockerode reaches an engine on another machine. */
export interface RemoteEngine {
  protocol: "http" | "https" | "ssh";
  host: string;
  port: number;
  username?: string;
  /** For ssh: the ssh-agent's socket (SSH_AUTH_SOCK), whose keys log in. */
  agent?: string;
  /** For ssh: the host keys known_hosts lists for it (base64); the host must show one of them. */
  hostKeys?: string[];
  /** TLS material for https, PEM text. */
  ca?: string;
  cert?: string;
  key?: string;
}

/**
 * Read a `--host` value: unix:///path or /path (a local engine),
 * tcp://host:port (TLS when DOCKER_TLS_VERIFY is set, certificates from
 * DOCKER_CERT_PATH, as the docker CLI does) or ssh://user@host[:port]
 * (logging in with the keys of the ssh-agent at SSH_AUTH_SOCK, and checking
 * the host's key against known_hosts, as ssh does). `env` gives those
 * variables and `readKnownHosts` the known_hosts file's text.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(parseHostOption("unix:///tmp/d.sock", {}).socketPath, "/tmp/d.sock");
 * assert.deepEqual(parseHostOption("tcp://lab-2:2375", {}).remote, { protocol: "http", host: "lab-2", port: 2375 });
 * assert.deepEqual(parseHostOption("ssh://me@box", {}).remote, { protocol: "ssh", host: "box", port: 22, username: "me" });
 * ```
 */
export function parseHostOption(
  spec: string,
  env: {
    tlsVerify?: string | undefined;
    readCert?: (name: string) => string;
    sshAgent?: string | undefined;
    readKnownHosts?: () => string;
  },
): DockerEndpoint {
  if (spec.startsWith("unix://") || spec.startsWith("/")) return parseDockerHost(spec);
  let url: URL;
  try {
    url = new URL(spec);
  } catch (error) {
    throw new LabEnvironmentError(
      `--host ${JSON.stringify(spec)} is not a Docker host`,
      "use unix:///path/docker.sock, tcp://HOST:PORT or ssh://USER@HOST",
      { cause: error },
    );
  }
  if (url.protocol === "tcp:") {
    const tls = env.tlsVerify !== undefined && env.tlsVerify !== "" && env.tlsVerify !== "0";
    const remote: RemoteEngine = {
      protocol: tls ? "https" : "http",
      host: url.hostname,
      port: Number(url.port || (tls ? 2376 : 2375)),
    };
    if (tls && env.readCert) {
      remote.ca = env.readCert("ca.pem");
      remote.cert = env.readCert("cert.pem");
      remote.key = env.readCert("key.pem");
    }
    return { label: spec, socketPath: "", remote };
  }
  if (url.protocol === "ssh:") {
    return {
      label: spec,
      socketPath: "",
      remote: {
        protocol: "ssh",
        host: url.hostname,
        port: Number(url.port || 22),
        ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
        ...(env.sshAgent ? { agent: env.sshAgent } : {}),
        ...(env.readKnownHosts
          ? { hostKeys: knownHostKeys(env.readKnownHosts(), url.hostname, Number(url.port || 22)) }
          : {}),
      },
    };
  }
  throw new LabEnvironmentError(
    `--host ${JSON.stringify(spec)}: the scheme ${url.protocol} is not supported`,
    "use unix:///path/docker.sock, tcp://HOST:PORT or ssh://USER@HOST",
  );
}

/**
 * Read DOCKER_HOST (or the given value): a unix socket path, as
 * "unix:///path" or "/path". Other schemes come with multi-host support.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(parseDockerHost("unix:///tmp/d.sock").socketPath, "/tmp/d.sock");
 * assert.equal(parseDockerHost(undefined).socketPath, "/var/run/docker.sock");
 * ```
 */
export function parseDockerHost(value: string | undefined): DockerEndpoint {
  const text = value?.trim() || "unix:///var/run/docker.sock";
  if (text.startsWith("unix://") && text.length > "unix://".length) {
    return { label: text, socketPath: text.slice("unix://".length) };
  }
  if (text.startsWith("/")) return { label: `unix://${text}`, socketPath: text };
  throw new LabEnvironmentError(
    `DOCKER_HOST=${JSON.stringify(text)} is not supported: the lab talks to a unix socket`,
    "unset DOCKER_HOST or set it to unix:///var/run/docker.sock",
  );
}
