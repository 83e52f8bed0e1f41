/**
 * The options of a matrix run (`run ... --host H --host H2 --vary
 * SYSCTL=V1,V2 --per-host N`), read and checked before anything runs.
 *
 * @module
 */

import { type DockerEndpoint, parseHostOption } from "../docker/host.ts";
import { LabEnvironmentError, UsageError } from "../errors.ts";
import { SCENARIO_SYSCTL } from "../scenario/parse.ts";

/**
 * The combinations of `--vary SYSCTL=V1,V2` values, one per column; one
 * empty variant (the defaults) without --vary.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(parseVariants(["net.ipv4.tcp_fin_timeout=5,60"]), [
 *   { "net.ipv4.tcp_fin_timeout": "5" },
 *   { "net.ipv4.tcp_fin_timeout": "60" },
 * ]);
 * assert.deepEqual(parseVariants([]), [{}]);
 * ```
 */
export function parseVariants(vary: string[]): Array<Record<string, string>> {
  let variants: Array<Record<string, string>> = [{}];
  for (const spec of vary) {
    const m = /^([^=]+)=(.+)$/.exec(spec);
    if (!m || !SCENARIO_SYSCTL.test(m[1]!)) {
      throw new UsageError(
        `--vary ${spec}: expected SYSCTL=V1,V2 with a net.ipv4.tcp_* sysctl (or net.core.somaxconn)`,
        "for example --vary net.ipv4.tcp_fin_timeout=5,60",
      );
    }
    const values = m[2]!.split(",").map((v) => v.trim()).filter((v) => v !== "");
    if (values.length === 0) {
      throw new UsageError(`--vary ${spec}: no values`, "give values after =, comma-separated");
    }
    variants = variants.flatMap((v) => values.map((value) => ({ ...v, [m[1]!]: value })));
  }
  return variants;
}

/**
 * The hosts of a matrix as the user named them (DOCKER_HOST, or the local
 * socket, without --host), each with where it listens; TLS material for
 * tcp:// hosts is read from DOCKER_CERT_PATH (default ~/.docker, as for the
 * docker CLI) when DOCKER_TLS_VERIFY is set;
 * ssh:// hosts log in with the keys of the ssh-agent at SSH_AUTH_SOCK and
 * must show a host key that ~/.ssh/known_hosts lists.
 */
export function parseHosts(hosts: string[]): Array<{ name: string; endpoint: DockerEndpoint }> {
  const names = hosts.length > 0 ? hosts : [Deno.env.get("DOCKER_HOST") || "unix:///var/run/docker.sock"];
  return names.map((name) => ({
    name,
    endpoint: parseHostOption(name, {
      tlsVerify: Deno.env.get("DOCKER_TLS_VERIFY"),
      sshAgent: Deno.env.get("SSH_AUTH_SOCK"),
      readKnownHosts: () => _readKnownHosts(),
      readCert: _readCert,
    }),
  }));
}

/** A TLS file of DOCKER_CERT_PATH (default ~/.docker); one that cannot be read says which and what to do. */
function _readCert(file: string): string {
  const dir = Deno.env.get("DOCKER_CERT_PATH") || `${Deno.env.get("HOME") ?? ""}/.docker`;
  try {
    return Deno.readTextFileSync(`${dir}/${file}`);
  } catch (error) {
    throw new LabEnvironmentError(
      `DOCKER_TLS_VERIFY is set, and ${dir}/${file} cannot be read (${(error as Error).message})`,
      "set DOCKER_CERT_PATH to the folder with the ca.pem, cert.pem and key.pem made for the daemon",
      { cause: error },
    );
  }
}

/** ~/.ssh/known_hosts, or nothing when there is none. */
function _readKnownHosts(): string {
  try {
    return Deno.readTextFileSync(`${Deno.env.get("HOME") ?? ""}/.ssh/known_hosts`);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return "";
    throw error;
  }
}

/** Thrown when the options of a matrix run cannot work together. */
export function checkMatrixOptions(hosts: string[], perHost: number): void {
  if (!Number.isInteger(perHost) || perHost < 1) {
    throw new UsageError(
      `--per-host ${perHost}: expected a whole number, 1 or more`,
      "for example --per-host 2",
    );
  }
  if (new Set(hosts).size !== hosts.length) {
    throw new UsageError("The same --host is given twice", "name each host once");
  }
}

/**
 * The permissions Deno needs to reach an engine: for a unix socket, to
 * connect to it and to read and write its path; for a remote engine, to
 * connect to its address.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(hostPermissions({ label: "unix:///o.sock", socketPath: "/o.sock" }), [
 *   { name: "net", host: "unix:/o.sock" },
 *   { name: "read", path: "/o.sock" },
 *   { name: "write", path: "/o.sock" },
 * ]);
 * assert.deepEqual(
 *   hostPermissions({ label: "ssh://me@box", socketPath: "", remote: { protocol: "ssh", host: "box", port: 22 } }),
 *   [{ name: "net", host: "box:22" }],
 * );
 * ```
 */
export function hostPermissions(endpoint: DockerEndpoint): Deno.PermissionDescriptor[] {
  if (endpoint.remote) return [{ name: "net", host: `${endpoint.remote.host}:${endpoint.remote.port}` }];
  return [
    { name: "net", host: `unix:${endpoint.socketPath}` },
    { name: "read", path: endpoint.socketPath },
    { name: "write", path: endpoint.socketPath },
  ];
}

/**
 * Thrown before anything runs when Deno may not reach one of the hosts
 * (the narrow `deno task lab` allows /var/run/docker.sock only): one line
 * that names the task that may. `granted` answers for one permission.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const hosts = [{ name: "unix:///o.sock", endpoint: { label: "unix:///o.sock", socketPath: "/o.sock" } }];
 * assert.throws(() => checkHostPermissions(hosts, () => false), /deno task lab:hosts/);
 * checkHostPermissions(hosts, () => true);
 * ```
 */
export function checkHostPermissions(
  hosts: ReadonlyArray<{ name: string; endpoint: DockerEndpoint }>,
  granted: (permission: Deno.PermissionDescriptor) => boolean,
): void {
  const refused = hosts.filter((h) => !hostPermissions(h.endpoint).every(granted)).map((h) => h.name);
  if (refused.length === 0) return;
  throw new UsageError(
    `--host ${refused.join(", ")}: use deno task lab:hosts (deno task lab reaches /var/run/docker.sock only)`,
    "run the same command with deno task lab:hosts, which has the permissions other hosts need",
  );
}
