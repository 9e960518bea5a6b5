/**
 * The HTTP face of the local runtime: Fly's `/v1/apps/:app/machines…` routes, JSON shapes,
 * status codes and `{error}` bodies, over a MachineSupervisor. Errors become responses in
 * the one `onError` handler.
 */
import { timingSafeEqual } from "node:crypto";
import { Hono, type Context, type MiddlewareHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { isWaitableState, type CreateMachineRequest, type Machine } from "../machine.ts";
import type { ActionRateLimiter, ApiAction } from "./api-rate-limits.ts";
import { createRequestProblem } from "./create-request-check.ts";
import { machineJson } from "./machine-record.ts";
import { RuntimeRequestError, type MachineSupervisor } from "./machine-supervisor.ts";
import type { RuntimeHooks } from "./runtime-hooks.ts";

export interface RoutesDeps {
  app: string;
  token: string;
  supervisor: MachineSupervisor;
  hooks: () => RuntimeHooks | undefined;
  /** Per-action limits answered with 429 + Retry-After; absent = unlimited. */
  rateLimiter?: ActionRateLimiter | undefined;
  /** Called for every request answered 429 (tests count them). */
  onRateLimited?: (action: ApiAction) => void;
}

const MAX_WAIT_SEC = 60;

/** Builds the Hono app serving the Machines API subset. */
export function createMachinesRoutes(deps: RoutesDeps): Hono {
  const { supervisor, hooks } = deps;
  const http = new Hono();

  http.onError((error, c) => {
    if (error instanceof RuntimeRequestError) return fail(c, error.status, error.message);
    if (error instanceof HTTPException) return fail(c, error.status, error.message);
    return fail(c, 500, "internal error");
  });
  http.notFound((c) => fail(c, 404, "not found"));

  http.use("/v1/*", async (c: Context, next) => {
    if (!authorized(c.req.header("authorization"), deps.token)) return fail(c, 401, "unauthorized");
    await next();
  });
  http.use("/v1/apps/:app/*", async (c: Context, next) => {
    if (c.req.param("app") !== deps.app) return fail(c, 404, "app not found");
    await next();
  });

  const base = "/v1/apps/:app/machines";

  // Fly's per-action limits, checked after auth and before the request is looked at.
  const limited =
    (action: ApiAction, perMachine: boolean): MiddlewareHandler =>
    async (c, next) => {
      const retryAfter = deps.rateLimiter?.take(action, perMachine ? c.req.param("id") : "");
      if (retryAfter === undefined) return next();
      deps.onRateLimited?.(action);
      c.header("retry-after", String(retryAfter));
      return fail(c, 429, `rate limit exceeded for ${action}; retry in ${retryAfter}s`);
    };

  http.get(base, limited("list", false), (c) => {
    const states = (c.req.query("state") ?? "").split(",").filter(Boolean);
    const region = c.req.query("region");
    const includeDeleted = c.req.query("include_deleted") === "true";
    const summary = c.req.query("summary") === "true";
    const wanted = metadataFilter(new URL(c.req.url).searchParams);
    const machines = supervisor
      .all()
      .map((record) => record.machine)
      .filter((m) => includeDeleted || m.state !== "destroyed" || states.includes("destroyed"))
      .filter((m) => states.length === 0 || states.includes(m.state))
      .filter((m) => !region || m.region === region)
      .filter((m) => wanted.every(([key, value]) => m.config?.metadata?.[key] === value));
    return c.json(machines.map((m) => machineJson(supervisor.find(m.id), summary)));
  });

  http.post(base, limited("create", false), async (c) => {
    const refusal = hooks()?.takeCreateRefusal();
    if (refusal) {
      if (refusal.retryAfterSec !== undefined) c.header("retry-after", String(refusal.retryAfterSec));
      return c.json(refusal.body, refusal.status);
    }
    const body = await jsonBody<unknown>(c);
    const problem = createRequestProblem(body);
    if (problem) return fail(c, 400, `invalid request body: ${problem}`);
    return c.json(supervisor.create(body as CreateMachineRequest));
  });

  http.get(`${base}/:id`, limited("get", true), (c) => c.json(machineJson(supervisor.find(c.req.param("id")))));

  http.get(`${base}/:id/wait`, limited("wait", true), async (c) => {
    const state = c.req.query("state") ?? "started";
    if (!isWaitableState(state)) return fail(c, 400, `invalid state: ${state}`);
    // Fly waits on one version of a machine: for `stopped` it must be named.
    if (state === "stopped" && !c.req.query("instance_id")) {
      return fail(c, 400, "instance_id is required when waiting for the stopped state");
    }
    const timeout = Number(c.req.query("timeout") ?? MAX_WAIT_SEC);
    if (!Number.isInteger(timeout) || timeout < 1 || timeout > MAX_WAIT_SEC) {
      return fail(c, 400, `timeout must be an integer in 1..${MAX_WAIT_SEC}`);
    }
    const outcome = await supervisor.wait(c.req.param("id"), state, timeout * 1000);
    if (outcome === "timeout") return fail(c, 408, `deadline_exceeded: machine did not reach ${state} in ${timeout}s`);
    if (outcome === "gone") return fail(c, 412, "failed_precondition: machine was destroyed");
    return c.json({ ok: true });
  });

  http.post(`${base}/:id/start`, limited("start", true), (c) => c.json({ ...supervisor.start(c.req.param("id")), migrated: false, new_host: "" }));

  http.post(`${base}/:id/stop`, limited("stop", true), async (c) => {
    const body = await jsonBody<{ signal?: unknown; timeout?: unknown }>(c, true);
    supervisor.stop(c.req.param("id"), body);
    return c.json({ ok: true });
  });

  http.delete(`${base}/:id`, limited("destroy", true), (c) => {
    supervisor.destroy(c.req.param("id"), c.req.query("force") === "true");
    return c.json({ ok: true });
  });

  http.get(`${base}/:id/events`, limited("events", true), (c) => {
    const machine: Machine = machineJson(supervisor.find(c.req.param("id")));
    return c.json(machine.events ?? []);
  });

  return http;
}

function fail(c: Context, status: number, error: string): Response {
  return c.json({ error }, status as ContentfulStatusCode);
}

/** Parses the JSON body; an empty body counts as `{}` when `optional`. */
async function jsonBody<T>(c: Context, optional = false): Promise<T> {
  const text = await c.req.text();
  if (text.trim() === "" && optional) return {} as T;
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed === null || typeof parsed !== "object") throw new Error("not an object");
    return parsed as T;
  } catch {
    throw new RuntimeRequestError(400, "request body must be a JSON object");
  }
}

/** `metadata.KEY=VALUE` pairs from the query; repeated keys all must match. */
function metadataFilter(params: URLSearchParams): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  for (const [name, value] of params) {
    if (name.startsWith("metadata.") && name.length > "metadata.".length) pairs.push([name.slice(9), value]);
  }
  return pairs;
}

/** Accepts `Bearer <token>`, or a `FlyV1 …` token sent verbatim; compares in constant time. */
function authorized(header: string | undefined, token: string): boolean {
  if (!header) return false;
  const expected = token.startsWith("FlyV1 ") ? token : `Bearer ${token}`;
  const a = Buffer.from(header);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
