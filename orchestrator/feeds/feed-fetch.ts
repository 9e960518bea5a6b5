/**
 * Fetches a feed politely and safely: conditional GET (If-None-Match / If-Modified-Since), gzip,
 * redirects followed by hand up to a cap with every hop checked by the outbound module (the same
 * URL and address policy as audio downloads), a size cap on both the wire bytes and the decompressed bytes, and the
 * server's Retry-After / Cache-Control hints handed back to the scheduler. A chain of permanent
 * redirects (301/308) from the stored URL reports the URL the feed moved to.
 */
import { promisify } from "node:util";
import zlib from "node:zlib";
import { BadInputError } from "../ingest/ingest-errors.ts";
import { readToBuffer } from "../outbound/body-limits.ts";
import { failureFromError, parseRetryAfter as retryAfterMs, TransientFetchError } from "../outbound/fetch-errors.ts";
import { createGuardedAgent } from "../outbound/guarded-agent.ts";
import { getFollowingRedirects } from "../outbound/redirect-chain.ts";
import { checkUrl } from "../outbound/url-policy.ts";

const gunzip = promisify(zlib.gunzip);
const inflate_ = promisify(zlib.inflate);

export const FEED_USER_AGENT = "podfleet/0.1 (+podcast transcription; feed poller)";

export interface FeedFetchOptions {
  allowPrivate: boolean;
  maxBytes: number;
  maxRedirects: number;
  timeoutMs: number;
}

export const DEFAULT_FEED_FETCH: FeedFetchOptions = { allowPrivate: false, maxBytes: 20 * 1024 * 1024, maxRedirects: 5, timeoutMs: 30_000 };

export interface FeedValidators {
  etag: string | null;
  lastModified: string | null;
}

export type FeedFetchResult =
  | { kind: "not_modified"; movedTo: string | undefined; hints: CacheHints }
  | { kind: "ok"; body: string; validators: FeedValidators; movedTo: string | undefined; finalUrl: string; hints: CacheHints };

export interface CacheHints {
  /** Cache-Control max-age, seconds. */
  maxAgeSec: number | undefined;
  /** Retry-After, seconds from now. */
  retryAfterSec: number | undefined;
}

