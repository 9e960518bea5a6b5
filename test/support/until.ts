/**
 * The one polling helper for tests: wait until a condition holds, without fixed sleeps. Use it
 * where there is no event to await (a row in the store, a file on disk, a process gone); prefer
 * awaiting the event itself where there is one.
 */

/** Thrown when `until` gives up; tests that want to add context catch this class. */
export class UntilTimeoutError extends Error {
  override readonly name = "UntilTimeoutError";
  constructor(
    readonly what: string,
    readonly timeoutMs: number,
  ) {
    super(`timed out after ${timeoutMs} ms waiting for ${what}`);
  }
}

/**
 * Calls `check` every `everyMs` until it returns something other than `undefined`, and returns
 * that value; throws `UntilTimeoutError` after `timeoutMs`. An error thrown by `check` ends the
 * wait at once (so a check can fail fast, e.g. when the process it waits on has exited).
 */
export async function until<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 60_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new UntilTimeoutError(what, timeoutMs);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
