/**
 * A private sshd on 127.0.0.1 standing in for another machine reached as
 * ssh://root@HOST (tests/matrix): its own host key, config, pidfile and
 * authorized key in a folder it removes, no system service; each session
 * gets DOCKER_HOST, so `docker system dial-stdio` reaches the engine the
 * test names. An ssh-agent holds the client's key, as a user's does, and
 * the host key is given as a known_hosts line.
 *
 * @module
 */

/** A free TCP port on 127.0.0.1 (the kernel's choice, released for the caller). */
export function freeLoopbackPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Run a program to its end; a failure throws with its output. */
async function _run(program: string, args: string[], env: Record<string, string> = {}): Promise<void> {
  const out = await new Deno.Command(program, { args, env, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`${program} ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
}

/**
 * Read `stream` line by line until a line matches `pattern` (resolves) or
 * it ends (rejects with what it said); the rest is read and dropped, so the
 * process never blocks on a full pipe.
 */
function _waitForLine(stream: ReadableStream<Uint8Array>, pattern: RegExp, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const seen: string[] = [];
    let found = false;
    (async () => {
      let rest = "";
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        if (found) continue;
        const lines = (rest + chunk).split("\n");
        rest = lines.pop() ?? "";
        for (const line of lines) {
          seen.push(line);
          if (pattern.test(line)) {
            found = true;
            resolve();
          }
        }
      }
      if (!found) reject(new Error(`${what} ended before it was ready: ${[...seen, rest].join(" | ")}`));
    })().catch(reject);
  });
}

/** Stop a child process (already gone is fine) and wait for its end. */
async function _stop(child: Deno.ChildProcess): Promise<void> {
  try {
    child.kill("SIGTERM");
  } catch {
    // already gone
  }
  await child.status;
}

/** The sshd and ssh-agent a test talks to, and how to stop them. */
export interface SshServer {
  /** `ssh://root@127.0.0.1:PORT`. */
  url: string;
  /** SSH_AUTH_SOCK of an agent holding the key that logs in. */
  agentSocket: string;
  /** The line of known_hosts that names this sshd's host key. */
  knownHostsLine: string;
  /** Stop sshd and the agent, and remove their files. */
  stop: () => Promise<void>;
}

/**
 * Start sshd on a free port of 127.0.0.1 (root logs in with a key made here,
 * never a password), each session with `DOCKER_HOST=unix://SOCKET`, and an
 * ssh-agent holding that key; `extraConfig` lines go at the end of
 * sshd_config. Resolves once both listen.
 */
export async function sshServer(dockerSocket: string, extraConfig: string[] = []): Promise<SshServer> {
  const dir = await Deno.makeTempDir({ prefix: "tcplab-sshd-" });
  const children: Deno.ChildProcess[] = [];
  // sshd needs its privilege separation folder; the system's service would make it.
  let madeRunDir = false;
  const stop = async () => {
    for (const child of children.reverse()) await _stop(child);
    if (madeRunDir) await Deno.remove("/run/sshd").catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  try {
    await Deno.stat("/run/sshd").catch(async () => {
      await Deno.mkdir("/run/sshd", { mode: 0o755 });
      madeRunDir = true;
    });
    await _run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", `${dir}/host_key`]);
    await _run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", `${dir}/client_key`]);
    await Deno.copyFile(`${dir}/client_key.pub`, `${dir}/authorized_keys`);
    const port = freeLoopbackPort();
    await Deno.writeTextFile(
      `${dir}/sshd_config`,
      [
        `Port ${port}`,
        "ListenAddress 127.0.0.1",
        `HostKey ${dir}/host_key`,
        `PidFile ${dir}/sshd.pid`,
        `AuthorizedKeysFile ${dir}/authorized_keys`,
        "PermitRootLogin prohibit-password",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        // The key's folder is a temporary one, not root's home.
        "StrictModes no",
        `SetEnv DOCKER_HOST=unix://${dockerSocket}`,
        ...extraConfig,
        "",
      ].join("\n"),
    );
    const sshd = new Deno.Command("/usr/sbin/sshd", {
      args: ["-D", "-e", "-f", `${dir}/sshd_config`],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    children.push(sshd);
    await _waitForLine(sshd.stderr, /^Server listening on 127\.0\.0\.1 port \d+/, "sshd");
    const agentSocket = `${dir}/agent.sock`;
    const agent = new Deno.Command("ssh-agent", {
      args: ["-D", "-a", agentSocket],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    children.push(agent);
    // It prints its environment once its socket listens.
    await _waitForLine(agent.stdout, /^SSH_AUTH_SOCK=/, "ssh-agent");
    await _run("ssh-add", ["-q", `${dir}/client_key`], { SSH_AUTH_SOCK: agentSocket });
    const [type, key] = (await Deno.readTextFile(`${dir}/host_key.pub`)).trim().split(/\s+/);
    return {
      url: `ssh://root@127.0.0.1:${port}`,
      agentSocket,
      knownHostsLine: `[127.0.0.1]:${port} ${type} ${key}\n`,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
