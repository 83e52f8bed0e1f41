/**
 * The options of a matrix run (`run ... --host H --host H2 --vary
 * SYSCTL=V1,V2 --per-host N`), read and checked before anything runs.
 *
 * @module
 */

import { type DockerEndpoint, parseHostOption } from "../docker/host.ts";
import { UsageError } from "../errors.ts";
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
 * tcp:// hosts is read from DOCKER_CERT_PATH when DOCKER_TLS_VERIFY is set.
 */
export function parseHosts(hosts: string[]): Array<{ name: string; endpoint: DockerEndpoint }> {
  const names = hosts.length > 0 ? hosts : [Deno.env.get("DOCKER_HOST") || "unix:///var/run/docker.sock"];
  return names.map((name) => ({
    name,
    endpoint: parseHostOption(name, {
      tlsVerify: Deno.env.get("DOCKER_TLS_VERIFY"),
      readCert: (file) => Deno.readTextFileSync(`${Deno.env.get("DOCKER_CERT_PATH") ?? ""}/${file}`),
    }),
  }));
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
