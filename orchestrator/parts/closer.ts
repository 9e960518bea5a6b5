/**
 * The shutdown steps of what a part opened, run in reverse order. Each part of the orchestrator
 * (orchestrator/parts/*-part.ts) fills one while it opens things, so a part that fails half way
 * closes what it had opened, and a part that succeeds hands back one `close`.
 */
import type { Logger } from "../log.ts";

export type CloseStep = () => Promise<void> | void;

export class Closer {
  readonly #steps: CloseStep[] = [];

  constructor(private readonly log: Logger) {}

  /** Registers the step that undoes what was just opened. */
  add(step: CloseStep): void {
    this.#steps.push(step);
  }

  /** Runs every step, newest first; a failing step is logged and the rest still run. */
  readonly close = async (): Promise<void> => {
    for (const step of this.#steps.splice(0).reverse()) {
      try {
        await step();
      } catch (err) {
        this.log.warn("shutdown step failed", { error: err });
      }
    }
  };

  /** Runs `open`; if it throws, closes what it had registered and rethrows. */
  async guard<T>(open: () => Promise<T>): Promise<T> {
    try {
      return await open();
    } catch (err) {
      await this.close();
      throw err;
    }
  }
}
