/**
 * The one way the lab reads its Docker host's kernel files: the kernel
 * config a path's rules rest on, and the bridge sysctls that say whether
 * bridged packets meet iptables. The containers of a Docker host run on that
 * host's kernel, so these are the engine's host's files; the lab reads them
 * only when that host is this machine (a local engine whose kernel release
 * is this machine's), and otherwise says why it cannot.
 *
 * Deno refuses every file of /proc without --allow-all, so the files go
 * through `zcat -f`, which the lab's tasks already allow (`--allow-run=zcat`):
 * it unpacks /proc/config.gz and passes a plain file (a sysctl,
 * /boot/config-RELEASE) through unchanged.
 *
 * @module
 */

import type { DockerClient } from "../docker/client.ts";
import type { KernelConfigRead } from "../evidence/kernel_config.ts";
import { runToEnd } from "../util/subprocess.ts";
import type { SysctlRead } from "./path_probe.ts";

/** A file of this machine as read: its text and its path, or why it could not be read. */
type _FileRead = { text: string; source: string } | { unreadable: string };

/** The sysctl that says whether bridged IPv4 packets are handed to iptables (br_netfilter's). */
export const BRIDGE_NF_CALL_IPTABLES = "/proc/sys/net/bridge/bridge-nf-call-iptables";

/**
 * The engine's host's kernel config: /proc/config.gz, else /boot/config-RELEASE;
 * never throws. `engineKernel` is the kernel release the engine reported
 * (`EngineInfo.kernelVersion`, which the caller already has).
 */
export async function readHostKernelConfig(
  docker: DockerClient,
  engineKernel: string,
): Promise<KernelConfigRead> {
  const elsewhere = _notThisMachine(docker, engineKernel);
  if (elsewhere !== null) return { unreadable: `${elsewhere}, whose kernel config the lab cannot read` };
  const proc = await _readHere("/proc/config.gz");
  if ("text" in proc) return { config: proc.text, source: proc.source };
  const boot = await _readHere(`/boot/config-${_release() ?? "RELEASE"}`);
  if ("text" in boot) return { config: boot.text, source: boot.source };
  return { unreadable: `${proc.unreadable}; ${boot.unreadable}` };
}

/**
 * The engine's host's bridge-nf-call-iptables ("1", "0"), or why it cannot
 * be read (no such file: br_netfilter is not loaded); never throws.
 * `engineKernel` as for {@link readHostKernelConfig}.
 */
export async function readHostBridgeSysctl(docker: DockerClient, engineKernel: string): Promise<SysctlRead> {
  const elsewhere = _notThisMachine(docker, engineKernel);
  if (elsewhere !== null) return { unreadable: `${elsewhere}, whose /proc the lab cannot read` };
  const read = await _readHere(BRIDGE_NF_CALL_IPTABLES);
  return "text" in read ? { value: read.text.trim(), source: read.source } : read;
}

/** Why the engine's kernel (release `engine`) is not this machine's, or null when it is. */
function _notThisMachine(docker: DockerClient, engine: string): string | null {
  if (docker.endpoint.remote !== undefined) return "the Docker engine is on another host";
  const here = _release();
  if (!engine) return "the Docker engine did not say which kernel it runs";
  if (here === null) return "the lab may not ask this machine's kernel release (--allow-sys=osRelease)";
  return engine === here ? null : `the Docker engine runs kernel ${engine}, not this machine's ${here}`;
}

/** This machine's kernel release, or null without the permission to ask. */
function _release(): string | null {
  try {
    return Deno.osRelease();
  } catch {
    return null;
  }
}

/** A file of this machine, through `zcat -f`; never throws. */
async function _readHere(path: string): Promise<_FileRead> {
  const out = await runToEnd("zcat", ["-f", path]).catch((e: Error) => e);
  if (out instanceof Error) return { unreadable: `${path} could not be read: zcat: ${out.message}` };
  if (out.success) return { text: out.stdout, source: path };
  const missing = /No such file or directory/.test(out.stderr);
  return {
    unreadable: missing
      ? `there is no ${path}`
      : `${path} could not be read: ${out.stderr.trim().split("\n")[0]}`,
  };
}
