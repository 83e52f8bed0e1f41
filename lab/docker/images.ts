/**
 * The lab's image, built locally from this machine's files: nothing is
 * pulled. `tcplab-endpoint` holds the static `tcplab` program (server,
 * client and namespace holder) and this host's tcpdump with the libraries
 * it links to, which the holder starts in its namespace.
 *
 * @module
 */

import { CAPTURE_UID, IPTABLES_IN_IMAGE, TC_IN_IMAGE } from "./image_layout.ts";
import { makeTar, type TarEntry } from "../util/tar.ts";
import { LabEnvironmentError } from "../errors.ts";
import type { Progress } from "../util/progress.ts";
import { type ProgramOutput, runToEnd } from "../util/subprocess.ts";
import type { DockerClient } from "./client.ts";
import { LAB_LABEL } from "./labels.ts";

/** The tag of the image a run uses. */
export interface LabImages {
  endpoint: string;
  /** Its image id, for the report. */
  id: string;
}

/** Bump when the way the image is assembled changes, so old tags are not reused. */
const RECIPE_VERSION = "2";
/** The endpoint program's sources: the entry point, the holder, the steps, the logging, the middlebox's queue, and their header. */
const ENDPOINT_SOURCES = ["main.c", "holder.c", "steps.c", "log.c", "queue.c", "tcplab.h"];
const ENDPOINT_DIR = new URL("../../containers/endpoint/", import.meta.url);
const ENDPOINT_DOCKERFILE = new URL("../../containers/endpoint/Dockerfile", import.meta.url);

/**
 * Make sure the image exists on the engine, building it if it is missing.
 * The tag carries a hash of its inputs, so a changed program or tcpdump gets a new image.
 */
export async function ensureImages(docker: DockerClient, progress: Progress): Promise<LabImages> {
  const sources = await Promise.all(
    ENDPOINT_SOURCES.map(async (name) => ({ name, data: await Deno.readFile(new URL(name, ENDPOINT_DIR)) })),
  );
  const dockerfile = await Deno.readFile(ENDPOINT_DOCKERFILE);
  const tcpdump = await findProgram("tcpdump", "apt-get install -y tcpdump");
  const libraries = await sharedLibraries(tcpdump, "apt-get install --reinstall tcpdump");
  const tcpdumpInputs = fileStamps([tcpdump, ...libraries]);
  const endpoint = `tcplab-endpoint:${await shortHash(
    RECIPE_VERSION,
    ...sources.flatMap((s) => [s.name, s.data]),
    dockerfile,
    tcpdumpInputs,
  )}`;

  if (!(await docker.imageExists(endpoint))) {
    // The whole build context is made before the engine is asked to build: a missing
    // compiler (or an unreadable library) fails here, and no image is left half-made.
    const context = makeTar([
      { path: "Dockerfile", data: dockerfile, mode: 0o644 },
      ...rootFiles(await compileEndpoint(sources)),
      ...await hostFiles([[tcpdump, "/usr/bin/tcpdump"], ...libraries.map((l): [string, string] => [l, l])]),
    ]);
    progress.step("build", `building image ${endpoint} (static tcplab, this host's tcpdump)`);
    const started = performance.now();
    await docker.buildImage(context, endpoint, { [LAB_LABEL]: "1" });
    progress.step("build", `built ${endpoint} in ${Math.round(performance.now() - started)} ms`);
  }
  return { endpoint, id: await docker.imageId(endpoint) };
}

/** Folders where a host's iptables keeps its extensions, which it loads at run time. */
const XTABLES_DIRS = [
  "/usr/lib/x86_64-linux-gnu/xtables",
  "/usr/lib/aarch64-linux-gnu/xtables",
  "/usr/lib/xtables",
];

/**
 * The middlebox's image: the endpoint image (its holder and tcpdump) plus
 * this host's iptables, the libraries it links to, and its xtables
 * extensions with theirs; and this host's tc (iproute2) with its libraries,
 * for a path's rates. Built only for a scenario with a `path:`; the tag
 * hashes the endpoint's tag and the stamps of the programs, their libraries
 * and the extensions.
 */
