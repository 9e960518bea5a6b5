/**
 * Fetches a feed politely and safely: conditional GET (If-None-Match / If-Modified-Since), gzip,
 * redirects followed by hand up to a cap with every hop SSRF-checked (the same guarded lookup
 * as audio downloads), a size cap on both the wire bytes and the decompressed bytes, and the
 * server's Retry-After / Cache-Control hints handed back to the scheduler. A chain of permanent
 * redirects (301/308) from the stored URL reports the URL the feed moved to.
 */
import { promisify } from "node:util";
import zlib from "node:zlib";
import { Agent, request } from "undici";
import { checkUrl, guardedLookup } from "../ingest/fetch-audio.ts";
import { BadInputError } from "../ingest/ingest-errors.ts";

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

/** Retry-After as delta-seconds or an HTTP date. */
export function parseRetryAfter(value: string | undefined, nowMs: number): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.round((at - nowMs) / 1000));
}

export function parseMaxAge(value: string | undefined): number | undefined {
  const m = value ? /(?:^|[,\s])(?:s-maxage|max-age)\s*=\s*"?(\d+)/i.exec(value) : null;
  return m ? Number(m[1]) : undefined;
}

async function readCapped(body: AsyncIterable<Uint8Array>, maxBytes: number, encoding: string | undefined): Promise<string> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > maxBytes) throw new FeedFetchError(`feed is over the ${maxBytes}-byte limit`, false, 200);
    parts.push(Buffer.from(chunk));
  }
  const raw = Buffer.concat(parts);
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
  const agent = new Agent({ connect: { lookup: guardedLookup(opts.allowPrivate), timeout: 15_000 }, headersTimeout: opts.timeoutMs, bodyTimeout: opts.timeoutMs });
  const signal = AbortSignal.timeout(opts.timeoutMs);
  let movedTo: string | undefined;
  let permanentSoFar = true;
  try {
    let url: URL;
    try {
      url = checkUrl(rawUrl, opts.allowPrivate);
    } catch (err) {
      throw new FeedFetchError((err as Error).message, false, undefined, undefined, { cause: err });
    }
    for (let hop = 0; ; hop++) {
      const headers: Record<string, string> = { "user-agent": FEED_USER_AGENT, "accept-encoding": "gzip, deflate", accept: "application/rss+xml, application/xml;q=0.9, text/xml;q=0.8, */*;q=0.5" };
      if (validators.etag) headers["if-none-match"] = validators.etag;
      if (validators.lastModified) headers["if-modified-since"] = validators.lastModified;
      let res;
      try {
        res = await request(url, { dispatcher: agent, signal, headers });
      } catch (err) {
        const cause = (err as { cause?: unknown }).cause;
        const bad = err instanceof BadInputError ? err : cause instanceof BadInputError ? cause : undefined;
        if (bad) throw new FeedFetchError(bad.message, false, undefined, undefined, { cause: bad });
        throw new FeedFetchError(`could not fetch ${url.host}: ${(err as Error).message}`, true, undefined, undefined, { cause: err });
      }
      const h = res.headers;
      const hints: CacheHints = { maxAgeSec: parseMaxAge(header(h, "cache-control")), retryAfterSec: parseRetryAfter(header(h, "retry-after"), nowMs) };
      const location = header(h, "location");
      if (res.statusCode >= 300 && res.statusCode < 400 && res.statusCode !== 304 && location) {
        await res.body.dump();
        if (hop >= opts.maxRedirects) throw new FeedFetchError(`more than ${opts.maxRedirects} redirects from ${rawUrl.slice(0, 200)}`, false, res.statusCode);
        try {
          url = checkUrl(new URL(location, url).toString(), opts.allowPrivate);
        } catch (err) {
          throw new FeedFetchError((err as Error).message, false, res.statusCode, undefined, { cause: err });
        }
        permanentSoFar = permanentSoFar && (res.statusCode === 301 || res.statusCode === 308);
        if (permanentSoFar) movedTo = url.toString();
        continue;
      }
      if (res.statusCode === 304) {
        await res.body.dump();
        return { kind: "not_modified", movedTo, hints };
      }
      if (res.statusCode !== 200) {
        await res.body.dump();
        const retryable = res.statusCode === 429 || res.statusCode >= 500 || res.statusCode === 408;
        throw new FeedFetchError(`feed answered HTTP ${res.statusCode}`, retryable, res.statusCode, hints);
      }
      const declared = Number(header(h, "content-length") ?? NaN);
      if (declared > opts.maxBytes) {
        await res.body.dump();
        throw new FeedFetchError(`feed is ${declared} bytes, over the ${opts.maxBytes}-byte limit`, false, 200, hints);
      }
      const body = await readCapped(res.body, opts.maxBytes, header(h, "content-encoding"));
      return {
        kind: "ok",
        body,
        validators: { etag: header(h, "etag") ?? null, lastModified: header(h, "last-modified") ?? null },
        movedTo,
        finalUrl: url.toString(),
        hints,
      };
    }
  } catch (err) {
    if (err instanceof FeedFetchError) throw err;
    if (signal.aborted) throw new FeedFetchError(`fetching the feed took longer than ${opts.timeoutMs / 1000} s`, true, undefined);
    throw new FeedFetchError(`fetching the feed failed: ${(err as Error).message}`, true, undefined, undefined, { cause: err });
  } finally {
    await agent.close();
  }
}
