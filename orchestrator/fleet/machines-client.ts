/**
 * HTTP client for the Fly Machines API subset podfleet uses (also spoken by the local
 * runtime). Every call is retried a bounded number of times on retryable errors (429 with
 * Retry-After honoured, 5xx, network timeouts); permanent, capacity and wait-timeout errors
 * surface at once. The token is only ever written into the Authorization header.
 */
import { setTimeout as sleep } from "node:timers/promises";
import pRetry, { AbortError } from "p-retry";
import { request, getGlobalDispatcher, type Dispatcher } from "undici";
import { durationMs, MAX_STOP_TIMEOUT_SEC, type CreateMachineRequest, type Machine, type MachineEvent, type WaitableState } from "./machine.ts";
import { MachinesApiError, RateLimitedError, RequestTimeoutError, errorForResponse, type ErrorBody } from "./machines-errors.ts";

export interface MachinesClientOptions {
  /** API base including `/v1`, e.g. `https://api.machines.dev/v1`. */
  baseUrl: string;
  app: string;
  /** Fly token; `FlyV1 …` tokens are sent verbatim, others as `Bearer <token>`. */
  token: string;
  /** Retries after the first attempt (0..10, default 4). */
  retries?: number;
  /** First backoff delay in ms (default 500); doubles each retry, jittered. */
  minTimeoutMs?: number;
  /** Per-request header/body timeout in ms (default 30 000). */
  requestTimeoutMs?: number;
  /** Longest Retry-After the client will sleep for, in ms (default 30 000). */
  maxRetryAfterMs?: number;
  /** undici dispatcher; default the global one. */
  dispatcher?: Dispatcher;
}

export interface ListMachinesOptions {
  state?: string[];
  /** All pairs must match (`metadata.KEY=VALUE`). */
  metadata?: Record<string, string>;
  region?: string;
  includeDeleted?: boolean;
  summary?: boolean;
}

export interface StopMachineOptions {
  /** Signal name, e.g. "SIGTERM" (Fly's default is SIGINT or `stop_config.signal`). */
  signal?: string;
  /** Seconds before SIGKILL. */
  timeout?: number;
}

export interface WaitOptions {
  /** Fly needs the machine's `instance_id` to wait for `stopped`. */
  instanceId?: string;
}

/** The Machines API operations, as a port the autoscaler can depend on. */
export interface MachinesApi {
  list(options?: ListMachinesOptions): Promise<Machine[]>;
  create(req: CreateMachineRequest): Promise<Machine>;
  get(id: string): Promise<Machine>;
  wait(id: string, state: WaitableState, timeoutSec: number, options?: WaitOptions): Promise<void>;
  start(id: string): Promise<{ previous_state?: string }>;
  stop(id: string, options?: StopMachineOptions): Promise<void>;
  destroy(id: string, options?: { force?: boolean }): Promise<void>;
  events(id: string): Promise<MachineEvent[]>;
}

interface CallOptions {
  query?: URLSearchParams;
  body?: unknown;
  isWait?: boolean;
  timeoutMs?: number;
}

const MAX_RETRIES = 10;
const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "EAI_AGAIN",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
  "UND_ERR_SOCKET",
  "UND_ERR_CLOSED",
]);

/** Talks to `{baseUrl}/apps/{app}/machines…` with typed errors and bounded retries. */
export class MachinesClient implements MachinesApi {
  readonly #base: string;
  readonly #authorization: string;
  readonly #retries: number;
  readonly #minTimeoutMs: number;
  readonly #requestTimeoutMs: number;
  readonly #maxRetryAfterMs: number;
  readonly #dispatcher: Dispatcher | undefined;

  constructor(options: MachinesClientOptions) {
    this.#base = `${options.baseUrl.replace(/\/+$/, "")}/apps/${encodeURIComponent(options.app)}/machines`;
    this.#authorization = options.token.startsWith("FlyV1 ") ? options.token : `Bearer ${options.token}`;
    const retries = options.retries ?? 4;
    this.#retries = Number.isFinite(retries) ? Math.min(MAX_RETRIES, Math.max(0, Math.floor(retries))) : 4;
    this.#minTimeoutMs = options.minTimeoutMs ?? 500;
    this.#requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
    this.#maxRetryAfterMs = options.maxRetryAfterMs ?? 30_000;
    this.#dispatcher = options.dispatcher;
  }

