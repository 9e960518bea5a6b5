/** `podfleet sources add|list|remove|callback-secret`: webhook sources. Implementation: cli/sources-command.ts. */
import type { Command } from "commander";
import { action, examples } from "../command-action.ts";

const load = () => import("../sources-command.ts");

export function registerSources(program: Command): void {
  const sources = program.command("sources").description("webhook sources: add, list, remove, callback-secret");
  sources
    .command("add")
    .description("register a webhook source; prints its URL and secret")
    .argument("<name>", "a name for the source")
    .requiredOption("--scheme <scheme>", "standard, svix, github or token")
    .option("--feed <url>", "the source's RSS feed (episodes are re-read from it)")
    .option("--callback-url <url>", "where to POST the completion event")
    .addHelpText(
      "after",
      examples([
        "podfleet sources add transistor --scheme token --feed https://feeds.example.com/show.xml",
        "podfleet sources add hooks --scheme standard --json",
      ]),
    )
    .action(action(load, (m, ctx, [name]) => m.addSource(ctx, name!)));
  sources
    .command("list")
    .description("webhook sources (read-only)")
    .addHelpText("after", examples(["podfleet sources list --json"]))
    .action(action(load, (m, ctx) => m.listSources(ctx)));
  sources
    .command("remove")
    .description("remove a source")
    .argument("<id-or-name>", "source id or name")
    .addHelpText("after", examples(["podfleet sources remove transistor"]))
    .action(action(load, (m, ctx, [id]) => m.removeSource(ctx, id!)));
  sources
    .command("callback-secret")
    .description("the secret that signs completion callbacks")
    .addHelpText("after", examples(["podfleet sources callback-secret"]))
    .action(action(load, (m, ctx) => m.callbackSecret(ctx)));
}
