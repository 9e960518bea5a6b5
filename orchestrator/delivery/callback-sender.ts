/**
 * POSTs one Standard Webhooks–signed event to a callback URL: headers `webhook-id` (the delivery
 * id, the same on every retry so receivers can dedupe), `webhook-timestamp` (this attempt) and
 * `webhook-signature` (`v1,<base64 HMAC>` from the `standardwebhooks` library). The URL is
 * user-supplied, so it goes through the same SSRF guard as audio downloads; redirects are not
 * followed (a 3xx is a failed attempt).
 */
import { Agent, request } from "undici";
import { parseRetryAfter } from "../feeds/feed-fetch.ts";
import { checkUrl, guardedLookup } from "../ingest/fetch-audio.ts";
import { signStandard } from "../sources/webhook-signature.ts";

export interface SendResult {
  ok: boolean;
  httpStatus: number | null;
  error: string | null;
  /** The receiver asked us to wait (Retry-After on 429/503), seconds. */
  retryAfterSec: number | undefined;
  durationMs: number;
}

export interface CallbackSendOptions {
  secret: string;
  allowPrivate: boolean;
  timeoutMs: number;
}

export async function sendCallback(url: string, deliveryId: string, payload: string, nowMs: number, opts: CallbackSendOptions): Promise<SendResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  let target: URL;
  try {
    target = checkUrl(url, opts.allowPrivate);
  } catch (err) {
    return { ok: false, httpStatus: null, error: (err as Error).message, retryAfterSec: undefined, durationMs: elapsed() };
  }
  const timestamp = Math.floor(nowMs / 1000);
  const agent = new Agent({ connect: { lookup: guardedLookup(opts.allowPrivate), timeout: 10_000 }, headersTimeout: opts.timeoutMs, bodyTimeout: opts.timeoutMs });
  try {
    const res = await request(target, {
      method: "POST",
      dispatcher: agent,
      signal: AbortSignal.timeout(opts.timeoutMs),
      headers: {
        "content-type": "application/json",
        "user-agent": "podfleet/0.1 (+callbacks)",
        "webhook-id": deliveryId,
        "webhook-timestamp": String(timestamp),
        "webhook-signature": signStandard(opts.secret, deliveryId, timestamp, payload),
      },
      body: payload,
    });
    await res.body.dump();
    const ok = res.statusCode >= 200 && res.statusCode < 300;
    const ra = res.headers["retry-after"];
    return {
      ok,
      httpStatus: res.statusCode,
      error: ok ? null : `receiver answered HTTP ${res.statusCode}`,
      retryAfterSec: ok ? undefined : parseRetryAfter(Array.isArray(ra) ? ra[0] : ra, nowMs),
      durationMs: elapsed(),
    };
  } catch (err) {
    const cause = (err as { cause?: Error }).cause;
    return { ok: false, httpStatus: null, error: (cause?.message ?? (err as Error).message).slice(0, 500), retryAfterSec: undefined, durationMs: elapsed() };
  } finally {
    await agent.close();
  }
}
