/**
 * When to try a failed download again: a pure decision from the episode's retry state, the
 * failure and `now`, so it is tested as a table of cases. Exponential back-off with equal jitter
 * (half the delay fixed, half random: retries of many episodes hit by one CDN outage spread out,
 * yet none comes back at once), never sooner than the server's Retry-After, and only while the
 * next try still falls inside the window that began at the first failure. Past the window the
 * episode fails with the last reason.
 */

export interface FetchRetryPolicy {
  /** Retries stop once the next one would start later than this after the first failure; 0 = never retry. */
  windowMs: number;
  /** Delay before the first retry; doubled each time, up to `maxDelayMs`. */
  baseDelayMs: number;
  maxDelayMs: number;
}

/** One retry is never put off longer than this (a long window means more tries, not longer waits). */
export const MAX_FETCH_RETRY_DELAY_MS = 15 * 60 * 1000;

export interface FetchRetryState {
  /** Transient failures before this one, in the current round. */
  attempts: number;
  /** When the first of them happened; null when this is the first. */
  firstFailedAt: number | null;
}

export interface TransientFailure {
  message: string;
  /** The server's Retry-After, in ms: the least the next try waits. */
  retryAfterMs?: number | undefined;
}

export type FetchRetryDecision =
  | { kind: "retry"; attempts: number; firstFailedAt: number; at: number }
  | { kind: "give_up"; attempts: number; firstFailedAt: number; message: string };

export function decideFetchRetry(
  policy: FetchRetryPolicy,
  state: FetchRetryState,
  failure: TransientFailure,
  now: number,
  random: () => number = Math.random,
): FetchRetryDecision {
  const attempts = state.attempts + 1;
  const firstFailedAt = state.firstFailedAt ?? now;
  const full = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.min(attempts - 1, 40));
  let delay = full / 2 + (random() * full) / 2;
  if (failure.retryAfterMs !== undefined && failure.retryAfterMs > delay) delay = failure.retryAfterMs;
  const at = Math.ceil(now + delay);
  if (policy.windowMs <= 0 || at - firstFailedAt > policy.windowMs) {
    const message = `gave up after ${attempts} ${attempts === 1 ? "attempt" : "attempts"} over ${minutes(now - firstFailedAt)} min: ${failure.message}`;
    return { kind: "give_up", attempts, firstFailedAt, message };
  }
  return { kind: "retry", attempts, firstFailedAt, at };
}

function minutes(ms: number): string {
  const m = ms / 60_000;
  return m >= 10 ? String(Math.round(m)) : String(Math.round(m * 10) / 10);
}