/** A fetch that failed. `retryable` errors back off; permanent ones (404, 410, bad URL) too, but the feed shows why. */
export class FeedFetchError extends Error {
  override name = "FeedFetchError";
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly status: number | undefined,
    readonly hints: CacheHints = { maxAgeSec: undefined, retryAfterSec: undefined },
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

function header(h: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Retry-After (delta-seconds or an HTTP date) in whole seconds from `nowMs`. */
export function parseRetryAfter(value: string | undefined, nowMs: number): number | undefined {
  const ms = retryAfterMs(value, nowMs);
  return ms === undefined ? undefined : Math.round(ms / 1000);
}

export function parseMaxAge(value: string | undefined): number | undefined {
  const m = value ? /(?:^|[,\s])(?:s-maxage|max-age)\s*=\s*"?(\d+)/i.exec(value) : null;
  return m ? Number(m[1]) : undefined;
}

async function readCapped(
  body: AsyncIterable<Uint8Array>,
  maxBytes: number,
  encoding: string | undefined,
  signal: AbortSignal,
  where: string,
): Promise<string> {
  let raw: Buffer;
  try {
    raw = await readToBuffer(body, { maxBytes, signal, what: "feed", where });
  } catch (err) {
    throw err instanceof BadInputError ? new FeedFetchError(err.message, false, 200, undefined, { cause: err }) : err;
  }
  const enc = (encoding ?? "identity").trim().toLowerCase();
  if (enc === "identity" || enc === "") return raw.toString("utf8");
  // The decompressed size is capped too: a small gzip body must not expand past the limit.
  const inflate = enc === "gzip" || enc === "x-gzip" ? gunzip : enc === "deflate" ? inflate_ : undefined;
  if (!inflate) throw new FeedFetchError(`feed used an encoding we did not ask for: ${enc}`, false, 200);
  try {
    return (await inflate(raw, { maxOutputLength: maxBytes })).toString("utf8");
  } catch (err) {
    if (err instanceof RangeError || (err as { code?: string }).code === "ERR_BUFFER_TOO_LARGE") {
      throw new FeedFetchError(`feed is over the ${maxBytes}-byte limit once decompressed`, false, 200);
    }
    throw new FeedFetchError(`feed body could not be decompressed: ${(err as Error).message}`, true, 200, undefined, { cause: err });
  }
}

/** Fetch `rawUrl`; `validators` make it conditional. Throws FeedFetchError. */
export async function fetchFeed(rawUrl: string, validators: FeedValidators, opts: FeedFetchOptions, nowMs = Date.now()): Promise<FeedFetchResult> {
  let url: URL;
  try {
    url = checkUrl(rawUrl, opts.allowPrivate);
  } catch (err) {
    throw new FeedFetchError((err as Error).message, false, undefined, undefined, { cause: err });
  }
  const agent = createGuardedAgent({
    allowPrivate: opts.allowPrivate,
    connectTimeoutMs: Math.min(15_000, opts.timeoutMs),
    headersTimeoutMs: opts.timeoutMs,
    bodyTimeoutMs: opts.timeoutMs,
  });
  const signal = AbortSignal.timeout(opts.timeoutMs);
  let movedTo: string | undefined;
  let permanentSoFar = true;
  try {
    const headers: Record<string, string> = {
      "user-agent": FEED_USER_AGENT,
      "accept-encoding": "gzip, deflate",
      accept: "application/rss+xml, application/xml;q=0.9, text/xml;q=0.8, */*;q=0.5",
    };
    if (validators.etag) headers["if-none-match"] = validators.etag;
    if (validators.lastModified) headers["if-modified-since"] = validators.lastModified;
    const final = await getFollowingRedirects(url, {
      dispatcher: agent,
      policy: opts,
      signal,
      timeoutMs: opts.timeoutMs,
      headers,
      maxRedirects: opts.maxRedirects,
      onRedirect: (status, next) => {
        permanentSoFar = permanentSoFar && (status === 301 || status === 308);
        if (permanentSoFar) movedTo = next.toString();
      },
    });
    const { res } = final;
    url = final.url;
    const h = res.headers;
    const hints: CacheHints = { maxAgeSec: parseMaxAge(header(h, "cache-control")), retryAfterSec: parseRetryAfter(header(h, "retry-after"), nowMs) };
    if (res.statusCode === 304) {
      await res.body.dump();
      return { kind: "not_modified", movedTo, hints };
    }
    if (res.statusCode !== 200) {
      await res.body.dump().catch(() => undefined);
      const retryable = res.statusCode === 429 || res.statusCode >= 500 || res.statusCode === 408;
      throw new FeedFetchError(`feed answered HTTP ${res.statusCode}`, retryable, res.statusCode, hints);
    }
    const declared = Number(header(h, "content-length") ?? NaN);
    if (declared > opts.maxBytes) {
      res.body.destroy();
      throw new FeedFetchError(`feed is ${declared} bytes, over the ${opts.maxBytes}-byte limit`, false, 200, hints);
    }
    const body = await readCapped(res.body, opts.maxBytes, header(h, "content-encoding"), signal, url.host);
    return {
      kind: "ok",
      body,
      validators: { etag: header(h, "etag") ?? null, lastModified: header(h, "last-modified") ?? null },
      movedTo,
      finalUrl: url.toString(),
      hints,
    };
  } catch (err) {
    if (err instanceof FeedFetchError) throw err;
    // A refused hop or too many redirects is permanent; what the network did may pass.
    const failure = failureFromError(err, url.host, signal.aborted, opts.timeoutMs);
    const message =
      failure instanceof TransientFetchError && failure.code === "fetch_timeout"
        ? `fetching the feed took longer than ${opts.timeoutMs / 1000} s`
        : failure.message;
    throw new FeedFetchError(message, failure instanceof TransientFetchError, undefined, undefined, { cause: failure });
  } finally {
    await agent.destroy();
  }
}
