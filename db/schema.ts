/**
 * podfleet's state in libSQL. Transcript text never sits in a row: chunk results and finished
 * transcripts live in NATS Object Store and rows hold their object names.
 * Times are epoch milliseconds. Change this file, then `npm run db:generate` and commit the migration.
 */
import { sqliteTable, text, integer, real, index, uniqueIndex } from "drizzle-orm/sqlite-core";

export const episodes = sqliteTable(
  "episodes",
  {
    id: text("id").primaryKey(),
    title: text("title"),
    /** "url" (fetched by the orchestrator) or "upload" (stored under the data directory). */
    sourceKind: text("source_kind", { enum: ["url", "upload"] }).notNull(),
    sourceUrl: text("source_url"),
    /** Local path of an uploaded file, kept until the episode ends. */
    uploadPath: text("upload_path"),
    status: text("status").notNull(),
    error: text("error"),
    chunkSeconds: real("chunk_seconds").notNull(),
    language: text("language").notNull().default("en"),
    durationSec: real("duration_sec"),
    sampleCount: integer("sample_count"),
    chunkCount: integer("chunk_count"),
    /** JSON array of {index, startSample, endSample, reason}: the chunk plan, for inspection. */
    planJson: text("plan_json"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
    ingestStartedAt: integer("ingest_started_at"),
    transcribeStartedAt: integer("transcribe_started_at"),
    finishedAt: integer("finished_at"),
  },
  (t) => [index("episodes_status_idx").on(t.status), index("episodes_created_idx").on(t.createdAt)],
);

export const chunks = sqliteTable(
  "chunks",
  {
    id: text("id").primaryKey(),
    episodeId: text("episode_id")
      .notNull()
      .references(() => episodes.id, { onDelete: "cascade" }),
    index: integer("idx").notNull(),
    startSample: integer("start_sample").notNull(),
    endSample: integer("end_sample").notNull(),
    state: text("state").notNull(),
    /** Attempt that currently holds (or last held) the lease: the job message's delivery count. */
    attempt: integer("attempt").notNull().default(0),
    leaseOwner: text("lease_owner"),
    leasedAt: integer("leased_at"),
    /** Publication generation of the job message (bumped when the orchestrator re-queues). */
    generation: integer("generation").notNull().default(1),
    lastError: text("last_error"),
    resultObject: text("result_object"),
    wordCount: integer("word_count"),
    processingMs: integer("processing_ms"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
    doneAt: integer("done_at"),
  },
  (t) => [
    uniqueIndex("chunks_episode_idx").on(t.episodeId, t.index),
    index("chunks_state_idx").on(t.state),
  ],
);

export const machines = sqliteTable(
  "machines",
  {
    id: text("id").primaryKey(),
    state: text("state").notNull(),
    region: text("region"),
    image: text("image"),
    pid: integer("pid"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
    destroyedAt: integer("destroyed_at"),
  },
  (t) => [index("machines_state_idx").on(t.state)],
);

/** Small key/value settings owned by the orchestrator (its fleet id, for one). */
export const settings = sqliteTable("settings", {
  key: text("key").primaryKey(),
  value: text("value").notNull(),
});
