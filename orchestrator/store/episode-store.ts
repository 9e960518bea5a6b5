/**
 * Reads and writes episodes and chunks. Every state change goes through Database.commit (one
 * writer at a time): it is checked against the lifecycles in episodes/lifecycle.ts by
 * events/state-transitions.ts and announced as an `episode:transition` / `chunk:transition` event
 * once committed (events/state-events.ts); a refused change throws and announces nothing.
 *
 * Fencing: a chunk result is accepted only from the machine that holds the lease of the current
 * attempt. Attempts are ordered by (generation, delivery count): the generation is bumped when the
 * orchestrator re-publishes a chunk whose machine died, and the delivery count is the job message's
 * JetStream delivery count. A late result from an older attempt, or the same result twice, changes nothing.
 */
import { and, asc, desc, eq, inArray, lt, lte, sql, type SQL } from "drizzle-orm";
import type { ChunkClaimed, ChunkEvent, ChunkFailed, ChunkResult, Word } from "../../contract/wire.ts";
import { chunks, episodeLinks, episodes, settings } from "../../db/schema.ts";
import { canTransitionEpisode, type ChunkState, type EpisodeState } from "../episodes/lifecycle.ts";
import { chunkPlanned, chunkTransition, episodeCreated, episodeTransition } from "../events/state-transitions.ts";
import { DuplicateEpisodeError, type EpisodeLinkRow } from "../sources/episode-links.ts";
import type { Database } from "./database.ts";
import type { Fence } from "../cluster/fence.ts";
import type { ClaimRef } from "../cluster/work-claims.ts";
import { AcceptedWords } from "../transcript/chunk-words.ts";
import { readChunkRows, writeEventColumns } from "./chunk-batch.ts";
import { eventEffect } from "./chunk-event-effect.ts";
import { freshPlanGeneration, generationAfter } from "./plan-generation.ts";

export type EpisodeRow = typeof episodes.$inferSelect;
export type ChunkRow = typeof chunks.$inferSelect;

/** One chunk of the plan: its audio span (what the worker decodes), its core and why it was cut there (ingest/chunk-plan.ts). */
export interface PlannedChunk {
  index: number;
  /** First sample of the audio cut and sent for this chunk (word times are relative to it). */
  startSample: number;
  /** One past the last sample of that audio. */
  endSample: number;
  /**
   * The part of the episode this chunk answers for (ingest/chunk-context.ts): cores tile the
   * episode, the audio span adds context padding around the core. Absent on plans made before padding.
   */
  coreStartSample?: number;
  coreEndSample?: number;
  reason: string;
}

export interface ChunkCounts {
  total: number;
  queued: number;
  leased: number;
  done: number;
  failed: number;
  cancelled: number;
}

export type EventOutcome = "accepted" | "duplicate" | "stale" | "unknown";

/** The episode left the states in which ingest may add chunks (cancelled, failed): its ingest stops. */
export class IngestStoppedError extends Error {
  override name = "IngestStoppedError";
  constructor(
    readonly episodeId: string,
    readonly status: EpisodeState,
  ) {
    super(`episode ${episodeId} is ${status}: ingest stops`);
  }
}

/** What applying one event did; `chunkFailed`: a failure that made the chunk dead. */
export interface AppliedEvent {
  outcome: EventOutcome;
  chunkFailed: boolean;
}

export function chunkId(episodeId: string, index: number): string {
  return `${episodeId}-c${String(index).padStart(4, "0")}`;
}

/** Test hooks: `afterIdentityClaim` runs inside createEpisode's transaction, between the claim and the episode row. */
export interface EpisodeStoreHooks {
  afterIdentityClaim?: () => void;
}

export class EpisodeStore {
  /** Words of results accepted here, for a stitch in this process (transcript/chunk-words.ts). */
  readonly acceptedWords = new AcceptedWords();

