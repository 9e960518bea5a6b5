/**
 * A GET that follows redirects by hand, so that every hop's URL passes the URL policy again
 * (scheme, user info, literal private address) and its connection the guarded agent's address
 * check. undici's own redirect interceptor would hop without asking.
 */
import { request, type Dispatcher } from "undici";
import { BadInputError } from "../ingest/ingest-errors.ts";
import { failureFromError } from "./fetch-errors.ts";
import type { AddressPolicy } from "./guarded-agent.ts";
import { checkUrl } from "./url-policy.ts";

export const DEFAULT_MAX_REDIRECTS = 5;

/** The statuses that send us elsewhere; 300 and 304 are answers, not redirects. */
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

export interface RedirectChainOptions {
  /** A guarded agent (guarded-agent.ts) unless the target is the operator's own. */
  dispatcher: Dispatcher;
  policy: AddressPolicy;
  /** The caller's deadline or cancel; none for downloads bounded only by the agent's stall timeouts. */
  signal?: AbortSignal;
  /** The deadline behind `signal`, for messages. */
  timeoutMs: number;
  headers: Record<string, string>;
  maxRedirects: number;
  /** Told of each hop before it is taken (feeds track permanent moves). */
  onRedirect?: (status: number, next: URL) => void;
}

export interface FinalResponse {
  res: Dispatcher.ResponseData;
  /** The URL that answered, after the redirects. */
  url: URL;
}

/**
 * GET `start`, following redirects; resolves with the first response that is not one.
 * Throws BadInputError (refused hop, too many redirects) or TransientFetchError (network).
 */
export async function getFollowingRedirects(start: URL, opts: RedirectChainOptions): Promise<FinalResponse> {
  let url = start;
  for (let hop = 0; ; hop++) {
    let res: Dispatcher.ResponseData;
    try {
      res = await request(url, { dispatcher: opts.dispatcher, signal: opts.signal, headers: opts.headers });
    } catch (err) {
      throw failureFromError(err, url.host, opts.signal?.aborted ?? false, opts.timeoutMs);
    }
    const location = res.headers.location;
    if (!REDIRECTS.has(res.statusCode) || location === undefined) return { res, url };
    await res.body.dump().catch(() => undefined);
    if (hop >= opts.maxRedirects)
      throw new BadInputError("too_many_redirects", `more than ${opts.maxRedirects} redirects from ${start.host}${start.pathname}`);
    let next: URL;
    try {
      next = new URL(String(location), url);
    } catch {
      throw new BadInputError("bad_url", `${url.host} redirected to something that is not a URL`);
    }
    url = checkUrl(next.toString(), opts.policy.allowPrivate, opts.policy.isBlocked);
    opts.onRedirect?.(res.statusCode, url);
  }
}
