/**
 * Feeds and their items in libSQL. Writes go through Database.write; a poll's result (validators,
 * schedule, new items) is recorded in one batch.
 */
import { randomBytes } from "node:crypto";
import { and, asc, eq, inArray, lte, notInArray, sql } from "drizzle-orm";
import { episodes, feedItems, feeds } from "../../db/schema.ts";
import type { FeedPollEvent } from "../events/state-events.ts";
import type { Fence } from "../cluster/fence.ts";
import type { Database } from "../store/database.ts";
import type { PendingItem, PlannedItem } from "./poll-plan.ts";

export type FeedRow = typeof feeds.$inferSelect;
export type FeedItemRow = typeof feedItems.$inferSelect;

export class FeedExistsError extends Error {
  override name = "FeedExistsError";
  constructor(readonly existing: FeedRow) {
    super(`feed ${existing.url} is already registered as ${existing.id}`);
  }
}

export class FeedStore {
  constructor(private readonly database: Database) {}

  private get db() {
    return this.database.db;
  }

  async add(input: Pick<FeedRow, "url" | "intervalSec" | "backfill" | "retranscribe" | "callbackUrl">, now: number): Promise<FeedRow> {
    const row: FeedRow = {
      id: `feed_${randomBytes(6).toString("hex")}`,
      ...input,
      title: null,
      etag: null,
      lastModified: null,
      addedAt: now,
      baselineAt: null,
      lastPolledAt: null,
      lastStatus: null,
      lastError: null,
      errorCount: 0,
      // `add` reads the feed at once; the timer takes over after one interval.
      nextPollAt: now + input.intervalSec * 1000,
    };
    await this.database.write(async (db) => {
      const existing = await db.select().from(feeds).where(eq(feeds.url, input.url)).get();
      if (existing) throw new FeedExistsError(existing);
      await db.insert(feeds).values(row);
    });
    return row;
  }

  async get(id: string): Promise<FeedRow | undefined> {
    return this.db.select().from(feeds).where(eq(feeds.id, id)).get();
  }

  async byUrl(url: string): Promise<FeedRow | undefined> {
    return this.db.select().from(feeds).where(eq(feeds.url, url)).get();
  }

  async list(): Promise<FeedRow[]> {
    return this.db.select().from(feeds).orderBy(asc(feeds.addedAt)).all();
  }

  async remove(id: string): Promise<boolean> {
    return this.database.write(async (db) => {
      const row = await db.select().from(feeds).where(eq(feeds.id, id)).get();
      if (!row) return false;
      await db.batch([db.delete(feedItems).where(eq(feedItems.feedId, id)), db.delete(feeds).where(eq(feeds.id, id))]);
      return true;
    });
  }

  async due(now: number): Promise<FeedRow[]> {
    return this.db.select().from(feeds).where(lte(feeds.nextPollAt, now)).orderBy(asc(feeds.nextPollAt)).all();
  }

  async knownIdentities(feedId: string): Promise<Set<string>> {
    const rows = await this.db.select({ identity: feedItems.identity }).from(feedItems).where(eq(feedItems.feedId, feedId)).all();
    return new Set(rows.map((r) => r.identity));
  }

  /** Items per state, plus `awaiting_retry`: queued items whose episode failed (a later poll retries them or gives up). */
  async itemCounts(feedId: string): Promise<Record<string, number>> {
    const rows = await this.db
      .select({ state: feedItems.state, n: sql<number>`count(*)` })
      .from(feedItems)
      .where(eq(feedItems.feedId, feedId))
      .groupBy(feedItems.state)
      .all();
    const failed = await this.db
      .select({ n: sql<number>`count(*)` })
      .from(feedItems)
      .innerJoin(episodes, eq(feedItems.episodeId, episodes.id))
      .where(and(eq(feedItems.feedId, feedId), eq(feedItems.state, "queued"), eq(episodes.status, "failed")))
      .get();
    const counts: Record<string, number> = Object.fromEntries(rows.map((r) => [r.state, Number(r.n)]));
    if (Number(failed?.n ?? 0) > 0) counts.awaiting_retry = Number(failed!.n);
    return counts;
  }