  constructor(
    private readonly database: Database,
    private readonly now: () => number = Date.now,
    private readonly hooks: EpisodeStoreHooks = {},
  ) {}

  private get db() {
    return this.database.db;
  }

  /**
   * Records a new episode with its link row (origin, callback URL, identity claim) in ONE
   * transaction: the identity is claimed if and only if the episode exists, whatever happens to
   * the process in between. Throws DuplicateEpisodeError when the identity is already taken.
   */
  async createEpisode(
    input: {
      id: string;
      title: string | null;
      sourceKind: "url" | "upload";
      sourceUrl: string | null;
      uploadPath: string | null;
      chunkSeconds: number;
      language: string;
    },
    link?: EpisodeLinkRow,
  ): Promise<EpisodeRow> {
    const t = this.now();
    const row = { ...input, status: "received", createdAt: t, updatedAt: t };
    const takenBy = await this.database.commit(async (db, emit) => {
      const taken = await db.transaction(async (tx) => {
        if (link) {
          if (link.identity) {
            const existing = await tx.select().from(episodeLinks).where(eq(episodeLinks.identity, link.identity)).get();
            if (existing) return existing.episodeId;
          }
          await tx.insert(episodeLinks).values({ ...link, episodeId: input.id });
          this.hooks.afterIdentityClaim?.();
        }
        await tx.insert(episodes).values(row);
        return undefined;
      });
      if (taken === undefined) emit(episodeCreated(input.id, t));
      return taken;
    });
    if (takenBy !== undefined) throw new DuplicateEpisodeError(link!.identity!, takenBy);
    return (await this.getEpisode(input.id))!;
  }

  async getEpisode(id: string): Promise<EpisodeRow | undefined> {
    return this.db.select().from(episodes).where(eq(episodes.id, id)).get();
  }

  async listEpisodes(limit = 50): Promise<EpisodeRow[]> {
    return this.db.select().from(episodes).orderBy(desc(episodes.createdAt)).limit(limit).all();
  }

  async episodesInStates(states: EpisodeState[]): Promise<EpisodeRow[]> {
    return this.db.select().from(episodes).where(inArray(episodes.status, states)).orderBy(asc(episodes.createdAt)).all();
  }

  /** Episodes waiting to download again whose retry is due at `now` (ingest/fetch-retry.ts). */
  async dueFetchRetries(now: number): Promise<EpisodeRow[]> {
    return this.db
      .select()
      .from(episodes)
      .where(and(eq(episodes.status, "fetch_wait"), lte(episodes.nextFetchAt, now)))
      .orderBy(asc(episodes.nextFetchAt))
      .all();
  }

  /**
   * Takes a due download retry: fetch_wait → received, only if it is still waiting (a cancel, or
   * another pass, may have got there first). Returns the row to ingest, or undefined.
   */
  async claimFetchRetry(id: string): Promise<EpisodeRow | undefined> {
    return this.database.commit(async (db, emit) => {
      const current = await db.select().from(episodes).where(eq(episodes.id, id)).get();
      if (!current || current.status !== "fetch_wait") return undefined;
      const t = this.now();
      const event = episodeTransition(current, "received", t, current.error);
      await db.update(episodes).set({ status: "received", updatedAt: t }).where(eq(episodes.id, id));
      emit(event);
      return { ...current, status: "received", updatedAt: t };
    });
  }

  /** Move an episode to `to`, checking the lifecycle; extra columns are written in the same statement. */
  async transitionEpisode(
    id: string,
    to: EpisodeState,
    patch: Partial<Omit<EpisodeRow, "id" | "status">> = {},
    /** A claim the writer must still hold (a stitch marking its episode done). */
    claim?: ClaimRef,
  ): Promise<EpisodeRow> {
    return this.database.commit(
      async (db, emit) => {
        const current = await db.select().from(episodes).where(eq(episodes.id, id)).get();
        if (!current) throw new Error(`episode ${id} does not exist`);
        const t = this.now();
        const event = episodeTransition(current, to, t, patch.error === undefined ? current.error : patch.error);
        const terminal = to === "done" || to === "failed" || to === "cancelled";
        await db
          .update(episodes)
          .set({ ...patch, status: to, updatedAt: t, ...(terminal ? { finishedAt: t } : {}) })
          .where(eq(episodes.id, id));
        emit(event);
        return { ...current, ...patch, status: to, updatedAt: t };
      },
      { claim },
    );
  }

