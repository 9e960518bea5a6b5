/**
 * How a fetch from the outside world failed, as the caller must treat it:
 * - TransientFetchError: the world may get better (DNS failure, refused or reset connection,
 *   timeout, a download slower than the minimum rate, HTTP 429 or 5xx). Retry with back-off,
 *   waiting at least `retryAfterMs` when the server said so (Retry-After), within a bound.
 * - BadInputError (ingest/ingest-errors.ts): the submitter must fix it (404/410, not audio, too
 *   large, a private address, a bad URL). Retrying changes nothing.
 * Branch on the class and `code`, never on message text.
 */
export type TransientFetchCode =
  | "dns_failed"
  | "connect_failed"
  | "connection_reset"
  | "fetch_timeout"
  | "too_slow"
  | "rate_limited"
  | "server_error";

export class TransientFetchError extends Error {
  override name = "TransientFetchError";
  constructor(
    readonly code: TransientFetchCode,
    message: string,
    /** From the server's Retry-After, in ms; undefined when it gave none. */
    readonly retryAfterMs?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function isTransientFetchError(err: unknown): err is TransientFetchError {
  return err instanceof TransientFetchError;
}
