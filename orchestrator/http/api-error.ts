/**
 * How the API fails: route code throws `ApiError` (or a domain error listed here) and `renderError`,
 * the app's one error handler, turns it into `{error: {code, message}}` with its status and headers.
 * Guards (authentication, rate limits, body caps) throw too, so no response body is built elsewhere.
 */
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { z } from "zod";
import { BadInputError } from "../ingest/ingest-errors.ts";
import { UploadStoppedError } from "../episodes/upload-receipt.ts";
import type { Logger } from "../log.ts";
import { isTransientNatsError } from "../../contract/nats-retry.ts";

export class ApiError extends HTTPException {
  constructor(
    status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    /** Extra response headers (Retry-After, WWW-Authenticate, Connection: close). */
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(status, { message });
  }
}

/** 400 invalid_request naming the first bad field ("chunkSeconds: must be …"). */
export function invalid(error: z.ZodError): never {
  const issue = error.issues[0]!;
  const field = issue.path.join(".") || "body";
  throw new ApiError(400, "invalid_request", `${field}: ${issue.message}`);
}

/** The app's `onError`: every failure of every route becomes its JSON body here. */
export function renderError(log: Logger): (err: Error, c: Context) => Response {
  return (err, c) => {
    if (err instanceof ApiError) return c.json({ error: { code: err.code, message: err.message } }, err.status, err.headers);
    if (err instanceof BadInputError) {
      if (err.code === "too_large") {
        // the rest of the upload is unread: close the connection rather than leave it to the next request
        return c.json({ error: { code: err.code, message: err.message } }, 413, { connection: "close" });
      }
      // the client went quiet mid-body: 408, and the connection goes with the unread rest
      if (err.code === "stalled") return c.json({ error: { code: err.code, message: err.message } }, 408, { connection: "close" });
      return c.json({ error: { code: err.code, message: err.message } }, 400);
    }
    if (err instanceof UploadStoppedError) return c.json({ error: { code: "upload_stopped", message: err.message } }, 409);
    if (err instanceof HTTPException) return c.json({ error: { code: "http_error", message: err.message } }, err.status);
    if (isTransientNatsError(err)) {
      // NATS unreachable or electing (a cluster node lost): nothing is wrong with the request; ask again soon
      log.warn("API request failed while NATS is unavailable", { path: c.req.path, error: err });
      return c.json({ error: { code: "unavailable", message: "the message store is unavailable for a moment; retry" } }, 503, { "retry-after": "2" });
    }
    log.error("unhandled API error", { path: c.req.path, error: err });
    return c.json({ error: { code: "internal", message: "internal error" } }, 500);
  };
}
