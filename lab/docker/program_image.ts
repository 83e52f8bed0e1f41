/**
 * The image of a program from this host, without a Dockerfile of the
 * user's: FROM scratch, the binary, the shared libraries ldd lists, the
 * scenario's `files`, empty folders where `writable` tmpfs are mounted, and
 * this host's strace with its libraries and a folder for its log (strace runs
 * the program as its child and logs its system calls; a host without strace
 * gets an image without it, and the program runs untraced). Tagged by a hash
 * of its inputs, so a second run builds nothing; nothing is pulled.
 *
 * The checks (lab/run/host_programs.ts makes them before a run creates
 * anything): a binary that is missing, not executable or not for this
 * machine, or a file that is missing, is the user's to fix (exit 2, one line).
 *
 * @module
 */

import { UsageError } from "../errors.ts";
import { makeTar, type TarEntry } from "../util/tar.ts";
import type { Progress } from "../util/progress.ts";
import type { DockerClient } from "./client.ts";
import { fileStamps, findProgram, hostFiles, sharedLibraries, shortHash } from "./images.ts";
import { LAB_LABEL } from "./labels.ts";
import { STRACE_IN_IMAGE, STRACE_LOG_DIR } from "./image_layout.ts";

/** Bump when the way a program's image is assembled changes. */
const RECIPE_VERSION = "3";

/** What a program's image is made of (a scenario's HostProgram). */
export interface ProgramFiles {
  /** The binary's absolute path on this host. */
  binary: string;
  /** Path in the image -> path on this host (relative ones start from the scenario's folder). */
  files?: Record<string, string>;
  /** Empty folders, where tmpfs are mounted. */
  writable?: string[];
  /** false: no strace in the image (`trace: false`). */
  trace?: boolean;
}

/** A program's image on the engine. */
export interface ProgramImage {
  tag: string;
  id: string;
  /** Its size in bytes. */
  size: number;
  /** Whether it holds strace (with its log's folder); false: `trace: false`, or no strace on this host. */
  strace: boolean;
}

/** What goes into a program's image: [path on this host, path in the image]. */
export interface ProgramInputs {
  files: Array<[string, string]>;
  /** Empty folders (tmpfs mount points). */
  folders: string[];
  /** Whether strace is among the files; false: `trace: false`, or this host has no strace. */
  strace: boolean;
}

/** ELF machine numbers of the architectures Deno runs on. */
const ELF_MACHINES: Record<string, number> = { x86_64: 62, aarch64: 183 };

/**
 * Why the first bytes of a file are not a program for `arch` (Deno.build.arch), or null when they are.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const elf = (machine: number) => new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, machine, 0]);
 * assert.equal(elfProblem(elf(62), "x86_64"), null);
 * assert.match(elfProblem(elf(183), "x86_64")!, /ELF machine 183, not x86_64/);
 * assert.match(elfProblem(new TextEncoder().encode("#!/bin/sh\n"), "x86_64")!, /not an ELF binary/);
 * ```
 */
export function elfProblem(header: Uint8Array, arch: string): string | null {
  const magic = header[0] === 0x7f && header[1] === 0x45 && header[2] === 0x4c && header[3] === 0x46;
  if (!magic || header.length < 20) {
    return "it is not an ELF binary (a script needs its interpreter: use an image)";
  }
  const machine = header[5] === 2 ? (header[18]! << 8) | header[19]! : header[18]! | (header[19]! << 8);
  const expected = ELF_MACHINES[arch];
  if (expected !== undefined && machine !== expected) return `it is for ELF machine ${machine}, not ${arch}`;
  return null;
}

/**
 * Check a host program and list its image's files (its libraries and strace's included). A host
 * without strace is no error: the image is made without it, and the program runs untraced.
 */
