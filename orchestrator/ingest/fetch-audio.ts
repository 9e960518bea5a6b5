/**
 * Downloads a user-supplied audio URL to a file through the outbound module (orchestrator/outbound/):
 * the URL policy, the guarded agent (address checks at connect time, every hop), redirects by
 * hand, the size cap and the minimum rate all live there; this file only picks the limits an
 * audio download gets and what its failures mean for an episode. Failures that may pass (DNS,
 * connect, reset, timeouts, too slow, 408/429/5xx) throw TransientFetchError; the submitter's to
 * fix (bad URL, credentials, private address, 404/410/other 4xx, too large) BadInputError.
 */
import type { Writable } from "node:stream";
import { BadInputError } from "./ingest-errors.ts";
import { streamToFile, type MinimumRate } from "../outbound/body-limits.ts";
import { failureFromError, failureFromStatus } from "../outbound/fetch-errors.ts";
import { createGuardedAgent, type AddressPolicy } from "../outbound/guarded-agent.ts";
import { DEFAULT_MAX_REDIRECTS, getFollowingRedirects } from "../outbound/redirect-chain.ts";
import { checkUrl } from "../outbound/url-policy.ts";

export interface FetchAudioOptions extends AddressPolicy {
  maxBytes: number;
  /** Whole download, headers to last byte; the connect, header and idle-body timeouts never exceed it. */
  timeoutMs: number;
  /** Abort (too_slow) below this rate; omitted: none (PODFLEET_FETCH_MIN_BYTES_PER_SEC sets it in service). */
  minRate?: MinimumRate;
  /** Also write the body to this stream as it arrives (ffmpeg's stdin: streaming ingest), at its pace. */
  tee?: Writable;
  /** Told the declared length (Content-Length) once the response headers are in; undefined when none. */
  onLength?: (bytes: number | undefined) => void;
  /** Aborts the download (its ingest claim was lost); the caller knows why, so the error it throws then says little. */
  signal?: AbortSignal | undefined;
}

export interface FetchedAudio {
  finalUrl: string;
  bytes: number;
  contentType: string | undefined;
}

/** Fetch `rawUrl` into `destPath`; on failure no file is left. */
export async function fetchAudio(rawUrl: string, destPath: string, opts: FetchAudioOptions): Promise<FetchedAudio> {
  const start = checkUrl(rawUrl, opts.allowPrivate, opts.isBlocked);
  const agent = createGuardedAgent({
    ...opts,
    connectTimeoutMs: Math.min(15_000, opts.timeoutMs),
    headersTimeoutMs: Math.min(30_000, opts.timeoutMs),
    bodyTimeoutMs: Math.min(60_000, opts.timeoutMs),
  });
  const timeout = AbortSignal.timeout(opts.timeoutMs);
  const signal = opts.signal ? AbortSignal.any([timeout, opts.signal]) : timeout;
  try {
    const { res, url } = await getFollowingRedirects(start, {
      dispatcher: agent,
      policy: opts,
      signal,
      timeoutMs: opts.timeoutMs,
      headers: { "user-agent": "podfleet/0.1 (+transcription)" },
      maxRedirects: DEFAULT_MAX_REDIRECTS,
    });
    if (res.statusCode !== 200) {
      await res.body.dump().catch(() => undefined);
      throw failureFromStatus(res.statusCode, res.headers, `${url.host}${url.pathname}`);
    }
    const declared = Number(res.headers["content-length"] ?? NaN);
    opts.onLength?.(Number.isFinite(declared) ? declared : undefined);
    if (declared > opts.maxBytes) {
      res.body.destroy();
      throw new BadInputError("too_large", `audio is ${declared} bytes, over the ${opts.maxBytes}-byte limit`);
    }
    let bytes: number;
    try {
      bytes = await streamToFile(res.body, destPath, {
        maxBytes: opts.maxBytes,
        minRate: opts.minRate,
        signal,
        what: "audio",
        where: url.host,
        ...(opts.tee ? { tee: opts.tee } : {}),
      });
    } catch (err) {
      throw failureFromError(err, url.host, timeout.aborted, opts.timeoutMs);
    }
    const ct = res.headers["content-type"];
    return { finalUrl: url.toString(), bytes, contentType: typeof ct === "string" ? ct : undefined };
  } finally {
    // destroy, not close: a body abandoned mid-way must not keep the agent (and the fetch) waiting
    await agent.destroy();
  }
}
