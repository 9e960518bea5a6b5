/**
 * `npm run demo`: synthesises a short sample episode with flite from scripts/sample-episode.txt,
 * transcribes it through the embedded stack with the real CLI (progress on stderr), then prints
 * the transcript, the engine, the word error rate against the script it was spoken from, and
 * writes timeline.svg (the chunks on the machines) next to the transcript.
 */
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chunkTimelineSvg } from "../orchestrator/cli/chunk-timeline.ts";
import type { EpisodeView } from "../orchestrator/episodes/episode-service.ts";
import { wordErrorRate } from "../orchestrator/transcript/wer.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const bin = path.join(root, "bin", "podfleet.js");
const scriptFile = path.join(root, "scripts", "sample-episode.txt");
const demoDir = path.join(root, ".podfleet", "demo");
const outDir = path.join(root, "transcripts", "sample-episode");
const sample = path.join(demoDir, "sample-episode.wav");

fs.mkdirSync(demoDir, { recursive: true });
if (!fs.existsSync(sample) || fs.statSync(sample).size === 0) {
  const raw = path.join(demoDir, "flite.wav");
  execFileSync("flite", ["-voice", "rms", "-f", scriptFile, "-o", raw]);
  execFileSync("ffmpeg", ["-nostdin", "-v", "error", "-y", "-i", raw, "-ar", "16000", "-ac", "1", sample]);
}

const podfleet = (args: string[], inherit: boolean) =>
  spawnSync(process.execPath, [bin, ...args], {
    cwd: root,
    encoding: "utf8",
    stdio: ["ignore", "pipe", inherit ? "inherit" : "pipe"],
    maxBuffer: 64 << 20,
  });

const run = podfleet(["transcribe", sample, "--out", outDir, "--chunk-seconds", "20", "--json"], true);
if (run.status !== 0) process.exit(run.status ?? 1);
const summary = JSON.parse(run.stdout) as {
  episodeId: string;
  engine: string | null;
  durationSec: number | null;
  wallMs: number;
  chunks: number;
  files: Record<string, string>;
};

const transcript = fs.readFileSync(summary.files.txt!, "utf8").trim();
const wer = wordErrorRate(fs.readFileSync(scriptFile, "utf8"), transcript);
// the embedded orchestrator is gone: `jobs show` reads the episode from the database
const shown = podfleet(["jobs", "show", summary.episodeId, "--json"], false);
const view = JSON.parse(shown.stdout) as EpisodeView;
const svg = path.join(outDir, "timeline.svg");
fs.writeFileSync(svg, chunkTimelineSvg(view.chunkList ?? [], `podfleet demo: ${summary.episodeId}, engine ${summary.engine ?? "?"}`));

const line = "-".repeat(72);
console.log(`\n${line}\n${transcript}\n${line}`);
console.log(
  `engine        ${summary.engine ?? "unknown"}${summary.engine === "pocketsphinx" ? " (the default; PODFLEET_ENGINE=whisper after `podfleet models pull base.en` for Whisper)" : ""}`,
);
console.log(
  `audio         ${summary.durationSec?.toFixed(1) ?? "?"} s in ${summary.chunks} chunks, transcribed in ${(summary.wallMs / 1000).toFixed(1)} s`,
);
console.log(
  `WER           ${(wer.wer * 100).toFixed(1)} % against scripts/sample-episode.txt (${wer.substitutions} substituted, ${wer.deletions} missed, ${wer.insertions} extra of ${wer.referenceWords} words)`,
);
console.log(`transcript    ${path.relative(root, outDir)}/transcript.{txt,srt,vtt,json}`);
console.log(`timeline      ${path.relative(root, svg)} (the chunks on the machines)`);
