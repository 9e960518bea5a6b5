/**
 * Episodes on the API: submit (a URL as JSON, or the audio itself as the body), list, view, cancel,
 * retry, and the finished transcripts (public, with CORS, for podcast apps reading a feed).
 */
import { Readable } from "node:stream";
import { z } from "zod";
import type { EpisodeService } from "../episodes/episode-service.ts";
import { languageTagField } from "../episodes/language-tag.ts";
import { boundedNumber, boundedQueryNumber, CHUNK_SECONDS, EPISODE_LIST_LIMIT } from "../input-bounds.ts";
import { TRANSCRIPT_FORMATS, type TranscriptFormat } from "../transcript/formats.ts";
import { ApiError, invalid } from "./api-error.ts";
import { errors, json, readJson, route, type ApiRoute } from "./api-route.ts";
import { EpisodeList, EpisodeSchema, RetriedEpisode } from "./episode-schema.ts";
import { preflightRoute } from "./published-cors.ts";

export interface EpisodeRoutesDeps {
  episodes: EpisodeService;
  maxUploadBytes: number;
  /** Why queued work waits for a machine (boot failures, budget, drain), or null; shown on an episode with queued chunks. */
  fleetWaiting?: () => { cause: string; detail: string } | null;
}

const SubmitJson = z.object({
  audioUrl: z.string().min(1, "audioUrl is required").max(4096),
  title: z.string().max(500).optional(),
  chunkSeconds: boundedNumber(CHUNK_SECONDS).optional(),
  language: languageTagField.optional(),
  /** Receives the signed episode.transcribed / episode.failed event (delivery/). */
  callbackUrl: z.string().max(4096).optional(),
});

const SubmitQuery = z.object({
  title: z.string().max(500).optional(),
  chunkSeconds: boundedQueryNumber(CHUNK_SECONDS).optional(),
  language: languageTagField.optional(),
});

const ListQuery = z.object({ limit: boundedQueryNumber(EPISODE_LIST_LIMIT).optional() });

const Submitted = z.object({ id: z.string(), status: z.string() });

function isAudioType(contentType: string): boolean {
  const type = contentType.split(";")[0]!.trim();
  return type.startsWith("audio/") || type === "application/octet-stream" || type.startsWith("video/");
}

/** True when the request's body is audio to stream to disk (not capped as JSON). */
export function isAudioUpload(contentType: string): boolean {
  return isAudioType(contentType.toLowerCase());
}

const NO_EPISODE = { 404: "no such episode" };
const ADMIN = { 401: "no live admin token" };