  /** Lists machines; destroyed ones only with `includeDeleted`. */
  async list(options: ListMachinesOptions = {}): Promise<Machine[]> {
    const query = new URLSearchParams();
    if (options.state?.length) query.set("state", options.state.join(","));
    if (options.region) query.set("region", options.region);
    if (options.includeDeleted) query.set("include_deleted", "true");
    if (options.summary) query.set("summary", "true");
    for (const [key, value] of Object.entries(options.metadata ?? {})) query.append(`metadata.${key}`, value);
    return this.#call<Machine[]>("GET", "", { query });
  }

  /**
   * Creates (and unless `skip_launch`, starts) a machine. Retried on 429/5xx/network errors,
   * so a 5xx after Fly did create the machine can leave a duplicate: callers count machines
   * by listing, not by counting successful creates.
   */
  async create(req: CreateMachineRequest): Promise<Machine> {
    const timeout = req.config?.stop_config?.timeout;
    if (timeout !== undefined) {
      const ms = durationMs(timeout);
      if (ms === undefined || ms > MAX_STOP_TIMEOUT_SEC * 1000) {
        throw new RangeError(
          `config.stop_config.timeout must be a duration of at most ${MAX_STOP_TIMEOUT_SEC}s (Fly's maximum), got ${JSON.stringify(timeout)}`,
        );
      }
    }
    return this.#call<Machine>("POST", "", { body: req });
  }

  async get(id: string): Promise<Machine> {
    return this.#call<Machine>("GET", `/${encodeURIComponent(id)}`);
  }

