/**
 * The episode as the API returns it (`GET /v1/episodes`, `GET /v1/episodes/:id`, cancel, retry),
 * for the OpenAPI document. Typed against `EpisodeView`, so a change to the view that the schema
 * does not follow fails `npm run typecheck`.
 */
import { z } from "@hono/zod-openapi";
import type { EpisodeView } from "../episodes/episode-service.ts";

const nullableString = z.string().nullable();
const nullableNumber = z.number().nullable();

export const EpisodeSchema = z
  .object({
    id: z.string(),
    title: nullableString,
    status: z.string().meta({ description: "received, ingesting, fetch_wait, transcribing, stitching, done, failed or cancelled" }),
    error: nullableString,
    source: z.object({ kind: z.string(), url: nullableString }),
    durationSec: nullableNumber,
    chunkSeconds: z.number(),
    language: z.string(),
    chunks: z.object({ total: z.number(), queued: z.number(), leased: z.number(), done: z.number(), failed: z.number(), cancelled: z.number() }),
    download: z.object({ attempts: z.number(), lastError: nullableString, nextAttemptAt: nullableString }),
    rendition: z.object({
      sourceUrl: nullableString,
      finalUrl: nullableString,
      bytes: nullableNumber,
      sha256: nullableString,
      contentType: nullableString,
      durationSec: nullableNumber,
    }),
    waiting: z.object({ cause: z.string(), detail: z.string() }).nullable().optional(),
    plan: z
      .array(z.object({ index: z.number(), startSample: z.number(), endSample: z.number(), reason: z.string() }))
      .nullable()
      .optional(),
    chunkList: z
      .array(
        z.object({
          index: z.number(),
          startSec: z.number().meta({ description: "start of the chunk's own part of the episode (its core)" }),
          endSec: z.number(),
          state: z.string(),
          attempt: z.number(),
          machineId: nullableString,
          leasedAt: nullableString,
          doneAt: nullableString,
          processingMs: nullableNumber,
          error: nullableString,
        }),
      )
      .optional()
      .meta({ description: "each chunk (single-episode view only)" }),
    timings: z.object({
      createdAt: z.string(),
      ingestStartedAt: nullableString,
      transcribeStartedAt: nullableString,
      finishedAt: nullableString,
      wallMs: nullableNumber,
    }),
  })
  .openapi("Episode") satisfies z.ZodType<EpisodeView>;

export const EpisodeList = z.object({ episodes: z.array(EpisodeSchema) });
export const RetriedEpisode = EpisodeSchema.extend({ requeuedChunks: z.number(), redownload: z.boolean() });