  /**
   * Record the chunk plan and move the episode to "transcribing" in one batch, so an episode is
   * never "transcribing" with only part of its chunks in the table.
   */
  async recordPlan(episodeId: string, plan: PlannedChunk[], facts: { durationSec: number; sampleCount: number }): Promise<void> {
    await this.database.commit(async (db, emit) => {
      const current = await db.select().from(episodes).where(eq(episodes.id, episodeId)).get();
      if (!current) throw new Error(`episode ${episodeId} does not exist`);
      const t = this.now();
      const event = episodeTransition(current, "transcribing", t, current.error);
      // A re-ingest after a crash replaces a partial plan, past its generations (store/plan-generation.ts).
      const generation = await freshPlanGeneration(db, current);
      const rows = plan.map((c) => queuedChunkRow(episodeId, c, t, generation));
      await db.batch([
        db.delete(chunks).where(eq(chunks.episodeId, episodeId)),
        ...(rows.length > 0 ? [db.insert(chunks).values(rows)] : []),
        db
          .update(episodes)
          .set({
            status: "transcribing",
            chunkCount: plan.length,
            planJson: JSON.stringify(plan),
            durationSec: facts.durationSec,
            sampleCount: facts.sampleCount,
            planGeneration: generation,
            transcribeStartedAt: t,
            updatedAt: t,
          })
          .where(eq(episodes.id, episodeId)),
      ]);
      emit(event);
      for (const c of rows) emit(chunkPlanned(c, t));
    });
  }

  /**
   * Streaming ingest: record one more chunk of a plan that is still growing, in one batch with its
   * plan entry, so a crash resumes after the last chunk recorded (ingest/chunk-stream.ts). The first
   * chunk moves the episode ingesting → transcribing: from then on the fleet, the sweeper and the
   * fencing treat its chunks like any others, while `chunkCount` stays null until `completePlan`,
   * which is what keeps the episode from finishing early. Emits the chunk's (and on the first chunk
   * the episode's) transition after commit. Throws IngestStoppedError when the episode was
   * cancelled or failed meanwhile (its ingest must stop), and ClaimLostError (writing nothing) when
   * `claim` is given and no longer the writer's. Returns the generation the chunk is
   * queued at, which its job must carry: 1, or past every generation of a plan dropped before
   * (store/plan-generation.ts).
   */
  async recordChunk(episodeId: string, chunk: PlannedChunk, claim?: ClaimRef): Promise<number> {
    return await this.database.commit(
      async (db, emit) => {
        const current = await db.select().from(episodes).where(eq(episodes.id, episodeId)).get();
        if (!current) throw new Error(`episode ${episodeId} does not exist`);
        const status = current.status as EpisodeState;
        if ((status !== "ingesting" && status !== "transcribing") || current.chunkCount !== null) throw new IngestStoppedError(episodeId, status);
        const t = this.now();
        const plan = current.planJson === null ? [] : (JSON.parse(current.planJson) as PlannedChunk[]);
        if (plan.length !== chunk.index) throw new Error(`episode ${episodeId}: chunk ${chunk.index} recorded after ${plan.length} chunks`);
        plan.push(chunk);
        const episodeEvent = status === "ingesting" ? episodeTransition(current, "transcribing", t, current.error) : undefined;
        const fresh = chunk.index === 0;
        const generation = fresh ? await freshPlanGeneration(db, current) : current.planGeneration;
        const row = queuedChunkRow(episodeId, chunk, t, generation);
        // the first chunk of a fresh run replaces the rows of a run that failed mid-ingest (begin() dropped its plan)
        if (episodeEvent) await db.delete(chunks).where(eq(chunks.episodeId, episodeId));
        await db.batch([
          db.insert(chunks).values(row),
          db
            .update(episodes)
            .set({
              status: "transcribing",
              planJson: JSON.stringify(plan),
              planGeneration: generation,
              updatedAt: t,
              ...(episodeEvent ? { transcribeStartedAt: t } : {}),
            })
            .where(eq(episodes.id, episodeId)),
        ]);
        if (episodeEvent) emit(episodeEvent);
        emit(chunkPlanned(row, t));
        return generation;
      },
      { claim },
    );
  }

