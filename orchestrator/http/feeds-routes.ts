/**
 * RSS feeds on the API app:
 *   POST   /v1/feeds {url, backfill?, intervalSec?, retranscribe?, callbackUrl?}  register + first read (201)
 *   GET    /v1/feeds                 every feed with its item counts
 *   GET    /v1/feeds/:id             one feed, with its items (and, for an item whose episode
 *                                     failed, its attempts, last error and retry: will_retry | gave_up)
 *   POST   /v1/feeds/:id/poll        poll now
 *   DELETE /v1/feeds/:id
 */
import { z } from "zod";
import type { FeedService } from "../feeds/feed-service.ts";
import { FeedExistsError, type FeedRow, type FeedStore } from "../feeds/feed-store.ts";
import { boundedNumber, FEED_BACKFILL, FEED_INTERVAL_SEC } from "../input-bounds.ts";
import { ApiError } from "./api-error.ts";
import { errors, json, route, type ApiRoute } from "./api-route.ts";

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

const ADMIN = { 401: "no live admin token" };
const NO_FEED = { 404: "no such feed" };

export function feedRoutes(deps: FeedRoutesDeps): ApiRoute[] {
  return [
    route({
      method: "post",
      path: "/v1/feeds",
      access: "admin",
      tag: "feeds",
      summary: "register an RSS feed `{url, backfill?, intervalSec?, retranscribe?, callbackUrl?}` and read it once: `201 {feed, poll}`",
      body: AddFeed,
      responses: {
        201: json("the feed and its first poll"),
        ...errors({ 400: "bad JSON, a bad field or an unusable URL", ...ADMIN, 409: "feed already registered" }),
      },
      handler: async (c, { body }) => {
        try {
          const { feed, poll } = await deps.feeds.add(body);
          return c.json({ feed: feedView(feed, await deps.store.itemCounts(feed.id)), poll }, 201);
        } catch (err) {
          if (err instanceof FeedExistsError) throw new ApiError(409, "feed_exists", err.message);
          throw err;
        }
      },
    }),
    route({
      method: "get",
      path: "/v1/feeds",
      access: "admin",
      tag: "feeds",
      summary: "every feed with its last and next poll, errors and item counts",
      responses: { 200: json("the feeds"), ...errors(ADMIN) },
      handler: async (c) => {
        const feeds = await deps.feeds.list();
        return c.json({ feeds: await Promise.all(feeds.map(async (f) => feedView(f, await deps.store.itemCounts(f.id)))) });
      },
    }),
    route({
      method: "get",
      path: "/v1/feeds/{id}",
      access: "admin",
      tag: "feeds",
      summary: "one feed with its items (for an item whose episode failed: attempts, last error and `retry: will_retry | gave_up`)",
      responses: { 200: json("the feed and its entries"), ...errors({ ...ADMIN, ...NO_FEED }) },
      handler: async (c) => {
        const feed = await deps.feeds.get(c.req.param("id")!);
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
            retry:
              i.state === "failed" || (failed && Math.max(i.attempts, 1) >= deps.feeds.maxItemAttempts) ? "gave_up" : failed ? "will_retry" : null,
          };
        });
        return c.json({ ...feedView(feed, await deps.store.itemCounts(feed.id)), entries: items });
      },
    }),
    route({
      method: "post",
      path: "/v1/feeds/{id}/poll",
      access: "admin",
      tag: "feeds",
      summary: "poll a feed now; returns what the poll found",
      responses: { 200: json("the poll's summary"), ...errors({ ...ADMIN, ...NO_FEED }) },
      handler: async (c) => {
        const summary = await deps.feeds.poll(c.req.param("id")!);
        if (!summary) throw new ApiError(404, "not_found", `no feed ${c.req.param("id")}`);
        return c.json(summary);
      },
    }),
    route({
      method: "delete",
      path: "/v1/feeds/{id}",
      access: "admin",
      tag: "feeds",
      summary: "stop following a feed",
      responses: { 200: json("removed"), ...errors({ ...ADMIN, ...NO_FEED }) },
      handler: async (c) => {
        const id = c.req.param("id")!;
        if (!(await deps.feeds.remove(id))) throw new ApiError(404, "not_found", `no feed ${id}`);
        return c.json({ removed: id });
      },
    }),
  ];
}
