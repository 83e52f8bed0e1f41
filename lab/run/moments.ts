/**
 * The moments of a run, by name: what `--pause-at` and the fault tests
 * name. Apart from the run so that the help text can list them without
 * loading Docker code.
 *
 * @module
 */

/**
 * The named moments of a run, in order: where it reports progress, where a
 * caller may pause it (`--pause-at`), and where an interruption is checked.
 * A moment is `PHASE` (its start) or `PHASE:WHAT` (a point inside it).
 */
export const RUN_MOMENTS = [
  /** Before the engine's answer and the images are awaited (the network is being made). */
  "build",
  /** The network and the capture volumes exist; the namespace holders are about to be made. */
  "start",
  /** The holders are started: each takes its "before" snapshot while tcpdump starts. */
  "start:holders",
  /** The holders took their snapshots; tcpdump is starting in both namespaces. */
  "capture",
  /** Both captures listen; the server program is about to begin. */
  "run",
  /** The server listens; the client is about to begin. */
  "run:client",
  /** Both programs are running; the run waits for them to exit. */
  "run:programs",
  /** The programs exited: the last snapshots, and tcpdump to write its last packets. */
  "flush",
  /** The captures stopped; the pcaps are about to be fetched. */
  "collect",
  /** Everything collected (or the run failed); what the run made is about to be removed. */
  "clean",
] as const;

/** One of RUN_MOMENTS. */
export type RunMoment = typeof RUN_MOMENTS[number];
