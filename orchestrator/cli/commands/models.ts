/** `podfleet models pull|list`: whisper.cpp models. Implementation: cli/models-command.ts. */
import type { Command } from "commander";
import { action, examples } from "../command-action.ts";

const load = () => import("../models-command.ts");

export function registerModels(program: Command): void {
  const models = program.command("models").description("whisper.cpp models: pull, list");
  models
    .command("pull")
    .description("download a whisper.cpp model (tiny.en … large-v3-turbo-q8_0), verifying any known checksum")
    .argument("<name>", "model name (see podfleet models list)")
    .option("--dir <dir>", "where to put it (default PODFLEET_MODELS_DIR, else <data-dir>/models)")
    .option("--sha256 <hex>", "the SHA-256 the file must have")
    .option("--force", "download again even if present")
    .addHelpText("after", examples(["podfleet models pull tiny.en", "podfleet models pull large-v3-turbo --dir /srv/models --json"]))
    .action(action(load, (m, ctx, [name]) => m.pullModel(ctx, name!)));
  models
    .command("list")
    .description("the catalog: sizes, known checksums, what is downloaded")
    .option("--dir <dir>", "the models directory to look in")
    .addHelpText("after", examples(["podfleet models list", "podfleet models list --json"]))
    .action(action(load, (m, ctx) => m.listModels(ctx)));
}