  /**
   * Streaming ingest reached the end of the audio: the plan is complete (`chunkCount` set), with
   * the episode's length and the rendition of the bytes transcribed. No state changes (the episode
   * stays "transcribing"), so nothing is announced. Throws IngestStoppedError when the episode is
   * no longer transcribing a growing plan, and ClaimLostError (writing nothing) when `claim` is given
   * and no longer the writer's.
   */
  async completePlan(
    episodeId: string,
    facts: Partial<EpisodeRow> & { durationSec: number; sampleCount: number },
    claim?: ClaimRef,
  ): Promise<EpisodeRow> {
    return this.database.commit(
      async (db) => {
        const current = await db.select().from(episodes).where(eq(episodes.id, episodeId)).get();
        if (!current) throw new Error(`episode ${episodeId} does not exist`);
        if (current.status !== "transcribing" || current.chunkCount !== null) throw new IngestStoppedError(episodeId, current.status as EpisodeState);
        const plan = current.planJson === null ? [] : (JSON.parse(current.planJson) as PlannedChunk[]);
        const patch = { ...facts, chunkCount: plan.length, updatedAt: this.now() };
        await db.update(episodes).set(patch).where(eq(episodes.id, episodeId));
        return { ...current, ...patch };
      },
      { claim },
    );
  }

  /**
   * An ingest ended before its plan was complete (the download was cut or ran past a limit, the
   * audio would not decode, or the episode failed meanwhile): the episode fails with `patch` (one
   * already failed keeps its own error), and its partial plan goes in the same batch, the open
   * chunks announced cancelled, the chunk rows and the plan dropped, so nothing is left
   * half-written; a retry downloads the episode afresh (retryFailed), and plans it past every
   * generation the dropped chunks used (store/plan-generation.ts). Returns the dropped chunks
   * (the caller purges their audio), or undefined when no ingest can fail it (cancelled, planned whole).
   */
  async failIngest(episodeId: string, patch: Partial<Omit<EpisodeRow, "id" | "status">> & { error: string }): Promise<ChunkRow[] | undefined> {
    return this.database.commit(async (db, emit) => {
      const current = await db.select().from(episodes).where(eq(episodes.id, episodeId)).get();
      const status = current?.status as EpisodeState | undefined;
      if (!current || current.chunkCount !== null || !(status === "failed" || canTransitionEpisode(status!, "failed"))) return undefined;
      const t = this.now();
      const dropped = await db.select().from(chunks).where(eq(chunks.episodeId, episodeId)).all();
      const events = [
        ...(status === "failed" ? [] : [episodeTransition(current, "failed", t, patch.error)]),
        ...dropped.filter((c) => c.state === "queued" || c.state === "leased").map((c) => chunkTransition(c, "cancelled", t, { leaseOwner: null })),
      ];
      const failed = status === "failed" ? {} : { ...patch, status: "failed", finishedAt: t };
      // the next plan starts past these chunks' generations: their jobs may still be in the stream
      const next = generationAfter(dropped, current.planGeneration);
      await db.batch([
        db.delete(chunks).where(eq(chunks.episodeId, episodeId)),
        db
          .update(episodes)
          .set({ ...failed, planJson: null, planGeneration: next, updatedAt: t })
          .where(eq(episodes.id, episodeId)),
      ]);
      for (const e of events) emit(e);
      return dropped;
    });
  }

