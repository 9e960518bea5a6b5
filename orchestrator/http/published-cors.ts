/**
 * CORS for the published files (transcripts and `podcast-transcript.xml`): podcast apps and web
 * players fetch them from other origins, without a token. Each file gets its own preflight route,
 * so only those paths answer OPTIONS; any other OPTIONS request is refused like an unknown route.
 */
import { route, type ApiRoute } from "./api-route.ts";

export const PUBLISHED_CORS = {
  "access-control-allow-origin": "*",
  "access-control-allow-methods": "GET, HEAD, OPTIONS",
  "access-control-max-age": "86400",
};

/** The CORS preflight route for one published file's path. */
export function preflightRoute(path: string): ApiRoute {
  return route({
    method: "options",
    path,
    access: "public",
    tag: "transcripts",
    summary: "CORS preflight for this published file; no token needed",
    responses: { 204: { description: "CORS headers" } },
    handler: (c) => c.body(null, 204, { ...PUBLISHED_CORS, "access-control-allow-headers": "*" }),
  });
}
