/**
 * Per-action rate limits of the local Machines API, shaped like Fly's: about 1 request/s per
 * action per machine with bursts of 3, and 5/s with bursts of 10 for reads of a machine (and,
 * here, of the list). A refused request gets 429 with Retry-After in whole seconds, so the
 * client's 429 path runs in every local run and test, not only against Fly.
 */

export interface ApiRateLimits {
  /** Sustained requests per second per action per machine (create, start, stop, wait, destroy, events). */
  perSec: number;
  burst: number;
  /** The same for `GET` of one machine and the machine list. */
  getPerSec: number;
  getBurst: number;
}

/** Fly's published numbers; the local runtime's default. */
export const FLY_RATE_LIMITS: Readonly<ApiRateLimits> = { perSec: 1, burst: 3, getPerSec: 5, getBurst: 10 };

/** The actions the routes name; `get` and `list` use the read limits. */
export type ApiAction = "list" | "create" | "get" | "wait" | "start" | "stop" | "destroy" | "events";

interface Bucket {
  tokens: number;
  at: number;
}

/** Beyond this many buckets, full ones are forgotten (a full bucket is the same as no bucket). */
const MAX_BUCKETS = 10_000;

/** Token buckets keyed by action and machine id (the app for list and create). */
export class ActionRateLimiter {
  readonly #limits: ApiRateLimits;
  readonly #now: () => number;
  readonly #buckets = new Map<string, Bucket>();

  constructor(limits: ApiRateLimits, now: () => number = () => performance.now()) {
    this.#limits = limits;
    this.#now = now;
  }

  /** Takes one request's token: undefined when allowed, else the whole seconds to wait before retrying. */
  take(action: ApiAction, machineId = ""): number | undefined {
    const read = action === "get" || action === "list";
    const rate = read ? this.#limits.getPerSec : this.#limits.perSec;
    const burst = read ? this.#limits.getBurst : this.#limits.burst;
    const key = `${action}:${machineId}`;
    const now = this.#now();
    const bucket = this.#buckets.get(key) ?? { tokens: burst, at: now };
    bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) / 1000) * rate);
    bucket.at = now;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      this.#buckets.set(key, bucket);
      if (this.#buckets.size > MAX_BUCKETS) this.#forgetFull(now);
      return undefined;
    }
    this.#buckets.set(key, bucket);
    return Math.max(1, Math.ceil((1 - bucket.tokens) / rate));
  }

  #forgetFull(now: number): void {
    for (const [key, bucket] of this.#buckets) {
      const read = key.startsWith("get:") || key.startsWith("list:");
      const rate = read ? this.#limits.getPerSec : this.#limits.perSec;
      const burst = read ? this.#limits.getBurst : this.#limits.burst;
      if (bucket.tokens + ((now - bucket.at) / 1000) * rate >= burst) this.#buckets.delete(key);
    }
  }
}