  /** Download-retry bookkeeping for an episode that keeps its state (a transient failure mid-stream): no transition, no event. */
  async noteFetchFailure(episodeId: string, facts: Pick<EpisodeRow, "fetchAttempts" | "fetchFirstFailedAt" | "fetchError">): Promise<void> {
    await this.database.commit((db) =>
      db
        .update(episodes)
        .set({ ...facts, updatedAt: this.now() })
        .where(eq(episodes.id, episodeId)),
    );
  }

  async listChunks(episodeId: string): Promise<ChunkRow[]> {
    return this.db.select().from(chunks).where(eq(chunks.episodeId, episodeId)).orderBy(asc(chunks.index)).all();
  }

  async getChunk(id: string): Promise<ChunkRow | undefined> {
    return this.db.select().from(chunks).where(eq(chunks.id, id)).get();
  }

  async chunkCounts(episodeId: string): Promise<ChunkCounts> {
    const rows = await this.db
      .select({ state: chunks.state, n: sql<number>`count(*)` })
      .from(chunks)
      .where(eq(chunks.episodeId, episodeId))
      .groupBy(chunks.state)
      .all();
    const counts: ChunkCounts = { total: 0, queued: 0, leased: 0, done: 0, failed: 0, cancelled: 0 };
    for (const r of rows) {
      counts[r.state as ChunkState] = Number(r.n);
      counts.total += Number(r.n);
    }
    return counts;
  }

  /** Chunks not yet finished across all episodes that are transcribing: the backlog. */
  async openChunkCount(): Promise<number> {
    const row = await this.db
      .select({ n: sql<number>`count(*)` })
      .from(chunks)
      .innerJoin(episodes, eq(chunks.episodeId, episodes.id))
      .where(and(eq(episodes.status, "transcribing"), inArray(chunks.state, ["queued", "leased"])))
      .get();
    return Number(row?.n ?? 0);
  }

  /**
   * Applies a pull batch of worker events in ONE transaction, in order: one commit instead of one
   * per event (the orchestrator's main cost per chunk). The batch's chunks are read in one
   * statement, each event's effect (store/chunk-event-effect.ts: the fencing) is applied to that
   * copy in order, and each changed chunk is written once (a claim and the result of the same
   * attempt in one batch are one update). Outcomes index for index; `chunkFailed`: a failure that
   * made the chunk dead.
   */
  async applyEvents(events: readonly ChunkEvent[], maxAttempts: number): Promise<AppliedEvent[]> {
    if (events.length === 0) return [];
    const accepted: Array<{ chunkId: string; json: string; words: readonly Word[] }> = [];
    // the state events go out once the whole transaction has committed (none if it rolls back)
    const out = await this.database.commit(async (_db, emit) => {
      // libSQL directly (store/chunk-batch.ts): drizzle's per-parameter query building was a good part of this write
      const tx = await this.database.client.transaction("write");
      try {
        const rows = new Map((await readChunkRows(tx, [...new Set(events.map((e) => e.chunkId))])).map((c) => [c.id, c]));
        const changed = new Set<string>();
        const applied = events.map((e): AppliedEvent => {
          const chunk = rows.get(e.chunkId);
          const { outcome, chunkFailed, change } = eventEffect(chunk, e, maxAttempts, this.now());
          if (chunk && change) {
            rows.set(chunk.id, { ...chunk, ...change.set });
            changed.add(chunk.id);
            emit(change.transition);
            if (e.type === "result" && e.words && change.set.resultWords)
              accepted.push({ chunkId: chunk.id, json: change.set.resultWords, words: e.words });
          }
          return { outcome, chunkFailed };
        });
        // every changed row in one statement, each written once with its final EVENT_COLUMNS
        await writeEventColumns(
          tx,
          [...changed].map((id) => rows.get(id)!),
        );
        await tx.commit();
        return applied;
      } finally {
        tx.close();
      }
    });
    for (const a of accepted) this.acceptedWords.remember(a.chunkId, a.json, a.words);
    return out;
  }

