/**
 * Chunk planning: where an episode's PCM is cut into jobs. Each cut goes into a silence near the
 * target length (the longest, then the nearest, inside a search window). Cuts are sample indices,
 * so every chunk's offset is exact, and the chunks' CORES tile the episode: each core starts where
 * the one before ended.
 *
 * A chunk's AUDIO span (what its worker decodes) is its core widened by the context padding
 * (chunk-context.ts `padCore`/`padPlan`), for a streamed plan and a whole one alike. `planChunks`
 * with `overlapSec` > 0 still gives the older plan (spans widened by half of it on a side cut in
 * speech), which the accuracy benchmark compares against; ingest plans with `overlapSec: 0`.
 *
 * The planner is incremental (`ChunkPlanner`): fed silences as they are found and told how far the
 * silence list is final, it fixes each cut as soon as the audio past it is known, so ingest can
 * publish chunks while the episode is still downloading. A cut depends only on the audio, never on
 * how it arrived: `planChunks` (everything at once) gives the same plan as any streaming run.
 */
import { SAMPLE_RATE } from "../../contract/wire.ts";
import { CHUNK_SECONDS, describeBounds, withinBounds } from "../input-bounds.ts";
import type { PlannedChunk } from "../store/episode-store.ts";
import type { Silence } from "./silence.ts";

export interface PlanOptions {
  /** How far from the target length a cut may move to find silence (seconds). Default: min(25% of the chunk, 15 s). */
  windowSec?: number;
  /** Overlap of two chunks when no silence is found (seconds). */
  overlapSec?: number;
  sampleRate?: number;
}

export const OVERLAP_SEC = 1.5;
/** The last chunk absorbs a tail shorter than this fraction of a chunk instead of becoming a tiny job. */
const TAIL_FRACTION = 0.25;

/** A chunk's core: the samples it is responsible for. Cores of consecutive chunks touch exactly. */
export interface ChunkCore {
  index: number;
  startSample: number;
  endSample: number;
  reason: string;
  /** The cut at the core's start (its end) fell inside speech: no silence was in the window. */
  startsInSpeech: boolean;
  endsInSpeech: boolean;
}

/** Where a planner picks up: the next chunk's index and core start (after a crash, the last published core's end). */
export interface PlanResume {
  index: number;
  startSample: number;
}

/** The older overlapping span of a core (`overlapSec` > 0): half the overlap added on a side cut in speech. */
function overlapChunk(core: ChunkCore, totalSamples: number, overlapSec: number, sampleRate: number): PlannedChunk {
  const half = Math.round((overlapSec * sampleRate) / 2);
  return {
    index: core.index,
    startSample: Math.max(0, core.startSample - (core.startsInSpeech ? half : 0)),
    endSample: Math.min(totalSamples, core.endSample + (core.endsInSpeech ? half : 0)),
    reason: core.endsInSpeech ? `${core.reason}, overlapping ${overlapSec.toFixed(1)} s` : core.reason,
  };
}

function checkChunkSeconds(chunkSeconds: number): void {
  // The API, the CLI and the settings refuse anything else up front (input-bounds.ts).
  if (!withinBounds(chunkSeconds, CHUNK_SECONDS)) {
    const what = chunkSeconds > 0 && chunkSeconds < CHUNK_SECONDS.min ? "too short" : "out of range";
    throw new Error(`chunk length ${chunkSeconds} s is ${what}: it must be ${describeBounds(CHUNK_SECONDS)}`);
  }
}

/**
 * Plans cores incrementally. Feed silences in order (`addSilence`), then `advance(settled)` with the
 * sample before which every silence has been fed: it returns the cores whose cut is now fixed.
 * `finish(total)` returns the rest once the episode's length is known. A cut needs the audio up to
 * the end of its search window and past the short-tail limit, so it is fixed about a window after
 * its target.
 */
export class ChunkPlanner {
  private readonly rate: number;
  private readonly size: number;
  private readonly window: number;
  private readonly silences: Silence[] = [];
  private index: number;
  private start: number;
  private startsInSpeech: boolean;
  private done = false;

  constructor(
    private readonly chunkSeconds: number,
    opts: PlanOptions = {},
    resume: PlanResume = { index: 0, startSample: 0 },
  ) {
    checkChunkSeconds(chunkSeconds);
    this.rate = opts.sampleRate ?? SAMPLE_RATE;
    this.size = Math.round(chunkSeconds * this.rate);
    this.window = Math.round((opts.windowSec ?? Math.min(chunkSeconds * 0.25, 15)) * this.rate);
    this.index = resume.index;
    this.start = resume.startSample;
    // a resumed plan is padded (streaming ingest): which side was cut in speech matters only to the overlap mode
    this.startsInSpeech = false;
  }

  /** Where the next core starts. */
  get next(): PlanResume {
    return { index: this.index, startSample: this.start };
  }