  /** Long-polls until the machine reaches `state`; throws WaitTimeoutError after `timeoutSec` (1..60). */
  async wait(id: string, state: WaitableState, timeoutSec: number, options: WaitOptions = {}): Promise<void> {
    if (!Number.isInteger(timeoutSec) || timeoutSec < 1 || timeoutSec > 60) {
      throw new RangeError(`wait timeout must be an integer number of seconds in 1..60, got ${timeoutSec}`);
    }
    const query = new URLSearchParams({ state, timeout: String(timeoutSec) });
    if (options.instanceId) query.set("instance_id", options.instanceId);
    await this.#call("GET", `/${encodeURIComponent(id)}/wait`, {
      query,
      isWait: true,
      timeoutMs: timeoutSec * 1000 + this.#requestTimeoutMs,
    });
  }

  async start(id: string): Promise<{ previous_state?: string }> {
    return this.#call("POST", `/${encodeURIComponent(id)}/start`);
  }

  /** Sends `signal`, then SIGKILL after `timeout` seconds (at most 300, Fly's maximum). */
  async stop(id: string, options: StopMachineOptions = {}): Promise<void> {
    const timeout = options.timeout;
    if (timeout !== undefined && !(Number.isInteger(timeout) && timeout >= 0 && timeout <= MAX_STOP_TIMEOUT_SEC)) {
      throw new RangeError(`stop timeout must be an integer number of seconds in 0..${MAX_STOP_TIMEOUT_SEC}, got ${timeout}`);
    }
    const body: { signal?: string; timeout?: string } = {};
    if (options.signal) body.signal = options.signal;
    if (options.timeout !== undefined) body.timeout = `${options.timeout}s`;
    await this.#call("POST", `/${encodeURIComponent(id)}/stop`, { body });
  }

  /** Destroys a machine; `force` kills a running one. */
  async destroy(id: string, options: { force?: boolean } = {}): Promise<void> {
    const query = new URLSearchParams();
    if (options.force) query.set("force", "true");
    await this.#call("DELETE", `/${encodeURIComponent(id)}`, { query });
  }

  async events(id: string): Promise<MachineEvent[]> {
    return this.#call<MachineEvent[]>("GET", `/${encodeURIComponent(id)}/events`);
  }

  async #call<T>(method: "GET" | "POST" | "DELETE", path: string, options: CallOptions = {}): Promise<T> {
    const retries = this.#retries;
    return pRetry(
      async () => {
        try {
          return await this.#once<T>(method, path, options);
        } catch (error) {
          if (error instanceof MachinesApiError && !error.retryable) throw new AbortError(error);
          throw error;
        }
      },
      {
        retries,
        minTimeout: this.#minTimeoutMs,
        maxTimeout: 30_000,
        factor: 2,
        randomize: true,
        // A 429 with Retry-After waits exactly that long here and skips p-retry's own backoff;
        // the attempt cap below keeps that path bounded too.
        onFailedAttempt: async ({ error, attemptNumber }) => {
          if (attemptNumber > retries) throw error;
          const retryAfter = error instanceof RateLimitedError ? error.retryAfterMs : undefined;
          if (retryAfter !== undefined) await sleep(Math.min(retryAfter, this.#maxRetryAfterMs));
        },
        shouldConsumeRetry: ({ error }) => !(error instanceof RateLimitedError && error.retryAfterMs !== undefined),
      },
    );
  }

  async #once<T>(method: "GET" | "POST" | "DELETE", path: string, options: CallOptions): Promise<T> {
    const query = options.query?.toString();
    const url = `${this.#base}${path}${query ? `?${query}` : ""}`;
    const what = `${method} ${this.#base}${path}`;
    const timeout = options.timeoutMs ?? this.#requestTimeoutMs;
    const headers: Record<string, string> = { authorization: this.#authorization, accept: "application/json" };
    let body: string | undefined;
    if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers["content-type"] = "application/json";
    }
    let response: Dispatcher.ResponseData;
    try {
      response = await request(url, {
        method,
        headers,
        body,
        headersTimeout: timeout,
        bodyTimeout: timeout,
        dispatcher: this.#dispatcher ?? getGlobalDispatcher(),
      });
    } catch (error) {
      throw networkError(what, error);
    }
    let text: string;
    try {
      text = await response.body.text();
    } catch (error) {
      throw networkError(what, error);
    }
    if (response.statusCode >= 200 && response.statusCode < 300) {
      try {
        return (text ? JSON.parse(text) : undefined) as T;
      } catch (error) {
        throw new MachinesApiError(`${what}: HTTP ${response.statusCode} with a body that is not JSON`, {
          status: response.statusCode,
          code: "bad_response",
          retryable: false,
          cause: error,
        });
      }
    }
    const retryAfter = response.headers["retry-after"];
    throw errorForResponse(what, response.statusCode, errorBody(text), Array.isArray(retryAfter) ? retryAfter[0] : retryAfter, options.isWait);
  }
}

/** Fly's ErrorResponse `{error, status}`, or the raw body trimmed to a sane length. */
function errorBody(body: string): ErrorBody {
  try {
    const parsed: unknown = JSON.parse(body);
    if (parsed && typeof parsed === "object") {
      const error = "error" in parsed && typeof parsed.error === "string" ? parsed.error : undefined;
      const flyStatus = "status" in parsed && typeof parsed.status === "string" ? parsed.status : undefined;
      if (error !== undefined || flyStatus !== undefined) return { text: error ?? body.slice(0, 500), flyStatus };
    }
  } catch {
    // not JSON: fall through to the raw text
  }
  return { text: body.slice(0, 500) };
}

function networkError(what: string, error: unknown): MachinesApiError {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === "string" && NETWORK_CODES.has(code)) {
    return new RequestTimeoutError(`${what}: ${code}`, error);
  }
  if (error instanceof MachinesApiError) return error;
  // Unknown failure (e.g. invalid URL): not worth retrying.
  return new MachinesApiError(`${what}: ${error instanceof Error ? error.message : String(error)}`, {
    status: 0,
    code: "request_failed",
    retryable: false,
    cause: error,
  });
}
