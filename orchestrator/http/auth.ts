/**
 * Bearer-token authentication for the API, registered before every route. Open without a token:
 * `GET /healthz`, the webhook endpoints `POST /v1/hooks/:token` (their URL token and signature are
 * their credential), and published transcripts (`GET /v1/episodes/:id/transcript.*` and
 * `podcast-transcript.xml`, and their CORS preflight), which podcast apps fetch from a feed. Everything else, /metrics
 * included, answers 401 `{error: {code: "unauthorized"}}` without a live admin token.
 */
import type { Hono, MiddlewareHandler } from "hono";

// The dashboard (`/`, `/ui/…`) checks its own session cookie and CSRF token (dashboard/dashboard.tsx).
const DASHBOARD = /^\/(ui\/.*)?$/;
const PUBLIC_GET = [DASHBOARD, /^\/healthz$/, /^\/v1\/episodes\/[^/]+\/transcript\.(txt|srt|vtt|json)$/, /^\/v1\/episodes\/[^/]+\/podcast-transcript\.xml$/];
const PUBLIC_POST = [DASHBOARD, /^\/v1\/hooks\/[^/]+$/];

/** True when `method path` is served without a token. */
export function isPublicRoute(method: string, path: string): boolean {
  // OPTIONS: the CORS preflight a browser sends before fetching a published transcript
  if (method === "GET" || method === "HEAD" || method === "OPTIONS") return PUBLIC_GET.some((re) => re.test(path));
  if (method === "POST") return PUBLIC_POST.some((re) => re.test(path));
  return false;
}

/** `verify` returns the token's id when it is live. */
export function requireToken(verify: (token: string) => Promise<string | undefined>): MiddlewareHandler {
  return async (c, next) => {
    if (isPublicRoute(c.req.method, c.req.path)) return next();
    const header = c.req.header("authorization") ?? "";
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    const id = match ? await verify(match[1]!) : undefined;
    if (!id) {
      const message = match ? "the bearer token is not valid (revoked or unknown)" : "this endpoint needs an admin token: Authorization: Bearer <token>";
      return c.json({ error: { code: "unauthorized", message } }, 401, { "www-authenticate": 'Bearer realm="podfleet"' });
    }
    return next();
  };
}

/** Token management: `GET /v1/tokens`, `POST /v1/tokens {name}` (the token is in this answer only), `DELETE /v1/tokens/:id`. */
export function mountTokenRoutes(
  app: Hono,
  tokens: {
    create(name: string): Promise<{ id: string; name: string; token: string }>;
    list(): Promise<unknown[]>;
    revoke(id: string): Promise<boolean>;
  },
): void {
  app.get("/v1/tokens", async (c) => c.json({ tokens: await tokens.list() }));
  app.post("/v1/tokens", async (c) => {
    let body: { name?: unknown } | null;
    try {
      body = await c.req.json<{ name?: unknown } | null>();
    } catch {
      return c.json({ error: { code: "invalid_json", message: "request body is not valid JSON" } }, 400);
    }
    const name = typeof body?.name === "string" ? body.name.trim() : "";
    if (!name || name.length > 100) return c.json({ error: { code: "invalid_request", message: "name: a name of 1 to 100 characters is required" } }, 400);
    return c.json(await tokens.create(name), 201);
  });
  app.delete("/v1/tokens/:id", async (c) => {
    const id = c.req.param("id");
    if (!(await tokens.revoke(id))) return c.json({ error: { code: "not_found", message: `no live token ${id}` } }, 404);
    return c.json({ id, revoked: true });
  });
}
