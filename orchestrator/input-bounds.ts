/**
 * Bounds of every number a caller can send (API bodies and query strings, CLI flags, settings),
 * defined once and shared with the pipeline that relies on them: an out-of-range value is refused
 * at the edge (HTTP 400 naming the field, CLI exit 2) instead of being accepted and failing an
 * episode later as an internal error.
 */
import { z } from "zod";

export interface NumberBounds {
  readonly min: number;
  readonly max: number;
  /** Whole numbers only. */
  readonly integer: boolean;
  /** 0 is also allowed, with this meaning, although it is below `min`. */
  readonly zeroMeans?: string;
}

/**
 * Target chunk length in seconds: 0 = one chunk for the whole episode, else 1 s to 1 h. Fractions
 * are fine (cuts are made in samples); under 1 s the chunk planner refuses (chunk-plan.ts).
 */
export const CHUNK_SECONDS: NumberBounds = { min: 1, max: 3600, integer: false, zeroMeans: "one chunk for the whole episode" };
/** Older items a new feed transcribes at once. */
export const FEED_BACKFILL: NumberBounds = { min: 0, max: 10_000, integer: true };
/** Seconds between polls of one feed (a minute to a week). */
export const FEED_INTERVAL_SEC: NumberBounds = { min: 60, max: 7 * 24 * 3600, integer: true };
/** `GET /v1/episodes?limit=` (default 50). */
export const EPISODE_LIST_LIMIT: NumberBounds = { min: 1, max: 500, integer: true };
/** `GET /v1/fleet/events?limit=` (default 100). */
export const FLEET_EVENTS_LIMIT: NumberBounds = { min: 1, max: 1000, integer: true };
/** A TCP port to listen on (0 = any free one). */
export const LISTEN_PORT: NumberBounds = { min: 0, max: 65535, integer: true };

/** "a whole number from 60 to 604800", "a number from 1 to 3600, or 0 (one chunk …)". */
export function describeBounds(b: NumberBounds): string {
  const range = `${b.integer ? "a whole number" : "a number"} from ${b.min} to ${b.max}`;
  return b.zeroMeans ? `${range}, or 0 (${b.zeroMeans})` : range;
}

/** True when `value` is a finite number inside `b`. */
export function withinBounds(value: number, b: NumberBounds): boolean {
  if (!Number.isFinite(value)) return false;
  if (b.zeroMeans && value === 0) return true;
  if (b.integer && !Number.isInteger(value)) return false;
  return value >= b.min && value <= b.max;
}

/**
 * Reads a number from text (a query parameter, a CLI flag) strictly: plain decimal notation only,
 * so "", " ", "0x10", "1e3", "Infinity" and "12abc" are refused rather than coerced. Returns
 * undefined when the text is not a number inside `b`.
 */
export function parseBoundedNumber(raw: string, b: NumberBounds): number | undefined {
  if (!/^-?\d{1,15}(\.\d{1,15})?$/.test(raw)) return undefined;
  const n = Number(raw);
  return withinBounds(n, b) ? n : undefined;
}

/** A JSON body field inside `b` (NaN and infinities never pass: JSON cannot carry them, zod refuses them). */
export function boundedNumber(b: NumberBounds) {
  return z.number().refine((v) => withinBounds(v, b), `must be ${describeBounds(b)}`);
}

/** A query-string field inside `b`, read with `parseBoundedNumber`. */
export function boundedQueryNumber(b: NumberBounds) {
  return z.string().transform((raw, ctx) => {
    const n = parseBoundedNumber(raw, b);
    if (n === undefined) {
      ctx.addIssue({ code: "custom", message: `must be ${describeBounds(b)}, got "${raw.slice(0, 40)}"` });
      return z.NEVER;
    }
    return n;
  });
}
