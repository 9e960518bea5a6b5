/**
 * RSS auto-ingest: register feeds, poll them politely, record every item by identity, and turn
 * pending items into jobs at a bounded pace (new episodes before backfill, fair across feeds).
 * Polls run one at a time (a manual `feeds poll` and the background pass never overlap), and
 * `pass()` is the background duty a PassRunner calls. An item whose episode failed is run again
 * (`jobs retry` semantics: a failed download is downloaded again) by the next successful poll,
 * up to `maxItemAttempts` runs in all; then it is marked failed with the reason.
 *
 * Each item's language (the item's own, else the channel's) is stored with the item when a poll
 * finds it, and rides from there to its episode.
 *
 * The background pass is a leader duty: its records (poll results, item states) are fenced writes
 * (cluster/fence.ts) and it checks the fence before submitting an episode, so a deposed leader's
 * late pass changes nothing. A manual poll (`feeds poll`, a webhook hint) runs on any orchestrator.
 */
import { isDeposedError, type Fence } from "../cluster/fence.ts";
import type { EpisodeService } from "../episodes/episode-service.ts";
import { checkUrl } from "../outbound/url-policy.ts";
import { BadInputError } from "../ingest/ingest-errors.ts";
import type { Logger } from "../log.ts";
import { DuplicateEpisodeError, episodeIdentity } from "../sources/episode-links.ts";
import { parseFeedDocument, type FeedEpisodeItem } from "./feed-document.ts";
import { fetchFeed, FeedFetchError, type FeedFetchOptions } from "./feed-fetch.ts";
import { FeedStore, type FeedRow } from "./feed-store.ts";
import { failedItemAction, nextPollDelaySec, pickReleases, planItems, type PlannedItem } from "./poll-plan.ts";

export interface FeedServiceDeps {
  store: FeedStore;
  episodes: Pick<EpisodeService, "submitUrl" | "retry">;
  fetch: FeedFetchOptions;
  /** Feed jobs allowed in flight (not done or failed) at once, across all feeds. */
  maxInFlight: number;
  /** Runs of one item's episode (the first and the retries by later polls) before giving up on it. */
  maxItemAttempts: number;
  log: Logger;
  now?: () => number;
}

export interface PollSummary {
  feedId: string;
  url: string;
  status: "ok" | "not_modified" | "error";
  httpStatus?: number | undefined;
  movedTo?: string | undefined;
  error?: string | undefined;
  items: number;
  new: number;
  backfill: number;
  skipped: number;
  /** Jobs created by the release step that followed this poll. */
  queued: number;
  nextPollAt: string;
}

export interface AddFeedInput {
  url: string;
  backfill?: number | undefined;
  intervalSec?: number | undefined;
  retranscribe?: boolean | undefined;
  callbackUrl?: string | undefined;
}

export const DEFAULT_FEED_INTERVAL_SEC = 3600;

export class FeedService {
  private chain: Promise<unknown> = Promise.resolve();
  private readonly now: () => number;

  constructor(private readonly deps: FeedServiceDeps) {
    this.now = deps.now ?? Date.now;
  }

  /** Run `fn` after any poll in progress: one poll at a time. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Register a feed and read it once (the read sets the baseline and takes the backfill). */
  async add(input: AddFeedInput): Promise<{ feed: FeedRow; poll: PollSummary }> {
    const url = checkUrl(input.url, this.deps.fetch.allowPrivate).toString();
    if (input.callbackUrl) checkUrl(input.callbackUrl, this.deps.fetch.allowPrivate);
    const feed = await this.deps.store.add(
      {
        url,
        intervalSec: input.intervalSec ?? DEFAULT_FEED_INTERVAL_SEC,
        backfill: input.backfill ?? 0,
        retranscribe: input.retranscribe ?? false,
        callbackUrl: input.callbackUrl ?? null,
      },
      this.now(),
    );
    const poll = (await this.poll(feed.id))!;
    return { feed: (await this.deps.store.get(feed.id)) ?? feed, poll };
  }

  list(): Promise<FeedRow[]> {
    return this.deps.store.list();
  }

  get(id: string): Promise<FeedRow | undefined> {
    return this.deps.store.get(id);
  }

  remove(id: string): Promise<boolean> {
    return this.exclusive(() => this.deps.store.remove(id));
  }

  /** Poll one feed now (whatever its schedule), then release pending items. */
  async poll(feedId: string): Promise<PollSummary | undefined> {
    return this.exclusive(async () => {
      const feed = await this.deps.store.get(feedId);
      if (!feed) return undefined;
      const summary = await this.pollOne(feed);
      summary.queued = await this.release();
      return summary;
    });
  }

  /** The background pass: poll every due feed, then release pending items. */
  async pass(signal?: AbortSignal, fence?: Fence): Promise<PollSummary[]> {
    return this.exclusive(async () => {
      const out: PollSummary[] = [];
      const due = await this.deps.store.due(this.now());
      for (const feed of due) {
        if (signal?.aborted) break;
        try {
          out.push(await this.pollOne(feed, fence));
        } catch (err) {
          // pollOne records every fetch and parse failure itself; this is what escaped even that
          // (the store refused the record): this feed is retried next pass, the others go on.
          if (isDeposedError(err)) throw err;
          this.deps.log.error("feed poll crashed", { feedId: feed.id, error: err });
        }
      }
      await this.release(fence);
      return out;
    });
  }

