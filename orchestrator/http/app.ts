/**
 * The orchestrator's HTTP API as a factory: `createApp(deps)` returns a Hono app; listening lives
 * in http/serve.ts. Every error becomes `{error: {code, message}}` in one handler (`onError`).
 */
import { Readable } from "node:stream";
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { z } from "zod";
import type { EpisodeService } from "../episodes/episode-service.ts";
import { streamToFile } from "../ingest/fetch-audio.ts";
import { BadInputError } from "../ingest/ingest-errors.ts";
import type { Logger } from "../log.ts";
import { TRANSCRIPT_FORMATS, type TranscriptFormat } from "../transcript/formats.ts";

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
  /** Extra read-only views (fleet, machines) mounted by the caller. */
  machines?: () => Promise<unknown[]>;
}

const SubmitJson = z.object({
  audioUrl: z.string().min(1, "audioUrl is required").max(4096),
  title: z.string().max(500).optional(),
  chunkSeconds: z.number().min(0).max(3600).optional(),
  language: z.string().regex(/^[a-z]{2,3}(-[A-Za-z0-9]+)*$/).optional(),
});

const SubmitQuery = z.object({
  title: z.string().max(500).optional(),
  chunkSeconds: z.coerce.number().min(0).max(3600).optional(),
  language: z.string().regex(/^[a-z]{2,3}(-[A-Za-z0-9]+)*$/).optional(),
});

function invalid(error: z.ZodError): never {
  const issue = error.issues[0]!;
  const field = issue.path.join(".") || "body";
  throw new ApiError(400, "invalid_request", `${field}: ${issue.message}`);
}

export function createApp(deps: AppDeps): Hono {
  const app = new Hono();

  app.onError((err, c) => {
    if (err instanceof ApiError) return c.json({ error: { code: err.code, message: err.message } }, err.status);
    if (err instanceof BadInputError) {
      const status = err.code === "too_large" ? 413 : 400;
      return c.json({ error: { code: err.code, message: err.message } }, status);
    }
    if (err instanceof HTTPException) return c.json({ error: { code: "http_error", message: err.message } }, err.status);
    deps.log.error("unhandled API error", { path: c.req.path, error: err });
    return c.json({ error: { code: "internal", message: "internal error" } }, 500);
  });
  app.notFound((c) => c.json({ error: { code: "not_found", message: `no route for ${c.req.method} ${c.req.path}` } }, 404));

  app.get("/healthz", (c) => c.json({ ok: true }));

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
    if (type.startsWith("audio/") || type === "application/octet-stream" || type.startsWith("video/")) {
      const query = SubmitQuery.safeParse(c.req.query());
      if (!query.success) invalid(query.error);
      const declared = Number(c.req.header("content-length") ?? NaN);
      if (declared > deps.maxUploadBytes) throw new ApiError(413, "too_large", `upload is over the ${deps.maxUploadBytes}-byte limit`);
      const body = c.req.raw.body;
      if (!body) throw new ApiError(400, "empty_file", "the upload is empty (0 bytes)");
      const row = await deps.episodes.submitUpload(
        (file) => streamToFile(Readable.fromWeb(body as import("node:stream/web").ReadableStream), file, deps.maxUploadBytes),
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
    const limit = Math.min(Math.max(Number(c.req.query("limit") ?? 50) || 50, 1), 500);
    return c.json({ episodes: await deps.episodes.list(limit) });
  });

  app.get("/v1/episodes/:id", async (c) => {
    const view = await deps.episodes.view(c.req.param("id"));
    if (!view) throw new ApiError(404, "not_found", `no episode ${c.req.param("id")}`);
    return c.json(view);
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
