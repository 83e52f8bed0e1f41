/**
 * Progress lines on stderr while the lab works, quiet when asked or when
 * stderr is not a terminal.
 *
 * @module
 */

/** Where the lab says what it is doing. */
export interface Progress {
  /** One line about a phase: build, start, capture, run, collect, analyse, clean. */
  step(phase: string, message: string): void;
}

/** Progress that writes nothing. */
export const silentProgress: Progress = { step() {} };

/** Progress on stderr with the time since start, e.g. `[  0.42s] start  server listening`. */
export function stderrProgress(prefix = ""): Progress {
  const started = performance.now();
  const encoder = new TextEncoder();
  return {
    step(phase, message) {
      const seconds = ((performance.now() - started) / 1000).toFixed(2).padStart(6);
      Deno.stderr.writeSync(
        encoder.encode(`[${seconds}s] ${prefix}${phase.padEnd(8)} ${message}\n`),
      );
    },
  };
}
