/**
 * podfleet's state in libSQL. Transcript text never sits in a row: chunk results and finished
 * transcripts live in NATS Object Store and rows hold their object names.
 * Times are epoch milliseconds. Change this file, then `npm run db:generate` and commit the migration.
 */
import { sqliteTable, text, integer, real, index, primaryKey, uniqueIndex } from "drizzle-orm/sqlite-core";

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
    /** Rendition record: exactly which file was transcribed (dynamic ad insertion changes files under one URL). */
    finalUrl: text("final_url"),
    audioBytes: integer("audio_bytes"),
    audioSha256: text("audio_sha256"),
    audioContentType: text("audio_content_type"),
    durationSec: real("duration_sec"),
    sampleCount: integer("sample_count"),
    chunkCount: integer("chunk_count"),
    /** JSON array of {index, startSample, endSample, reason}: the chunk plan, for inspection. */
    planJson: text("plan_json"),
    /**
     * The generation a fresh plan of this episode records its chunks at (store/plan-generation.ts):
     * 1, or past every generation of a plan a failed ingest dropped, so the new plan's jobs never
     * reuse the dropped plan's message ids.
     */
    planGeneration: integer("plan_generation").notNull().default(1),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
    ingestStartedAt: integer("ingest_started_at"),
    transcribeStartedAt: integer("transcribe_started_at"),
    finishedAt: integer("finished_at"),
    /**
     * Download retries (ingest/fetch-retry.ts): transient failures so far in this round, when the
     * first one happened (the bounded window starts there), when the next try is due while the
     * episode is "fetch_wait", and the last transient reason. A restart resumes from these.
     */
    fetchAttempts: integer("fetch_attempts").notNull().default(0),
    fetchFirstFailedAt: integer("fetch_first_failed_at"),
    nextFetchAt: integer("next_fetch_at"),
    fetchError: text("fetch_error"),
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
    /** The audio span cut and sent for this chunk; word times in its result are relative to its start. */
    startSample: integer("start_sample").notNull(),
    endSample: integer("end_sample").notNull(),
    /**
     * The part of the episode this chunk answers for: its audio minus the context padding
     * (ingest/chunk-context.ts). Null on chunks planned before padding, which stitch by overlap.
     */
    coreStartSample: integer("core_start_sample"),
    coreEndSample: integer("core_end_sample"),
    state: text("state").notNull(),
    /** Attempt that currently holds (or last held) the lease: the job message's delivery count. */
    attempt: integer("attempt").notNull().default(0),
    leaseOwner: text("lease_owner"),
    leasedAt: integer("leased_at"),
    /**
     * When the orchestrator last heard from the holder about this chunk (its claim, then each
     * WorkerHeartbeat); null when the holder sends no heartbeats. A leased chunk silent past the
     * heartbeat limit is re-queued whoever holds it.
     */
    heartbeatAt: integer("heartbeat_at"),
    /** Publication generation of the job message (bumped when the orchestrator re-queues). */
    generation: integer("generation").notNull().default(1),
    /** Times the machine holding this chunk died and the sweeper re-queued it; maxAttempts of them make it dead. A retry resets it. */
    machineLosses: integer("machine_losses").notNull().default(0),
    lastError: text("last_error"),
    resultObject: text("result_object"),
    /** The words (JSON Word[]) of a result that came inside its event; null when they are in resultObject. */
    resultWords: text("result_words"),
    wordCount: integer("word_count"),
    processingMs: integer("processing_ms"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
    doneAt: integer("done_at"),
  },
  (t) => [uniqueIndex("chunks_episode_idx").on(t.episodeId, t.index), index("chunks_state_idx").on(t.state)],
);

/**
 * Worker machines this orchestrator created, as last observed through the Machines API. A tagged
 * machine the API lists but this table lacks is an orphan (the sweeper destroys it); a row whose
 * machine the API no longer lists is marked gone.
 */
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
    /** Fleet id (settings.fleet_id) the machine was tagged with. */
    fleetId: text("fleet_id"),
    /** Created without auto_destroy, to rest stopped in the warm pool after it idles out. */
    pool: integer("pool", { mode: "boolean" }).notNull().default(false),
    /** Last time the machine was seen entering `started` (a pool machine starts many times). */
    startedAt: integer("started_at"),
    /** Machine-seconds are counted up to here while it runs (null while it does not). */
    accruedAt: integer("accrued_at"),
  },
  (t) => [index("machines_state_idx").on(t.state)],
);

