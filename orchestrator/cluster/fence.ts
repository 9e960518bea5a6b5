/**
 * Fencing: what the leader's side effects carry so that a deposed leader's late action is refused.
 * A `Fence` is handed to the singleton duties when this process is elected (cluster/leadership.ts);
 * it names the term they run under and says, by this process's own monotonic clock and without any
 * I/O, whether the lease may still be held. Database writes made with a fence also check the term
 * stored in libSQL (store/leader-term.ts), which each new leader raises on election.
 */

/** What a leader's side effect carries: its term, and a local check that the lease is still held. */
export interface Fence {
  /** The fencing token: the lease revision this process was elected at (monotonic across holders). */
  readonly term: number;
  /**
   * Throws NotLeaderError unless this process still leads under `term` and its last successful
   * renewal is recent enough (monotonic clock, so a paused-then-resumed leader fails here before
   * it touches anything). No I/O: call it right before every side effect.
   */
  check(): void;
}

/** This process does not lead (any more): it was deposed, its lease lapsed, or it never led. */
export class NotLeaderError extends Error {
  override readonly name = "NotLeaderError";
}

/** The database holds a newer term than the write's fence: a newer leader was elected; nothing was written. */
export class FencedError extends Error {
  override readonly name = "FencedError";
  constructor(
    readonly term: number,
    readonly storedTerm: number | null,
  ) {
    super(`write fenced: it runs under leader term ${term}, the database is at term ${storedTerm ?? "none"}`);
  }
}

/** True for the errors that mean "stop acting: another process leads now". */
export function isDeposedError(err: unknown): err is NotLeaderError | FencedError {
  return err instanceof NotLeaderError || err instanceof FencedError;
}
