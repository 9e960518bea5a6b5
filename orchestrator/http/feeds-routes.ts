/**
 * RSS feeds on the API app:
 *   POST   /v1/feeds {url, backfill?, intervalSec?, retranscribe?, callbackUrl?}  register + first read (201)
 *   GET    /v1/feeds                 every feed with its item counts
 *   GET    /v1/feeds/:id             one feed, with its items (and, for an item whose episode
 *                                     failed, its attempts, last error and retry: will_retry | gave_up)
 *   POST   /v1/feeds/:id/poll        poll now
 *   DELETE /v1/feeds/:id
 */
import type { Hono } from "hono";
import { z } from "zod";
import type { FeedService } from "../feeds/feed-service.ts";
import { FeedExistsError, type FeedRow, type FeedStore } from "../feeds/feed-store.ts";
import { boundedNumber, FEED_BACKFILL, FEED_INTERVAL_SEC } from "../input-bounds.ts";
import { ApiError } from "./app.ts";

export interface FeedRoutesDeps {
  feeds: Pick<FeedService, "add" | "list" | "get" | "poll" | "remove" | "maxItemAttempts">;
  store: Pick<FeedStore, "itemCounts" | "itemsWithEpisodes">;
}

const AddFeed = z.object({
  url: z.string().min(1).max(4096),
  backfill: boundedNumber(FEED_BACKFILL).optional(),
  intervalSec: boundedNumber(FEED_INTERVAL_SEC).optional(),
  retranscribe: z.boolean().optional(),
  callbackUrl: z.string().max(4096).optional(),
});

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** What the API shows of a feed. */
export function feedView(f: FeedRow, items: Record<string, number>) {
  return {
    id: f.id,
    url: f.url,
    title: f.title,
    intervalSec: f.intervalSec,
    backfill: f.backfill,
    retranscribe: f.retranscribe,
    callbackUrl: f.callbackUrl,
    addedAt: iso(f.addedAt),
    lastPolledAt: iso(f.lastPolledAt),
    lastStatus: f.lastStatus,
    lastError: f.lastError,
    errorCount: f.errorCount,
    nextPollAt: iso(f.nextPollAt),
    items,
  };
}

export function mountFeedRoutes(app: Hono, deps: FeedRoutesDeps): void {
  app.post("/v1/feeds", async (c) => {
    const parsed = AddFeed.safeParse(await c.req.json().catch(() => undefined));
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new ApiError(400, "invalid_request", `${issue.path.join(".") || "body"}: ${issue.message}`);
    }
    try {
      const { feed, poll } = await deps.feeds.add(parsed.data);
      return c.json({ feed: feedView(feed, await deps.store.itemCounts(feed.id)), poll }, 201);
    } catch (err) {
      if (err instanceof FeedExistsError) throw new ApiError(409, "feed_exists", err.message);
      throw err;
    }
  });

  app.get("/v1/feeds", async (c) => {
    const feeds = await deps.feeds.list();
    return c.json({ feeds: await Promise.all(feeds.map(async (f) => feedView(f, await deps.store.itemCounts(f.id)))) });
  });

  app.get("/v1/feeds/:id", async (c) => {
    const feed = await deps.feeds.get(c.req.param("id"));
    if (!feed) throw new ApiError(404, "not_found", `no feed ${c.req.param("id")}`);
    const items = (await deps.store.itemsWithEpisodes(feed.id)).map(({ item: i, episodeStatus, episodeError }) => {
      const failed = i.state === "queued" && episodeStatus === "failed";
      return {
        guid: i.guid,
        title: i.title,
        enclosureUrl: i.enclosureUrl,
        publishedAt: iso(i.publishedAt),
        kind: i.kind,
        state: i.state,
        reason: i.reason,
        episodeId: i.episodeId,
        episodeStatus,
        attempts: i.attempts,
        maxAttempts: deps.feeds.maxItemAttempts,
        lastError: failed ? episodeError : i.lastError,
        // an item whose episode failed: the next successful poll runs it again, or the poller gave up
        retry: i.state === "failed" || (failed && Math.max(i.attempts, 1) >= deps.feeds.maxItemAttempts) ? "gave_up" : failed ? "will_retry" : null,
      };
    });
    return c.json({ ...feedView(feed, await deps.store.itemCounts(feed.id)), entries: items });
  });

  app.post("/v1/feeds/:id/poll", async (c) => {
    const summary = await deps.feeds.poll(c.req.param("id"));
    if (!summary) throw new ApiError(404, "not_found", `no feed ${c.req.param("id")}`);
    return c.json(summary);
  });

  app.delete("/v1/feeds/:id", async (c) => {
    if (!(await deps.feeds.remove(c.req.param("id")))) throw new ApiError(404, "not_found", `no feed ${c.req.param("id")}`);
    return c.json({ removed: c.req.param("id") });
  });
}