  /** A worker started an attempt (applyEvents with one event). */
  async applyClaim(event: ChunkClaimed): Promise<EventOutcome> {
    return (await this.applyEvents([event], Number.POSITIVE_INFINITY))[0]!.outcome;
  }

  /** A worker finished an attempt (applyEvents with one event). */
  async applyResult(event: ChunkResult): Promise<EventOutcome> {
    return (await this.applyEvents([event], Number.POSITIVE_INFINITY))[0]!.outcome;
  }

  /** A worker could not process an attempt (applyEvents with one event). */
  async applyFailure(event: ChunkFailed, maxAttempts: number): Promise<AppliedEvent> {
    return (await this.applyEvents([event], maxAttempts))[0]!;
  }

  /** Chunks leased by any of `owners` in episodes still transcribing: the work a dead machine held. */
  async leasedBy(owners: string[]): Promise<ChunkRow[]> {
    if (owners.length === 0) return [];
    return this.transcribingChunks("leased", inArray(chunks.leaseOwner, owners));
  }

  /** Chunks in `state` of episodes still transcribing that also match `where`. */
  private async transcribingChunks(state: ChunkState, where: SQL): Promise<ChunkRow[]> {
    const rows = await this.db
      .select({ chunk: chunks })
      .from(chunks)
      .innerJoin(episodes, eq(chunks.episodeId, episodes.id))
      .where(and(eq(episodes.status, "transcribing"), eq(chunks.state, state), where))
      .all();
    return rows.map((r) => r.chunk);
  }

  /**
   * Returns a chunk leased by a dead machine to the queue at `generation` (the caller has already
   * published the job at that generation). Only if the chunk is still leased by `owner` at an older
   * generation: a newer claim that got there first wins. Attempt 0 makes any claim of the new
   * generation newer, and any event of the old generation stale.
   */
  async requeueLeased(id: string, owner: string, generation: number, why = `machine ${owner} died`, fence?: Fence): Promise<boolean> {
    return this.database.commit(
      async (db, emit) => {
        const chunk = await db.select().from(chunks).where(eq(chunks.id, id)).get();
        if (!chunk || chunk.state !== "leased" || chunk.leaseOwner !== owner || chunk.generation >= generation) return false;
        const t = this.now();
        const change = { generation, attempt: 0, leaseOwner: null, lastError: `${why}; re-queued` };
        const transition = chunkTransition(chunk, "queued", t, change);
        await db
          .update(chunks)
          .set({ state: "queued", ...change, machineLosses: chunk.machineLosses + 1, updatedAt: t })
          .where(eq(chunks.id, id));
        emit(transition);
        return true;
      },
      { fence },
    );
  }

  /**
   * Chunks of transcribing episodes that have sat `queued` since before `before` (ms epoch): with
   * nothing left undelivered in the queue, their jobs are lost (see FleetController's stranded pass).
   */
  async queuedSince(before: number): Promise<ChunkRow[]> {
    return this.transcribingChunks("queued", lt(chunks.updatedAt, before));
  }

  /**
   * Moves a stranded queued chunk to `generation` (its job was just published again at it), only if
   * it is still queued at the generation the caller saw: a claim that arrived meanwhile wins.
   */
  async requeueStranded(id: string, seenGeneration: number, generation: number, fence?: Fence): Promise<boolean> {
    return this.database.write(
      async (db) => {
        const chunk = await db.select().from(chunks).where(eq(chunks.id, id)).get();
        if (!chunk || chunk.state !== "queued" || chunk.generation !== seenGeneration) return false;
        await db
          .update(chunks)
          .set({ generation, attempt: 0, lastError: "its job was lost by the queue; published again", updatedAt: this.now() })
          .where(eq(chunks.id, id));
        return true;
      },
      { fence },
    );
  }