export function episodeRoutes(deps: EpisodeRoutesDeps): ApiRoute[] {
  const submit = route({
    method: "post",
    path: "/v1/episodes",
    access: "admin",
    tag: "episodes",
    summary: "submit an episode",
    description:
      "JSON `{audioUrl, title?, chunkSeconds?, language?, callbackUrl?}`, or the audio as the body (`audio/*` or `application/octet-stream`; `?title=&chunkSeconds=&language=`). `chunkSeconds`: 0 or 1–3600; `language`: a BCP 47 tag in any case (`de`, `en-us`, `pt_BR`), default `en`. `202 {id, status}`",
    content: {
      content: {
        "application/json": { schema: SubmitJson },
        "audio/*": { schema: z.string().meta({ format: "binary" }) },
        "application/octet-stream": { schema: z.string().meta({ format: "binary" }) },
      },
      required: true,
    },
    rateLimit: "submit",
    uploads: true,
    responses: {
      202: json("accepted: the episode's id and status", Submitted),
      ...errors({
        400: "bad JSON, a bad field or an unusable URL",
        ...ADMIN,
        408: "the upload sent nothing for PODFLEET_UPLOAD_IDLE_SEC",
        409: "the episode was cancelled (or its ingest failed) before its upload ended",
        413: "body over the limit",
        415: "neither JSON nor audio",
        429: "rate limited",
      }),
    },
    handler: async (c) => {
      const type = (c.req.header("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
      if (type === "application/json") {
        const parsed = SubmitJson.safeParse(await readJson(c));
        if (!parsed.success) invalid(parsed.error);
        const row = await deps.episodes.submitUrl(parsed.data.audioUrl, parsed.data);
        return c.json({ id: row.id, status: row.status }, 202);
      }
      if (isAudioType(type)) {
        const query = SubmitQuery.safeParse(c.req.query());
        if (!query.success) invalid(query.error);
        const declared = Number(c.req.header("content-length") ?? NaN);
        if (declared > deps.maxUploadBytes) throw new ApiError(413, "too_large", `upload is over the ${deps.maxUploadBytes}-byte limit`);
        const body = c.req.raw.body;
        if (!body) throw new ApiError(400, "empty_file", "the upload is empty (0 bytes)");
        // answered once the body is in; its chunks are already being published while it arrives
        const row = await deps.episodes.submitUpload(
          { body: Readable.fromWeb(body), maxBytes: deps.maxUploadBytes, declaredBytes: Number.isFinite(declared) ? declared : undefined },
          query.data,
        );
        return c.json({ id: row.id, status: row.status }, 202);
      }
      throw new ApiError(
        415,
        "unsupported_media_type",
        "send JSON {audioUrl, title?} or the audio itself with an audio/* or application/octet-stream content type",
      );
    },
  });

  const transcripts = (Object.keys(TRANSCRIPT_FORMATS) as TranscriptFormat[]).flatMap((format) => [
    route({
      method: "get",
      path: `/v1/episodes/{id}/transcript.${format}`,
      access: "public",
      tag: "transcripts",
      summary: `the transcript as ${format} (\`${TRANSCRIPT_FORMATS[format].contentType}\`), with CORS; no token needed`,
      responses: {
        200: { description: "the transcript", content: { [TRANSCRIPT_FORMATS[format].contentType.split(";")[0]!]: { schema: z.string() } } },
        ...errors({ ...NO_EPISODE, 409: "the episode is not done yet" }),
      },
      handler: async (c) => {
        const id = c.req.param("id")!;
        const view = await deps.episodes.view(id);
        if (!view) throw new ApiError(404, "not_found", `no episode ${id}`);
        if (view.status !== "done") throw new ApiError(409, "not_ready", `episode ${id} is ${view.status}; the transcript exists once it is done`);
        const bytes = await deps.episodes.transcript(id, format);
        if (!bytes) throw new ApiError(404, "not_found", `episode ${id} has no ${format} transcript`);
        return c.body(Buffer.from(bytes), 200, {
          "content-type": TRANSCRIPT_FORMATS[format].contentType,
          "access-control-allow-origin": "*",
          "cache-control": "public, max-age=300",
        });
      },
    }),
    preflightRoute(`/v1/episodes/{id}/transcript.${format}`),
  ]);

  return [
    submit,
    route({
      method: "get",
      path: "/v1/episodes",
      access: "admin",
      tag: "episodes",
      summary: "recent episodes (`limit` 1–500, default 50)",
      query: ListQuery,
      responses: { 200: json("episodes, newest first", EpisodeList), ...errors({ 400: "a bad limit", ...ADMIN }) },
      handler: async (c, { query }) => c.json({ episodes: await deps.episodes.list(query.limit ?? 50) }),
    }),
    route({
      method: "get",
      path: "/v1/episodes/{id}",
      access: "admin",
      tag: "episodes",
      summary: "status, chunk counts (`done/total/failed/…`), timings, error, download retries, and `waiting` (why queued chunks wait for a machine)",
      responses: { 200: json("the episode", EpisodeSchema), ...errors({ ...ADMIN, ...NO_EPISODE }) },
      handler: async (c) => {
        const id = c.req.param("id")!;
        const view = await deps.episodes.view(id);
        if (!view) throw new ApiError(404, "not_found", `no episode ${id}`);
        const waiting = view.status === "transcribing" && view.chunks.queued > 0 ? (deps.fleetWaiting?.() ?? null) : null;
        return c.json({ ...view, waiting });
      },
    }),
    // Cancel: queued chunks are dropped, running ones abandoned at their next heartbeat (contract/wire.ts).
    route({
      method: "delete",
      path: "/v1/episodes/{id}",
      access: "admin",
      tag: "episodes",
      summary: "cancel an unfinished episode; `200` with its view, `409 not_cancellable` once done/failed/cancelled",
      responses: { 200: json("the cancelled episode", EpisodeSchema), ...errors({ ...ADMIN, ...NO_EPISODE, 409: "already finished" }) },
      handler: async (c) => {
        const id = c.req.param("id")!;
        const result = await deps.episodes.cancel(id);
        if (result.outcome === "not_found") throw new ApiError(404, "not_found", `no episode ${id}`);
        if (result.outcome === "refused")
          throw new ApiError(409, "not_cancellable", `episode ${id} is ${result.state}; only unfinished episodes can be cancelled`);
        return c.json(await deps.episodes.view(id));
      },
    }),
    // Retry a failed episode: only its failed (dead) chunks are queued again; one that failed at download downloads again.
    route({
      method: "post",
      path: "/v1/episodes/{id}/retry",
      access: "admin",
      tag: "episodes",
      summary:
        "re-queue a failed episode's dead chunks, or download a URL episode that failed before it was cut again (`redownload: true`); `202` with its view and `requeuedChunks`, `409 not_retryable` otherwise",
      responses: { 202: json("the episode, queued again", RetriedEpisode), ...errors({ ...ADMIN, ...NO_EPISODE, 409: "not failed" }) },
      handler: async (c) => {
        const id = c.req.param("id")!;
        const result = await deps.episodes.retry(id);
        if (result.outcome === "not_found") throw new ApiError(404, "not_found", `no episode ${id}`);
        if (result.outcome === "refused") throw new ApiError(409, "not_retryable", result.reason);
        return c.json({ ...(await deps.episodes.view(id)), requeuedChunks: result.requeued, redownload: result.redownload }, 202);
      },
    }),
    ...transcripts,
  ];
}
