/**
 * Bearer-token authentication for the JSON API. Each route says who may call it (api-route.ts
 * `Access`); `adminGuard` is what an `admin` route runs first. Requests that match no route are
 * judged the same way (`unknownRouteError`), so without a token an unknown path answers 401 rather
 * than telling a stranger which paths exist.
 */
import type { Context, MiddlewareHandler } from "hono";
import { ApiError } from "./api-error.ts";

/** Returns the token's id when it is live. */
export type VerifyToken = (token: string) => Promise<string | undefined>;

/** The 401 for a request without a live admin token, or undefined when it has one. */
export async function bearerError(c: Context, verify: VerifyToken): Promise<ApiError | undefined> {
  const header = c.req.header("authorization") ?? "";
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  const id = match ? await verify(match[1]!) : undefined;
  if (id) return undefined;
  const message = match ? "the bearer token is not valid (revoked or unknown)" : "this endpoint needs an admin token: Authorization: Bearer <token>";
  return new ApiError(401, "unauthorized", message, { "www-authenticate": 'Bearer realm="podfleet"' });
}

/** Middleware for `admin` routes; with no `verify` (in-process unit tests only) every request passes. */
export function adminGuard(verify: VerifyToken | undefined): MiddlewareHandler {
  return async (c, next) => {
    const refused = verify ? await bearerError(c, verify) : undefined;
    if (refused) throw refused;
    await next();
  };
}

/** What a request that matched no route gets: 401 without a live token, else 404 naming it. */
export async function unknownRouteError(c: Context, verify: VerifyToken | undefined): Promise<ApiError> {
  return (verify ? await bearerError(c, verify) : undefined) ?? new ApiError(404, "not_found", `no route for ${c.req.method} ${c.req.path}`);
}