  /**
   * The chunk's machine died once too often (a chunk that kills every machine that runs it, say by
   * running it out of memory, never reports a failure itself): the chunk is dead and its episode
   * fails with the reason, in one batch, like a chunk that failed maxAttempts times. Only if `owner`
   * still holds it. `jobs retry` re-runs it and resets the count.
   */
  async failLostChunk(id: string, owner: string, reason: string, fence?: Fence): Promise<boolean> {
    return this.database.commit(
      async (db, emit) => {
        const chunk = await db.select().from(chunks).where(eq(chunks.id, id)).get();
        if (!chunk || chunk.state !== "leased" || chunk.leaseOwner !== owner) return false;
        const episode = await db.select().from(episodes).where(eq(episodes.id, chunk.episodeId)).get();
        const t = this.now();
        const chunkEvent = chunkTransition(chunk, "failed", t, { leaseOwner: null, lastError: reason });
        const failEpisode = episode?.status === "transcribing";
        const episodeError = `chunk ${id} failed: ${reason}`;
        const episodeEvent = episode && failEpisode ? episodeTransition(episode, "failed", t, episodeError) : undefined;
        await db.batch([
          db
            .update(chunks)
            .set({ state: "failed", leaseOwner: null, machineLosses: chunk.machineLosses + 1, lastError: reason, updatedAt: t })
            .where(eq(chunks.id, id)),
          ...(failEpisode
            ? [
                db
                  .update(episodes)
                  .set({ status: "failed", error: episodeError, updatedAt: t, finishedAt: t })
                  .where(eq(episodes.id, chunk.episodeId)),
              ]
            : []),
        ]);
        emit(chunkEvent);
        if (episodeEvent) emit(episodeEvent);
        return true;
      },
      { fence },
    );
  }

  /**
   * Cancels an unfinished episode and its open (queued, leased) chunks in one batch. From here on
   * the fencing above ignores every claim, result and failure for its chunks, and the lifecycle
   * forbids cancelled → anything: a cancelled episode never turns done. Returns the new state, or
   * the state that kept it from being cancelled.
   */
  async cancelEpisode(id: string): Promise<{ outcome: "cancelled" | "not_found" | "refused"; state?: EpisodeState; chunks: ChunkRow[] }> {
    return this.database.commit(async (db, emit) => {
      const current = await db.select().from(episodes).where(eq(episodes.id, id)).get();
      if (!current) return { outcome: "not_found", chunks: [] };
      const from = current.status as EpisodeState;
      if (from === "failed" || !canTransitionEpisode(from, "cancelled")) return { outcome: "refused", state: from, chunks: [] };
      const t = this.now();
      const open = await db
        .select()
        .from(chunks)
        .where(and(eq(chunks.episodeId, id), inArray(chunks.state, ["queued", "leased"])))
        .all();
      const error = "cancelled by an operator";
      const events = [episodeTransition(current, "cancelled", t, error), ...open.map((c) => chunkTransition(c, "cancelled", t))];
      await db.batch([
        db.update(episodes).set({ status: "cancelled", error, updatedAt: t, finishedAt: t }).where(eq(episodes.id, id)),
        db
          .update(chunks)
          .set({ state: "cancelled", leaseOwner: null, updatedAt: t })
          .where(and(eq(chunks.episodeId, id), inArray(chunks.state, ["queued", "leased"]))),
      ]);
      for (const e of events) emit(e);
      return { outcome: "cancelled", chunks: open };
    });
  }