  /**
   * Re-read a feed's item for a webhook hint (fresh, unconditional). Matches by guid, then by
   * enclosure URL, then by exact title.
   */
  async findItem(
    feedUrl: string,
    hint: { guid?: string | undefined; audioUrl?: string | undefined; title?: string | undefined },
  ): Promise<FeedEpisodeItem | undefined> {
    const res = await fetchFeed(feedUrl, { etag: null, lastModified: null }, this.deps.fetch, this.now());
    if (res.kind !== "ok") return undefined;
    const items = parseFeedDocument(res.body, res.finalUrl).items;
    return (
      (hint.guid ? items.find((i) => i.guid === hint.guid) : undefined) ??
      (hint.audioUrl ? items.find((i) => i.enclosureUrl === hint.audioUrl) : undefined) ??
      (hint.title ? items.find((i) => i.title === hint.title) : undefined)
    );
  }

  private async pollOne(feed: FeedRow, fence?: Fence): Promise<PollSummary> {
    const now = this.now();
    const base = { feedId: feed.id, url: feed.url, items: 0, new: 0, backfill: 0, skipped: 0, queued: 0 };
    try {
      const res = await fetchFeed(feed.url, { etag: feed.etag, lastModified: feed.lastModified }, this.deps.fetch, now);
      const patch: Partial<FeedRow> = { lastPolledAt: now, errorCount: 0, lastError: null };
      let planned: PlannedItem[] = [];
      let newFeedUrl: string | undefined;
      if (res.kind === "ok") {
        const doc = parseFeedDocument(res.body, res.finalUrl);
        planned = planItems(
          { baselineAt: feed.baselineAt, addedAt: feed.addedAt, backfill: feed.backfill, retranscribe: feed.retranscribe },
          doc.items.map((item) => ({ ...item, language: item.language ?? doc.language })),
          await this.deps.store.knownIdentities(feed.id),
        );
        Object.assign(patch, {
          etag: res.validators.etag,
          lastModified: res.validators.lastModified,
          title: doc.title ?? feed.title,
          lastStatus: "200",
        });
        if (feed.baselineAt === null) patch.baselineAt = now;
        base.items = doc.items.length;
        if (doc.newFeedUrl && doc.newFeedUrl !== feed.url && doc.newFeedUrl !== res.movedTo) {
          try {
            newFeedUrl = checkUrl(doc.newFeedUrl, this.deps.fetch.allowPrivate).toString();
          } catch {
            this.deps.log.warn("ignoring an unusable itunes:new-feed-url", { feedId: feed.id });
          }
        }
      } else {
        patch.lastStatus = "304";
      }
      const movedTo = newFeedUrl ?? res.movedTo;
      if (movedTo && movedTo !== feed.url) {
        patch.url = movedTo;
        // Validators belong to the old URL when the publisher moved the feed by itself.
        if (newFeedUrl) Object.assign(patch, { etag: null, lastModified: null });
      }
      const delaySec = nextPollDelaySec(feed.intervalSec, { ok: true, errorCount: 0, ...res.hints });
      patch.nextPollAt = now + delaySec * 1000;
      const { urlChanged } = await this.deps.store.recordPoll(feed.id, patch, planned, now, res.kind, fence);
      if (movedTo && !urlChanged && movedTo !== feed.url)
        this.deps.log.warn("feed moved onto another registered feed; kept the old URL", { feedId: feed.id });
      if (urlChanged) this.deps.log.info("feed moved", { feedId: feed.id, from: feed.url, to: movedTo });
      return {
        ...base,
        status: res.kind,
        httpStatus: res.kind === "ok" ? 200 : 304,
        movedTo: urlChanged ? movedTo : undefined,
        new: planned.filter((p) => p.kind === "new" && p.state === "pending").length,
        backfill: planned.filter((p) => p.kind === "backfill").length,
        skipped: planned.filter((p) => p.state === "skipped").length,
        nextPollAt: new Date(patch.nextPollAt).toISOString(),
      };
    } catch (err) {
      if (isDeposedError(err)) throw err;
      const fetchErr = err instanceof FeedFetchError ? err : undefined;
      const errorCount = feed.errorCount + 1;
      const delaySec = nextPollDelaySec(feed.intervalSec, {
        ok: false,
        errorCount,
        ...(fetchErr?.hints ?? { maxAgeSec: undefined, retryAfterSec: undefined }),
      });
      const nextPollAt = now + delaySec * 1000;
      const message = (err as Error).message;
      await this.deps.store.recordPoll(
        feed.id,
        { lastPolledAt: now, errorCount, lastError: message, lastStatus: fetchErr?.status ? String(fetchErr.status) : "error", nextPollAt },
        [],
        now,
        "error",
        fence,
      );
      this.deps.log.warn("feed poll failed", { feedId: feed.id, error: err, errorCount, nextPollInSec: delaySec });
      return { ...base, status: "error", httpStatus: fetchErr?.status, error: message, nextPollAt: new Date(nextPollAt).toISOString() };
    }
  }

