/** `podfleet jobs list|show|logs|cancel|retry`: episodes. Implementation: cli/jobs-command.ts. */
import { Option, type Command } from "commander";
import { action, bounded, examples } from "../command-action.ts";

const load = () => import("../jobs-command.ts");

export function registerJobs(program: Command): void {
  const jobs = program.command("jobs").description("episodes: list, show, logs, cancel, retry");
  jobs
    .command("list")
    .description("recent episodes, newest first (read-only: without a running orchestrator it reads the database)")
    .addOption(
      new Option("--status <status>", "only episodes in this status").choices([
        "received",
        "ingesting",
        "fetch_wait",
        "transcribing",
        "done",
        "failed",
        "cancelled",
      ]),
    )
    .option("--limit <n>", "at most this many episodes (1-500, default 50)")
    .addHelpText("after", examples(["podfleet jobs list", "podfleet jobs list --status failed --limit 5 --json"]))
    .action(action(load, (m, ctx) => m.listJobs(ctx), bounded({ limit: "EPISODE_LIST_LIMIT" })));
  jobs
    .command("show")
    .description("one episode: status, chunk table, transcript URLs, callbacks (read-only)")
    .argument("<id>", "episode id (ep_…)")
    .addHelpText("after", examples(["podfleet jobs show ep_0193a1b2c3d4e5f6a7b8", "podfleet jobs show ep_0193a1b2c3d4e5f6a7b8 --json"]))
    .action(action(load, (m, ctx, [id]) => m.showJob(ctx, id!)));
  jobs
    .command("logs")
    .description("the tails of the machine logs of an episode's chunks (read-only)")
    .argument("<id>", "episode id")
    .option("--lines <n>", "lines per log (default 20)")
    .addHelpText("after", examples(["podfleet jobs logs ep_0193a1b2c3d4e5f6a7b8 --lines 50"]))
    .action(action(load, (m, ctx, [id]) => m.jobLogs(ctx, id!)));
  jobs
    .command("cancel")
    .description("cancel an unfinished episode: queued chunks are dropped, running ones abandoned")
    .argument("<id>", "episode id")
    .addHelpText("after", examples(["podfleet jobs cancel ep_0193a1b2c3d4e5f6a7b8"]))
    .action(action(load, (m, ctx, [id]) => m.cancelOrRetry(ctx, "cancel", id!)));
  jobs
    .command("retry")
    .description("re-run a failed episode's dead chunks (or download it again)")
    .argument("<id>", "episode id")
    .addHelpText("after", examples(["podfleet jobs retry ep_0193a1b2c3d4e5f6a7b8"]))
    .action(action(load, (m, ctx, [id]) => m.cancelOrRetry(ctx, "retry", id!)));
}
