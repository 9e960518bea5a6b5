/**
 * Accuracy benchmark (`npm run bench:accuracy [-- --quick]`): is the farm's transcript as good as
 * the engine run over the whole file? For each synthesized episode (bench-episodes.ts) it runs
 * pocketsphinx on the whole file ("direct"), then for each silence finder and chunk length it
 * plans chunks exactly as ingest does (planChunks), runs the same engine class the worker runs on
 * every chunk's WAV, and stitches the results with stitchChunks. The queue, object store and
 * worker machines are left out: they move bytes, they do not change them, and leaving them out
 * keeps the run in minutes. Prints a table and one JSON line.
 *
 * Flags: --quick (one 2-minute episode, energy finder only), --lengths=15,30,60,120,
 * --finders=energy,ffmpeg.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { SAMPLE_RATE, type Word } from "../contract/wire.ts";
import { PocketsphinxEngine } from "../machine-image/worker/pocketsphinx-engine.ts";
import { BYTES_PER_SAMPLE, wavHeader } from "../orchestrator/ingest/audio-decode.ts";
import { planChunks } from "../orchestrator/ingest/chunk-plan.ts";
import { findSilences, frameEnergies, type Silence } from "../orchestrator/ingest/silence.ts";
import { stitchChunks, type TimedWord } from "../orchestrator/transcript/stitch.ts";
import { wordErrorRate } from "../orchestrator/transcript/wer.ts";
import { buildEpisode, FULL_SET, QUICK_SET, type BenchEpisode } from "./bench-episodes.ts";
import { ffmpegSilences } from "./ffmpeg-silences.ts";
import { measureSeams, seamTimes } from "./seam-metrics.ts";

type Finder = "energy" | "ffmpeg";

interface Cell {
  errors: number;
  refWords: number;
  seams: number;
  overlapSeams: number;
  cutsInWord: number;
  lost: number;
  duplicated: number;
  matched: number;
  tsSumMs: number;
  tsMaxMs: number;
}

const argv = process.argv.slice(2);
const quick = argv.includes("--quick");
const flag = (name: string): string | undefined => argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1];
const lengths = (flag("lengths") ?? "15,30,60,120").split(",").map(Number);
const finders = (flag("finders") ?? (quick ? "energy" : "energy,ffmpeg")).split(",") as Finder[];
const specs = quick ? QUICK_SET : FULL_SET;

const work = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-bench-"));
const engine = new PocketsphinxEngine();
const signal = new AbortController().signal;

/** At most one decoder per core. */
const slots = Math.max(1, os.availableParallelism());
let running = 0;
const waiting: Array<() => void> = [];
async function limited<T>(fn: () => Promise<T>): Promise<T> {
  while (running >= slots) await new Promise<void>((r) => waiting.push(r));
  running++;
  try {
    return await fn();
  } finally {
    running--;
    waiting.shift()?.();
  }
}

/** Transcripts by episode and sample range: a range shared by two plans is decoded once. */
const decoded = new Map<string, Promise<Word[]>>();
function transcribe(ep: BenchEpisode, start: number, end: number): Promise<Word[]> {
  const key = `${ep.spec.id}:${start}:${end}`;
  let p = decoded.get(key);
  if (!p) {
    p = limited(async () => {
      const file = path.join(work, `${key.replace(/:/g, "_")}.wav`);
      const data = ep.pcm.subarray(start * BYTES_PER_SAMPLE, end * BYTES_PER_SAMPLE);
      fs.writeFileSync(file, Buffer.concat([wavHeader(end - start), data]));
      try {
        return await engine.transcribe(file, { language: "en", signal });
      } finally {
        fs.rmSync(file, { force: true });
      }
    });
    decoded.set(key, p);
  }
  return p;
}

async function silencesFor(ep: BenchEpisode, finder: Finder): Promise<Silence[]> {
  const pcmPath = path.join(work, `${ep.spec.id}.pcm`);
  fs.writeFileSync(pcmPath, ep.pcm);
  if (finder === "energy") return findSilences(await frameEnergies(pcmPath, SAMPLE_RATE), SAMPLE_RATE);
  const wavPath = path.join(work, `${ep.spec.id}.wav`);
  fs.writeFileSync(wavPath, Buffer.concat([wavHeader(ep.samples), ep.pcm]));
  return ffmpegSilences(wavPath, SAMPLE_RATE);
}

const text = (words: readonly { text: string }[]): string => words.map((w) => w.text).join(" ");
const emptyCell = (): Cell => ({ errors: 0, refWords: 0, seams: 0, overlapSeams: 0, cutsInWord: 0, lost: 0, duplicated: 0, matched: 0, tsSumMs: 0, tsMaxMs: 0 });
const errorsOf = (ref: string, hyp: string): { errors: number; refWords: number } => {
  const w = wordErrorRate(ref, hyp);
  return { errors: w.substitutions + w.deletions + w.insertions, refWords: w.referenceWords };
};