export async function ensureMiddleboxImage(
  docker: DockerClient,
  progress: Progress,
  endpoint: string,
): Promise<LabImages> {
  const iptables = await Deno.realPath(await findProgram("iptables", "apt-get install -y iptables"));
  const tc = await Deno.realPath(await findProgram("tc", "apt-get install -y iproute2"));
  const libraries = await sharedLibraries([iptables, tc], "apt-get install --reinstall iptables iproute2");
  const xtables = await _firstFolder(XTABLES_DIRS);
  if (xtables === null) {
    throw new LabEnvironmentError(
      `Cannot build the middlebox's image: iptables' extensions are in none of ${XTABLES_DIRS.join(", ")}`,
      "install iptables from the distribution's packages (apt-get install -y iptables)",
    );
  }
  const extensions: string[] = [];
  for await (const entry of Deno.readDir(xtables)) {
    // SNAT, DNAT and MASQUERADE are links to libxt_NAT.so: copied as files of their own.
    if ((entry.isFile || entry.isSymlink) && entry.name.endsWith(".so")) {
      extensions.push(`${xtables}/${entry.name}`);
    }
  }
  extensions.sort();
  const dockerfile = new TextEncoder().encode(`FROM ${endpoint}\nCOPY rootfs/ /\n`);
  // The tag hashes the programs, their libraries and the extensions; the extensions' own libraries are
  // listed (one ldd for all of them) only when the image is built.
  const tag = `tcplab-middlebox:${await shortHash(
    RECIPE_VERSION,
    endpoint,
    iptables,
    fileStamps([iptables, tc, ...libraries, ...extensions]),
  )}`;
  if (!(await docker.imageExists(tag))) {
    const extensionLibraries = (await sharedLibraries(extensions, "apt-get install --reinstall iptables"))
      .filter((l) => !libraries.includes(l));
    const copied: Array<[string, string]> = [
      [iptables, IPTABLES_IN_IMAGE],
      [tc, TC_IN_IMAGE],
      ...[...libraries, ...extensionLibraries, ...extensions].map((l): [string, string] => [l, l]),
    ];
    const context = makeTar([
      { path: "Dockerfile", data: dockerfile, mode: 0o644 },
      ...await hostFiles(copied),
    ]);
    progress.step("build", `building image ${tag} (the endpoint image, this host's iptables and tc)`);
    await docker.buildImage(context, tag, { [LAB_LABEL]: "1" });
  }
  return { endpoint: tag, id: await docker.imageId(tag) };
}

async function _firstFolder(paths: string[]): Promise<string | null> {
  for (const path of paths) {
    if (await Deno.stat(path).then((i) => i.isDirectory, () => false)) return path;
  }
  return null;
}

function rootFiles(tcplab: Uint8Array): TarEntry[] {
  const text = new TextEncoder();
  return [
    { path: "rootfs/tcplab", data: tcplab, mode: 0o755 },
    {
      path: "rootfs/etc/passwd",
      data: text.encode(
        "root:x:0:0:root:/:/tcplab\n" +
          `tcpdump:x:${CAPTURE_UID}:${CAPTURE_UID}::/cap:/tcplab\n` +
          "nobody:x:65534:65534:nobody:/:/tcplab\n",
      ),
      mode: 0o644,
    },
    {
      path: "rootfs/etc/group",
      data: text.encode(`root:x:0:\ntcpdump:x:${CAPTURE_UID}:\nnogroup:x:65534:\n`),
      mode: 0o644,
    },
    // tcpdump writes here after dropping privileges; a volume mounted here copies this ownership.
    { path: "rootfs/cap", mode: 0o755, uid: CAPTURE_UID, gid: CAPTURE_UID },
  ];
}

