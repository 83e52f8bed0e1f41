/**
 * The lab's two images, built locally from this machine's files: nothing
 * is pulled. `tcplab-endpoint` holds the static `tcplab` program (server,
 * client and namespace holder); `tcplab-capture` holds tcpdump and the
 * libraries it links to.
 *
 * @module
 */

import { makeTar, type TarEntry } from "../util/tar.ts";
import { type DockerClient, LAB_LABEL, LabEnvironmentError } from "./docker.ts";
import type { Progress } from "./progress.ts";

/** The tags of the images a run uses. */
export interface LabImages {
  endpoint: string;
  capture: string;
  /** Image ids, for the report. */
  ids: { endpoint: string; capture: string };
}

/** Bump when the way an image is assembled changes, so old tags are not reused. */
const RECIPE_VERSION = "1";
const ENDPOINT_SOURCE = new URL("../../containers/endpoint/tcplab.c", import.meta.url);
const CAPTURE_DOCKERFILE = new URL("../../containers/capture/Dockerfile", import.meta.url);
const ENDPOINT_DOCKERFILE = new URL("../../containers/endpoint/Dockerfile", import.meta.url);

/** The user tcpdump drops its privileges to inside the capture image. */
export const CAPTURE_UID = 101;

/**
 * Make sure both images exist on the engine, building what is missing.
 * Tags carry a hash of their inputs, so a changed program gets a new image.
 */
export async function ensureImages(docker: DockerClient, progress: Progress): Promise<LabImages> {
  const source = await Deno.readFile(ENDPOINT_SOURCE);
  const endpointDockerfile = await Deno.readFile(ENDPOINT_DOCKERFILE);
  const captureDockerfile = await Deno.readFile(CAPTURE_DOCKERFILE);
  const tcpdump = await findProgram("tcpdump", "apt-get install -y tcpdump");
  const libraries = await sharedLibraries(tcpdump);
  const captureInputs = [tcpdump, ...libraries].map((path) => {
    const info = Deno.statSync(path);
    return `${path}:${info.size}:${info.mtime?.getTime()}`;
  });

  const endpoint = `tcplab-endpoint:${await shortHash(RECIPE_VERSION, source, endpointDockerfile)}`;
  const capture = `tcplab-capture:${await shortHash(
    RECIPE_VERSION,
    captureDockerfile,
    captureInputs.join("\n"),
  )}`;

  // Every build context is made before the engine is asked to build anything: a missing
  // compiler (or an unreadable library) fails here, and no image is left half-made beside it.
  const [haveEndpoint, haveCapture] = await Promise.all([
    docker.imageExists(endpoint),
    docker.imageExists(capture),
  ]);
  const [endpointContext, captureContext] = await Promise.all([
    haveEndpoint ? null : (async () =>
      makeTar([
        { path: "Dockerfile", data: endpointDockerfile, mode: 0o644 },
        ...rootFiles(await compileEndpoint(source)),
      ]))(),
    haveCapture ? null : (async () =>
      makeTar([
        { path: "Dockerfile", data: captureDockerfile, mode: 0o644 },
        ...await captureFiles(tcpdump, libraries),
      ]))(),
  ]);
  const build = async (tag: string, what: string, context: Uint8Array | null) => {
    if (context === null) return;
    progress.step("build", `building image ${tag} (${what})`);
    const started = performance.now();
    await docker.buildImage(context, tag, { [LAB_LABEL]: "1" });
    progress.step("build", `built ${tag} in ${Math.round(performance.now() - started)} ms`);
  };
  await Promise.all([
    build(endpoint, "static tcplab from containers/endpoint", endpointContext),
    build(capture, "tcpdump and its libraries from this host", captureContext),
  ]);
  return {
    endpoint,
    capture,
    ids: { endpoint: await docker.imageId(endpoint), capture: await docker.imageId(capture) },
  };
}

function rootFiles(tcplab: Uint8Array): TarEntry[] {
  const text = new TextEncoder();
  return [
    { path: "rootfs/tcplab", data: tcplab, mode: 0o755 },
    {
      path: "rootfs/etc/passwd",
      data: text.encode("root:x:0:0:root:/:/tcplab\nnobody:x:65534:65534:nobody:/:/tcplab\n"),
      mode: 0o644,
    },
    { path: "rootfs/etc/group", data: text.encode("root:x:0:\nnogroup:x:65534:\n"), mode: 0o644 },
  ];
}

