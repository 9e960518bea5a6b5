/**
 * One API route as data: its method and OpenAPI path, who may call it, its schemas (which feed both
 * the request checks and `/openapi.json`), its guards and its handler. Route modules
 * (`episodes-routes.ts`, `feeds-routes.ts`, …) return arrays of these; `createApi` (api.ts) mounts
 * them, so the access rule, the document and the handler of a route cannot drift apart.
 */
import type { RouteConfig } from "@hono/zod-openapi";
import { z as zo } from "@hono/zod-openapi";
import type { Context, MiddlewareHandler } from "hono";
import type { z } from "zod";
import { ApiError, invalid } from "./api-error.ts";

export type Method = "get" | "post" | "put" | "delete" | "options";

/**
 * Who may call a route:
 * - `public`: anyone (health, published transcripts, the API document);
 * - `admin`: a live admin token, `Authorization: Bearer <token>`;
 * - `webhook`: anyone at the HTTP layer; the secret token in the URL and the body's signature are
 *   checked by the handler (sources/webhook-service.ts);
 * - a `CustomAccess`: the route module brings its own check (e.g. a browser session cookie + CSRF).
 */
export type Access = "public" | "admin" | "webhook" | CustomAccess;

export interface CustomAccess {
  /** Shown in the document's `x-podfleet-access` and in the README table. */
  readonly name: string;
  /** Runs first; throws `ApiError` (401/403) to refuse. */
  readonly guard: MiddlewareHandler;
}

export interface ApiRoute {
  readonly method: Method;
  /** OpenAPI path template, `/v1/episodes/{id}`. */
  readonly path: string;
  readonly access: Access;
  /** Which token bucket (per client address) the route draws from; none: not limited. */
  readonly rateLimit?: "submit" | "webhook";
  /** The body may be audio streamed to disk under its own cap, rather than JSON under the JSON cap. */
  readonly uploads?: boolean;
  /** The operation as `/openapi.json` shows it. */
  readonly openapi: RouteConfig;
  readonly run: (c: Context) => Promise<Response> | Response;
}

type Infer<S> = S extends z.ZodType ? z.output<S> : undefined;

export interface RouteDef<Q extends z.ZodType | undefined, B extends z.ZodType | undefined> {
  method: Method;
  path: string;
  access: Access;
  tag: string;
  summary: string;
  /** Markdown; the README table shows it. */
  description?: string;
  /** Query string schema: checked before the handler (400 invalid_request naming the field). */
  query?: Q;
  /** JSON body schema: malformed JSON is 400 invalid_json, a bad field 400 invalid_request. */
  body?: B;
  /** Request body as documented when the handler reads the body itself (uploads, raw webhooks). */
  content?: NonNullable<RouteConfig["request"]>["body"];
  responses: RouteConfig["responses"];
  rateLimit?: "submit" | "webhook";
  uploads?: boolean;
  handler: (c: Context, input: { query: Infer<Q>; body: Infer<B> }) => Promise<Response> | Response;
}

/** The JSON body of every error. */
export const ErrorBody = zo
  .object({ error: zo.object({ code: zo.string().openapi({ example: "invalid_request" }), message: zo.string() }) })
  .openapi("Error");

/** A JSON response for the document. */
export function json(description: string, schema: z.ZodType = zo.looseObject({})) {
  return { description, content: { "application/json": { schema } } };
}

/** Error responses for the document: status → what it means. */
export function errors(table: Record<number, string>): RouteConfig["responses"] {
  return Object.fromEntries(Object.entries(table).map(([status, description]) => [status, json(description, ErrorBody)]));
}

/** Reads a JSON body, whatever its declared type; 400 invalid_json when it does not parse. */
export async function readJson(c: Context): Promise<unknown> {
  try {
    return await c.req.json();
  } catch {
    throw new ApiError(400, "invalid_json", "request body is not valid JSON");
  }
}

/** Path parameters of an OpenAPI template, as a schema for the document. */
function pathParams(path: string): z.ZodObject | undefined {
  const names = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
  return names.length ? zo.object(Object.fromEntries(names.map((n) => [n, zo.string()]))) : undefined;
}

/** Builds a route from its definition; `query` and `body` are checked before `handler` runs. */
export function route<Q extends z.ZodType | undefined = undefined, B extends z.ZodType | undefined = undefined>(def: RouteDef<Q, B>): ApiRoute {
  const params = pathParams(def.path);
  const body = def.body ? { content: { "application/json": { schema: def.body } }, required: true } : def.content;
  const access = typeof def.access === "string" ? def.access : def.access.name;
  const openapi: RouteConfig = {
    method: def.method,
    path: def.path,
    tags: [def.tag],
    summary: def.summary,
    ...(def.description ? { description: def.description } : {}),
    security: def.access === "admin" ? [{ bearerAuth: [] }] : [],
    "x-podfleet-access": access,
    request: {
      ...(params ? { params } : {}),
      ...(def.query ? { query: def.query as unknown as z.ZodObject } : {}),
      ...(body ? { body } : {}),
    },
    responses: def.responses,
  };
  return {
    method: def.method,
    path: def.path,
    access: def.access,
    ...(def.rateLimit ? { rateLimit: def.rateLimit } : {}),
    ...(def.uploads ? { uploads: true } : {}),
    openapi,
    run: async (c) => {
      let query: unknown;
      if (def.query) {
        const parsed = def.query.safeParse(c.req.query());
        if (!parsed.success) invalid(parsed.error);
        query = parsed.data;
      }
      let parsedBody: unknown;
      if (def.body) {
        const parsed = def.body.safeParse(await readJson(c));
        if (!parsed.success) invalid(parsed.error);
        parsedBody = parsed.data;
      }
      return def.handler(c, { query, body: parsedBody } as { query: Infer<Q>; body: Infer<B> });
    },
  };
}

/** `/v1/episodes/{id}` → `/v1/episodes/:id` (Hono's syntax). */
export function honoPath(openapiPath: string): string {
  return openapiPath.replace(/\{(\w+)\}/g, ":$1");
}