/** Every machine state change and every autoscaler/sweeper action, with its reason. */
export const machineEvents = sqliteTable(
  "machine_events",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    at: integer("at").notNull(),
    /** Null for fleet-wide actions (a create that failed before a machine existed, a blocked pass). */
    machineId: text("machine_id"),
    /** "state" (observed change) or the action: create, start, stop, destroy, requeue, gone, create_failed, blocked. */
    kind: text("kind").notNull(),
    fromState: text("from_state"),
    toState: text("to_state"),
    reason: text("reason"),
    detail: text("detail"),
  },
  (t) => [index("machine_events_machine_idx").on(t.machineId, t.at), index("machine_events_at_idx").on(t.at)],
);

/** The operator's fleet limits (one row, JSON validated by fleet/fleet-limits.ts); env settings are the defaults. */
export const fleetLimits = sqliteTable("fleet_limits", {
  id: integer("id").primaryKey(),
  limitsJson: text("limits_json").notNull(),
  updatedAt: integer("updated_at").notNull(),
});

/** Machine-seconds used per UTC day, for the optional daily budget. */
export const fleetUsage = sqliteTable("fleet_usage", {
  day: text("day").primaryKey(),
  machineSeconds: real("machine_seconds").notNull().default(0),
});

/**
 * The fencing row (one row, id 1): the highest leader term any orchestrator was elected at. A new
 * leader raises it on election; a leader's duty writes check it equals their term in the same
 * transaction (store/leader-term.ts), so a deposed leader's late write changes nothing.
 */
export const leaderTerm = sqliteTable("leader_term", {
  id: integer("id").primaryKey(),
  term: integer("term").notNull(),
  holder: text("holder").notNull(),
  since: integer("since").notNull(),
});

/** Small key/value settings owned by the orchestrator (its fleet id, for one). */
export const settings = sqliteTable("settings", {
  key: text("key").primaryKey(),
  value: text("value").notNull(),
});

// ---- Ingest and delivery: webhook sources, RSS feeds, episode identity, signed callbacks ----