  addSilence(s: Silence): void {
    if (s.quietest > this.start) this.silences.push(s);
  }

  /** Cores fixed now that every silence starting before `settled` has been fed (and that much audio exists). */
  advance(settled: number): ChunkCore[] {
    const out: ChunkCore[] = [];
    if (this.chunkSeconds === 0 || this.done) return out;
    // not the last chunk (the audio runs past the tail limit), and the whole search window is known
    while (settled - this.start > this.size * (1 + TAIL_FRACTION) && settled > this.start + this.size + this.window) out.push(this.cut());
    return out;
  }

  /** The episode ended at `totalSamples` (all silences fed): the remaining cores. */
  finish(totalSamples: number): ChunkCore[] {
    if (this.done) return [];
    this.done = true;
    if (this.start >= totalSamples) return [];
    if (this.chunkSeconds === 0) {
      return [{ index: this.index, startSample: 0, endSample: totalSamples, reason: "whole episode", startsInSpeech: false, endsInSpeech: false }];
    }
    const out: ChunkCore[] = [];
    while (totalSamples - this.start > this.size * (1 + TAIL_FRACTION)) out.push(this.cut());
    out.push({
      index: this.index,
      startSample: this.start,
      endSample: totalSamples,
      reason: "end of audio",
      startsInSpeech: this.startsInSpeech,
      endsInSpeech: false,
    });
    return out;
  }

  /** Fix the cut after the current core: in the best silence of the window, else at the target, in speech. */
  private cut(): ChunkCore {
    const target = this.start + this.size;
    const found = bestSilence(this.silences, target, this.window, this.start + Math.round(this.size / 2));
    const at = found?.at ?? target;
    const reason = found
      ? `silence of ${Math.round(((found.silence.end - found.silence.start) / this.rate) * 1000)} ms at ${(at / this.rate).toFixed(2)} s`
      : `no silence within ±${(this.window / this.rate).toFixed(1)} s of ${(target / this.rate).toFixed(2)} s: cut in speech`;
    const core: ChunkCore = {
      index: this.index,
      startSample: this.start,
      endSample: at,
      reason,
      startsInSpeech: this.startsInSpeech,
      endsInSpeech: !found,
    };
    this.index++;
    this.start = at;
    this.startsInSpeech = !found;
    while (this.silences.length > 0 && this.silences[0]!.quietest <= at) this.silences.shift();
    return core;
  }
}

/** The cores of an episode of `totalSamples` cut at `silences`: the planner fed everything, then finished. */
export function planCores(totalSamples: number, chunkSeconds: number, silences: readonly Silence[], opts: PlanOptions = {}): ChunkCore[] {
  if (!Number.isInteger(totalSamples) || totalSamples <= 0) throw new Error(`cannot plan ${totalSamples} samples`);
  const planner = new ChunkPlanner(chunkSeconds, opts);
  for (const s of silences) planner.addSilence(s);
  return planner.finish(totalSamples);
}

/**
 * Plan chunks of about `chunkSeconds` (0 = one chunk for the whole episode), cut at `silences`.
 * With `overlapSec: 0` the chunks are the cores (they tile the episode, ready for padPlan);
 * otherwise a seam cut in speech overlaps by `overlapSec`.
 */
export function planChunks(totalSamples: number, chunkSeconds: number, silences: readonly Silence[], opts: PlanOptions = {}): PlannedChunk[] {
  const cores = planCores(totalSamples, chunkSeconds, silences, opts);
  const overlapSec = opts.overlapSec ?? OVERLAP_SEC;
  if (overlapSec === 0) return cores.map(({ index, startSample, endSample, reason }) => ({ index, startSample, endSample, reason }));
  return cores.map((core) => overlapChunk(core, totalSamples, overlapSec, opts.sampleRate ?? SAMPLE_RATE));
}

/**
 * The best silence to cut in: longer silences (paragraph breaks) beat short ones (between
 * sentences), and nearer beats farther. Measured on synthesized episodes, cutting at the longer
 * pause costs less accuracy than cutting at the nearest one: the recognizer starts each chunk
 * cold, and a chunk that begins after a long pause begins like an utterance.
 */
function bestSilence(silences: readonly Silence[], target: number, window: number, earliest: number): { at: number; silence: Silence } | undefined {
  let best: { at: number; silence: Silence; score: number } | undefined;
  for (const s of silences) {
    // Cut at the silence's quietest point: as far from speech on both sides as it gets.
    const at = s.quietest;
    if (at <= earliest || Math.abs(at - target) > window) continue;
    const lengthScore = Math.min(s.end - s.start, 2 * SAMPLE_RATE) / SAMPLE_RATE; // seconds, capped at 2
    const score = lengthScore - (Math.abs(at - target) / window) * 0.5;
    if (!best || score > best.score) best = { at, silence: s, score };
  }
  return best && { at: best.at, silence: best.silence };
}
