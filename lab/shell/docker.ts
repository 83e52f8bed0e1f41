/**
 * The lab's narrow view of the Docker Engine API. This is the only module
 * that imports dockerode; everything above it speaks in the lab's own types.
 *
 * @module
 */

import Docker from "dockerode";
import { Buffer } from "node:buffer";
import { LogCollector } from "./log_collector.ts";
import { readTarFile } from "../util/tar.ts";

/** The label every resource of the lab carries. */
export const LAB_LABEL = "tcplab";
/** The label that names the run a resource belongs to. */
export const RUN_LABEL = "tcplab.run";
/** The label that names the process (host and pid) that made a resource. */
export const OWNER_LABEL = "tcplab.owner";

/** A failure of the environment the lab runs in, with what to do about it. */
export class LabEnvironmentError extends Error {
  /** What the user can do about it, in one line. */
  readonly hint: string;
  constructor(message: string, hint: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "LabEnvironmentError";
    this.hint = hint;
  }
}

/** How long `DockerClient.info()` waits for the engine's first answer, in ms. */
export const ENGINE_ANSWER_TIMEOUT_MS = 20_000;

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
  /** TLS material for https, PEM text. */
  ca?: string;
  cert?: string;
  key?: string;
}

/**
 * Read a `--host` value: unix:///path or /path (a local engine),
 * tcp://host:port (TLS when DOCKER_TLS_VERIFY is set, certificates from
 * DOCKER_CERT_PATH, as the docker CLI does) or ssh://user@host[:port].
 * `env` gives the DOCKER_* variables.
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
  env: { tlsVerify?: string | undefined; readCert?: (name: string) => string },
): DockerEndpoint {
  if (spec.startsWith("unix://") || spec.startsWith("/")) return parseDockerHost(spec);
  let url: URL;
  try {
    url = new URL(spec);
  } catch {
    throw new LabEnvironmentError(
      `--host ${JSON.stringify(spec)} is not a Docker host`,
      "use unix:///path/docker.sock, tcp://HOST:PORT or ssh://USER@HOST",
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

/** What the engine says about itself, for the report's environment section. */
export interface EngineInfo {
  version: string;
  apiVersion: string;
  kernelVersion: string;
  os: string;
  arch: string;
}

/** Where a container's network namespace comes from. */
export type NetworkAttachment =
  | { network: string; ipv4: string }
  | { namespaceOf: string };

/** What the lab asks of a container. */
export interface ContainerSpec {
  name: string;
  image: string;
  /** The image's entrypoint, replaced. */
  entrypoint?: string[];
  cmd: string[];
  /** Environment, as "NAME=value". */
  env?: string[];
  labels: Record<string, string>;
  attachment: NetworkAttachment;
  /** Capabilities to add after dropping them all. */
  capAdd: string[];
  user?: string;
  /** Named volumes to mount: target path -> volume name. */
  volumes?: Record<string, string>;
  /** net.* sysctls for the namespace owner. */
  sysctls?: Record<string, string>;
  memoryBytes?: number;
  pidsLimit?: number;
}

/** A container the lab created. */
export interface ContainerHandle {
  id: string;
  name: string;
  /** Output of the container so far, growing while it runs. */
  logs: LogCollector;
  start(): Promise<void>;
  /** Send a signal; a container that already exited is not an error. */
  signal(signal: string): Promise<void>;
  /** Wait for the container to exit and return its exit code. */
  wait(): Promise<number>;
  /** Read one file out of the container's filesystem (volumes included). */
  readFile(path: string): Promise<Uint8Array>;
  remove(): Promise<void>;
}

/** A resource carrying the lab's label, as `listLabelled` finds it. */
export interface LabelledResource {
  kind: "container" | "network" | "volume";
  id: string;
  name: string;
  labels: Record<string, string>;
  /** When the engine created it, ms since the epoch (NaN when it does not say). */
  createdMs: number;
}

/** The Docker Engine, as the lab uses it. */
export class DockerClient {
  readonly endpoint: DockerEndpoint;
  readonly #docker: Docker;
  readonly #answerTimeoutMs: number;

