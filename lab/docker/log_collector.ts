/**
 * A container's output as it arrives, and waiting for a line in it.
 *
 * @module
 */

import { LogTimeoutError } from "../errors.ts";

/** Which output stream a chunk came from. */
export type StreamName = "stdout" | "stderr";

/** Collects a container's stdout and stderr; lets callers wait for text in them. */
export class LogCollector {
  #text: Record<StreamName, string> = { stdout: "", stderr: "" };
  #decoders = { stdout: new TextDecoder(), stderr: new TextDecoder() };
  #closed = false;
  #waiters = new Set<() => void>();

  /** Add a chunk of output. */
  append(stream: StreamName, chunk: Uint8Array): void {
    this.#text[stream] += this.#decoders[stream].decode(chunk, { stream: true });
    this.#wake();
  }

  /** The output ended (the container exited and its log was read to the end). */
  close(): void {
    this.#closed = true;
    this.#wake();
  }

  /** Resolves once the output has ended. */
  ended(): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        if (!this.#closed) return;
        this.#waiters.delete(check);
        resolve();
      };
      this.#waiters.add(check);
      check();
    });
  }

  text(stream: StreamName): string {
    return this.#text[stream];
  }

  /**
   * Wait until `test` holds for the text of `stream`, the output ends, or
   * `timeoutMs` passes. Rejects with a message naming `what` when the text
   * never came.
   */
  waitFor(
    stream: StreamName,
    test: (text: string) => boolean,
    timeoutMs: number,
    what: string,
  ): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (test(this.#text[stream])) {
          finish();
          resolve();
        } else if (this.#closed) {
          finish();
          reject(new LogTimeoutError(`${what}: the container's output ended without it${this.#tail()}`));
        }
      };
      const finish = () => {
        clearTimeout(timer);
        this.#waiters.delete(check);
      };
      const timer = setTimeout(() => {
        finish();
        reject(new LogTimeoutError(`${what}: not seen within ${timeoutMs} ms${this.#tail()}`));
      }, timeoutMs);
      this.#waiters.add(check);
      check();
    });
  }

  /** The last lines the container printed, to quote in an error. */
  #tail(): string {
    const lines = (this.#text.stderr + this.#text.stdout).trim().split("\n").slice(-3).join(" / ");
    return lines ? ` (it printed: ${lines})` : "";
  }

  #wake(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }
}
