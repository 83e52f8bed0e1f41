/**
 * `--pause-at MOMENT`: hold every run at one of its named moments until
 * Enter is pressed, so that its containers and captures can be looked at
 * (or disturbed) by hand; SIGINT/SIGTERM still stop it there.
 *
 * @module
 */

import type { RunMoment } from "./moments.ts";

/**
 * A run's `at` callback that pauses at `moment`: it says so on stderr and
 * waits for a line on stdin, or for `signal` to abort. With stdin closed it
 * waits for the signal alone.
 */
export function pauseAt(
  moment: RunMoment,
  signal: AbortSignal,
  say: (line: string) => void,
): (reached: RunMoment, runId: string) => Promise<void> {
  let lines: ReadableStreamDefaultReader<Uint8Array> | null = null;
  return async (reached, runId) => {
    if (reached !== moment) return;
    say(`paused at "${moment}" (run ${runId}): press Enter to go on, Ctrl-C to stop here`);
    lines ??= Deno.stdin.readable.getReader();
    const reader = lines;
    const enter = (async () => {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return new Promise<void>(() => {}); // stdin closed: only a signal ends the pause
        if (value.includes(10)) return;
      }
    })();
    const stopped = new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      signal.addEventListener("abort", () => resolve(), { once: true });
    });
    await Promise.race([enter, stopped]);
  };
}