export async function programInputs(
  program: ProgramFiles,
  side: string,
  folder: string,
): Promise<ProgramInputs> {
  const what = `The ${side}'s program ${program.binary}`;
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(program.binary);
  } catch (error) {
    throw new UsageError(
      `${what} does not exist on this host`,
      "install it, or correct `binary:` in the scenario",
      { cause: error },
    );
  }
  if (!info.isFile || ((info.mode ?? 0) & 0o111) === 0) {
    throw new UsageError(`${what} is not an executable file`, "give the path of an executable in `binary:`");
  }
  const file = await Deno.open(program.binary);
  const header = new Uint8Array(20);
  try {
    await file.read(header);
  } finally {
    file.close();
  }
  const problem = elfProblem(header, Deno.build.arch);
  if (problem) {
    throw new UsageError(`${what} cannot run here: ${problem}`, "give a binary of this machine in `binary:`");
  }

  const files: Array<[string, string]> = [[program.binary, program.binary]];
  for (const [inImage, given] of Object.entries(program.files ?? {})) {
    const onHost = given.startsWith("/") ? given : `${folder}/${given}`;
    try {
      if (!(await Deno.stat(onHost)).isFile) throw new Deno.errors.NotFound(onHost);
    } catch (error) {
      throw new UsageError(
        `The ${side}'s file ${inImage} cannot be copied: ${given} is not a file on this host`,
        "create it, or correct `files:` in the scenario",
        { cause: error },
      );
    }
    files.push([onHost, inImage]);
  }
  const reinstall = `reinstall the package that holds ${program.binary}`;
  for (const library of await sharedLibraries(program.binary, reinstall)) files.push([library, library]);
  const strace = program.trace === false
    ? null
    : await findProgram("strace", "apt-get install -y strace").catch(() => null);
  if (strace !== null) {
    files.push([strace, STRACE_IN_IMAGE]);
    for (const library of await sharedLibraries(strace, "apt-get install --reinstall strace")) {
      files.push([library, library]);
    }
  }
  // One copy of each path in the image: the first (the binary, then the scenario's files) wins.
  const unique = new Map<string, [string, string]>();
  for (const [from, to] of files) if (!unique.has(to)) unique.set(to, [from, to]);
  return { files: [...unique.values()], folders: program.writable ?? [], strace: strace !== null };
}

/**
 * Make sure a host program's image exists, building it when it is missing.
 */
export async function ensureProgramImage(
  docker: DockerClient,
  program: ProgramFiles,
  side: string,
  folder: string,
  progress: Progress,
): Promise<ProgramImage> {
  const inputs = await programInputs(program, side, folder);
  const dockerfile = new TextEncoder().encode(
    `# A program of the host the lab ran on, its libraries and files${
      inputs.strace ? ", and strace" : ""
    }.\n` +
      "FROM scratch\nCOPY rootfs/ /\nUSER 65534:65534\n",
  );
  const name = program.binary.split("/").pop()!.toLowerCase().replace(/[^a-z0-9_.-]/g, "-");
  const tag = `tcplab-program-${name}:${await shortHash(
    RECIPE_VERSION,
    dockerfile,
    inputs.files.map(([from, to]) => `${to}<-${fileStamps([from])}`).join("\n"),
    inputs.folders.join("\n"),
    inputs.strace ? STRACE_LOG_DIR : "",
  )}`;
  if (!(await docker.imageExists(tag))) {
    // World-writable with the sticky bit, as /tmp: Docker gives the tmpfs mounted there the folder's
    // mode, and the program runs as 65534.
    const folders: TarEntry[] = inputs.folders.map((path) => ({ path: `rootfs${path}`, mode: 0o1777 }));
    // strace's log folder: COPY makes root its owner, so it is writable by all (sticky, as /tmp);
    // a new volume mounted there takes its mode.
    if (inputs.strace) folders.push({ path: `rootfs${STRACE_LOG_DIR}`, mode: 0o1777 });
    const context = makeTar([
      { path: "Dockerfile", data: dockerfile, mode: 0o644 },
      ...folders,
      ...await hostFiles(inputs.files),
    ]);
    progress.step(
      "build",
      `building image ${tag} (${program.binary}, its libraries and files${inputs.strace ? ", strace" : ""})`,
    );
    await docker.buildImage(context, tag, { [LAB_LABEL]: "1" });
  }
  return { tag, id: await docker.imageId(tag), size: await docker.imageSize(tag), strace: inputs.strace };
}