  /**
   * `answerTimeoutMs`: how long `info()` waits for the engine to answer
   * before it says so (a socket can accept connections and never answer).
   */
  constructor(endpoint: DockerEndpoint, options: { answerTimeoutMs?: number } = {}) {
    this.endpoint = endpoint;
    const remote = endpoint.remote;
    this.#docker = new Docker(
      remote
        ? {
          protocol: remote.protocol,
          host: remote.host,
          port: remote.port,
          ...(remote.username ? { username: remote.username } : {}),
          ...(remote.ca ? { ca: remote.ca, cert: remote.cert, key: remote.key } : {}),
          ...(remote.protocol === "ssh" && Deno.env.get("SSH_AUTH_SOCK")
            ? { sshOptions: { agent: Deno.env.get("SSH_AUTH_SOCK") } }
            : {}),
        } as Docker.DockerOptions
        : { socketPath: endpoint.socketPath },
    );
    this.#answerTimeoutMs = options.answerTimeoutMs ?? ENGINE_ANSWER_TIMEOUT_MS;
  }

  /** Check that the engine answers; turn the usual failures into advice. */
  async info(): Promise<EngineInfo> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const request = this.#docker.version();
    request.catch(() => {}); // after a timeout, the request's own failure is not unhandled
    try {
      const v = await Promise.race([
        request,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new EngineSilentError()), this.#answerTimeoutMs);
        }),
      ]);
      return {
        version: v.Version,
        apiVersion: v.ApiVersion,
        kernelVersion: v.KernelVersion,
        os: v.Os,
        arch: v.Arch,
      };
    } catch (error) {
      throw await explainConnectError(error, this.endpoint, this.#answerTimeoutMs);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Whether an image with this tag exists locally. Never pulls. */
  async imageExists(tag: string): Promise<boolean> {
    try {
      await this.#docker.getImage(tag).inspect();
      return true;
    } catch (error) {
      if (statusOf(error) === 404) return false;
      throw error;
    }
  }

  /** Id of a local image. */
  async imageId(tag: string): Promise<string> {
    return (await this.#docker.getImage(tag).inspect()).Id;
  }

  /** Build an image from a tar build context. Nothing is pulled: the context is FROM scratch. */
  async buildImage(context: Uint8Array, tag: string, labels: Record<string, string>): Promise<void> {
    const stream = await this.#docker.buildImage(Buffer.from(context), {
      t: tag,
      labels: JSON.stringify(labels),
      pull: false,
      rm: true,
      forcerm: true,
    } as Docker.ImageBuildOptions);
    const output: Array<{ error?: string; stream?: string }> = await new Promise(
      (resolve, reject) =>
        this.#docker.modem.followProgress(
          stream,
          (err: Error | null, res: Array<{ error?: string }>) => err ? reject(err) : resolve(res),
        ),
    );
    const failed = output.find((o) => o.error);
    if (failed) {
      throw new LabEnvironmentError(
        `Cannot build image ${tag}: ${failed.error}`,
        "check the Docker daemon's log; the build context is made from local files only",
      );
    }
  }

  /** Create an Internal bridge network without an address for the host. */
  async createNetwork(name: string, subnet: string, labels: Record<string, string>): Promise<string> {
    const network = await this.#docker.createNetwork({
      Name: name,
      Driver: "bridge",
      Internal: true,
      CheckDuplicate: true,
      IPAM: { Driver: "default", Config: [{ Subnet: subnet }] },
      Options: { "com.docker.network.bridge.inhibit_ipv4": "true" },
      Labels: labels,
    });
    return network.id;
  }

  /** Remove a network; one already gone is not an error, one with containers still attached is. */
  async removeNetwork(id: string): Promise<void> {
    try {
      await this.#docker.getNetwork(id).remove();
    } catch (error) {
      if (statusOf(error) === 404) return;
      if (statusOf(error) === 403 || statusOf(error) === 409) {
        throw new ResourceInUseError(`Cannot remove network ${id}: containers are still attached to it`, {
          cause: error,
        });
      }
      throw error;
    }
  }

  async createVolume(name: string, labels: Record<string, string>): Promise<void> {
    await this.#docker.createVolume({ Name: name, Labels: labels });
  }

  /** Remove a volume; one already gone is not an error, one a container still uses is. */
  async removeVolume(name: string): Promise<void> {
    try {
      await this.#docker.getVolume(name).remove({ force: true });
    } catch (error) {
      if (statusOf(error) === 404) return;
      if (statusOf(error) === 409) {
        throw new ResourceInUseError(`Cannot remove volume ${name}: a container still uses it`, {
          cause: error,
        });
      }
      throw error;
    }
  }

  /** Create a container locked down: all capabilities dropped but `capAdd`, read-only root, no new privileges. */
  async createContainer(spec: ContainerSpec): Promise<ContainerHandle> {
    const inNetwork = "network" in spec.attachment;
    const container = await this.#docker.createContainer({
      name: spec.name,
      Image: spec.image,
      Cmd: spec.cmd,
      ...(spec.entrypoint ? { Entrypoint: spec.entrypoint } : {}),
      ...(spec.env?.length ? { Env: spec.env } : {}),
      Labels: spec.labels,
      ...(spec.user ? { User: spec.user } : {}),
      NetworkDisabled: false,
      HostConfig: {
        NetworkMode: "network" in spec.attachment
          ? spec.attachment.network
          : `container:${spec.attachment.namespaceOf}`,
        CapDrop: ["ALL"],
        CapAdd: spec.capAdd,
        ReadonlyRootfs: true,
        SecurityOpt: ["no-new-privileges"],
        Memory: spec.memoryBytes ?? 64 * 1024 * 1024,
        PidsLimit: spec.pidsLimit ?? 16,
        LogConfig: { Type: "json-file", Config: {} },
        Mounts: Object.entries(spec.volumes ?? {}).map(([target, source]) => ({
          Type: "volume",
          Source: source,
          Target: target,
        })),
        ...(spec.sysctls ? { Sysctls: spec.sysctls } : {}),
      },
      ...(inNetwork
        ? {
          NetworkingConfig: {
            EndpointsConfig: {
              [(spec.attachment as { network: string }).network]: {
                IPAMConfig: { IPv4Address: (spec.attachment as { ipv4: string }).ipv4 },
              },
            },
          },
        }
        : {}),
    } as Docker.ContainerCreateOptions);
    return this.#handle(container, spec.name);
  }

  #handle(container: Docker.Container, name: string): ContainerHandle {
    const docker = this.#docker;
    const logs = new LogCollector();
    return {
      id: container.id,
      name,
      logs,
      async start() {
        await container.start();
        const stream = await container.logs({ follow: true, stdout: true, stderr: true });
        docker.modem.demuxStream(
          stream,
          { write: (chunk: Uint8Array) => logs.append("stdout", chunk) },
          { write: (chunk: Uint8Array) => logs.append("stderr", chunk) },
        );
        stream.on("end", () => logs.close());
        stream.on("error", () => logs.close());
      },
      async signal(signal: string) {
        try {
          await container.kill({ signal });
        } catch (error) {
          // 409: the container is not running any more; 404: it is gone.
          if (statusOf(error) !== 409 && statusOf(error) !== 404) throw error;
        }
      },
      async wait() {
        const result = await container.wait();
        return result.StatusCode as number;
      },
      async readFile(path: string) {
        const stream = await container.getArchive({ path });
        const chunks: Uint8Array[] = [];
        for await (const chunk of stream as AsyncIterable<Uint8Array>) chunks.push(chunk);
        const tar = Buffer.concat(chunks);
        const file = readTarFile(new Uint8Array(tar), path.split("/").pop()!);
        if (!file) throw new Error(`${path} is not in the archive of container ${name}`);
        return file;
      },
      async remove() {
        await removeContainer(container);
      },
    };
  }

  /** Every container, network and volume carrying the lab's label (optionally one run's). */
  async listLabelled(runId?: string): Promise<LabelledResource[]> {
    const label = runId ? `${RUN_LABEL}=${runId}` : LAB_LABEL;
    const filters = JSON.stringify({ label: [label] });
    const [containers, networks, volumes] = await Promise.all([
      this.#docker.listContainers({ all: true, filters }),
      this.#docker.listNetworks({ filters }),
      this.#docker.listVolumes({ filters }),
    ]);
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
        .map((
          n,
        ) => ({
          kind: "network" as const,
          id: n.Id,
          name: n.Name,
          labels: n.Labels ?? {},
          createdMs: Date.parse(n.Created ?? ""),
        })),
      ...((volumes.Volumes ?? []) as Array<
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

  /**
   * Remove one labelled resource and return once it is gone; what is already
   * gone is not an error. A volume or network still in use throws
   * `ResourceInUseError`.
   */
  async removeResource(resource: LabelledResource): Promise<void> {
    if (resource.kind === "container") {
      await removeContainer(this.#docker.getContainer(resource.id));
    } else if (resource.kind === "network") {
      await this.removeNetwork(resource.id);
    } else {
      await this.removeVolume(resource.name);
    }
  }

  /** What the engine says about a container (by id or name), or null when it is gone. */
  async inspectContainer(idOrName: string): Promise<ContainerInspection | null> {
    try {
      return toContainerInspection(await this.#docker.getContainer(idOrName).inspect());
    } catch (error) {
      if (statusOf(error) === 404) return null;
      throw error;
    }
  }

  /** What the engine says about a network (by id or name), or null when it is gone. */
  async inspectNetwork(idOrName: string): Promise<NetworkInspection | null> {
    try {
      return toNetworkInspection(await this.#docker.getNetwork(idOrName).inspect());
    } catch (error) {
      if (statusOf(error) === 404) return null;
      throw error;
    }
  }

  /** Local images carrying a label (`"key"` or `"key=value"`): their ids and tags. */
  async listImages(label: string): Promise<Array<{ id: string; tags: string[] }>> {
    const images = await this.#docker.listImages({ filters: JSON.stringify({ label: [label] }) });
    return (images as Array<{ Id: string; RepoTags?: string[] | null }>).map((i) => ({
      id: i.Id,
      tags: (i.RepoTags ?? []).filter((t) => t !== "<none>:<none>"),
    }));
  }

  /** Remove a local image; one already gone is not an error. */
  async removeImage(id: string): Promise<void> {
    try {
      await this.#docker.getImage(id).remove({ force: true });
    } catch (error) {
      if (statusOf(error) !== 404) throw error;
    }
  }
}

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

/** The HTTP status of an Engine API error, if it has one. */
export function statusOf(error: unknown): number | undefined {
  return (error as { statusCode?: number })?.statusCode;
}

/** A volume or network could not be removed because something still uses it. */
export class ResourceInUseError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ResourceInUseError";
  }
}

/** How long to wait for a container whose removal someone else started, in ms. */
const REMOVAL_WAIT_MS = 30_000;

/**
 * Remove a container (killing it first) and return once it is gone: one
 * already gone is not an error; when another removal is in progress (409),
 * wait for that one to finish, so that its volumes and network are free.
 */
async function removeContainer(container: Docker.Container): Promise<void> {
  try {
    await container.remove({ force: true, v: true });
    return;
  } catch (error) {
    if (statusOf(error) === 404) return;
    if (statusOf(error) !== 409) throw error;
  }
  const deadline = Date.now() + REMOVAL_WAIT_MS;
  while (Date.now() < deadline) {
    try {
      await container.inspect();
    } catch (error) {
      if (statusOf(error) === 404) return;
      throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new ResourceInUseError(
    `Cannot remove container ${container.id.slice(0, 12)}: its removal was still in progress after ${
      REMOVAL_WAIT_MS / 1000
    } s`,
  );
}

/** The engine accepted the connection but did not answer in time. */
class EngineSilentError extends Error {
  constructor() {
    super("no answer");
    this.name = "EngineSilentError";
  }
}

/** `explainConnectError` for an engine on another machine: no socket file to look at. */
function explainRemoteError(
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
      `run the lab with --allow-net=${address} added to the permissions of deno task lab`,
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
function denoRunCommand(socketPath: string): string {
  return `deno run --allow-net=unix:${socketPath} --allow-read --allow-write=.,/tmp,${socketPath} ` +
    "--allow-run=gcc,ldd,.cache/tracefs_helper --allow-env --allow-sys=hostname lab/main.ts";
}

/**
 * What is at the socket's path when no engine answers there: nothing, a
 * socket, something else (described), or null when it cannot be looked at.
 */
async function describeSocketPath(path: string): Promise<"missing" | "socket" | string | null> {
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

async function explainConnectError(
  error: unknown,
  endpoint: DockerEndpoint,
  answerTimeoutMs: number,
): Promise<Error> {
  const code = (error as { code?: string })?.code ?? "";
  const text = String((error as Error)?.message ?? error);
  const where = `Cannot reach the Docker Engine at ${endpoint.label}`;
  if (endpoint.remote) return explainRemoteError(error, endpoint, endpoint.remote, answerTimeoutMs);
  if (error instanceof Deno.errors.NotCapable || /Requires (net|read|write) access/i.test(text)) {
    return new LabEnvironmentError(
      `${where}: Deno was not allowed to open the socket`,
      endpoint.socketPath === "/var/run/docker.sock"
        ? "run the lab with deno task lab, which allows it"
        : `deno task lab only allows /var/run/docker.sock; run: ${denoRunCommand(endpoint.socketPath)}`,
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
    ? await describeSocketPath(endpoint.socketPath) ?? (missing ? "missing" : "socket")
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
