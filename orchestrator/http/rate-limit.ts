/**
 * Per-client token buckets for the endpoints anyone can hit (episode submission and webhook
 * hooks): each key holds up to `burst` tokens, refilled at `perMinute` per minute; a request
 * with no token left gets 429 with Retry-After (whole seconds until one token is back).
 * The clock is injected so tests step time instead of sleeping.
 */
import type { Context, MiddlewareHandler } from "hono";
import { ApiError } from "./api-error.ts";
import { clientAddressFor, type TrustProxy } from "./client-address.ts";

export interface RateLimitOptions {
  /** Sustained requests per minute per key; 0 turns limiting off. */
  perMinute: number;
  /** Requests allowed back to back before the rate applies. */
  burst: number;
  /** Milliseconds since some epoch; default Date.now. */
  now?: () => number;
  /** Buckets kept at most; the least recently used are dropped beyond it (default 10 000). */
  maxKeys?: number;
  /** Whose forwarding headers name the client (http/client-address.ts); default none: the socket address. */
  trustProxy?: TrustProxy;
}

export type TakeResult = { ok: true } | { ok: false; retryAfterSec: number };

interface Bucket {
  tokens: number;
  at: number;
}

/** The bucket arithmetic, apart from HTTP, so it is tested as a table. */
export class TokenBuckets {
  readonly #buckets = new Map<string, Bucket>();
  readonly #now: () => number;
  readonly #ratePerMs: number;
  readonly #maxKeys: number;

  constructor(private readonly opts: RateLimitOptions) {
    this.#now = opts.now ?? Date.now;
    this.#ratePerMs = opts.perMinute / 60_000;
    this.#maxKeys = opts.maxKeys ?? 10_000;
  }

  /** Takes one token for `key`, or says how long until one is back. */
  take(key: string): TakeResult {
    if (this.opts.perMinute <= 0) return { ok: true };
    const now = this.#now();
    const burst = Math.max(1, this.opts.burst);
    const b = this.#buckets.get(key) ?? { tokens: burst, at: now };
    b.tokens = Math.min(burst, b.tokens + Math.max(0, now - b.at) * this.#ratePerMs);
    b.at = now;
    // re-insert so Map order is least-recently-used first
    this.#buckets.delete(key);
    this.#buckets.set(key, b);
    if (this.#buckets.size > this.#maxKeys) this.#buckets.delete(this.#buckets.keys().next().value!);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return { ok: true };
    }
    return { ok: false, retryAfterSec: Math.max(1, Math.ceil((1 - b.tokens) / this.#ratePerMs / 1000)) };
  }
}

/**
 * Hono middleware: one bucket per `key(c)` (default: the client address, see `trustProxy`). Refuses
 * with 429 `{error: {code: "rate_limited"}}` and Retry-After (thrown, rendered by the app's error
 * handler), so the request never reaches a handler.
 */
export function rateLimit(opts: RateLimitOptions & { key?: (c: Context) => string; scope: string }): MiddlewareHandler {
  const buckets = new TokenBuckets(opts);
  const key = opts.key ?? clientAddressFor(opts.trustProxy ?? { kind: "none" });
  return async (c, next) => {
    const r = buckets.take(key(c));
    if (!r.ok)
      throw new ApiError(429, "rate_limited", `too many ${opts.scope} requests; retry in ${r.retryAfterSec} s`, {
        "retry-after": String(r.retryAfterSec),
      });
    await next();
  };
}
