/**
 * `podfleet feeds add URL [--backfill N] [--interval S] [--retranscribe] [--callback-url URL]`,
 * `feeds list`, `feeds show ID`, `feeds remove ID`, `feeds poll ID`. Talks to the HTTP API through
 * ApiClient; `feeds list` and `feeds show` never start an orchestrator.
 */
import { boundedFlag } from "./cli-args.ts";
import type { CommandContext } from "./command-action.ts";
import { FEED_BACKFILL, FEED_INTERVAL_SEC } from "../input-bounds.ts";
import { table } from "./table.ts";
import { safeInline, writeHuman, writeJson } from "./terminal-text.ts";
import { openTarget, requireRunning, withTarget } from "./target.ts";

interface FeedView {
  id: string;
  url: string;
  title: string | null;
  intervalSec: number;
  lastStatus: string | null;
  lastError: string | null;
  nextPollAt: string | null;
  items: Record<string, number>;
}

interface FeedEntry {
  title: string | null;
  guid: string | null;
  state: string;
  reason: string | null;
  episodeId: string | null;
  episodeStatus: string | null;
  attempts: number;
  maxAttempts: number;
  lastError: string | null;
  retry: "will_retry" | "gave_up" | null;
}

interface PollSummary {
  status: string;
  httpStatus?: number;
  movedTo?: string;
  error?: string;
  items: number;
  new: number;
  backfill: number;
  skipped: number;
  queued: number;
  nextPollAt: string;
}

/** An entry's STATE column: its state, and for a failed episode whether a later poll runs it again. */
function entryState(e: FeedEntry): string {
  if (e.retry === "will_retry") return `failed, will retry (${e.attempts}/${e.maxAttempts})`;
  if (e.retry === "gave_up") return `failed, gave up (${e.attempts}/${e.maxAttempts})`;
  if (e.state === "queued" && e.episodeStatus) return `queued: ${e.episodeStatus}`;
  return e.state;
}

function describePoll(p: PollSummary): string {
  if (p.status === "error") return `poll failed: ${safeInline(p.error ?? "unknown error")}; next try ${p.nextPollAt}\n`;
  const moved = p.movedTo ? `; feed moved to ${safeInline(p.movedTo)}` : "";
  if (p.status === "not_modified") return `not modified (304)${moved}; next poll ${p.nextPollAt}\n`;
  return `${p.items} items: ${p.new} new, ${p.backfill} backfill, ${p.skipped} skipped; ${p.queued} jobs queued${moved}; next poll ${p.nextPollAt}\n`;
}

export async function addFeed(ctx: CommandContext, url: string): Promise<number> {
  const f = ctx.flags as { backfill?: string; interval?: string; retranscribe?: boolean; "callback-url"?: string };
  const backfill = boundedFlag("backfill", f.backfill, FEED_BACKFILL);
  const interval = boundedFlag("interval", f.interval, FEED_INTERVAL_SEC);
  return withTarget(await openTarget(ctx), async ({ api }) => {
    const res = await api.post<{ feed: FeedView; poll: PollSummary }>("/v1/feeds", {
      url,
      ...(backfill !== undefined ? { backfill } : {}),
      ...(interval !== undefined ? { intervalSec: interval } : {}),
      ...(f.retranscribe ? { retranscribe: true } : {}),
      ...(f["callback-url"] ? { callbackUrl: f["callback-url"] } : {}),
    });
    if (ctx.json) writeJson(res, 2);
    else
      writeHuman(
        `feed ${res.feed.id} ${res.feed.title ? `"${safeInline(res.feed.title)}" ` : ""}(${safeInline(res.feed.url)})\n  ${describePoll(res.poll)}`,
      );
  });
}

export async function listFeeds(ctx: CommandContext): Promise<number> {
  return withTarget(await requireRunning(ctx), async ({ api }) => {
    const { feeds } = await api.get<{ feeds: FeedView[] }>("/v1/feeds");
    if (ctx.json) writeJson(feeds, 2);
    else
      writeHuman(
        table(
          ["ID", "URL", "STATUS", "QUEUED", "PENDING", "RETRY", "FAILED", "NEXT POLL", "TITLE"],
          feeds.map((f) => [
            f.id,
            f.url,
            f.lastError ? `error: ${f.lastError.slice(0, 40)}` : (f.lastStatus ?? "-"),
            String(f.items.queued ?? 0),
            String(f.items.pending ?? 0),
            String(f.items.awaiting_retry ?? 0),
            String(f.items.failed ?? 0),
            f.nextPollAt ?? "-",
            f.title ?? "",
          ]),
        ),
      );
  });
}

export async function showFeed(ctx: CommandContext, id: string): Promise<number> {
  return withTarget(await requireRunning(ctx), async ({ api }) => {
    const feed = await api.get<FeedView & { entries: FeedEntry[] }>(`/v1/feeds/${encodeURIComponent(id)}`);
    if (ctx.json) {
      writeJson(feed, 2);
      return;
    }
    writeHuman(
      `feed ${feed.id} ${feed.title ? `"${feed.title}" ` : ""}(${feed.url})\n  last poll ${feed.lastStatus ?? "-"}${feed.lastError ? ` (${feed.lastError})` : ""}; next ${feed.nextPollAt ?? "-"}\n`,
    );
    writeHuman(
      table(
        ["STATE", "EPISODE", "TITLE", "LAST ERROR / REASON"],
        feed.entries.map((e) => [entryState(e), e.episodeId ?? "-", e.title ?? e.guid ?? "", (e.lastError ?? e.reason ?? "").slice(0, 100)]),
      ),
    );
  });
}

export async function removeFeed(ctx: CommandContext, id: string): Promise<number> {
  return withTarget(await openTarget(ctx), async ({ api }) => {
    await api.delete(`/v1/feeds/${encodeURIComponent(id)}`);
    if (ctx.json) writeJson({ id, removed: true });
    else writeHuman(`removed ${id}\n`);
  });
}

export async function pollFeed(ctx: CommandContext, id: string): Promise<number> {
  return withTarget(await openTarget(ctx), async ({ api }) => {
    const summary = await api.post<PollSummary>(`/v1/feeds/${encodeURIComponent(id)}/poll`, {});
    if (ctx.json) writeJson(summary, 2);
    else writeHuman(describePoll(summary));
  });
}
