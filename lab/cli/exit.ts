/**
 * The lab's exit codes, the same for every command. The errors that lead
 * to them are in lab/errors.ts.
 *
 * @module
 */

/** Exit codes. */
export const EXIT = {
  /** Done, and every expectation was met. */
  ok: 0,
  /** An expectation was not met. */
  expectationNotMet: 1,
  /** Bad input, or a failure of the lab or its environment. */
  failure: 2,
  /** A multi-host run left incomplete. */
  incomplete: 3,
  /** Interrupted by SIGINT. */
  sigint: 130,
  /** Interrupted by SIGTERM. */
  sigterm: 143,
} as const;
