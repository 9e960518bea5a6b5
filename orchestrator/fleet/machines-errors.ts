/**
 * Errors the Machines client throws. Callers branch on the class (or `retryable`), never on
 * message text: retryable ones were already retried a bounded number of times by the client,
 * permanent ones mean "fix the request", capacity ones mean "later or another region".
 * Messages name the method, path and Fly's error text, never the token.
 */
import { INSUFFICIENT_CAPACITY } from "./machine.ts";

interface ApiErrorInit {
  status: number;
  code: string;
  retryable: boolean;
  cause?: unknown;
}

/** Base of every error from the Machines API client. `status` is 0 when no response came. */
export class MachinesApiError extends Error {
  override name = "MachinesApiError";
  readonly status: number;
  readonly code: string;
  readonly retryable: boolean;

  constructor(message: string, init: ApiErrorInit) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.status = init.status;
    this.code = init.code;
    this.retryable = init.retryable;
  }
}

/** 429: slow down; `retryAfterMs` comes from Retry-After when the server sent one. */
export class RateLimitedError extends MachinesApiError {
  override name = "RateLimitedError";
  readonly retryAfterMs: number | undefined;
  constructor(message: string, retryAfterMs: number | undefined, cause?: unknown) {
    super(message, { status: 429, code: "rate_limited", retryable: true, cause });
    this.retryAfterMs = retryAfterMs;
  }
}

/** 5xx (or a 408 outside `wait`): the API failed; worth retrying. */
export class ServerError extends MachinesApiError {
  override name = "ServerError";
  constructor(message: string, status: number, cause?: unknown) {
    super(message, { status, code: "server_error", retryable: true, cause });
  }
}

/** No usable response: network timeout, connection refused or reset. */
export class RequestTimeoutError extends MachinesApiError {
  override name = "RequestTimeoutError";
  constructor(message: string, cause?: unknown) {
    super(message, { status: 0, code: "request_timeout", retryable: true, cause });
  }
}

/**
 * Fly's ErrorResponse said `status: "insufficient_capacity"` (whatever the HTTP status: 409, 412,
 * 503…). Not retried by the client: the caller decides whether to try later or in another region.
 */
export class CapacityError extends MachinesApiError {
  override name = "CapacityError";
  constructor(message: string, status: number, cause?: unknown) {
    super(message, { status, code: "insufficient_capacity", retryable: false, cause });
  }
}

/** 400/401/404/422 and any other 4xx: retrying the same request cannot help. */
export class PermanentError extends MachinesApiError {
  override name = "PermanentError";
  constructor(message: string, status: number, cause?: unknown) {
    super(message, { status, code: permanentCode(status), retryable: false, cause });
  }
}

/** 408 from `wait`: the machine did not reach the state in time; it may still get there. */
export class WaitTimeoutError extends MachinesApiError {
  override name = "WaitTimeoutError";
  constructor(message: string, cause?: unknown) {
    super(message, { status: 408, code: "wait_timeout", retryable: false, cause });
  }
}

function permanentCode(status: number): string {
  switch (status) {
    case 400:
      return "bad_request";
    case 401:
      return "unauthorized";
    case 403:
      return "forbidden";
    case 404:
      return "not_found";
    case 409:
      return "conflict";
    case 412:
      return "failed_precondition";
    case 422:
      return "unprocessable";
    default:
      return `http_${status}`;
  }
}

/** Parses Retry-After (delta-seconds or HTTP date) into milliseconds from `now`. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined || value.trim() === "") return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, Math.round(seconds * 1000));
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** The parts of Fly's ErrorResponse the client reads: `error` text and the `status` code. */
export interface ErrorBody {
  text: string;
  /** `main.statusCode` from the swagger: "insufficient_capacity" or "unknown". */
  flyStatus?: string | undefined;
}

/**
 * Maps an HTTP error response onto the error classes. `what` is "METHOD /path" (no token),
 * `body.text` is Fly's `error` field (or the raw body). A capacity error is recognised by the
 * ErrorResponse's `status` code alone, never by HTTP status or wording.
 */
export function errorForResponse(what: string, status: number, body: ErrorBody, retryAfter: string | undefined, isWait = false): MachinesApiError {
  const text = body.text;
  const message = `${what}: HTTP ${status}${text ? `: ${text}` : ""}`;
  if (body.flyStatus === INSUFFICIENT_CAPACITY) return new CapacityError(message, status);
  if (status === 429) return new RateLimitedError(message, parseRetryAfter(retryAfter));
  if (status >= 500) return new ServerError(message, status);
  if (status === 408 && isWait) return new WaitTimeoutError(message);
  if (status === 408) return new ServerError(message, status);
  return new PermanentError(message, status);
}
