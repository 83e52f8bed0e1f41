/**
 * The lab's narrow view of the Docker Engine API. This is the only module
 * that imports dockerode; everything above it speaks in the lab's own types.
 *
 * @module
 */

import Docker from "dockerode";
import { Buffer } from "node:buffer";
import { EngineSilentError, LabEnvironmentError, ResourceInUseError } from "../errors.ts";
import { readTarFile } from "../util/tar.ts";
import { explainConnectError, statusOf } from "./engine_errors.ts";
import type { DockerEndpoint } from "./host.ts";
import {
  type ContainerInspection,
  type NetworkInspection,
  toContainerInspection,
  toLabelledResources,
  toNetworkInspection,
} from "./inspection.ts";
import { LAB_LABEL, RUN_LABEL } from "./labels.ts";
import { LogCollector } from "./log_collector.ts";
import type { ContainerHandle, ContainerSpec, EngineInfo, LabelledResource } from "./types.ts";

/** How long `DockerClient.info()` waits for the engine's first answer, in ms. */
export const ENGINE_ANSWER_TIMEOUT_MS = 20_000;

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
          ...(remote.protocol === "ssh"
            ? {
              sshOptions: {
                ...(remote.agent ? { agent: remote.agent } : {}),
                // As ssh does: only a host whose key known_hosts lists.
                hostVerifier: (key: Buffer) => (remote.hostKeys ?? []).includes(key.toString("base64")),
              },
            }
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

  /**
   * The engine's `BridgeNfIptables` in /info (whether bridged traffic goes
   * through iptables on its host), or null when it does not say.
   */
  async bridgeNfIptables(): Promise<boolean | null> {
    const info = await this.#docker.info() as { BridgeNfIptables?: unknown };
    return typeof info.BridgeNfIptables === "boolean" ? info.BridgeNfIptables : null;
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

  /** An image's size in bytes, as the engine counts it. */
  async imageSize(tag: string): Promise<number> {
    return (await this.#docker.getImage(tag).inspect()).Size;
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
        SecurityOpt: ["no-new-privileges", ...(spec.securityOpt ?? [])],
        Memory: spec.memoryBytes ?? 64 * 1024 * 1024,
        PidsLimit: spec.pidsLimit ?? 16,
        LogConfig: { Type: "json-file", Config: {} },
        Mounts: Object.entries(spec.volumes ?? {}).map(([target, source]) => ({
          Type: "volume",
          Source: source,
          Target: target,
        })),
        ...(spec.sysctls ? { Sysctls: spec.sysctls } : {}),
        ...(spec.tmpfs?.length
          ? { Tmpfs: Object.fromEntries(spec.tmpfs.map((p) => [p, "rw,nosuid,nodev"])) }
          : {}),
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
      async exec(cmd: string[], user: string) {
        const exec = await container.exec({ Cmd: cmd, User: user, AttachStdout: true, AttachStderr: true });
        const stream = await exec.start({ hijack: true, stdin: false });
        const out: Uint8Array[] = [];
        const err: Uint8Array[] = [];
        await new Promise<void>((resolve, reject) => {
          docker.modem.demuxStream(stream, { write: (c: Uint8Array) => out.push(c) }, {
            write: (c: Uint8Array) => err.push(c),
          });
          stream.on("end", () => resolve());
          stream.on("error", reject);
        });
        const text = (chunks: Uint8Array[]) => Buffer.concat(chunks).toString("utf8");
        const exitCode = ((await exec.inspect()).ExitCode ?? -1) as number;
        return { exitCode, stdout: text(out), stderr: text(err) };
      },
      async disconnect(network: string) {
        await docker.getNetwork(network).disconnect({ Container: container.id, Force: true });
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
    return toLabelledResources(containers, networks, volumes);
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
