/**
 * Chunk planning: where an episode's PCM is cut into jobs. Each cut goes into a silence near the
 * target length (the longest, then the nearest, inside a search window); where the window holds no silence, the chunks
 * overlap by OVERLAP_SEC and stitching keeps each word on the side of the overlap's middle that
 * holds its midpoint. Cuts are sample indices, so every chunk's offset is exact.
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

/**
 * Plan chunks of about `chunkSeconds` (0 = one chunk for the whole episode), cut at `silences`.
 * With no silences this degrades to fixed-length chunks with overlapping seams.
 */
export function planChunks(totalSamples: number, chunkSeconds: number, silences: readonly Silence[], opts: PlanOptions = {}): PlannedChunk[] {
  if (!Number.isInteger(totalSamples) || totalSamples <= 0) throw new Error(`cannot plan ${totalSamples} samples`);
  // The API, the CLI and the settings refuse anything else up front (input-bounds.ts).
  if (!withinBounds(chunkSeconds, CHUNK_SECONDS)) {
    const what = chunkSeconds > 0 && chunkSeconds < CHUNK_SECONDS.min ? "too short" : "out of range";
    throw new Error(`chunk length ${chunkSeconds} s is ${what}: it must be ${describeBounds(CHUNK_SECONDS)}`);
  }
  if (chunkSeconds === 0) return [{ index: 0, startSample: 0, endSample: totalSamples, reason: "whole episode" }];
  const rate = opts.sampleRate ?? SAMPLE_RATE;
  const size = Math.round(chunkSeconds * rate);
  const window = Math.round((opts.windowSec ?? Math.min(chunkSeconds * 0.25, 15)) * rate);
  const halfOverlap = Math.round(((opts.overlapSec ?? OVERLAP_SEC) * rate) / 2);

  const plan: PlannedChunk[] = [];
  let start = 0;
  while (start < totalSamples) {
    const index = plan.length;
    if (totalSamples - start <= size * (1 + TAIL_FRACTION)) {
      plan.push({ index, startSample: start, endSample: totalSamples, reason: "end of audio" });
      break;
    }
    const target = start + size;
    const cut = nearestSilence(silences, target, window, start + Math.round(size / 2));
    if (cut) {
      plan.push({
        index,
        startSample: start,
        endSample: cut.at,
        reason: `silence of ${Math.round(((cut.silence.end - cut.silence.start) / rate) * 1000)} ms at ${(cut.at / rate).toFixed(2)} s`,
      });
      start = cut.at;
    } else {
      plan.push({
        index,
        startSample: start,
        endSample: Math.min(totalSamples, target + halfOverlap),
        reason: `no silence within ±${(window / rate).toFixed(1)} s of ${(target / rate).toFixed(2)} s: overlapping ${((2 * halfOverlap) / rate).toFixed(1)} s`,
      });
      start = target - halfOverlap;
    }
  }
  return plan;
}

/**
 * The best silence to cut in: longer silences (paragraph breaks) beat short ones (between
 * sentences), and nearer beats farther. Measured on synthesized episodes, cutting at the longer
 * pause costs less accuracy than cutting at the nearest one: the recognizer starts each chunk
 * cold, and a chunk that begins after a long pause begins like an utterance.
 */
function nearestSilence(
  silences: readonly Silence[],
  target: number,
  window: number,
  earliest: number,
): { at: number; silence: Silence } | undefined {
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