  /** Queued items whose episode failed, with the episode's error and end, and their feed's last poll. */
  async failedQueued(): Promise<Array<{ item: FeedItemRow; error: string | null; failedAt: number | null; feed: FeedRow }>> {
    const rows = await this.db
      .select({ item: feedItems, error: episodes.error, failedAt: episodes.finishedAt, feed: feeds })
      .from(feedItems)
      .innerJoin(episodes, eq(feedItems.episodeId, episodes.id))
      .innerJoin(feeds, eq(feedItems.feedId, feeds.id))
      .where(and(eq(feedItems.state, "queued"), eq(episodes.status, "failed")))
      .orderBy(asc(episodes.finishedAt))
      .all();
    return rows;
  }

  /**
   * Record a poll: feed columns and the new items in one batch, announced as a `feed:poll` event
   * once committed. A URL change that would collide with another registered feed is dropped (the
   * caller logs it).
   */
  async recordPoll(
    feedId: string,
    patch: Partial<Omit<FeedRow, "id">>,
    items: PlannedItem[],
    now: number,
    outcome: FeedPollEvent["outcome"] = patch.lastError ? "error" : "ok",
    fence?: Fence,
  ): Promise<{ urlChanged: boolean }> {
    return this.database.commit(
      async (db, emit) => {
        let urlChanged = false;
        if (patch.url) {
          const other = await db.select().from(feeds).where(eq(feeds.url, patch.url)).get();
          if (other && other.id !== feedId) delete patch.url;
          else urlChanged = true;
        }
        const rows = items.map((p) => ({
          id: `fi_${randomBytes(8).toString("hex")}`,
          feedId,
          identity: p.identity,
          guid: p.item.guid ?? null,
          enclosureUrl: p.item.enclosureUrl ?? null,
          title: p.item.title ?? null,
          publishedAt: p.item.publishedAt ?? null,
          language: p.item.language ?? null,
          kind: p.kind,
          state: p.state,
          reason: p.reason,
          episodeId: null,
          discoveredAt: now,
        }));
        await db.batch([
          db.update(feeds).set(patch).where(eq(feeds.id, feedId)),
          ...(rows.length > 0 ? [db.insert(feedItems).values(rows).onConflictDoNothing()] : []),
        ]);
        emit({
          type: "feed:poll",
          feedId,
          at: now,
          outcome,
          newItems: rows.length,
          error: patch.lastError ?? null,
          nextPollAt: patch.nextPollAt ?? null,
        });
        return { urlChanged };
      },
      { fence },
    );
  }

  async pending(): Promise<Array<PendingItem & { row: FeedItemRow }>> {
    const rows = await this.db.select().from(feedItems).where(eq(feedItems.state, "pending")).all();
    return rows.map((row) => ({
      id: row.id,
      feedId: row.feedId,
      kind: row.kind === "new" ? "new" : "backfill",
      discoveredAt: row.discoveredAt,
      publishedAt: row.publishedAt,
      row,
    }));
  }

  /** Jobs from feeds that have not finished yet, per feed. */
  async inFlightByFeed(): Promise<Map<string, number>> {
    const rows = await this.db
      .select({ feedId: feedItems.feedId, n: sql<number>`count(*)` })
      .from(feedItems)
      .innerJoin(episodes, eq(feedItems.episodeId, episodes.id))
      .where(and(eq(feedItems.state, "queued"), notInArray(episodes.status, ["done", "failed", "cancelled"])))
      .groupBy(feedItems.feedId)
      .all();
    return new Map(rows.map((r) => [r.feedId, Number(r.n)]));
  }

  async markItems(
    ids: string[],
    patch: Pick<FeedItemRow, "state"> & Partial<Pick<FeedItemRow, "episodeId" | "reason" | "attempts" | "lastError">>,
    fence?: Fence,
  ): Promise<void> {
    if (ids.length === 0) return;
    await this.database.write((db) => db.update(feedItems).set(patch).where(inArray(feedItems.id, ids)), { fence });
  }

  async items(feedId: string): Promise<FeedItemRow[]> {
    return this.db.select().from(feedItems).where(eq(feedItems.feedId, feedId)).orderBy(asc(feedItems.discoveredAt)).all();
  }

  /** A feed's items with the status and error of each one's episode (null when it has none). */
  async itemsWithEpisodes(feedId: string): Promise<Array<{ item: FeedItemRow; episodeStatus: string | null; episodeError: string | null }>> {
    return this.db
      .select({ item: feedItems, episodeStatus: episodes.status, episodeError: episodes.error })
      .from(feedItems)
      .leftJoin(episodes, eq(feedItems.episodeId, episodes.id))
      .where(eq(feedItems.feedId, feedId))
      .orderBy(asc(feedItems.discoveredAt))
      .all();
  }
}
