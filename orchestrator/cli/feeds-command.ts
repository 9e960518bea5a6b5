/**
 * `podfleet feeds add URL [--backfill N] [--interval S] [--retranscribe] [--callback-url URL]`,
 * `feeds list [--json]`, `feeds show ID [--json]`, `feeds remove ID`, `feeds poll ID`. Talks to the HTTP API through
 * ApiClient; `main.ts` dispatches here.
 */
import { CliError } from "./cli-error.ts";
import { boundedFlag, parseCommandArgs } from "./cli-args.ts";
import { FEED_BACKFILL, FEED_INTERVAL_SEC } from "../input-bounds.ts";
import { table } from "./table.ts";
import { safeInline, writeHuman, writeJson } from "./terminal-text.ts";
import { openTarget } from "./target.ts";

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

export const FEEDS_USAGE = `  feeds add URL [--backfill N] [--interval S] [--retranscribe] [--callback-url URL] [--json]
                                             watch an RSS feed; new episodes are transcribed
  feeds list [--json] | feeds show ID [--json] | feeds remove ID | feeds poll ID [--json]`;

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

export async function feedsCommand(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const parsed = parseCommandArgs(argv, {
    backfill: { type: "string" },
    interval: { type: "string" },
    retranscribe: { type: "boolean", default: false },
    "callback-url": { type: "string" },
    json: { type: "boolean", default: false },
    "data-dir": { type: "string" },
  } as const);
  const { values, positionals } = parsed;
  const [sub, arg] = positionals;
  if (!["add", "list", "show", "remove", "poll"].includes(sub ?? "")) throw new CliError(`unknown feeds command "${sub ?? ""}" (add, list, show, remove, poll)`, 2);
  if (sub !== "list" && !arg) throw new CliError(`feeds ${sub} needs ${sub === "add" ? "a URL" : "a feed ID"}`, 2);
  const backfill = boundedFlag("backfill", values.backfill, FEED_BACKFILL);
  const interval = boundedFlag("interval", values.interval, FEED_INTERVAL_SEC);
  const out = writeHuman;
  const target = await openTarget(env, values["data-dir"]);
  try {
    switch (sub) {
      case "add": {
        const res = await target.api.post<{ feed: FeedView; poll: PollSummary }>("/v1/feeds", {
          url: arg,
          ...(backfill !== undefined ? { backfill } : {}),
          ...(interval !== undefined ? { intervalSec: interval } : {}),
          ...(values.retranscribe ? { retranscribe: true } : {}),
          ...(values["callback-url"] ? { callbackUrl: values["callback-url"] } : {}),
        });
        if (values.json) writeJson(res, 2);
        else out(`feed ${res.feed.id} ${res.feed.title ? `"${safeInline(res.feed.title)}" ` : ""}(${safeInline(res.feed.url)})\n  ${describePoll(res.poll)}`);
        return 0;
      }
      case "list": {
        const { feeds } = await target.api.get<{ feeds: FeedView[] }>("/v1/feeds");
        if (values.json) writeJson(feeds, 2);
        else
          out(
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
        return 0;
      }
      case "show": {
        const feed = await target.api.get<FeedView & { entries: FeedEntry[] }>(`/v1/feeds/${encodeURIComponent(arg!)}`);
        if (values.json) {
          out(JSON.stringify(feed, null, 2) + "\n");
          return 0;
        }
        out(`feed ${feed.id} ${feed.title ? `"${feed.title}" ` : ""}(${feed.url})\n  last poll ${feed.lastStatus ?? "-"}${feed.lastError ? ` (${feed.lastError})` : ""}; next ${feed.nextPollAt ?? "-"}\n`);
        out(
          table(
            ["STATE", "EPISODE", "TITLE", "LAST ERROR / REASON"],
            feed.entries.map((e) => [entryState(e), e.episodeId ?? "-", e.title ?? e.guid ?? "", (e.lastError ?? e.reason ?? "").slice(0, 100)]),
          ),
        );
        return 0;
      }
      case "remove": {
        await target.api.delete(`/v1/feeds/${encodeURIComponent(arg!)}`);
        out(`removed ${arg}\n`);
        return 0;
      }
      default: {
        const summary = await target.api.post<PollSummary>(`/v1/feeds/${encodeURIComponent(arg!)}/poll`, {});
        if (values.json) writeJson(summary, 2);
        else out(describePoll(summary));
        return 0;
      }
    }
  } finally {
    await target.close();
  }
}
