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
 * --modes=overlap,0,2,4/0,0/0/2 (overlap: the plan before padding, 1.5 s overlap where no silence is near a
 * cut; N: cores cut without overlap and padded by N s on both sides; B/A: B s before each core and
 * A s after it, the larger of the two on a side cut in speech, as ingest pads; B/A/S: S s on a side
 * cut in speech), --finders=energy,ffmpeg.
 * Prints a table and one JSON line. Besides WER it says where the chunked run differs from the direct
 * one (word-diff.ts): edits per minute of audio just before a seam, just after it, in the 10 s after
 * that, and elsewhere, and (in the JSON) edits near seams by the silence the cut fell in.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { SAMPLE_RATE } from "../contract/wire.ts";
import { POCKETSPHINX_DEFAULT_ARGS, PocketsphinxEngine } from "../machine-image/worker/pocketsphinx-engine.ts";
import { wavHeader } from "../orchestrator/ingest/audio-decode.ts";
import { padCores, type SidePadding } from "../orchestrator/ingest/chunk-context.ts";
import { planChunks, planCores } from "../orchestrator/ingest/chunk-plan.ts";
import { findSilences, frameEnergies, type Silence } from "../orchestrator/ingest/silence.ts";
import type { PlannedChunk } from "../orchestrator/store/episode-store.ts";
import { stitchChunks } from "../orchestrator/transcript/stitch.ts";
import { wordErrorRate } from "../orchestrator/transcript/wer.ts";
import { buildEpisode, FULL_SET } from "./bench-episodes.ts";
import { buildSetEpisode, SEAM_SET, SET_CACHE_DIR } from "./bench-set.ts";
import { ChunkTranscripts } from "./chunk-transcripts.ts";
import { ffmpegSilences } from "./ffmpeg-silences.ts";
import { measureSeams, SEAM_WINDOW_SEC, seamTimes } from "./seam-metrics.ts";
import { editPlaces, type EditPlaces, wordEdits } from "./word-diff.ts";
import { type Cell, emptyCell, report, round, silenceBucket } from "./accuracy-report.ts";

type Finder = "energy" | "ffmpeg";
interface Episode {
  id: string;
  voice: string;
  pcm: Buffer;
  samples: number;
  reference: string;
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
// "own-cmn": every input decoded with its CMN started at its own mean (cepstral-mean.ts); older cache entries had none.
const decoder = new ChunkTranscripts(engine, `${engine.name}${POCKETSPHINX_DEFAULT_ARGS.join("")}-own-cmn`, cacheDir, work);

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

/**
 * A padding mode: "N" (N s on both sides), "B/A" (B s before each core, A s after it; a side cut
 * in speech gets the larger of the two, as ingest pads: chunk-context.ts padCore) or "B/A/S" (a side
 * cut in speech gets S s).
 */
function padOf(mode: string): SidePadding {
  const parts = mode.split("/").map(Number);
  const [before = NaN, after = before, speech] = parts;
  if (!(before >= 0 && after >= 0 && (speech ?? 0) >= 0) || parts.length > 3) {
    throw new Error(
      `--modes: ${mode} is neither "overlap" nor a padding in seconds (N, B/A for before/after, or B/A/S with S for a side cut in speech)`,
    );
  }
  return speech === undefined ? { before, after } : { before, after, speech };
}

/** How a mode reads in the table. */
function modeLabel(mode: string): string {
  if (mode === "overlap") return `overlap ${OLD_OVERLAP_SEC} s`;
  const { before, after, speech } = padOf(mode);
  if (speech !== undefined) return `pad ${before}/${after}/${speech} s`;
  return before === after ? `pad ${before} s` : `pad ${before}/${after} s`;
}

/** The plan ingest makes in `mode` (see the file comment). */
function planFor(ep: Episode, len: number, mode: string, silences: readonly Silence[]): PlannedChunk[] {
  if (mode === "overlap") return planChunks(ep.samples, len, silences, { overlapSec: OLD_OVERLAP_SEC });
  return padCores(planCores(ep.samples, len, silences), padOf(mode), ep.samples, SAMPLE_RATE);
}

const text = (words: readonly { text: string }[]): string => words.map((w) => w.text).join(" ");
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
    const edits = wordEdits(directWords, stitched);
    const places = editPlaces(edits, seams, ep.samples / SAMPLE_RATE, SEAM_WINDOW_SEC);
    for (const k of Object.keys(places) as Array<keyof EditPlaces>) cell.places[k] += places[k];
    for (const s of seams) {
      const q = sil.find((q) => q.start <= s * SAMPLE_RATE && s * SAMPLE_RATE <= q.end);
      const b = (cell.bySilence[silenceBucket(q ? (q.end - q.start) / SAMPLE_RATE : 0)] ??= { seams: 0, edits: 0 });
      b.seams++;
      b.edits += edits.filter((x) => Math.abs(x.at - s) <= SEAM_WINDOW_SEC).length;
    }
    cell.audioSec += ep.samples / SAMPLE_RATE;
    cell.decodedSec += plan.reduce((s, c) => s + c.endSample - c.startSample, 0) / SAMPLE_RATE;
    perEpisode[ep.id]![key] = round(x.errors / x.refWords);
    if (e === episodes.length - 1) process.stderr.write(`  ${key} done (${((Date.now() - t0) / 1000).toFixed(0)} s)\n`);
  }
  report(directCell, farm, perEpisode, {
    set: setName,
    engine: engine.name,
    wallSec: (Date.now() - t0) / 1000,
    decodedNowSec: decoder.decodedSec,
    episodes,
    modeLabel,
  });
}

try {
  await main();
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