async function compileEndpoint(source: Uint8Array): Promise<Uint8Array> {
  const dir = await Deno.makeTempDir({ prefix: "tcplab-build-" });
  try {
    const input = `${dir}/tcplab.c`;
    const output = `${dir}/tcplab`;
    await Deno.writeFile(input, source);
    const result = await runProgram(
      "gcc",
      ["-static", "-O2", "-Wall", "-Wextra", "-o", output, input],
      "apt-get install -y gcc libc6-dev",
    );
    if (!result.success) {
      throw new LabEnvironmentError(
        `Cannot compile containers/endpoint/tcplab.c: ${
          result.stderr.trim().split("\n").slice(-3).join(" / ")
        }`,
        "install a C compiler with a static libc (apt-get install -y gcc libc6-dev)",
      );
    }
    return await Deno.readFile(output);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function captureFiles(tcpdump: string, libraries: string[]): Promise<TarEntry[]> {
  const text = new TextEncoder();
  const entries: TarEntry[] = [
    { path: "rootfs/usr/bin/tcpdump", data: await Deno.readFile(tcpdump), mode: 0o755 },
    {
      path: "rootfs/etc/passwd",
      data: text.encode(
        `root:x:0:0:root:/:/usr/bin/tcpdump\ntcpdump:x:${CAPTURE_UID}:${CAPTURE_UID}::/cap:/usr/bin/tcpdump\n`,
      ),
      mode: 0o644,
    },
    {
      path: "rootfs/etc/group",
      data: text.encode(`root:x:0:\ntcpdump:x:${CAPTURE_UID}:\n`),
      mode: 0o644,
    },
    // tcpdump writes here after dropping privileges; a volume mounted here copies this ownership.
    { path: "rootfs/cap", mode: 0o755, uid: CAPTURE_UID, gid: CAPTURE_UID },
  ];
  for (const library of libraries) {
    entries.push({
      path: `rootfs${library}`,
      data: await Deno.readFile(library),
      mode: 0o755,
    });
  }
  return entries;
}

/** The shared libraries a dynamic program needs, as ldd lists them (the loader included). */
async function sharedLibraries(program: string): Promise<string[]> {
  const result = await runProgram("ldd", [program], "apt-get install -y libc-bin");
  if (!result.success) {
    throw new LabEnvironmentError(
      `Cannot list the libraries of ${program}: ${result.stderr.trim()}`,
      "check that tcpdump is a working dynamic executable (apt-get install --reinstall tcpdump)",
    );
  }
  const paths = new Set<string>();
  for (const line of result.stdout.split("\n")) {
    const m = /(?:=>\s*)?(\/\S+)\s+\(0x/.exec(line);
    if (m) paths.add(m[1]!);
  }
  return [...paths];
}

/** Folders where older Debian releases put tcpdump, often not on a user's PATH. */
const SBIN_DIRS = ["/usr/local/sbin", "/usr/sbin", "/sbin"];

/**
 * Find a program on PATH. When it is not there, the error says so, and
 * names the sbin folder that holds it if one does.
 */
async function findProgram(name: string, install: string): Promise<string> {
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
        `Cannot build the capture image: ${name} is not on PATH (it is in ${dir}, which is not on PATH)`,
        `add ${dir} to PATH (export PATH="$PATH:${dir}")`,
      );
    }
  }
  throw new LabEnvironmentError(
    `Cannot build the capture image: ${name} is not on PATH`,
    `install it (${install}) and make sure its folder is on PATH`,
  );
}

async function runProgram(
  name: string,
  args: string[],
  install: string,
): Promise<{ success: boolean; stdout: string; stderr: string }> {
  try {
    const out = await new Deno.Command(name, { args, stdout: "piped", stderr: "piped" }).output();
    const decoder = new TextDecoder();
    return {
      success: out.success,
      stdout: decoder.decode(out.stdout),
      stderr: decoder.decode(out.stderr),
    };
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new LabEnvironmentError(
        `Cannot build the lab's images: ${name} is not installed`,
        `install it (${install})`,
        { cause: error },
      );
    }
    throw error;
  }
}

async function shortHash(...parts: Array<string | Uint8Array>): Promise<string> {
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
