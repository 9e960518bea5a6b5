/**
 * How a fetch from the outside world failed, as the caller must treat it:
 * - TransientFetchError: the world may get better (DNS failure, refused or reset connection,
 *   timeout, a download slower than the minimum rate, HTTP 429 or 5xx). Retry with back-off,
 *   waiting at least `retryAfterMs` when the server said so (Retry-After), within a bound.
 * - BadInputError (ingest/ingest-errors.ts): the submitter must fix it (404/410, not audio, too
 *   large, a private address, a bad URL). Retrying changes nothing.
 * Branch on the class and `code`, never on message text.
 */
import { BadInputError } from "../ingest/ingest-errors.ts";

export type TransientFetchCode =
  "dns_failed" | "connect_failed" | "connection_reset" | "fetch_timeout" | "too_slow" | "rate_limited" | "server_error";

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

/**
 * Milliseconds to wait from a Retry-After header (delta-seconds or an HTTP date), or undefined
 * when the header is absent or unreadable. A date in the past gives 0.
 */
export function parseRetryAfter(header: string | string[] | undefined, nowMs = Date.now()): number | undefined {
  const value = (Array.isArray(header) ? header[0] : header)?.trim();
  if (!value) return undefined;
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  // An HTTP date names its month; without this Date.parse would read "-5" as a year.
  if (!/[a-z]{3}/i.test(value)) return undefined;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

/**
 * What an unwanted HTTP status means: 408, 429 and 5xx may pass (TransientFetchError, with the
 * server's Retry-After); 404, 410 and every other 4xx will not (BadInputError).
 * `where` names the resource without credentials (host and path).
 */
export function failureFromStatus(
  status: number,
  headers: Record<string, string | string[] | undefined>,
  where: string,
): TransientFetchError | BadInputError {
  const retryAfterMs = parseRetryAfter(headers["retry-after"]);
  if (status === 429) return new TransientFetchError("rate_limited", `fetching ${where} answered HTTP 429 (rate limited)`, retryAfterMs);
  if (status === 408) return new TransientFetchError("fetch_timeout", `fetching ${where} answered HTTP 408 (request timeout)`, retryAfterMs);
  if (status >= 500) return new TransientFetchError("server_error", `fetching ${where} answered HTTP ${status}`, retryAfterMs);
  return new BadInputError("fetch_failed", `fetching ${where} answered HTTP ${status}`);
}

const DNS_CODES = new Set(["EAI_AGAIN", "ENOTFOUND", "EAI_FAIL", "EAI_NODATA", "EAI_NONAME", "ENODATA", "ESERVFAIL", "ETIMEOUT"]);
const CONNECT_CODES = new Set(["ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH", "EHOSTDOWN", "ENETDOWN", "EADDRNOTAVAIL"]);
const RESET_CODES = new Set(["ECONNRESET", "EPIPE", "ECONNABORTED", "UND_ERR_SOCKET", "UND_ERR_CLOSED", "UND_ERR_RES_CONTENT_LENGTH_MISMATCH"]);
const TIMEOUT_CODES = new Set(["ETIMEDOUT", "UND_ERR_CONNECT_TIMEOUT", "UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT"]);

/** The error codes along an error's cause chain (undici wraps socket errors in its own). */
function codesOf(err: unknown): string[] {
  const codes: string[] = [];
  for (let e = err, depth = 0; e && typeof e === "object" && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string") codes.push(code);
  }
  return codes;
}

/**
 * What a thrown network error means, by code (never by message): our own BadInputError
 * (a refused address) passes through, anything the network did is transient. `timedOut` says
 * the caller's overall deadline (`timeoutMs`) fired; `where` names the host without credentials.
 */
export function failureFromError(err: unknown, where: string, timedOut: boolean, timeoutMs: number): TransientFetchError | BadInputError {
  for (let e = err, depth = 0; e && typeof e === "object" && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof BadInputError || e instanceof TransientFetchError) return e;
  }
  const codes = codesOf(err);
  const has = (set: Set<string>) => codes.some((c) => set.has(c));
  if (timedOut)
    return new TransientFetchError("fetch_timeout", `fetching ${where} took longer than ${timeoutMs / 1000} s`, undefined, { cause: err });
  if (has(TIMEOUT_CODES))
    return new TransientFetchError("fetch_timeout", `fetching ${where} timed out (${codes.find((c) => TIMEOUT_CODES.has(c))})`, undefined, {
      cause: err,
    });
  if (has(DNS_CODES)) return new TransientFetchError("dns_failed", `could not resolve ${where} (${codes[0]})`, undefined, { cause: err });
  if (has(CONNECT_CODES)) return new TransientFetchError("connect_failed", `could not connect to ${where} (${codes[0]})`, undefined, { cause: err });
  if (has(RESET_CODES))
    return new TransientFetchError("connection_reset", `the connection to ${where} was closed early (${codes.join(", ")})`, undefined, {
      cause: err,
    });
  return new TransientFetchError("connect_failed", `fetching ${where} failed${codes.length ? ` (${codes.join(", ")})` : ""}`, undefined, {
    cause: err,
  });
}