async function compileEndpoint(sources: Array<{ name: string; data: Uint8Array }>): Promise<Uint8Array> {
  const dir = await Deno.makeTempDir({ prefix: "tcplab-build-" });
  try {
    const output = `${dir}/tcplab`;
    for (const s of sources) await Deno.writeFile(`${dir}/${s.name}`, s.data);
    const inputs = sources.filter((s) => s.name.endsWith(".c")).map((s) => `${dir}/${s.name}`);
    const result = await runProgram(
      "gcc",
      ["-static", "-O2", "-Wall", "-Wextra", "-o", output, ...inputs],
      "apt-get install -y gcc libc6-dev",
    );
    if (!result.success) {
      throw new LabEnvironmentError(
        `Cannot compile containers/endpoint/*.c: ${result.stderr.trim().split("\n").slice(-3).join(" / ")}`,
        "install a C compiler with a static libc (apt-get install -y gcc libc6-dev)",
      );
    }
    return await Deno.readFile(output);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Files of this host as the `rootfs/` of a build context: [path on this host, path in the image].
 * Their permission bits are kept.
 */
export async function hostFiles(files: Array<[string, string]>): Promise<TarEntry[]> {
  return await Promise.all(files.map(async ([from, to]) => ({
    path: `rootfs${to}`,
    data: await Deno.readFile(from),
    mode: ((await Deno.stat(from)).mode ?? 0o755) & 0o7777,
  })));
}

/** Each file's path, size and modification time: what an image's tag hashes instead of the bytes. */
export function fileStamps(paths: string[]): string {
  return paths.map((path) => {
    const info = Deno.statSync(path);
    return `${path}:${info.size}:${info.mtime?.getTime()}`;
  }).join("\n");
}

/**
 * The shared libraries that one or more dynamic programs need, as ldd lists them (the loader included), in one
 * ldd call; none for a static one. `reinstall` says how to repair the programs.
 */
export async function sharedLibraries(programs: string | string[], reinstall: string): Promise<string[]> {
  const paths = typeof programs === "string" ? [programs] : programs;
  const result = await runProgram("ldd", paths, "apt-get install -y libc-bin");
  const static_ = /not a dynamic executable|statically linked/.test(result.stdout + result.stderr);
  if (!result.success && !static_) {
    throw new LabEnvironmentError(
      `Cannot list the libraries of ${paths.join(", ")}: ${result.stderr.trim()}`,
      `check that each is a working executable of this host (${reinstall})`,
    );
  }
  const libraries = new Set<string>();
  for (const line of result.stdout.split("\n")) {
    const m = /(?:=>\s*)?(\/\S+)\s+\(0x/.exec(line);
    if (m) libraries.add(m[1]!);
  }
  return [...libraries];
}

/** Folders where older Debian releases put tcpdump, often not on a user's PATH. */
const SBIN_DIRS = ["/usr/local/sbin", "/usr/sbin", "/sbin"];

/**
 * Find a program of this host on PATH, for an image the lab builds. When it is not there, the error says so, and
 * names the sbin folder that holds it if one does.
 */
export async function findProgram(name: string, install: string): Promise<string> {
  const isProgram = async (path: string) => {
    try {
      const info = await Deno.stat(path);
      return info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0;
    } catch {
      return false; // not in this folder
    }
  };
  const dirs = (Deno.env.get("PATH") ?? "").split(":").filter((d) => d !== "");
  for (const dir of dirs) {
    if (await isProgram(`${dir}/${name}`)) return `${dir}/${name}`;
  }
  for (const dir of SBIN_DIRS.filter((d) => !dirs.includes(d))) {
    if (await isProgram(`${dir}/${name}`)) {
      throw new LabEnvironmentError(
        `Cannot build the lab's image: ${name} is not on PATH (it is in ${dir}, which is not on PATH)`,
        `add ${dir} to PATH (export PATH="$PATH:${dir}")`,
      );
    }
  }
  throw new LabEnvironmentError(
    `Cannot build the lab's image: ${name} is not on PATH`,
    `install it (${install}) and make sure its folder is on PATH`,
  );
}

/** Run a program the build needs; one that is not installed is a LabEnvironmentError saying how to install it. */
async function runProgram(name: string, args: string[], install: string): Promise<ProgramOutput> {
  try {
    return await runToEnd(name, args);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new LabEnvironmentError(
        `Cannot build the lab's image: ${name} is not installed`,
        `install it (${install})`,
        { cause: error },
      );
    }
    throw error;
  }
}

/** The first 12 hex digits of the SHA-256 of the parts: an image tag's content hash. */
export async function shortHash(...parts: Array<string | Uint8Array>): Promise<string> {
  const encoder = new TextEncoder();
  const chunks = parts.map((p) => typeof p === "string" ? encoder.encode(p) : p);
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.length + 1, 0));
  let offset = 0;
  for (const chunk of chunks) {
    all.set(chunk, offset);
    offset += chunk.length + 1;
  }
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
  return [...digest.subarray(0, 6)].map((b) => b.toString(16).padStart(2, "0")).join("");
}
