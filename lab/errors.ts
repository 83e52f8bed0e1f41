/**
 * The lab's own error classes, all in one place, for the conditions that a
 * caller catches. This module imports nothing, so that the entry point can
 * tell the errors apart with `instanceof` without loading Docker code.
 *
 * Bad input elsewhere gets a built-in error (SyntaxError, TypeError,
 * RangeError); the scenario parser and the capture reader keep their own
 * parse errors beside their grammars.
 *
 * @module
 */

/** Bad input from the user: a message, what to do, exit code 2. */
export class UsageError extends Error {
  /** What the user can do about it, in one line. */
  readonly hint: string;
  /** `hint`: what the user can do about it. */
  constructor(message: string, hint: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "UsageError";
    this.hint = hint;
  }
}

/** A failure of the environment the lab runs in, with what to do about it. */
export class LabEnvironmentError extends Error {
  /** What the user can do about it, in one line. */
  readonly hint: string;
  /** `hint`: what the user can do about it; `cause`: the failure it explains. */
  constructor(message: string, hint: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "LabEnvironmentError";
    this.hint = hint;
  }
}

/** Thrown when a run was interrupted; what it created has been removed. */
export class RunInterrupted extends Error {
  /** What the run had collected when it was interrupted, by file name (logs, snapshots, pcaps). */
  collected: Record<string, string | Uint8Array> = {};
  /** `message` says where the run was interrupted. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "RunInterrupted";
  }
}

/** A phase of a run that did not finish in its time. */
export class PhaseTimeout extends Error {
  /** `message` names the phase and its bound. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "PhaseTimeout";
  }
}

/** Thrown when what was awaited in a container's output never came. */
export class LogTimeoutError extends Error {
  /** `message` names what was awaited. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "LogTimeoutError";
  }
}

/** A volume, network or container could not be removed because something still uses it. */
export class ResourceInUseError extends Error {
  /** `cause`: the engine's refusal, when there was one. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ResourceInUseError";
  }
}

/** The engine accepted the connection but did not answer in time. */
export class EngineSilentError extends Error {
  /** The message is always "no answer": the error that wraps it says how long the lab waited. */
  constructor() {
    super("no answer");
    this.name = "EngineSilentError";
  }
}

/** A scenario name that is neither in the catalog nor a readable file. */
export class UnknownScenarioError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "UnknownScenarioError";
  }
}
