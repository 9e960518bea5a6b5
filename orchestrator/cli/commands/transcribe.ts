/** `podfleet transcribe`: one episode, followed to its end. Implementation: cli/transcribe.ts. */
import type { Command } from "commander";
import { action, examples } from "../command-action.ts";

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
    .action(action(() => import("../transcribe.ts"), (m, ctx, [input]) => m.transcribeCommand(ctx, input!)));
}
