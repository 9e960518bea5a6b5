/**
 * The orchestrator's HTTP API as a factory: `createApp(deps)` returns a Hono app; listening lives
 * in http/serve.ts. Every error becomes `{error: {code, message}}` in one handler (`onError`).
 */
import { Readable } from "node:stream";
import { Hono, type Context, type Env } from "hono";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { z } from "zod";
import type { EpisodeService } from "../episodes/episode-service.ts";
import { streamToFile } from "../outbound/body-limits.ts";
import { BadInputError } from "../ingest/ingest-errors.ts";
import type { Logger } from "../log.ts";
import { languageTagField } from "../episodes/language-tag.ts";
import { boundedNumber, boundedQueryNumber, CHUNK_SECONDS, EPISODE_LIST_LIMIT } from "../input-bounds.ts";
import { TRANSCRIPT_FORMATS, type TranscriptFormat } from "../transcript/formats.ts";
import { requireToken } from "./auth.ts";
import { rateLimit, type RateLimitOptions } from "./rate-limit.ts";

export class ApiError extends HTTPException {
  constructor(
    status: ContentfulStatusCode,
    readonly code: string,
    message: string,
  ) {
    super(status, { message });
  }
}

export interface AppDeps {
  episodes: EpisodeService;
  maxUploadBytes: number;
  log: Logger;
  /** Largest non-audio request body (JSON, webhooks); bigger ones get 413 before any parsing. Default 1 MiB. */
  maxJsonBytes?: number;
  /** Token buckets for POST /v1/episodes and POST /v1/hooks/* (per client address); absent: no limit. */
  rateLimit?: Pick<RateLimitOptions, "perMinute" | "burst" | "now" | "trustProxy">;
  /** Extra read-only views (fleet, machines) mounted by the caller. */
  machines?: () => Promise<unknown[]>;
  /** Why queued work waits for a machine (boot failures, budget, drain), or null; shown on an episode with queued chunks. */
  fleetWaiting?: () => { cause: string; detail: string } | null;
  /** Checks an admin bearer token (returns its id when live); absent: no authentication (unit tests only). */
  authenticate?: (token: string) => Promise<string | undefined>;
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

/** 400 invalid_request naming the first bad field ("chunkSeconds: must be …"). */
export function invalid(error: z.ZodError): never {
  const issue = error.issues[0]!;
  const field = issue.path.join(".") || "body";
  throw new ApiError(400, "invalid_request", `${field}: ${issue.message}`);
}

function isAudioType(contentType: string): boolean {
  const type = contentType.split(";")[0]!.trim();
  return type.startsWith("audio/") || type === "application/octet-stream" || type.startsWith("video/");
}

export function createApp(deps: AppDeps): Hono {
  const app = new Hono();

  app.onError((err, c) => {
    if (err instanceof ApiError) return c.json({ error: { code: err.code, message: err.message } }, err.status);
    if (err instanceof BadInputError) {
      if (err.code === "too_large") {
        // the rest of the upload is unread: close the connection rather than leave it to the next request
        return c.json({ error: { code: err.code, message: err.message } }, 413, { connection: "close" });
      }
      return c.json({ error: { code: err.code, message: err.message } }, 400);
    }
    if (err instanceof HTTPException) return c.json({ error: { code: "http_error", message: err.message } }, err.status);
    deps.log.error("unhandled API error", { path: c.req.path, error: err });
    return c.json({ error: { code: "internal", message: "internal error" } }, 500);
  });
  app.notFound((c) => c.json({ error: { code: "not_found", message: `no route for ${c.req.method} ${c.req.path}` } }, 404));

  app.get("/healthz", (c) => c.json({ ok: true }));
  // Before every other route, including those the caller mounts later (see http/auth.ts for what is open).
  if (deps.authenticate) app.use("*", requireToken(deps.authenticate));

  // Guards registered before every route (hook routes are mounted later by the caller).
  if (deps.rateLimit && deps.rateLimit.perMinute > 0) {
    app.on("POST", "/v1/episodes", rateLimit({ ...deps.rateLimit, scope: "submit" }));
    app.on("POST", "/v1/hooks/*", rateLimit({ ...deps.rateLimit, scope: "webhook" }));
  }
  const maxJson = deps.maxJsonBytes ?? 1024 * 1024;
  const jsonLimit = bodyLimit({
    maxSize: maxJson,
    // connection: close, since the rest of the body is left unread
    onError: (c) => c.json({ error: { code: "too_large", message: `request body is over the ${maxJson}-byte limit` } }, 413, { connection: "close" }),
  });
  app.use("/v1/*", async (c: Context<Env, string>, next) => {
    const type = (c.req.header("content-type") ?? "").toLowerCase();
    // audio uploads are streamed to disk under their own cap (maxUploadBytes); every other body is capped here
    if (c.req.method === "GET" || c.req.method === "HEAD") return next();
    if (c.req.path === "/v1/episodes" && isAudioType(type)) return next();
    return jsonLimit(c, next);
  });

  app.post("/v1/episodes", async (c) => {
    const type = (c.req.header("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
    if (type === "application/json") {
      let body: unknown;
      try {
        body = await c.req.json();
      } catch {
        throw new ApiError(400, "invalid_json", "request body is not valid JSON");
      }
      const parsed = SubmitJson.safeParse(body);
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
      const row = await deps.episodes.submitUpload(
        (file) =>
          streamToFile(Readable.fromWeb(body), file, { maxBytes: deps.maxUploadBytes, what: "upload" }).catch((err: unknown) => {
            if (err instanceof BadInputError) throw err;
            throw new BadInputError("fetch_failed", "the upload was interrupted before its end", { cause: err });
          }),
        query.data,
      );
      return c.json({ id: row.id, status: row.status }, 202);
    }
    throw new ApiError(
      415,
      "unsupported_media_type",
      "send JSON {audioUrl, title?} or the audio itself with an audio/* or application/octet-stream content type",
    );
  });

  app.get("/v1/episodes", async (c) => {
    const query = ListQuery.safeParse(c.req.query());
    if (!query.success) invalid(query.error);
    return c.json({ episodes: await deps.episodes.list(query.data.limit ?? 50) });
  });

  app.get("/v1/episodes/:id", async (c) => {
    const view = await deps.episodes.view(c.req.param("id"));
    if (!view) throw new ApiError(404, "not_found", `no episode ${c.req.param("id")}`);
    const waiting = view.status === "transcribing" && view.chunks.queued > 0 ? (deps.fleetWaiting?.() ?? null) : null;
    return c.json({ ...view, waiting });
  });

  // Cancel: queued chunks are dropped, running ones abandoned at their next heartbeat (contract/wire.ts).
  app.delete("/v1/episodes/:id", async (c) => {
    const result = await deps.episodes.cancel(c.req.param("id"));
    if (result.outcome === "not_found") throw new ApiError(404, "not_found", `no episode ${c.req.param("id")}`);
    if (result.outcome === "refused") throw new ApiError(409, "not_cancellable", `episode ${c.req.param("id")} is ${result.state}; only unfinished episodes can be cancelled`);
    return c.json(await deps.episodes.view(c.req.param("id")));
  });

  // Retry a failed episode: only its failed (dead) chunks are queued again; one that failed at download downloads again.
  app.post("/v1/episodes/:id/retry", async (c) => {
    const result = await deps.episodes.retry(c.req.param("id"));
    if (result.outcome === "not_found") throw new ApiError(404, "not_found", `no episode ${c.req.param("id")}`);
    if (result.outcome === "refused") throw new ApiError(409, "not_retryable", result.reason);
    return c.json({ ...(await deps.episodes.view(c.req.param("id"))), requeuedChunks: result.requeued, redownload: result.redownload }, 202);
  });

  app.get("/v1/episodes/:id/:file{transcript\\.(txt|srt|vtt|json)}", async (c) => {
    const id = c.req.param("id");
    const format = c.req.param("file").split(".")[1] as TranscriptFormat;
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
  });

  app.get("/v1/machines", async (c) => c.json({ machines: deps.machines ? await deps.machines() : [] }));

  return app;
}
