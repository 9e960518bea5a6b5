/**
 * The feed poller's decisions as pure functions of what it observed and `now`, so each is tested
 * as a table of cases:
 * - `nextPollDelaySec`: the interval, stretched by Cache-Control max-age and Retry-After, and
 *   doubled per consecutive error (capped);
 * - `planItems`: which items of a successful read are new, backfill, old or skipped;
 * - `pickReleases`: which pending items become jobs now: new episodes first, then backfill
 *   round-robin across feeds (the feed with the fewest jobs in flight goes next), so one feed's
 *   long backfill never starves another feed;
 * - `failedItemAction`: whether a later poll retries an item whose episode failed, or gives up.
 */
import type { FeedEpisodeItem } from "./feed-document.ts";

export const MAX_POLL_DELAY_SEC = 24 * 3600;
/** An unseen item dated this long before the feed was added is a re-listed old episode. */
export const OLD_ITEM_GRACE_MS = 7 * 24 * 3600 * 1000;

export interface PollOutcome {
  ok: boolean;
  /** Consecutive errors including this poll (0 when ok). */
  errorCount: number;
  maxAgeSec: number | undefined;
  retryAfterSec: number | undefined;
}

export function nextPollDelaySec(intervalSec: number, o: PollOutcome): number {
  let delay = intervalSec;
  if (o.ok && o.maxAgeSec !== undefined) delay = Math.max(delay, Math.min(o.maxAgeSec, MAX_POLL_DELAY_SEC));
  if (!o.ok) delay = Math.min(MAX_POLL_DELAY_SEC, intervalSec * 2 ** Math.min(o.errorCount, 16));
  if (o.retryAfterSec !== undefined) delay = Math.max(delay, Math.min(o.retryAfterSec, 7 * MAX_POLL_DELAY_SEC));
  return delay;
}

/** Identity of an item within its feed: guid, else enclosure URL. */
export function itemIdentity(item: Pick<FeedEpisodeItem, "guid" | "enclosureUrl">): string | undefined {
  if (item.guid) return `guid:${item.guid}`;
  if (item.enclosureUrl) return `url:${item.enclosureUrl}`;
  return undefined;
}

export interface PlannedItem {
  item: FeedEpisodeItem;
  identity: string;
  kind: "new" | "backfill" | "old";
  state: "pending" | "old" | "skipped";
  reason: string | null;
}

export interface FeedPolicy {
  /** Null until the first successful read, which sets the baseline. */
  baselineAt: number | null;
  addedAt: number;
  backfill: number;
  retranscribe: boolean;
}

function skipReason(item: FeedEpisodeItem, retranscribe: boolean): string | null {
  if (!item.enclosureUrl) return "no audio enclosure";
  if (item.hasTranscript && !retranscribe) return "already has a podcast:transcript";
  return null;
}

/** Decide what to do with every item not seen before (`known` holds identities already recorded). */
export function planItems(policy: FeedPolicy, items: FeedEpisodeItem[], known: ReadonlySet<string>): PlannedItem[] {
  const seen = new Set<string>();
  const fresh: Array<{ item: FeedEpisodeItem; identity: string; order: number }> = [];
  items.forEach((item, order) => {
    const identity = itemIdentity(item);
    if (!identity || known.has(identity) || seen.has(identity)) return;
    seen.add(identity);
    fresh.push({ item, identity, order });
  });

  if (policy.baselineAt === null) {
    // First read: everything already there is old; the newest `backfill` eligible ones are taken.
    const eligible = fresh
      .filter((f) => skipReason(f.item, policy.retranscribe) === null)
      .sort((a, b) => (b.item.publishedAt ?? -Infinity) - (a.item.publishedAt ?? -Infinity) || a.order - b.order)
      .slice(0, Math.max(0, policy.backfill));
    const chosen = new Set(eligible.map((f) => f.identity));
    return fresh.map(({ item, identity }) => {
      if (chosen.has(identity)) return { item, identity, kind: "backfill", state: "pending", reason: null };
      const reason = skipReason(item, policy.retranscribe);
      return { item, identity, kind: "old", state: reason ? "skipped" : "old", reason: reason ?? "published before the feed was added" };
    });
  }

  return fresh.map(({ item, identity }) => {
    if (item.publishedAt !== undefined && item.publishedAt < policy.addedAt - OLD_ITEM_GRACE_MS) {
      return { item, identity, kind: "old", state: "old", reason: "published before the feed was added" };
    }
    const reason = skipReason(item, policy.retranscribe);
    return { item, identity, kind: "new", state: reason ? "skipped" : "pending", reason };
  });
}

export interface PendingItem {
  id: string;
  feedId: string;
  kind: "new" | "backfill";
  discoveredAt: number;
  publishedAt: number | null;
}

/** Choose up to `slots` pending items: new first (oldest discovery first), then fair backfill. */
export function pickReleases(pending: PendingItem[], inFlightByFeed: ReadonlyMap<string, number>, slots: number): PendingItem[] {
  if (slots <= 0) return [];
  const picked = pending
    .filter((p) => p.kind === "new")
    .sort((a, b) => a.discoveredAt - b.discoveredAt || (a.publishedAt ?? 0) - (b.publishedAt ?? 0))
    .slice(0, slots);

  const queues = new Map<string, PendingItem[]>();
  for (const p of pending) {
    if (p.kind !== "backfill") continue;
    const q = queues.get(p.feedId) ?? [];
    q.push(p);
    queues.set(p.feedId, q);
  }
  for (const q of queues.values()) q.sort((a, b) => (b.publishedAt ?? -Infinity) - (a.publishedAt ?? -Infinity) || a.discoveredAt - b.discoveredAt);
  const load = new Map<string, number>();
  for (const feedId of queues.keys()) load.set(feedId, inFlightByFeed.get(feedId) ?? 0);
  for (const p of picked) load.set(p.feedId, (load.get(p.feedId) ?? 0) + 1);

  while (picked.length < slots) {
    let best: string | undefined;
    for (const [feedId, q] of [...queues.entries()].sort(([a], [b]) => a.localeCompare(b))) {
      if (q.length === 0) continue;
      if (best === undefined || load.get(feedId)! < load.get(best)!) best = feedId;
    }
    if (best === undefined) break;
    picked.push(queues.get(best)!.shift()!);
    load.set(best, load.get(best)! + 1);
  }
  return picked;
}

export interface FailedItem {
  /** Runs of the item's episode so far (the first included). */
  attempts: number;
  /** When the episode failed (null if unknown). */
  failedAt: number | null;
  /** The feed's last poll, and whether it succeeded. */
  lastPolledAt: number | null;
  lastPollOk: boolean;
}

/**
 * An item whose episode failed is run again by the first successful poll after the failure (the
 * host is answering again), until it has run `limit` times; then the poller gives up on it.
 */
export function failedItemAction(item: FailedItem, limit: number): "retry" | "wait" | "give_up" {
  if (Math.max(item.attempts, 1) >= limit) return "give_up";
  if (item.lastPolledAt === null || !item.lastPollOk) return "wait";
  if (item.failedAt !== null && item.lastPolledAt <= item.failedAt) return "wait";
  return "retry";
}
