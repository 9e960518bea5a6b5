/**
 * The orchestrator's whole HTTP surface as a factory: `createApi(deps, extras)` mounts the route
 * modules (api-route.ts) on one `OpenAPIHono` app, puts each route's guards in front of it in one
 * order (its access rule, then its rate limit, then the body cap), serves the OpenAPI document
 * built from the routes' schemas at `/openapi.json` and as a page at `/docs`, and renders every
 * error in one handler (api-error.ts). Listening lives in parts/http-part.ts.
 *
 * Other parts plug in with one line each: `extras.routes` takes more route modules (documented and
 * guarded like these; a route may bring its own check as a `CustomAccess`, e.g. a session cookie
 * and CSRF token), `extras.apps` takes Hono sub-apps that bring their own authentication and are not
 * JSON API (the browser dashboard, mounted at `/`, which this app leaves free). Sub-apps are mounted
 * after the API routes, so an API route always answers first; a sub-app at `/` should scope its
 * middleware to its own paths (not `*`), or an unknown `/v1/...` path would reach it instead of
 * getting the API's 401/404.
 */
import { OpenAPIHono } from "@hono/zod-openapi";
import type { Hono, MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { z } from "zod";
import type { Logger } from "../log.ts";
import { ApiError, renderError } from "./api-error.ts";
import { renderApiReference, type ApiDocument } from "./api-reference.ts";
import { honoPath, json, route, type ApiRoute } from "./api-route.ts";
import { adminGuard, unknownRouteError, type VerifyToken } from "./auth.ts";
import { episodeRoutes, isAudioUpload, type EpisodeRoutesDeps } from "./episodes-routes.ts";
import { feedRoutes, type FeedRoutesDeps } from "./feeds-routes.ts";
import { fleetRoutes, type FleetRoutesDeps } from "./fleet-routes.ts";
import { hookRoutes, type HookRoutesDeps } from "./hooks-routes.ts";
import { HttpMetrics } from "./http-metrics.ts";
import { metricsRoutes, type MetricsDeps } from "./metrics-routes.ts";
import { rateLimit, type RateLimitOptions } from "./rate-limit.ts";
import { tokenRoutes, type TokenRoutesDeps } from "./tokens-routes.ts";

/** What the routes need; a module whose deps are absent is not mounted (in-process tests mount only what they use). */
export interface ApiDeps {
  log: Logger;
  /** Checks an admin bearer token (returns its id when live); absent: no authentication (unit tests only). */
  authenticate?: VerifyToken;
  /** Largest non-audio request body (JSON, webhooks); bigger ones get 413 before any parsing. Default 1 MiB. */
  maxJsonBytes?: number;
  /** Token buckets for the routes that declare a `rateLimit` scope (per client address); absent: no limit. */
  rateLimit?: Pick<RateLimitOptions, "perMinute" | "burst" | "now" | "trustProxy">;
  episodes?: EpisodeRoutesDeps;
  tokens?: TokenRoutesDeps;
  hooks?: HookRoutesDeps;
  feeds?: FeedRoutesDeps;
  fleet?: FleetRoutesDeps;
  /** The farm's figures on /metrics (process, runtime and HTTP metrics are always there). */
  metrics?: MetricsDeps;
}

/** A sub-app mounted as it is: it authenticates its own requests and is not part of the API document. */
export interface MountedApp {
  path: string;
  app: Hono;
  /** Why its routes are not in the OpenAPI document (shown to the coverage test). */
  undocumented: string;
}

export interface ApiExtras {
  /** More route modules, mounted, guarded and documented like the built-in ones. */
  routes?: ApiRoute[][];
  apps?: MountedApp[];
}

export interface Api {
  app: OpenAPIHono;
  /** The OpenAPI 3.1 document `/openapi.json` serves. */
  document(): ApiDocument;
  /** Routes the document leaves out on purpose (mounted sub-apps), with why. */
  undocumented: ReadonlyArray<{ method: string; path: string; why: string }>;
}

export const API_INFO = {
  title: "podfleet",
  version: "1",
  description:
    "Podcast transcription farm. Admin routes need `Authorization: Bearer <token>` (the data directory's `admin-token`, or one made with `podfleet tokens create`). Errors are `{error: {code, message}}` with a 4xx/5xx status.",
};

export function createApi(deps: ApiDeps, extras: ApiExtras = {}): Api {
  const app = new OpenAPIHono();
  const onError = renderError(deps.log);
  const metrics = new HttpMetrics();
  app.onError(onError);
  app.notFound(async (c) => onError(await unknownRouteError(c, deps.authenticate), c));
  app.use("*", metrics.middleware());
  app.openAPIRegistry.registerComponent("securitySchemes", "bearerAuth", { type: "http", scheme: "bearer", description: "an admin token" });

  const guards = routeGuards(deps);
  // built once, on first use: every route is registered by the time createApi returns
  let built: ApiDocument | undefined;
  let page: string | undefined;
  const document = () => (built ??= app.getOpenAPI31Document({ openapi: "3.1.0", info: API_INFO, security: [{ bearerAuth: [] }] }));

  const service: ApiRoute[] = [
    route({
      method: "get",
      path: "/healthz",
      access: "public",
      tag: "operations",
      summary: "liveness; no token needed",
      responses: { 200: json("`{ok: true}`", z.object({ ok: z.boolean() })) },
      handler: (c) => c.json({ ok: true }),
    }),
    route({
      method: "get",
      path: "/openapi.json",
      access: "public",
      tag: "operations",
      summary: "this API as an OpenAPI 3.1 document, built from the routes' schemas; no token needed",
      responses: { 200: json("the OpenAPI document") },
      handler: (c) => c.json(document()),
    }),
    route({
      method: "get",
      path: "/docs",
      access: "public",
      tag: "operations",
      summary: "the API reference as a page (the same document; no scripts, works offline); no token needed",
      responses: { 200: { description: "HTML", content: { "text/html": { schema: z.string() } } } },
      handler: (c) => c.html((page ??= renderApiReference(document()))),
    }),
    ...metricsRoutes(deps.metrics, metrics),
  ];
  const modules = [
    service,
    deps.episodes ? episodeRoutes(deps.episodes) : [],
    deps.hooks ? hookRoutes(deps.hooks) : [],
    deps.tokens ? tokenRoutes(deps.tokens) : [],
    deps.feeds ? feedRoutes(deps.feeds) : [],
    deps.fleet ? fleetRoutes(deps.fleet) : [],
    ...(extras.routes ?? []),
  ];
  const seen = new Set<string>();
  for (const r of modules.flat()) {
    const key = `${r.method.toUpperCase()} ${r.path}`;
    if (seen.has(key)) throw new Error(`two routes for ${key}`);
    seen.add(key);
    app.openAPIRegistry.registerPath(r.openapi);
    const handlers: MiddlewareHandler[] = [...guards(r), async (c) => r.run(c)];
    app.on([r.method.toUpperCase()], [honoPath(r.path)], ...(handlers as [MiddlewareHandler]));
  }

  const undocumented: Array<{ method: string; path: string; why: string }> = [];
  for (const m of extras.apps ?? []) {
    const before = app.routes.length;
    app.route(m.path, m.app);
    for (const r of app.routes.slice(before)) undocumented.push({ method: r.method, path: r.path, why: m.undocumented });
  }
  return { app, document, undocumented };
}

/** The middleware a route runs before its handler, in this order: access, rate limit, body cap. */
function routeGuards(deps: ApiDeps): (r: ApiRoute) => MiddlewareHandler[] {
  const admin = adminGuard(deps.authenticate);
  const limits = new Map<string, MiddlewareHandler>();
  const limiter = (scope: "submit" | "webhook"): MiddlewareHandler | undefined => {
    if (!deps.rateLimit || deps.rateLimit.perMinute <= 0) return undefined;
    if (!limits.has(scope)) limits.set(scope, rateLimit({ ...deps.rateLimit, scope }));
    return limits.get(scope);
  };
  const maxJson = deps.maxJsonBytes ?? 1024 * 1024;
  const jsonCap = bodyLimit({
    maxSize: maxJson,
    // connection: close, since the rest of the body is left unread
    onError: () => {
      throw new ApiError(413, "too_large", `request body is over the ${maxJson}-byte limit`, { connection: "close" });
    },
  });
  const bodyCap =
    (uploads: boolean): MiddlewareHandler =>
    async (c, next) => {
      // audio uploads are streamed to disk under their own cap (maxUploadBytes); every other body is capped here
      if (c.req.method === "GET" || c.req.method === "HEAD") return next();
      if (uploads && isAudioUpload(c.req.header("content-type") ?? "")) return next();
      return jsonCap(c, next);
    };
  return (r) => {
    const list: MiddlewareHandler[] = [];
    if (r.access === "admin") list.push(admin);
    else if (typeof r.access === "object") list.push(r.access.guard);
    const limit = r.rateLimit ? limiter(r.rateLimit) : undefined;
    if (limit) list.push(limit);
    list.push(bodyCap(r.uploads ?? false));
    return list;
  };
}
