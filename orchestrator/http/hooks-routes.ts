/**
 * Webhook sources, completion deliveries and published transcripts on the API app:
 *   POST   /v1/hooks/:token                     a host's webhook (202 with the episode id)
 *   GET    /v1/sources, POST /v1/sources, DELETE /v1/sources/:id
 *   GET    /v1/callbacks/signing-secret         the secret that signs completion callbacks
 *   GET    /v1/episodes/:id/deliveries          callback deliveries and every attempt
 *   GET    /v1/episodes/:id/podcast-transcript.xml   <podcast:transcript> elements for a feed
 *   OPTIONS /v1/episodes/:id/podcast-transcript.xml   its CORS preflight
 * Domain errors become ApiError here; api-error.ts's one handler renders them.
 */
import { z } from "zod";
import { podcastTranscriptElements } from "../delivery/transcript-links.ts";
import type { DeliveryService } from "../delivery/delivery-service.ts";
import type { EpisodeStore } from "../store/episode-store.ts";
import { checkUrl } from "../outbound/url-policy.ts";
import { PayloadError } from "../sources/payload-adapters.ts";
import { SourceNameTakenError, type SourceRow, type SourceStore } from "../sources/source-store.ts";
import { SOURCE_SCHEMES, WebhookAuthError } from "../sources/webhook-signature.ts";
import { UnknownSourceError, type WebhookService } from "../sources/webhook-service.ts";
import { ApiError } from "./api-error.ts";
import { errors, json, route, type ApiRoute } from "./api-route.ts";
import { preflightRoute, PUBLISHED_CORS } from "./published-cors.ts";

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
  name: z
    .string()
    .min(1)
    .max(100)
    .regex(/^[\w.-]+$/, "letters, digits, _ . - only"),
  scheme: z.enum(SOURCE_SCHEMES as [string, ...string[]]),
  feedUrl: z.string().max(4096).optional(),
  callbackUrl: z.string().max(4096).optional(),
});

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

const ADMIN = { 401: "no live admin token" };

export function hookRoutes(deps: HookRoutesDeps): ApiRoute[] {
  return [
    route({
      method: "post",
      path: "/v1/hooks/{token}",
      access: "webhook",
      tag: "sources",
      summary:
        "a host's webhook: the URL's secret token names the source, its scheme checks the signature; `202` with the episode id; no bearer token",
      content: { content: { "application/json": { schema: z.looseObject({}) } }, required: true },
      rateLimit: "webhook",
      responses: {
        202: json("accepted (or a duplicate of one already accepted)"),
        ...errors({
          400: "a payload the source's scheme cannot read",
          401: "bad or missing signature",
          404: "no source with that token",
          413: "body over 1 MiB",
          429: "rate limited",
        }),
      },
      handler: async (c) => {
        const declared = Number(c.req.header("content-length") ?? NaN);
        if (declared > MAX_WEBHOOK_BYTES) throw new ApiError(413, "too_large", `webhook body is over ${MAX_WEBHOOK_BYTES} bytes`);
        const buf = Buffer.from(await c.req.arrayBuffer());
        if (buf.length > MAX_WEBHOOK_BYTES) throw new ApiError(413, "too_large", `webhook body is over ${MAX_WEBHOOK_BYTES} bytes`);
        try {
          const out = await deps.webhooks.handle(c.req.param("token")!, buf.toString("utf8"), (name) => c.req.header(name));
          return c.json(out, 202);
        } catch (err) {
          if (err instanceof UnknownSourceError) throw new ApiError(404, "unknown_source", err.message);
          if (err instanceof WebhookAuthError) throw new ApiError(401, err.code, err.message);
          if (err instanceof PayloadError) throw new ApiError(400, "bad_payload", err.message);
          throw err;
        }
      },
    }),
    route({
      method: "get",
      path: "/v1/sources",
      access: "admin",
      tag: "sources",
      summary: "webhook sources with their hook URLs (never their secrets)",
      responses: { 200: json("the sources"), ...errors(ADMIN) },
      handler: async (c) => {
        const b = base(deps.publicUrl, c.req.url);
        return c.json({ sources: (await deps.sources.list()).map((s) => sourceView(s, b, false)) });
      },
    }),
    route({
      method: "post",
      path: "/v1/sources",
      access: "admin",
      tag: "sources",
      summary: "add a source `{name, scheme, feedUrl?, callbackUrl?}`: `201` with its hook URL and signing secret (shown only here)",
      body: AddSource,
      responses: {
        201: json("the new source, with its secret"),
        ...errors({ 400: "bad JSON, a bad field or an unusable URL", ...ADMIN, 409: "name taken" }),
      },
      handler: async (c, { body }) => {
        const { name, scheme, feedUrl, callbackUrl } = body;
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
      },
    }),
    route({
      method: "delete",
      path: "/v1/sources/{id}",
      access: "admin",
      tag: "sources",
      summary: "remove a source (its hook URL stops working)",
      responses: { 200: json("removed"), ...errors({ ...ADMIN, 404: "no such source" }) },
      handler: async (c) => {
        const id = c.req.param("id")!;
        if (!(await deps.sources.remove(id))) throw new ApiError(404, "not_found", `no source ${id}`);
        return c.json({ removed: id });
      },
    }),
    route({
      method: "get",
      path: "/v1/callbacks/signing-secret",
      access: "admin",
      tag: "callbacks",
      summary: "the Standard Webhooks secret that signs completion callbacks",
      responses: { 200: json("`{secret, scheme}`"), ...errors(ADMIN) },
      handler: (c) => c.json({ secret: deps.callbackSecret, scheme: "standard-webhooks" }),
    }),
    route({
      method: "get",
      path: "/v1/episodes/{id}/deliveries",
      access: "admin",
      tag: "callbacks",
      summary: "an episode's callback deliveries and every attempt",
      responses: { 200: json("the deliveries"), ...errors({ ...ADMIN, 404: "no such episode" }) },
      handler: async (c) => {
        const id = c.req.param("id")!;
        if (!(await deps.episodes.getEpisode(id))) throw new ApiError(404, "not_found", `no episode ${id}`);
        return c.json({ deliveries: await deps.deliveries.forEpisode(id) });
      },
    }),
    route({
      method: "get",
      path: "/v1/episodes/{id}/podcast-transcript.xml",
      access: "public",
      tag: "transcripts",
      summary: "`<podcast:transcript>` elements for a feed item, one per format, with CORS; no token needed",
      responses: {
        200: { description: "the elements", content: { "application/xml": { schema: z.string() } } },
        ...errors({ 404: "no such episode", 409: "the episode is not done yet" }),
      },
      handler: async (c) => {
        const id = c.req.param("id")!;
        const episode = await deps.episodes.getEpisode(id);
        if (!episode) throw new ApiError(404, "not_found", `no episode ${id}`);
        if (episode.status !== "done")
          throw new ApiError(409, "not_ready", `episode ${id} is ${episode.status}; transcripts are published once it is done`);
        return c.body(podcastTranscriptElements(base(deps.publicUrl, c.req.url), id, episode.language), 200, {
          ...PUBLISHED_CORS,
          "content-type": "application/xml; charset=utf-8",
          "cache-control": "public, max-age=300",
        });
      },
    }),
    preflightRoute("/v1/episodes/{id}/podcast-transcript.xml"),
  ];
}