async function main(): Promise<void> {
  const t0 = Date.now();
  const episodes: BenchEpisode[] = [];
  for (const spec of specs) episodes.push(await buildEpisode(spec, work, SAMPLE_RATE));
  process.stderr.write(`episodes: ${episodes.map((e) => `${e.spec.id} ${(e.samples / SAMPLE_RATE).toFixed(0)} s`).join(", ")}; ${slots} decoders\n`);

  const direct = emptyCell();
  const farm = new Map<string, Cell>();
  const perEpisode: Record<string, Record<string, number>> = {};
  await Promise.all(
    episodes.map(async (ep) => {
      const whole = transcribe(ep, 0, ep.samples);
      const rows: Record<string, number> = {};
      perEpisode[ep.spec.id] = rows;
      const jobs = finders.flatMap((finder) => {
        const silences = silencesFor(ep, finder);
        return lengths.map(async (len) => {
          const plan = planChunks(ep.samples, len, await silences);
          const chunks = await Promise.all(plan.map(async (c) => ({ ...c, words: await transcribe(ep, c.startSample, c.endSample) })));
          const stitched = stitchChunks(chunks, SAMPLE_RATE, { expectedChunks: plan.length });
          const directWords: TimedWord[] = await whole;
          const seams = seamTimes(plan, SAMPLE_RATE);
          const report = measureSeams(directWords, stitched, seams);
          const e = errorsOf(ep.reference, text(stitched));
          const key = `${finder}:${len}`;
          const cell = farm.get(key) ?? emptyCell();
          farm.set(key, cell);
          cell.errors += e.errors;
          cell.refWords += e.refWords;
          cell.seams += seams.length;
          cell.overlapSeams += plan.slice(1).filter((c, i) => c.startSample < plan[i]!.endSample).length;
          cell.cutsInWord += seams.filter((s) => directWords.some((w) => w.start < s && s < w.end)).length;
          cell.lost += report.lost;
          cell.duplicated += report.duplicated;
          cell.matched += report.matched;
          cell.tsSumMs += report.meanTimeErrorMs * report.matched;
          cell.tsMaxMs = Math.max(cell.tsMaxMs, report.maxTimeErrorMs);
          rows[key] = round(e.errors / e.refWords);
        });
      });
      const e = errorsOf(ep.reference, text(await whole));
      direct.errors += e.errors;
      direct.refWords += e.refWords;
      rows.direct = round(e.errors / e.refWords);
      await Promise.all(jobs);
      process.stderr.write(`  ${ep.spec.id} done (${((Date.now() - t0) / 1000).toFixed(0)} s)\n`);
    }),
  );
  report(direct, farm, perEpisode, episodes, (Date.now() - t0) / 1000);
}

const round = (x: number, digits = 4): number => Number(x.toFixed(digits));
const pct = (c: Cell): number => (100 * c.errors) / c.refWords;

function report(direct: Cell, farm: Map<string, Cell>, perEpisode: Record<string, Record<string, number>>, episodes: BenchEpisode[], wallSec: number): void {
  const header = ["run", "chunk s", "WER %", "Δ pts", "seams", "overlap", "cut in word", "lost", "dup", "ts mean ms", "ts max ms"];
  const rows: string[][] = [["direct", "whole", pct(direct).toFixed(2), "", "", "", "", "", "", "", ""]];
  const json: Record<string, Record<string, unknown>> = {};
  for (const finder of finders) {
    json[finder] = {};
    for (const len of lengths) {
      const c = farm.get(`${finder}:${len}`)!;
      const tsMean = c.matched === 0 ? 0 : Math.round(c.tsSumMs / c.matched);
      const delta = pct(c) - pct(direct);
      rows.push([`farm/${finder}`, String(len), pct(c).toFixed(2), (delta >= 0 ? "+" : "") + delta.toFixed(2), String(c.seams), String(c.overlapSeams), String(c.cutsInWord), String(c.lost), String(c.duplicated), String(tsMean), String(c.tsMaxMs)]);
      json[finder][len] = { wer: round(c.errors / c.refWords), deltaPoints: round(delta, 2), seams: c.seams, overlapSeams: c.overlapSeams, cutsInWord: c.cutsInWord, lost: c.lost, duplicated: c.duplicated, tsMeanMs: tsMean, tsMaxMs: c.tsMaxMs };
    }
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string => r.map((v, i) => v.padEnd(widths[i]!)).join("  ").trimEnd();
  process.stdout.write([line(header), ...rows.map(line)].join("\n") + "\n");
  const eps = episodes.map((e) => ({ id: e.spec.id, voice: e.spec.voice, durationSec: round(e.samples / SAMPLE_RATE, 1), referenceWords: wordErrorRate(e.reference, "").referenceWords }));
  process.stdout.write(JSON.stringify({ bench: "accuracy", quick, engine: engine.name, wallSec: Math.round(wallSec), episodes: eps, direct: { wer: round(direct.errors / direct.refWords) }, farm: json, perEpisode }) + "\n");
}

try {
  await main();
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
