/**
 * A matrix of runs: scenarios by (Docker host x sysctl variant).
 *
 * @module
 */

/** One column: a Docker host with one combination of sysctls. */
export interface MatrixColumn {
  /** The host as the user named it: "unix:///var/run/docker.sock", "ssh://lab@box"... */
  host: string;
  /** Sysctls applied to both sides' namespaces in this column (empty: the host's defaults). */
  variant: Record<string, string>;
  /** What the engine said of itself; null when it could not be reached. */
  kernel: string | null;
  dockerVersion: string | null;
  arch: string | null;
  /**
   * "ok", or why this column has no results: unreachable, refused (another architecture), failed midway,
   * or broken (no capture saw a handshake in any of its runs: the lab's own path was broken).
   */
  status: "ok" | "unreachable" | "refused" | "failed" | "broken";
  problem: string | null;
  /** Whether the kernel's RST reasons could be read for this host (tracefs on this machine). */
  traceAvailable: boolean;
}

/** One scenario in one column. */
export interface MatrixCell {
  scenario: string;
  column: number;
  /**
   * "ok" when the run happened and measured the kernel; "broken" when it ran but no capture saw a
   * handshake (the lab's own path was broken); "lacking" when it was not run because its path needs
   * what the host's kernel lacks (the problem names the options); otherwise the column's problem.
   */
  status: "ok" | "unreachable" | "refused" | "failed" | "broken" | "lacking";
  problem: string | null;
  state: string | null;
  resetBy: string | null;
  cause: string | null;
  /** The kernel's RST reasons; null when they are unavailable (never a difference). */
  resetReasons: string[] | null;
  met: boolean | null;
  /** The run's report, relative to the matrix's folder. */
  report: string | null;
  /** The command that runs this cell alone (its host, its column's sysctls); null when it did not run. */
  reproduce: string | null;
}

/** A scenario whose outcome differs between columns, and how. */
export interface MatrixDifference {
  scenario: string;
  /** The fields that differ: state, resetBy, cause, resetReasons. */
  fields: string[];
  /** The difference in words. */
  text: string;
}

/** What matrix.json holds. */
export interface Matrix {
  scenarios: string[];
  columns: MatrixColumn[];
  cells: MatrixCell[];
  differences: MatrixDifference[];
  /** Whether every column ran, and every cell in it (exit code 3 when not). */
  complete: boolean;
}
