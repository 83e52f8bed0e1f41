/**
 * The lab's view of what the engine says about its containers, networks
 * and labelled resources: pure mappings from the Engine API's JSON, so that
 * tests can check what a container got without knowing Docker's field names.
 *
 * @module
 */

import type { LabelledResource } from "./types.ts";

/** A container as the engine sees it: what the lab asked of it, to check it got it. */
export interface ContainerInspection {
  id: string;
  /** Without the leading "/". */
  name: string;
  image: string;
  user: string;
  labels: Record<string, string>;
  running: boolean;
  /** The host pid of its first process; 0 when it is not running. */
  pid: number;
  /** A network's name, or "container:<id>" for a shared namespace. */
  networkMode: string;
  capAdd: string[];
  capDrop: string[];
  privileged: boolean;
  readonlyRootfs: boolean;
  securityOpt: string[];
  /** Memory limit in bytes; 0 means none. */
  memoryBytes: number;
  /** null or 0 (or -1) mean none. */
  pidsLimit: number | null;
  sysctls: Record<string, string>;
  /** The networks it joined, by name: its address, gateway ("" for none) and MAC address. */
  networks: Record<string, { ipv4: string; gateway: string; mac: string }>;
}

/** A network as the engine sees it. */
export interface NetworkInspection {
  id: string;
  name: string;
  driver: string;
  internal: boolean;
  enableIPv6: boolean;
  options: Record<string, string>;
  labels: Record<string, string>;
  subnets: string[];
  /** The gateways IPAM reserved ("" where it names none). */
  gateways: string[];
  /** Attached containers: id -> IPv4 address with prefix. */
  containers: Record<string, string>;
}

/**
 * The lab's view of the engine's container inspect result (pure).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const c = toContainerInspection({ Id: "abc", Name: "/x", HostConfig: { CapDrop: ["ALL"], PidsLimit: 16 } });
 * assert.equal(c.name, "x");
 * assert.deepEqual(c.capDrop, ["ALL"]);
 * assert.equal(c.pidsLimit, 16);
 * assert.equal(c.readonlyRootfs, false);
 * ```
 */
