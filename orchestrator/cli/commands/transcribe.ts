/** `podfleet transcribe`: one episode, followed to its end. Implementation: cli/transcribe.ts. */
import type { Command } from "commander";
import fs from "node:fs";
import { action, bounded, examples, type CommandContext } from "../command-action.ts";
import { CliError, EXIT } from "../cli-error.ts";

/** The flag's bounds and the local file, before any orchestrator code loads. */
async function precheck(ctx: CommandContext, [input]: string[]): Promise<void> {
  await bounded({ "chunk-seconds": "CHUNK_SECONDS" })(ctx);
  if (/^https?:\/\//i.test(input!)) return;
  if (!fs.existsSync(input!)) throw new CliError(`no such file: ${input}`, EXIT.failed, "no_such_file");
  if (!fs.statSync(input!).isFile()) throw new CliError(`not a file: ${input}`, EXIT.failed, "not_a_file");
}

export function registerTranscribe(program: Command): void {
  program
    .command("transcribe")
    .description("transcribe one episode and write transcript.{txt,srt,vtt,json} to --out")
    .argument("<url-or-path>", "an http(s) URL of the audio, or a local audio file")
    .requiredOption("--out <dir>", "where to write the transcript files")
    .option("--chunk-seconds <n>", "target chunk length (1-3600, or 0 for one chunk)")
    .option("--title <title>", "the episode's title")
    .addHelpText(
      "after",
      examples([
        "podfleet transcribe episode.mp3 --out ./out",
        "podfleet transcribe https://example.com/ep1.mp3 --out ./out --chunk-seconds 120",
        "podfleet transcribe episode.mp3 --out ./out --json | jq .files.vtt",
      ]) + "\nProgress goes to stderr: a live line on a terminal, a plain line every few seconds otherwise.\n",
    )
    .action(
      action(
        () => import("../transcribe.ts"),
        (m, ctx, [input]) => m.transcribeCommand(ctx, input!),
        precheck,
      ),
    );
}