  get maxItemAttempts(): number {
    return this.deps.maxItemAttempts;
  }

  /**
   * Items whose episode failed: retried once a poll after the failure succeeded (within the
   * in-flight budget), or given up on after `maxItemAttempts` runs. Returns how many were retried.
   */
  private async retryFailedItems(fence: Fence | undefined): Promise<number> {
    const failed = await this.deps.store.failedQueued();
    if (failed.length === 0) return 0;
    const inFlight = await this.deps.store.inFlightByFeed();
    let budget = this.deps.maxInFlight - [...inFlight.values()].reduce((a, b) => a + b, 0);
    let retried = 0;
    for (const { item, error, failedAt, feed } of failed) {
      const attempts = Math.max(item.attempts, 1);
      const action = failedItemAction(
        { attempts, failedAt, lastPolledAt: feed.lastPolledAt, lastPollOk: feed.lastError === null },
        this.deps.maxItemAttempts,
      );
      if (action === "give_up") {
        const reason = `gave up after ${attempts} ${attempts === 1 ? "attempt" : "attempts"}: ${error ?? "its episode failed"}`;
        await this.deps.store.markItems([item.id], { state: "failed", attempts, lastError: error, reason }, fence);
        this.deps.log.warn("feed item failed for good", { feedId: feed.id, itemId: item.id, episodeId: item.episodeId, attempts });
        continue;
      }
      if (action === "wait" || budget <= 0) continue;
      fence?.check();
      const r = await this.deps.episodes.retry(item.episodeId!);
      if (r.outcome === "not_found") {
        await this.deps.store.markItems(
          [item.id],
          { state: "failed", attempts, lastError: error, reason: `its episode ${item.episodeId} is gone` },
          fence,
        );
      } else if (r.outcome === "retried") {
        await this.deps.store.markItems([item.id], { state: "queued", attempts: attempts + 1, lastError: error }, fence);
        this.deps.log.info("feed item retried", { feedId: feed.id, itemId: item.id, episodeId: item.episodeId, attempt: attempts + 1 });
        budget--;
        retried++;
      } // refused: the episode is no longer failed (retried by hand meanwhile); nothing to do
    }
    return retried;
  }

  /** Retry failed items, then turn pending items into jobs, within the in-flight budget. Returns how many jobs were created or re-run. */
  private async release(fence?: Fence): Promise<number> {
    const retried = await this.retryFailedItems(fence);
    const pending = await this.deps.store.pending();
    if (pending.length === 0) return retried;
    const inFlight = await this.deps.store.inFlightByFeed();
    const busy = [...inFlight.values()].reduce((a, b) => a + b, 0);
    const chosen = pickReleases(pending, inFlight, this.deps.maxInFlight - busy);
    const feedsById = new Map((await this.deps.store.list()).map((f) => [f.id, f]));
    let queued = 0;
    for (const p of chosen) {
      const row = pending.find((x) => x.id === p.id)!.row;
      const feed = feedsById.get(row.feedId);
      if (!feed) continue;
      let episode;
      fence?.check();
      try {
        episode = await this.deps.episodes.submitUrl(row.enclosureUrl!, {
          title: row.title ?? undefined,
          language: row.language ?? undefined,
          callbackUrl: feed.callbackUrl ?? undefined,
          origin: {
            kind: row.kind === "new" ? "feed-new" : "feed-backfill",
            identity: episodeIdentity({ feedKey: feed.id, guid: row.guid, enclosureUrl: row.enclosureUrl }),
            feedId: feed.id,
            guid: row.guid,
          },
        });
      } catch (err) {
        if (err instanceof DuplicateEpisodeError) {
          await this.deps.store.markItems(
            [row.id],
            {
              state: "duplicate",
              episodeId: err.existingEpisodeId,
              reason: "already submitted (webhook or earlier poll)",
            },
            fence,
          );
        } else if (err instanceof BadInputError) {
          await this.deps.store.markItems([row.id], { state: "skipped", reason: err.message }, fence);
        } else {
          // Unexpected: this item ends with the reason instead of blocking every later release.
          this.deps.log.error("feed item could not be submitted", { feedId: row.feedId, itemId: row.id, error: err });
          const reason = `could not be submitted: ${err instanceof Error ? err.message : String(err)}`.slice(0, 1000);
          await this.deps.store
            .markItems([row.id], { state: "skipped", reason }, fence)
            .catch((markErr: unknown) =>
              this.deps.log.error("could not record a feed item's failure; it is tried again next pass", { itemId: row.id, error: markErr }),
            );
        }
        continue;
      }
      await this.deps.store.markItems([row.id], { state: "queued", episodeId: episode.id, attempts: 1 }, fence);
      queued++;
    }
    if (queued > 0) this.deps.log.info("feed items queued", { count: queued });
    return retried + queued;
  }
}
