/**
 * The one cleanup context for tests: what a helper that starts something (a server, a process, a
 * temp directory) needs in order to stop it when the test or suite ends.
 */

/** The part of node:test's TestContext these helpers need: register a step that runs when the test ends. */
export interface CleanupContext {
  after(fn: () => Promise<void> | void): void;
}

/** A cleanup context for a whole file or `describe` block; call `run()` from node:test's `after`. */
export interface SuiteCleanup extends CleanupContext {
  run(): Promise<void>;
}

/**
 * A cleanup context for suite-level setup, whose hooks get no `after` of their own: register with
 * `.after(fn)` and call `run()` from node:test's `after`. Steps run newest first, like `t.after`;
 * every step runs even if an earlier one fails, and the failures are thrown together at the end.
 */
export function suiteCleanup(): SuiteCleanup {
  const steps: Array<() => Promise<void> | void> = [];
  return {
    after: (fn) => void steps.push(fn),
    run: async () => {
      const errors: unknown[] = [];
      for (const step of steps.splice(0).reverse()) {
        try {
          await step();
        } catch (err) {
          errors.push(err);
        }
      }
      if (errors.length === 1) throw errors[0];
      if (errors.length > 1) throw new AggregateError(errors, `${errors.length} cleanup steps failed`);
    },
  };
}
