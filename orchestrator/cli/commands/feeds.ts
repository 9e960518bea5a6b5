/** `podfleet feeds add|list|show|remove|poll`: watched RSS feeds. Implementation: cli/feeds-command.ts. */
import type { Command } from "commander";
import { action, bounded, examples } from "../command-action.ts";

const load = () => import("../feeds-command.ts");

export function registerFeeds(program: Command): void {
  const feeds = program.command("feeds").description("watched RSS feeds: add, list, show, remove, poll");
  feeds
    .command("add")
    .description("watch an RSS feed; new episodes are transcribed")
    .argument("<url>", "the feed URL")
    .option("--backfill <n>", "also transcribe the newest N existing episodes (0-10000)")
    .option("--interval <s>", "seconds between polls (60-604800)")
    .option("--retranscribe", "transcribe episodes that already carry a podcast:transcript")
    .option("--callback-url <url>", "where to POST each completion event")
    .addHelpText("after", examples(["podfleet feeds add https://feeds.example.com/show.xml --backfill 3"]))
    .action(action(load, (m, ctx, [url]) => m.addFeed(ctx, url!), bounded({ backfill: "FEED_BACKFILL", interval: "FEED_INTERVAL_SEC" })));
  feeds
    .command("list")
    .description("watched feeds (read-only)")
    .addHelpText("after", examples(["podfleet feeds list"]))
    .action(action(load, (m, ctx) => m.listFeeds(ctx)));
  feeds
    .command("show")
    .description("one feed and its entries (read-only)")
    .argument("<id>", "feed id")
    .addHelpText("after", examples(["podfleet feeds show fd_0123 --json"]))
    .action(action(load, (m, ctx, [id]) => m.showFeed(ctx, id!)));
  feeds
    .command("remove")
    .description("stop watching a feed")
    .argument("<id>", "feed id")
    .addHelpText("after", examples(["podfleet feeds remove fd_0123"]))
    .action(action(load, (m, ctx, [id]) => m.removeFeed(ctx, id!)));
  feeds
    .command("poll")
    .description("poll a feed now")
    .argument("<id>", "feed id")
    .addHelpText("after", examples(["podfleet feeds poll fd_0123 --json"]))
    .action(action(load, (m, ctx, [id]) => m.pollFeed(ctx, id!)));
}
