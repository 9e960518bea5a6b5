/**
 * POSTs one Standard Webhooks–signed event to a callback URL: headers `webhook-id` (the delivery
 * id, the same on every retry so receivers can dedupe), `webhook-timestamp` (this attempt) and
 * `webhook-signature` (`v1,<base64 HMAC>` from the `standardwebhooks` library). The URL is
 * user-supplied, so it goes through the outbound module's URL policy and guarded agent like audio
 * downloads; redirects are not followed (a 3xx is a failed attempt).
 */
import { request } from "undici";
import { failureFromError, parseRetryAfter } from "../outbound/fetch-errors.ts";
import { createGuardedAgent } from "../outbound/guarded-agent.ts";
import { checkUrl } from "../outbound/url-policy.ts";
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
  const agent = createGuardedAgent({
    allowPrivate: opts.allowPrivate,
    connectTimeoutMs: Math.min(10_000, opts.timeoutMs),
    headersTimeoutMs: opts.timeoutMs,
    bodyTimeoutMs: opts.timeoutMs,
  });
  const signal = AbortSignal.timeout(opts.timeoutMs);
  try {
    const res = await request(target, {
      method: "POST",
      dispatcher: agent,
      signal,
      headers: {
        "content-type": "application/json",
        "user-agent": "podfleet/0.1 (+callbacks)",
        "webhook-id": deliveryId,
        "webhook-timestamp": String(timestamp),
        "webhook-signature": signStandard(opts.secret, deliveryId, timestamp, payload),
      },
      body: payload,
    });
    // The receiver's answer body is not needed: read a little, then drop the connection.
    await res.body.dump().catch(() => undefined);
    const ok = res.statusCode >= 200 && res.statusCode < 300;
    const retryAfterMs = ok ? undefined : parseRetryAfter(res.headers["retry-after"], nowMs);
    return {
      ok,
      httpStatus: res.statusCode,
      error: ok ? null : `receiver answered HTTP ${res.statusCode}`,
      retryAfterSec: retryAfterMs === undefined ? undefined : Math.round(retryAfterMs / 1000),
      durationMs: elapsed(),
    };
  } catch (err) {
    const failure = failureFromError(err, target.host, signal.aborted, opts.timeoutMs);
    return { ok: false, httpStatus: null, error: failure.message.slice(0, 500), retryAfterSec: undefined, durationMs: elapsed() };
  } finally {
    await agent.destroy();
  }
}
