/**
 * Runs the lab itself recorded in real containers, kept in tests/testdata/runs/
 * (pcaps and raw evidence; see tests/testdata/runs/README.md).
 *
 * @module
 */

import { loadArtifacts } from "../lab/session/run_files.ts";
import type { RunArtifacts } from "../lab/evidence/artifacts.ts";

/** The folder of a recorded run. */
export function recordedRunDir(name: string): string {
  return new URL(`./testdata/runs/${name}`, import.meta.url).pathname;
}

/** The artifacts of a run the lab recorded. */
export function recordedRun(name: string): Promise<RunArtifacts> {
  return loadArtifacts(recordedRunDir(name));
}
