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

/** Where the Docker Engine listens. */
export interface DockerEndpoint {
  /** Text for messages, e.g. "unix:///var/run/docker.sock". */
  label: string;
  socketPath: string;
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
  if (text.startsWith("unix://")) return { label: text, socketPath: text.slice("unix://".length) };
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

  constructor(endpoint: DockerEndpoint) {
    this.endpoint = endpoint;
    this.#docker = new Docker({ socketPath: endpoint.socketPath });
  }

  /** Check that the engine answers; turn the usual failures into advice. */
  async info(): Promise<EngineInfo> {
    try {
      const v = await this.#docker.version();
      return {
        version: v.Version,
        apiVersion: v.ApiVersion,
        kernelVersion: v.KernelVersion,
        os: v.Os,
        arch: v.Arch,
      };
    } catch (error) {
      throw explainConnectError(error, this.endpoint);
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

  async removeNetwork(id: string): Promise<void> {
    await ignoreMissing(this.#docker.getNetwork(id).remove());
  }

  async createVolume(name: string, labels: Record<string, string>): Promise<void> {
    await this.#docker.createVolume({ Name: name, Labels: labels });
  }

  async removeVolume(name: string): Promise<void> {
    await ignoreMissing(this.#docker.getVolume(name).remove({ force: true }));
  }

  /** Create a container locked down: all capabilities dropped but `capAdd`, read-only root, no new privileges. */
  async createContainer(spec: ContainerSpec): Promise<ContainerHandle> {
    const inNetwork = "network" in spec.attachment;
    const container = await this.#docker.createContainer({
      name: spec.name,
      Image: spec.image,
      Cmd: spec.cmd,
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
        await ignoreMissing(container.remove({ force: true, v: true }));
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

  /** Remove one labelled resource; what is already gone is not an error. */
  async removeResource(resource: LabelledResource): Promise<void> {
    if (resource.kind === "container") {
      await ignoreMissing(this.#docker.getContainer(resource.id).remove({ force: true, v: true }));
    } else if (resource.kind === "network") {
      await this.removeNetwork(resource.id);
    } else {
      await this.removeVolume(resource.name);
    }
  }
}

/** The HTTP status of an Engine API error, if it has one. */
export function statusOf(error: unknown): number | undefined {
  return (error as { statusCode?: number })?.statusCode;
}

async function ignoreMissing(promise: Promise<unknown>): Promise<void> {
  try {
    await promise;
  } catch (error) {
    // 404: already gone; 409: removal already in progress.
    if (statusOf(error) !== 404 && statusOf(error) !== 409) throw error;
  }
}

function explainConnectError(error: unknown, endpoint: DockerEndpoint): Error {
  const code = (error as { code?: string })?.code ?? "";
  const text = String((error as Error)?.message ?? error);
  if (code === "ENOENT" || /ENOENT|No such file/i.test(text)) {
    return new LabEnvironmentError(
      `Cannot reach the Docker Engine at ${endpoint.label}: no socket there`,
      "start the Docker daemon (dockerd --bridge=none &) or point DOCKER_HOST at its socket",
      { cause: error },
    );
  }
  if (code === "ECONNREFUSED" || /ECONNREFUSED|refused/i.test(text)) {
    return new LabEnvironmentError(
      `Cannot reach the Docker Engine at ${endpoint.label}: nothing listens on the socket`,
      "start the Docker daemon (dockerd --bridge=none &) or point DOCKER_HOST at a live socket",
      { cause: error },
    );
  }
  if (code === "EACCES" || /EACCES|permission/i.test(text)) {
    return new LabEnvironmentError(
      `Cannot reach the Docker Engine at ${endpoint.label}: permission denied`,
      "run as root or as a member of the docker group",
      { cause: error },
    );
  }
  if (error instanceof Deno.errors.NotCapable || /Requires net access/i.test(text)) {
    return new LabEnvironmentError(
      `Cannot reach the Docker Engine at ${endpoint.label}: Deno was not allowed to open the socket`,
      `run with --allow-net=unix:${endpoint.socketPath} (deno task lab does)`,
      { cause: error },
    );
  }
  return new LabEnvironmentError(
    `Cannot reach the Docker Engine at ${endpoint.label}: ${text}`,
    "check that dockerd runs and that DOCKER_HOST names its socket",
    { cause: error },
  );
}
