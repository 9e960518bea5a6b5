/**
 * Accuracy benchmark (`npm run bench:accuracy [-- flags]`): what does chunking cost against the
 * engine run over the whole file? For each episode it runs pocketsphinx on the whole file
 * ("direct"), then for each chunk length and seam mode it plans chunks as ingest does (planChunks,
 * then padPlan for context padding), runs the worker's engine class on every chunk's WAV and
 * stitches the results with stitchChunks. The queue, object store and worker machines are left
 * out: they move bytes, they do not change them. Decodes are cached on disk
 * (chunk-transcripts.ts), so a stopped run resumes and a new mode costs only its own chunks.
 *
 * Flags: --set=seams|legacy (seams: bench-set.ts, six voices, ≥ 30 min; legacy: the old three
 * 1.5-minute episodes), --episodes=ID,ID (a subset), --lengths=15,30,60,
 * --modes=overlap,0,2 (overlap: the plan before padding, 1.5 s overlap where no silence is near a
 * cut; a number: cores cut without overlap and padded by that many seconds), --finders=energy,ffmpeg.
 * Prints a table and one JSON line.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { SAMPLE_RATE } from "../contract/wire.ts";
import { POCKETSPHINX_DEFAULT_ARGS, PocketsphinxEngine } from "../machine-image/worker/pocketsphinx-engine.ts";
import { wavHeader } from "../orchestrator/ingest/audio-decode.ts";
import { padPlan } from "../orchestrator/ingest/chunk-context.ts";
import { planChunks } from "../orchestrator/ingest/chunk-plan.ts";
import { findSilences, frameEnergies, type Silence } from "../orchestrator/ingest/silence.ts";
import type { PlannedChunk } from "../orchestrator/store/episode-store.ts";
import { stitchChunks } from "../orchestrator/transcript/stitch.ts";
import { wordErrorRate } from "../orchestrator/transcript/wer.ts";
import { buildEpisode, FULL_SET } from "./bench-episodes.ts";
import { buildSetEpisode, SEAM_SET, SET_CACHE_DIR } from "./bench-set.ts";
import { ChunkTranscripts } from "./chunk-transcripts.ts";
import { ffmpegSilences } from "./ffmpeg-silences.ts";
import { measureSeams, seamTimes } from "./seam-metrics.ts";

type Finder = "energy" | "ffmpeg";
interface Episode {
  id: string;
  voice: string;
  pcm: Buffer;
  samples: number;
  reference: string;
}
interface Cell {
  errors: number;
  refWords: number;
  seams: number;
  inSpeech: number;
  cutsInWord: number;
  lost: number;
  duplicated: number;
  changed: number;
  matched: number;
  tsSumMs: number;
  tsMaxMs: number;
  audioSec: number;
  decodedSec: number;
}

const argv = process.argv.slice(2);
const flag = (name: string): string | undefined => argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1];
const setName = flag("set") ?? "seams";
const lengths = (flag("lengths") ?? "15,30,60").split(",").map(Number);
const modes = (flag("modes") ?? "overlap,0,2").split(",");
const finders = (flag("finders") ?? "energy").split(",") as Finder[];
const only = flag("episodes")?.split(",");
const OLD_OVERLAP_SEC = 1.5;

const work = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-bench-"));
// A shared, loaded machine can be slow: the worker's 10-minute guard would kill a whole-episode decode.
const engine = new PocketsphinxEngine({ timeoutMs: 6 * 3600_000 });
const cacheDir = path.join(SET_CACHE_DIR, "..", "bench-transcripts");
const decoder = new ChunkTranscripts(engine, `${engine.name}${POCKETSPHINX_DEFAULT_ARGS.join("")}`, cacheDir, work);

async function loadEpisodes(): Promise<Episode[]> {
  if (setName === "legacy") {
    const specs = FULL_SET.filter((s) => !only || only.includes(s.id));
    const out: Episode[] = [];
    for (const s of specs) {
      const e = await buildEpisode(s, work, SAMPLE_RATE);
      out.push({ id: s.id, voice: `flite ${s.voice}`, pcm: e.pcm, samples: e.samples, reference: e.reference });
    }
    return out;
  }
  if (setName !== "seams") throw new Error(`--set must be seams or legacy, not ${setName}`);
  const out: Episode[] = [];
  for (const s of SEAM_SET.filter((s) => !only || only.includes(s.id))) {
    const e = await buildSetEpisode(s, SET_CACHE_DIR);
    out.push({ id: s.id, voice: `${s.voice.tool} ${s.voice.name}`, pcm: e.pcm, samples: e.samples, reference: e.reference });
  }
  return out;
}

async function silencesFor(ep: Episode, finder: Finder): Promise<Silence[]> {
  const pcmPath = path.join(work, `${ep.id}.pcm`);
  fs.writeFileSync(pcmPath, ep.pcm);
  if (finder === "energy") return findSilences(await frameEnergies(pcmPath, SAMPLE_RATE), SAMPLE_RATE);
  const wavPath = path.join(work, `${ep.id}.wav`);
  fs.writeFileSync(wavPath, Buffer.concat([wavHeader(ep.samples), ep.pcm]));
  return ffmpegSilences(wavPath, SAMPLE_RATE);
}

/** The plan ingest makes in `mode` (see the file comment). */
function planFor(ep: Episode, len: number, mode: string, silences: readonly Silence[]): PlannedChunk[] {
  if (mode === "overlap") return planChunks(ep.samples, len, silences, { overlapSec: OLD_OVERLAP_SEC });
  const pad = Number(mode);
  if (!(pad >= 0)) throw new Error(`--modes: ${mode} is neither "overlap" nor a padding in seconds`);
  return padPlan(planChunks(ep.samples, len, silences, { overlapSec: 0 }), pad, ep.samples, SAMPLE_RATE);
}

