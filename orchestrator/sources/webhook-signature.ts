/**
 * Verifies an incoming webhook by the source's scheme and says which delivery it is:
 * - standard: Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature` holding
 *   space-separated `v1,<base64>` entries, so a sender may sign with old and new secrets while
 *   rotating), HMAC computed by the `standardwebhooks` library;
 * - svix: the same with `svix-` headers;
 * - github: `X-Hub-Signature-256: sha256=<hex HMAC of the body>`, delivery `X-GitHub-Delivery`;
 * - token: the unguessable URL is the secret (hosts that do not sign).
 * The timestamp tolerance is checked here against an injected clock (the library reads the real
 * one), so a replay outside the window is refused before any signature work.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { Webhook } from "standardwebhooks";

export type SourceScheme = "standard" | "svix" | "github" | "token";
export const SOURCE_SCHEMES: readonly SourceScheme[] = ["standard", "svix", "github", "token"];

/** Five minutes either way, as Standard Webhooks recommends. */
export const TOLERANCE_SEC = 5 * 60;

/** Why a delivery was refused; all map to HTTP 401. */
export class WebhookAuthError extends Error {
  override name = "WebhookAuthError";
  constructor(
    readonly code: "missing_signature" | "bad_signature" | "expired" | "bad_timestamp",
    message: string,
  ) {
    super(message);
  }
}

export interface VerifiedDelivery {
  /** The sender's delivery id (replay key), when the scheme has one. */
  deliveryId: string | undefined;
}

type Headers = (name: string) => string | undefined;

/** A new secret for a scheme: `whsec_<base64 of 24 random bytes>` for standard/svix, hex for github. */
export function newSecret(scheme: SourceScheme): string | null {
  if (scheme === "token") return null;
  if (scheme === "github") return randomBytes(24).toString("hex");
  return `whsec_${randomBytes(24).toString("base64")}`;
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function verifyStandard(prefix: "webhook" | "svix", secret: string, body: string, header: Headers, nowMs: number): VerifiedDelivery {
  const id = header(`${prefix}-id`);
  const ts = header(`${prefix}-timestamp`);
  const sig = header(`${prefix}-signature`);
  if (!id || !ts || !sig) {
    throw new WebhookAuthError("missing_signature", `missing ${prefix}-id, ${prefix}-timestamp or ${prefix}-signature header`);
  }
  if (!/^\d{1,12}$/.test(ts)) throw new WebhookAuthError("bad_timestamp", `${prefix}-timestamp must be seconds since the epoch`);
  const tsSec = Number(ts);
  const nowSec = Math.floor(nowMs / 1000);
  if (Math.abs(nowSec - tsSec) > TOLERANCE_SEC) {
    throw new WebhookAuthError("expired", `${prefix}-timestamp is outside the ${TOLERANCE_SEC / 60}-minute tolerance (replay refused)`);
  }
  // The library computes "v1,<base64 HMAC-SHA256(id.timestamp.body)>" for the exact timestamp sent.
  const expected = new Webhook(secret).sign(id, new Date(tsSec * 1000), body).split(",")[1]!;
  const ok = sig
    .split(" ")
    .map((entry) => entry.split(","))
    .some(([version, value]) => version === "v1" && value !== undefined && safeEqual(value, expected));
  if (!ok) throw new WebhookAuthError("bad_signature", "no v1 signature matches this source's secret");
  return { deliveryId: id };
}

function verifyGithub(secret: string, body: string, header: Headers): VerifiedDelivery {
  const sig = header("x-hub-signature-256");
  if (!sig) throw new WebhookAuthError("missing_signature", "missing X-Hub-Signature-256 header");
  const expected = `sha256=${createHmac("sha256", secret).update(body, "utf8").digest("hex")}`;
  if (!safeEqual(sig.trim().toLowerCase(), expected))
    throw new WebhookAuthError("bad_signature", "X-Hub-Signature-256 does not match this source's secret");
  return { deliveryId: header("x-github-delivery") ?? undefined };
}

/** Verify one delivery. Throws WebhookAuthError; returns the delivery id to dedupe on. */
export function verifyWebhook(
  source: { scheme: SourceScheme; secret: string | null },
  body: string,
  header: Headers,
  nowMs: number,
): VerifiedDelivery {
  switch (source.scheme) {
    case "standard":
      return verifyStandard("webhook", source.secret!, body, header, nowMs);
    case "svix":
      return verifyStandard("svix", source.secret!, body, header, nowMs);
    case "github":
      return verifyGithub(source.secret!, body, header);
    case "token":
      // Unsigned hosts may still send an id; honour it for idempotency.
      return { deliveryId: header("webhook-id") ?? undefined };
  }
}

/** Sign a payload as a Standard Webhooks sender would (used by callbacks and by tests). */
export function signStandard(secret: string, id: string, timestampSec: number, body: string): string {
  return new Webhook(secret).sign(id, new Date(timestampSec * 1000), body);
}