export function toContainerInspection(raw: unknown): ContainerInspection {
  const r = raw as {
    Id: string;
    Name?: string;
    Config?: { Image?: string; User?: string; Labels?: Record<string, string> | null };
    State?: { Running?: boolean; Pid?: number };
    HostConfig?: {
      NetworkMode?: string;
      CapAdd?: string[] | null;
      CapDrop?: string[] | null;
      Privileged?: boolean;
      ReadonlyRootfs?: boolean;
      SecurityOpt?: string[] | null;
      Memory?: number;
      PidsLimit?: number | null;
      Sysctls?: Record<string, string> | null;
    };
    NetworkSettings?: {
      Networks?: Record<string, { IPAddress?: string; Gateway?: string; MacAddress?: string }> | null;
    };
  };
  const host = r.HostConfig ?? {};
  return {
    id: r.Id,
    name: (r.Name ?? r.Id).replace(/^\//, ""),
    image: r.Config?.Image ?? "",
    user: r.Config?.User ?? "",
    labels: r.Config?.Labels ?? {},
    running: r.State?.Running ?? false,
    pid: r.State?.Pid ?? 0,
    networkMode: host.NetworkMode ?? "",
    capAdd: host.CapAdd ?? [],
    capDrop: host.CapDrop ?? [],
    privileged: host.Privileged ?? false,
    readonlyRootfs: host.ReadonlyRootfs ?? false,
    securityOpt: host.SecurityOpt ?? [],
    memoryBytes: host.Memory ?? 0,
    pidsLimit: host.PidsLimit ?? null,
    sysctls: host.Sysctls ?? {},
    networks: Object.fromEntries(
      Object.entries(r.NetworkSettings?.Networks ?? {}).map(([name, n]) => [
        name,
        { ipv4: n.IPAddress ?? "", gateway: n.Gateway ?? "", mac: n.MacAddress ?? "" },
      ]),
    ),
  };
}

/**
 * The lab's view of the engine's network inspect result (pure).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const n = toNetworkInspection({
 *   Id: "n1", Name: "tcplab-x", Driver: "bridge", Internal: true,
 *   IPAM: { Config: [{ Subnet: "10.200.1.0/28" }] },
 *   Options: { "com.docker.network.bridge.inhibit_ipv4": "true" },
 * });
 * assert.equal(n.internal, true);
 * assert.deepEqual(n.subnets, ["10.200.1.0/28"]);
 * assert.deepEqual(n.gateways, [""]);
 * ```
 */
export function toNetworkInspection(raw: unknown): NetworkInspection {
  const r = raw as {
    Id: string;
    Name?: string;
    Driver?: string;
    Internal?: boolean;
    EnableIPv6?: boolean;
    Options?: Record<string, string> | null;
    Labels?: Record<string, string> | null;
    IPAM?: { Config?: Array<{ Subnet?: string; Gateway?: string }> | null };
    Containers?: Record<string, { IPv4Address?: string }> | null;
  };
  const config = r.IPAM?.Config ?? [];
  return {
    id: r.Id,
    name: r.Name ?? r.Id,
    driver: r.Driver ?? "",
    internal: r.Internal ?? false,
    enableIPv6: r.EnableIPv6 ?? false,
    options: r.Options ?? {},
    labels: r.Labels ?? {},
    subnets: config.map((c) => c.Subnet ?? ""),
    gateways: config.map((c) => c.Gateway ?? ""),
    containers: Object.fromEntries(
      Object.entries(r.Containers ?? {}).map(([id, c]) => [id, c.IPv4Address ?? ""]),
    ),
  };
}

/**
 * The lab's view of the engine's lists of containers, networks and volumes
 * (pure): one `LabelledResource` each, with its creation time in ms.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const [c, n, v] = toLabelledResources(
 *   [{ Id: "c1", Names: ["/tcplab-x-server"], Labels: { tcplab: "1" }, Created: 2 }],
 *   [{ Id: "n1", Name: "tcplab-x", Created: "1970-01-01T00:00:03Z" }],
 *   { Volumes: [{ Name: "tcplab-x-server-cap" }] },
 * );
 * assert.deepEqual(c, { kind: "container", id: "c1", name: "tcplab-x-server", labels: { tcplab: "1" }, createdMs: 2000 });
 * assert.equal(n?.createdMs, 3000);
 * assert.equal(v?.id, "tcplab-x-server-cap");
 * assert.ok(Number.isNaN(v?.createdMs));
 * ```
 */
export function toLabelledResources(
  containers: unknown,
  networks: unknown,
  volumes: unknown,
): LabelledResource[] {
  return [
    ...(containers as Array<
      { Id: string; Names: string[]; Labels: Record<string, string>; Created: number }
    >)
      .map((c) => ({
        kind: "container" as const,
        id: c.Id,
        name: (c.Names[0] ?? c.Id).replace(/^\//, ""),
        labels: c.Labels ?? {},
        createdMs: c.Created * 1000,
      })),
    ...(networks as Array<{ Id: string; Name: string; Labels?: Record<string, string>; Created?: string }>)
      .map((n) => ({
        kind: "network" as const,
        id: n.Id,
        name: n.Name,
        labels: n.Labels ?? {},
        createdMs: Date.parse(n.Created ?? ""),
      })),
    ...(((volumes as { Volumes?: unknown[] | null }).Volumes ?? []) as Array<
      { Name: string; Labels?: Record<string, string>; CreatedAt?: string }
    >)
      .map((v) => ({
        kind: "volume" as const,
        id: v.Name,
        name: v.Name,
        labels: v.Labels ?? {},
        createdMs: Date.parse(v.CreatedAt ?? ""),
      })),
  ];
}