const text = (words: readonly { text: string }[]): string => words.map((w) => w.text).join(" ");
const emptyCell = (): Cell => ({
  errors: 0,
  refWords: 0,
  seams: 0,
  inSpeech: 0,
  cutsInWord: 0,
  lost: 0,
  duplicated: 0,
  changed: 0,
  matched: 0,
  tsSumMs: 0,
  tsMaxMs: 0,
  audioSec: 0,
  decodedSec: 0,
});
const errorsOf = (ref: string, hyp: string): { errors: number; refWords: number } => {
  const w = wordErrorRate(ref, hyp);
  return { errors: w.substitutions + w.deletions + w.insertions, refWords: w.referenceWords };
};

async function main(): Promise<void> {
  const t0 = Date.now();
  const episodes = await loadEpisodes();
  const total = episodes.reduce((s, e) => s + e.samples, 0) / SAMPLE_RATE;
  process.stderr.write(
    `episodes: ${episodes.map((e) => `${e.id} ${(e.samples / SAMPLE_RATE).toFixed(0)} s`).join(", ")}; ${(total / 60).toFixed(1)} min in all\n`,
  );
  const silences = new Map<string, Silence[]>();
  for (const ep of episodes) for (const f of finders) silences.set(`${ep.id}:${f}`, await silencesFor(ep, f));

  // Submit in configuration order (direct first) so that a cut-short run has whole rows.
  const direct = episodes.map((ep) => decoder.words(ep, 0, ep.samples));
  const configs = finders.flatMap((finder) => lengths.flatMap((len) => modes.map((mode) => ({ finder, len, mode }))));
  const pending = configs.flatMap(({ finder, len, mode }) =>
    episodes.map((ep, e) => {
      const sil = silences.get(`${ep.id}:${finder}`)!;
      const plan = planFor(ep, len, mode, sil);
      const words = plan.map((c) => decoder.words(ep, c.startSample, c.endSample));
      return { key: `${finder}:${len}:${mode}`, ep, e, plan, sil, words };
    }),
  );

  const directCell = emptyCell();
  const perEpisode: Record<string, Record<string, number>> = {};
  for (const [e, ep] of episodes.entries()) {
    const x = errorsOf(ep.reference, text(await direct[e]!));
    directCell.errors += x.errors;
    directCell.refWords += x.refWords;
    perEpisode[ep.id] = { direct: round(x.errors / x.refWords) };
  }
  process.stderr.write(`  direct done (${((Date.now() - t0) / 1000).toFixed(0)} s)\n`);
  const farm = new Map<string, Cell>();
  for (const job of pending) {
    const { key, ep, e, plan, sil } = job;
    const chunks = await Promise.all(plan.map(async (c, i) => ({ ...c, words: await job.words[i]! })));
    const stitched = stitchChunks(chunks, SAMPLE_RATE, { expectedChunks: plan.length });
    const directWords = stitchChunks([{ index: 0, startSample: 0, endSample: ep.samples, words: await direct[e]! }], SAMPLE_RATE);
    const seams = seamTimes(plan, SAMPLE_RATE);
    const report = measureSeams(directWords, stitched, seams);
    const x = errorsOf(ep.reference, text(stitched));
    const cell = farm.get(key) ?? emptyCell();
    farm.set(key, cell);
    cell.errors += x.errors;
    cell.refWords += x.refWords;
    cell.seams += seams.length;
    cell.inSpeech += seams.filter((s) => !sil.some((q) => q.start <= s * SAMPLE_RATE && s * SAMPLE_RATE <= q.end)).length;
    cell.cutsInWord += seams.filter((s) => directWords.some((w) => w.start < s && s < w.end)).length;
    cell.lost += report.lost;
    cell.duplicated += report.duplicated;
    cell.changed += report.changed;
    cell.matched += report.matched;
    cell.tsSumMs += report.meanTimeErrorMs * report.matched;
    cell.tsMaxMs = Math.max(cell.tsMaxMs, report.maxTimeErrorMs);
    cell.audioSec += ep.samples / SAMPLE_RATE;
    cell.decodedSec += plan.reduce((s, c) => s + c.endSample - c.startSample, 0) / SAMPLE_RATE;
    perEpisode[ep.id]![key] = round(x.errors / x.refWords);
    if (e === episodes.length - 1) process.stderr.write(`  ${key} done (${((Date.now() - t0) / 1000).toFixed(0)} s)\n`);
  }
  report(directCell, farm, perEpisode, episodes, (Date.now() - t0) / 1000);
}