  /**
   * Moves a failed episode back to "transcribing" and its dead (failed) chunks back to "queued" at
   * the next generation, attempt 0, in one batch. The caller publishes their jobs afterwards at
   * the returned generations: a restart between the two re-publishes them (queued, attempt 0), and a
   * claim can never arrive before the row says queued. Chunks already done are left alone.
   * A URL episode that failed before it was cut into chunks goes back to "received" instead
   * (`redownload`): the caller downloads it again.
   */
  async retryFailed(
    id: string,
  ): Promise<{ outcome: "retried" | "not_found" | "refused"; reason?: string; chunks: ChunkRow[]; redownload?: EpisodeRow }> {
    return this.database.commit(async (db, emit) => {
      const current = await db.select().from(episodes).where(eq(episodes.id, id)).get();
      if (!current) return { outcome: "not_found", chunks: [] };
      if (current.status !== "failed")
        return { outcome: "refused", reason: `episode ${id} is ${current.status}; only failed episodes can be retried`, chunks: [] };
      if (current.chunkCount === null && current.sourceKind === "url") {
        // failed at download (or on the downloaded bytes): back to received, with a fresh retry window; the caller ingests it
        const patch = {
          status: "received",
          error: null,
          finishedAt: null,
          fetchAttempts: 0,
          fetchFirstFailedAt: null,
          nextFetchAt: null,
          fetchError: null,
          updatedAt: this.now(),
        };
        const event = episodeTransition(current, "received", patch.updatedAt);
        await db.update(episodes).set(patch).where(eq(episodes.id, id));
        emit(event);
        return { outcome: "retried", chunks: [], redownload: { ...current, ...patch } };
      }
      if (current.chunkCount === null) {
        return {
          outcome: "refused",
          reason: `episode ${id} failed before its audio was cut into chunks (${current.error ?? "ingest failed"}) and its upload is gone; submit it again`,
          chunks: [],
        };
      }
      const dead = await db
        .select()
        .from(chunks)
        .where(and(eq(chunks.episodeId, id), eq(chunks.state, "failed")))
        .all();
      const t = this.now();
      const events = [
        episodeTransition(current, "transcribing", t),
        ...dead.map((c) => chunkTransition(c, "queued", t, { generation: c.generation + 1, attempt: 0, leaseOwner: null })),
      ];
      await db.batch([
        db.update(episodes).set({ status: "transcribing", error: null, finishedAt: null, updatedAt: t }).where(eq(episodes.id, id)),
        ...dead.map((c) =>
          db
            .update(chunks)
            .set({ state: "queued", generation: c.generation + 1, attempt: 0, leaseOwner: null, machineLosses: 0, updatedAt: t })
            .where(eq(chunks.id, c.id)),
        ),
      ]);
      for (const e of events) emit(e);
      return { outcome: "retried", chunks: dead.map((c) => ({ ...c, state: "queued", generation: c.generation + 1, attempt: 0, leaseOwner: null })) };
    });
  }

  async getSetting(key: string): Promise<string | undefined> {
    const row = await this.db.select().from(settings).where(eq(settings.key, key)).get();
    return row?.value;
  }

  async setSettingIfAbsent(key: string, value: string): Promise<string> {
    await this.database.write((db) => db.insert(settings).values({ key, value }).onConflictDoNothing());
    return (await this.getSetting(key))!;
  }
}

/** The row of a planned chunk, queued at `t` and `generation` (a whole plan recorded at once, or a streamed plan's next chunk). */
function queuedChunkRow(episodeId: string, c: PlannedChunk, t: number, generation: number) {
  return {
    id: chunkId(episodeId, c.index),
    episodeId,
    index: c.index,
    startSample: c.startSample,
    endSample: c.endSample,
    coreStartSample: c.coreStartSample ?? null,
    coreEndSample: c.coreEndSample ?? null,
    state: "queued",
    generation,
    createdAt: t,
    updatedAt: t,
  };
}
