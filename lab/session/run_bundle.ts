/**
 * A run as one file to attach to a ticket: `<run folder>.tar.gz`, holding
 * the run's report.md and result.json, the scenario it ran (scenario.yaml), its
 * evidence folder, and capture.pcapng (every capture in one file, the
 * programs' calls and the kernel's notes as packet comments: see
 * lab/report/merged_capture.ts). It unpacks into a folder named as the
 * run's. The separate pcaps stay out: capture.pcapng holds every record of
 * them all.
 *
 * @module
 */

import { joinCaptures } from "../analysis/joined_capture.ts";
import { mergeCaptures } from "../report/merged_capture.ts";
import { type Side, SIDES } from "../scenario/types.ts";
import { gzip, makeTar, type TarEntry } from "../util/tar.ts";
import type { RunResult } from "../verdict/types.ts";

/** The merged capture's name inside a bundle. */
export const BUNDLE_CAPTURE = "capture.pcapng";

/**
 * Write the bundle of the run saved in `dir` (its report, result and
 * scenario.yaml already written) and return its path.
 */
export async function saveBundle(dir: string, result: RunResult): Promise<string> {
  const root = dir.replace(/\/+$/, "");
  const base = root.slice(root.lastIndexOf("/") + 1);
  const mtime = Math.floor(Date.parse(result.startedAt) / 1000) || 0;
  const file = (path: string, data: Uint8Array): TarEntry => ({
    path: `${base}/${path}`,
    data,
    mode: 0o644,
    mtime,
  });
  const folder = (path: string): TarEntry => ({ path: `${base}/${path}`, mode: 0o755, mtime });

  // A restarted side's capture is its first namespace's, then its fresh one's.
  const capture = async (side: Side) => {
    const { file, restartedFile } = result.captures[side];
    const first = await _readIfThere(`${root}/${file}`);
    const fresh = restartedFile ? await _readIfThere(`${root}/${restartedFile}`) : null;
    return first && fresh ? joinCaptures(first, fresh) : first;
  };
  const captures = Object.fromEntries(
    await Promise.all(SIDES.map(async (side) => [side, await capture(side)])),
  ) as Record<Side, Uint8Array | null>;
  const middlebox = result.captures.middlebox;
  const points = middlebox
    ? { ...captures, middlebox: await _readIfThere(`${root}/${middlebox.file}`) }
    : captures;
  const evidence = [...Deno.readDirSync(`${root}/evidence`)].filter((e) => e.isFile).map((e) => e.name)
    .sort();

  const entries: TarEntry[] = [
    folder(""),
    file("report.md", await Deno.readFile(`${root}/report.md`)),
    file("result.json", await Deno.readFile(`${root}/result.json`)),
    file("scenario.yaml", await Deno.readFile(`${root}/scenario.yaml`)),
    file(BUNDLE_CAPTURE, mergeCaptures(result, points, `tcplab ${result.version}`)),
    folder("evidence"),
    ...await Promise.all(
      evidence.map(async (name) => file(`evidence/${name}`, await Deno.readFile(`${root}/evidence/${name}`))),
    ),
  ];
  const path = `${root}.tar.gz`;
  await Deno.writeFile(path, await gzip(makeTar(entries)));
  return path;
}

async function _readIfThere(path: string): Promise<Uint8Array | null> {
  try {
    return await Deno.readFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}