const round = (x: number, digits = 4): number => Number(x.toFixed(digits));
const pct = (c: Cell): number => (100 * c.errors) / c.refWords;

function report(
  direct: Cell,
  farm: Map<string, Cell>,
  perEpisode: Record<string, Record<string, number>>,
  episodes: Episode[],
  wallSec: number,
): void {
  const header = [
    "run",
    "chunk s",
    "seams by",
    "WER %",
    "Δ pts",
    "audio ×",
    "seams",
    "in speech",
    "cut in word",
    "lost",
    "dup",
    "changed",
    "ts mean ms",
    "ts max ms",
  ];
  const rows: string[][] = [["direct", "whole", "", pct(direct).toFixed(2), "", "1.00", "", "", "", "", "", "", "", ""]];
  const json: Record<string, unknown> = {};
  for (const [key, c] of farm) {
    const [finder, len, mode] = key.split(":") as [string, string, string];
    const tsMean = c.matched === 0 ? 0 : Math.round(c.tsSumMs / c.matched);
    const delta = pct(c) - pct(direct);
    const by = mode === "overlap" ? `overlap ${OLD_OVERLAP_SEC} s` : `pad ${mode} s`;
    const decodedRatio = c.decodedSec / c.audioSec;
    rows.push([
      `farm/${finder}`,
      len,
      by,
      pct(c).toFixed(2),
      (delta >= 0 ? "+" : "") + delta.toFixed(2),
      decodedRatio.toFixed(2),
      String(c.seams),
      String(c.inSpeech),
      String(c.cutsInWord),
      String(c.lost),
      String(c.duplicated),
      String(c.changed),
      String(tsMean),
      String(c.tsMaxMs),
    ]);
    json[key] = {
      wer: round(c.errors / c.refWords),
      deltaPoints: round(delta, 2),
      decodedRatio: round(decodedRatio, 3),
      seams: c.seams,
      inSpeech: c.inSpeech,
      cutsInWord: c.cutsInWord,
      lost: c.lost,
      duplicated: c.duplicated,
      changed: c.changed,
      tsMeanMs: tsMean,
      tsMaxMs: c.tsMaxMs,
    };
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string =>
    r
      .map((v, i) => v.padEnd(widths[i]!))
      .join("  ")
      .trimEnd();
  process.stdout.write([line(header), ...rows.map(line)].join("\n") + "\n");
  const eps = episodes.map((e) => ({
    id: e.id,
    voice: e.voice,
    durationSec: round(e.samples / SAMPLE_RATE, 1),
    referenceWords: wordErrorRate(e.reference, "").referenceWords,
  }));
  process.stdout.write(
    JSON.stringify({
      bench: "accuracy",
      set: setName,
      engine: engine.name,
      wallSec: Math.round(wallSec),
      decodedNowSec: Math.round(decoder.decodedSec),
      episodes: eps,
      direct: { wer: round(direct.errors / direct.refWords) },
      farm: json,
      perEpisode,
    }) + "\n",
  );
}

try {
  await main();
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
