/**
 * The lab's own types for what it asks of the engine and gets back:
 * containers as the lab specifies them, their handles, the engine's answer
 * about itself, and the resources that carry the lab's label.
 *
 * @module
 */

import type { LogCollector } from "./log_collector.ts";

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
  /** Folders mounted as tmpfs: writable, while the root stays read-only. */
  tmpfs?: string[];
  /** Docker's security options besides no-new-privileges, e.g. "seccomp=<the profile's JSON>". */
  securityOpt?: string[];
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
  /** Run a command in the running container as `user` and wait for it: its exit code and output. */
  exec(cmd: string[], user: string): Promise<ExecResult>;
  /** Cut the running container off `network` at once: its interface there is deleted, nothing more leaves. */
  disconnect(network: string): Promise<void>;
  remove(): Promise<void>;
}

/** What a command run in a container ended with. */
export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
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