/** A registered webhook sender. `token` is the unguessable path segment of POST /v1/hooks/:token. */
export const sources = sqliteTable(
  "sources",
  {
    id: text("id").primaryKey(),
    name: text("name").notNull(),
    token: text("token").notNull(),
    /** How deliveries are verified: standard (Standard Webhooks), svix, github, or token (URL only). */
    scheme: text("scheme", { enum: ["standard", "svix", "github", "token"] }).notNull(),
    /** Signing secret (`whsec_…` for standard/svix, plain for github); null for token. */
    secret: text("secret"),
    /** When set, a webhook is only a hint: the item is re-read from this feed before enqueueing. */
    feedUrl: text("feed_url"),
    callbackUrl: text("callback_url"),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [uniqueIndex("sources_token_idx").on(t.token), uniqueIndex("sources_name_idx").on(t.name)],
);

/** Deliveries already handled, keyed by the sender's delivery id: a replay creates nothing. */
export const webhookReceipts = sqliteTable(
  "webhook_receipts",
  {
    sourceId: text("source_id").notNull(),
    deliveryId: text("delivery_id").notNull(),
    episodeId: text("episode_id"),
    outcome: text("outcome").notNull(),
    receivedAt: integer("received_at").notNull(),
  },
  (t) => [uniqueIndex("webhook_receipts_pk").on(t.sourceId, t.deliveryId)],
);

/** An RSS feed polled for new episodes. */
export const feeds = sqliteTable(
  "feeds",
  {
    id: text("id").primaryKey(),
    url: text("url").notNull(),
    title: text("title"),
    intervalSec: integer("interval_sec").notNull(),
    backfill: integer("backfill").notNull().default(0),
    /** Transcribe items even when they already carry a podcast:transcript. */
    retranscribe: integer("retranscribe", { mode: "boolean" }).notNull().default(false),
    callbackUrl: text("callback_url"),
    etag: text("etag"),
    lastModified: text("last_modified"),
    addedAt: integer("added_at").notNull(),
    /** First successful read: items present then are "old" (only backfill takes them). */
    baselineAt: integer("baseline_at"),
    lastPolledAt: integer("last_polled_at"),
    lastStatus: text("last_status"),
    lastError: text("last_error"),
    errorCount: integer("error_count").notNull().default(0),
    nextPollAt: integer("next_poll_at").notNull(),
  },
  (t) => [uniqueIndex("feeds_url_idx").on(t.url), index("feeds_next_poll_idx").on(t.nextPollAt)],
);

/** Every item a feed has shown, by identity (guid, else enclosure URL), and what was done with it. */
export const feedItems = sqliteTable(
  "feed_items",
  {
    id: text("id").primaryKey(),
    feedId: text("feed_id")
      .notNull()
      .references(() => feeds.id, { onDelete: "cascade" }),
    identity: text("identity").notNull(),
    guid: text("guid"),
    enclosureUrl: text("enclosure_url"),
    title: text("title"),
    publishedAt: integer("published_at"),
    /** The item's language tag (its own, else its channel's), canonical; null when the feed names none. */
    language: text("language"),
    /** "new" (appeared after the baseline) or "backfill". */
    kind: text("kind", { enum: ["new", "backfill", "old"] }).notNull(),
    /** old | skipped | pending | queued | duplicate | failed (its episode failed and later polls gave up) */
    state: text("state").notNull(),
    reason: text("reason"),
    episodeId: text("episode_id"),
    /** Times the item's episode was run: 1 when released, +1 per retry by a later poll (feeds/feed-service.ts). */
    attempts: integer("attempts").notNull().default(0),
    /** Why the item's episode failed last (kept after a retry succeeds). */
    lastError: text("last_error"),
    discoveredAt: integer("discovered_at").notNull(),
  },
  (t) => [uniqueIndex("feed_items_identity_idx").on(t.feedId, t.identity), index("feed_items_state_idx").on(t.state)],
);

/**
 * Where an episode came from and where its completion event goes. `identity` (feed + guid, else
 * enclosure URL) is unique: the same episode never gets a second job.
 */
export const episodeLinks = sqliteTable(
  "episode_links",
  {
    episodeId: text("episode_id").primaryKey(),
    identity: text("identity"),
    feedId: text("feed_id"),
    sourceId: text("source_id"),
    guid: text("guid"),
    /** "api", "webhook", "feed-new", "feed-backfill" */
    origin: text("origin").notNull(),
    callbackUrl: text("callback_url"),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [uniqueIndex("episode_links_identity_idx").on(t.identity)],
);

/** One completion event to POST to a callback URL, retried with backoff until delivered or given up. */
export const deliveries = sqliteTable(
  "deliveries",
  {
    id: text("id").primaryKey(),
    episodeId: text("episode_id").notNull(),
    event: text("event").notNull(),
    url: text("url").notNull(),
    /** pending | delivered | failed */
    state: text("state").notNull(),
    payload: text("payload").notNull(),
    attempts: integer("attempts").notNull().default(0),
    nextAttemptAt: integer("next_attempt_at"),
    createdAt: integer("created_at").notNull(),
    deliveredAt: integer("delivered_at"),
  },
  (t) => [uniqueIndex("deliveries_episode_event_idx").on(t.episodeId, t.event), index("deliveries_due_idx").on(t.state, t.nextAttemptAt)],
);

/** Every attempt at a delivery: when, what came back, how long it took. */
export const deliveryAttempts = sqliteTable(
  "delivery_attempts",
  {
    deliveryId: text("delivery_id")
      .notNull()
      .references(() => deliveries.id, { onDelete: "cascade" }),
    attempt: integer("attempt").notNull(),
    at: integer("at").notNull(),
    httpStatus: integer("http_status"),
    error: text("error"),
    durationMs: integer("duration_ms").notNull(),
  },
  (t) => [uniqueIndex("delivery_attempts_pk").on(t.deliveryId, t.attempt)],
);

/**
 * Admin API bearer tokens. Only the SHA-256 of a token is stored: a token is shown once, when it
 * is created, and cannot be read back from the database. A revoked token keeps its row (audit).
 */
export const apiTokens = sqliteTable(
  "api_tokens",
  {
    id: text("id").primaryKey(),
    name: text("name").notNull(),
    /** Hex SHA-256 of the whole token string. */
    hash: text("hash").notNull(),
    createdAt: integer("created_at").notNull(),
    lastUsedAt: integer("last_used_at"),
    revokedAt: integer("revoked_at"),
  },
  (t) => [uniqueIndex("api_tokens_hash_idx").on(t.hash)],
);

/**
 * Dashboard sign-ins (orchestrator/dashboard/): one row per browser session. The cookie holds a
 * random secret; only its SHA-256 is stored, with the CSRF token every dashboard action must carry
 * and the admin token it was opened with (revoking that token ends the session).
 */
export const dashboardSessions = sqliteTable(
  "dashboard_sessions",
  {
    /** Hex SHA-256 of the cookie's secret. */
    hash: text("hash").primaryKey(),
    /** The api_tokens row the operator signed in with. */
    tokenId: text("token_id").notNull(),
    csrfToken: text("csrf_token").notNull(),
    createdAt: integer("created_at").notNull(),
    lastSeenAt: integer("last_seen_at").notNull(),
    expiresAt: integer("expires_at").notNull(),
  },
  (t) => [index("dashboard_sessions_expires_idx").on(t.expiresAt)],
);

/**
 * Every attempt at a chunk, as the chunk transition events tell it (dashboard/chunk-attempt-log.ts):
 * which machine, when it started and ended, and how. The chunks table keeps only the current
 * attempt; this is what the episode page's timeline draws, one bar per row.
 */
export const chunkAttempts = sqliteTable(
  "chunk_attempts",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    chunkId: text("chunk_id").notNull(),
    episodeId: text("episode_id").notNull(),
    chunkIndex: integer("chunk_index").notNull(),
    machineId: text("machine_id").notNull(),
    generation: integer("generation").notNull(),
    attempt: integer("attempt").notNull(),
    startedAt: integer("started_at").notNull(),
    endedAt: integer("ended_at"),
    /** running | done | failed (the chunk is dead) | requeued (the attempt failed or its machine was lost; tried again) | cancelled | superseded */
    outcome: text("outcome").notNull(),
    error: text("error"),
  },
  (t) => [index("chunk_attempts_episode_idx").on(t.episodeId, t.startedAt), index("chunk_attempts_chunk_idx").on(t.chunkId)],
);

/**
 * Work that must run once and can be interrupted (an episode's ingest, its stitch), claimed by one
 * orchestrator at a time (orchestrator/cluster/work-claims.ts). `expiresAt` is the database's own
 * clock plus the TTL, written and compared by SQL the database runs, so orchestrators on hosts
 * whose clocks disagree still agree on whether a claim is live. A released claim keeps its row
 * (owner null) so `takenOver` counts takeovers for /metrics. No foreign key: an ingest is claimed
 * before its episode row exists, so no other orchestrator can see the episode unclaimed.
 */
export const workClaims = sqliteTable(
  "work_claims",
  {
    /** "ingest" | "stitch" (cluster/work-claims.ts ClaimKind). */
    kind: text("kind").notNull(),
    episodeId: text("episode_id").notNull(),
    /** Instance id of the orchestrator holding it (cluster/instance-id.ts); null once released. */
    owner: text("owner"),
    /** Database time (epoch ms) after which the claim may be taken by another orchestrator. */
    expiresAt: integer("expires_at").notNull(),
    claimedAt: integer("claimed_at").notNull(),
    /** Times the work was claimed (first run, restarts, takeovers). */
    attempts: integer("attempts").notNull().default(0),
    /** Times it was claimed while another owner's claim had expired unreleased (that owner died or stalled). */
    takenOver: integer("taken_over").notNull().default(0),
    /** The owner whose expired claim the last claim took over; null when the last claim was not a takeover. */
    takenFrom: text("taken_from"),
  },
  (t) => [primaryKey({ columns: [t.kind, t.episodeId] }), index("work_claims_owner_idx").on(t.owner)],
);
