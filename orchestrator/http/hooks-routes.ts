/**
 * Webhook sources, completion deliveries and published transcripts on the API app:
 *   POST   /v1/hooks/:token                     a host's webhook (202 with the episode id)
 *   GET    /v1/sources, POST /v1/sources, DELETE /v1/sources/:id
 *   GET    /v1/callbacks/signing-secret         the secret that signs completion callbacks
 *   GET    /v1/episodes/:id/deliveries          callback deliveries and every attempt
 *   GET    /v1/episodes/:id/podcast-transcript.xml   <podcast:transcript> elements for a feed
 *   OPTIONS /v1/episodes/:id/*                  CORS preflight for the published files
 * Domain errors become ApiError here; app.ts's one handler renders them.
 */
import type { Hono } from "hono";
import { z } from "zod";
import { podcastTranscriptElements } from "../delivery/transcript-links.ts";
import type { DeliveryService } from "../delivery/delivery-service.ts";
import type { EpisodeStore } from "../store/episode-store.ts";
import { checkUrl } from "../outbound/url-policy.ts";
import { PayloadError } from "../sources/payload-adapters.ts";
import { SourceNameTakenError, type SourceRow, type SourceStore } from "../sources/source-store.ts";
import { SOURCE_SCHEMES, WebhookAuthError } from "../sources/webhook-signature.ts";
import { UnknownSourceError, type WebhookService } from "../sources/webhook-service.ts";
import { ApiError } from "./app.ts";

export const MAX_WEBHOOK_BYTES = 1024 * 1024;

export interface HookRoutesDeps {
  webhooks: WebhookService;
  sources: SourceStore;
  deliveries: DeliveryService;
  episodes: Pick<EpisodeStore, "getEpisode">;
  /** Base URL for links we hand out (PODFLEET_PUBLIC_URL, else the request's origin). */
  publicUrl: string | undefined;
  callbackSecret: string;
  allowPrivateUrls: boolean;
}

const AddSource = z.object({
  name: z.string().min(1).max(100).regex(/^[\w.-]+$/, "letters, digits, _ . - only"),
  scheme: z.enum(SOURCE_SCHEMES as [string, ...string[]]),
  feedUrl: z.string().max(4096).optional(),
  callbackUrl: z.string().max(4096).optional(),
});

const CORS = { "access-control-allow-origin": "*", "access-control-allow-methods": "GET, HEAD, OPTIONS", "access-control-max-age": "86400" };

function base(publicUrl: string | undefined, reqUrl: string): string {
  return publicUrl ?? new URL(reqUrl).origin;
}

/** What the API shows of a source; the secret only when it was just created. */
export function sourceView(row: SourceRow, baseUrl: string, withSecret: boolean) {
  return {
    id: row.id,
    name: row.name,
    scheme: row.scheme,
    url: `${baseUrl.replace(/\/+$/, "")}/v1/hooks/${row.token}`,
    feedUrl: row.feedUrl,
    callbackUrl: row.callbackUrl,
    createdAt: new Date(row.createdAt).toISOString(),
    ...(withSecret ? { secret: row.secret } : {}),
  };
}

export function mountHookRoutes(app: Hono, deps: HookRoutesDeps): void {
  app.post("/v1/hooks/:token", async (c) => {
    const declared = Number(c.req.header("content-length") ?? NaN);
    if (declared > MAX_WEBHOOK_BYTES) throw new ApiError(413, "too_large", `webhook body is over ${MAX_WEBHOOK_BYTES} bytes`);
    const buf = Buffer.from(await c.req.arrayBuffer());
    if (buf.length > MAX_WEBHOOK_BYTES) throw new ApiError(413, "too_large", `webhook body is over ${MAX_WEBHOOK_BYTES} bytes`);
    try {
      const out = await deps.webhooks.handle(c.req.param("token"), buf.toString("utf8"), (name) => c.req.header(name));
      return c.json(out, 202);
    } catch (err) {
      if (err instanceof UnknownSourceError) throw new ApiError(404, "unknown_source", err.message);
      if (err instanceof WebhookAuthError) throw new ApiError(401, err.code, err.message);
      if (err instanceof PayloadError) throw new ApiError(400, "bad_payload", err.message);
      throw err;
    }
  });

  app.get("/v1/sources", async (c) => {
    const b = base(deps.publicUrl, c.req.url);
    return c.json({ sources: (await deps.sources.list()).map((s) => sourceView(s, b, false)) });
  });

  app.post("/v1/sources", async (c) => {
    const parsed = AddSource.safeParse(await c.req.json().catch(() => undefined));
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new ApiError(400, "invalid_request", `${issue.path.join(".") || "body"}: ${issue.message}`);
    }
    const { name, scheme, feedUrl, callbackUrl } = parsed.data;
    // Throws BadInputError (400) for unusable URLs.
    const feed = feedUrl ? checkUrl(feedUrl, deps.allowPrivateUrls).toString() : null;
    const callback = callbackUrl ? checkUrl(callbackUrl, deps.allowPrivateUrls).toString() : null;
    try {
      const row = await deps.sources.add({ name, scheme: scheme as SourceRow["scheme"], feedUrl: feed, callbackUrl: callback });
      return c.json(sourceView(row, base(deps.publicUrl, c.req.url), true), 201);
    } catch (err) {
      if (err instanceof SourceNameTakenError) throw new ApiError(409, "name_taken", err.message);
      throw err;
    }
  });

  app.delete("/v1/sources/:id", async (c) => {
    if (!(await deps.sources.remove(c.req.param("id")))) throw new ApiError(404, "not_found", `no source ${c.req.param("id")}`);
    return c.json({ removed: c.req.param("id") });
  });

  app.get("/v1/callbacks/signing-secret", (c) => c.json({ secret: deps.callbackSecret, scheme: "standard-webhooks" }));

  app.get("/v1/episodes/:id/deliveries", async (c) => {
    const id = c.req.param("id");
    if (!(await deps.episodes.getEpisode(id))) throw new ApiError(404, "not_found", `no episode ${id}`);
    return c.json({ deliveries: await deps.deliveries.forEpisode(id) });
  });

  app.get("/v1/episodes/:id/podcast-transcript.xml", async (c) => {
    const id = c.req.param("id");
    const episode = await deps.episodes.getEpisode(id);
    if (!episode) throw new ApiError(404, "not_found", `no episode ${id}`);
    if (episode.status !== "done") throw new ApiError(409, "not_ready", `episode ${id} is ${episode.status}; transcripts are published once it is done`);
    return c.body(podcastTranscriptElements(base(deps.publicUrl, c.req.url), id, episode.language), 200, {
      ...CORS,
      "content-type": "application/xml; charset=utf-8",
      "cache-control": "public, max-age=300",
    });
  });

  app.options("/v1/episodes/:id/:file", (c) => c.body(null, 204, { ...CORS, "access-control-allow-headers": "*" }));
}
