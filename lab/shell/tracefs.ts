/**
 * A tracefs instance of the run's own: the kernel's RST and socket-state
 * events, with the reasons the kernel gives for each RST.
 *
 * @module
 */

import type { TraceArtifacts } from "../evidence/artifacts.ts";

const ROOTS = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];
const EVENTS = ["tcp/tcp_send_reset", "tcp/tcp_receive_reset", "sock/inet_sock_set_state"];

/** A started trace; `finish` reads it and removes the instance. */
export interface TraceSession {
  finish(): Promise<TraceArtifacts>;
}

/**
 * Start tracing into a fresh instance named `name`. Where tracefs is not
 * there or not writable, the session records why instead of failing.
 */
export async function startTrace(name: string): Promise<TraceSession> {
  const root = await findRoot();
  if (!root) {
    return unavailable(
      "tracefs is not mounted (as root: mount -t tracefs nodev /sys/kernel/tracing)",
    );
  }
  let format = "";
  try {
    format = await Deno.readTextFile(`${root}/events/tcp/tcp_send_reset/format`);
  } catch {
    return unavailable(`this kernel has no tcp:tcp_send_reset tracepoint in ${root}`);
  }
  const instance = `${root}/instances/${name}`;
  try {
    await Deno.mkdir(instance);
  } catch (error) {
    return unavailable(`cannot create a tracefs instance in ${root}/instances (${
      (error as Error).name
    }): run the lab as root to record the kernel's RST reasons`);
  }
  try {
    await Deno.writeTextFile(`${instance}/buffer_size_kb`, "2048");
    await Deno.writeTextFile(`${instance}/trace_clock`, "mono");
    for (const event of EVENTS) {
      await Deno.writeTextFile(`${instance}/events/${event}/enable`, "1");
    }
  } catch (error) {
    await removeInstance(instance);
    return unavailable(`cannot enable trace events: ${(error as Error).message}`);
  }
  const reasonField = /\breason\b/.test(format);
  const activeResetReasons = format.includes('"TCP_ABORT_ON_CLOSE"');
  return {
    async finish() {
      let text = "";
      try {
        await Deno.writeTextFile(`${instance}/tracing_on`, "0");
        text = await Deno.readTextFile(`${instance}/trace`);
      } finally {
        await removeInstance(instance);
      }
      return { available: true, note: null, reasonField, activeResetReasons, text };
    },
  };
}

/** Remove tracefs instances whose names start with `prefix` (what `clean` does). */
export async function removeTraceInstances(
  keep: (name: string) => boolean,
  prefix = "tcplab-",
): Promise<string[]> {
  const removed: string[] = [];
  const root = await findRoot();
  if (!root) return removed;
  try {
    for await (const entry of Deno.readDir(`${root}/instances`)) {
      if (entry.name.startsWith(prefix) && !keep(entry.name)) {
        await removeInstance(`${root}/instances/${entry.name}`);
        removed.push(entry.name);
      }
    }
  } catch {
    // not readable: nothing of ours can be there either
  }
  return removed;
}

async function removeInstance(path: string): Promise<void> {
  try {
    for (const event of EVENTS) {
      await Deno.writeTextFile(`${path}/events/${event}/enable`, "0").catch(() => {});
    }
    await Deno.remove(path);
  } catch {
    // already gone
  }
}

async function findRoot(): Promise<string | null> {
  for (const root of ROOTS) {
    try {
      const info = await Deno.stat(`${root}/instances`);
      if (info.isDirectory) return root;
    } catch {
      // try the next one
    }
  }
  return null;
}

function unavailable(note: string): TraceSession {
  return {
    finish: () =>
      Promise.resolve({
        available: false,
        note,
        reasonField: false,
        activeResetReasons: false,
        text: "",
      }),
  };
}
