/**
 * Chunk planning: where an episode's PCM is cut into jobs. Cuts are sample indices, so every
 * chunk's offset in the episode is exact. This is the fixed-length planner; cutting at silences
 * refines it (see issue C).
 */
import { SAMPLE_RATE } from "../../contract/wire.ts";
import type { PlannedChunk } from "../store/episode-store.ts";

/** The last chunk absorbs a tail shorter than this instead of becoming a tiny job of its own. */
const MIN_TAIL_SEC = 5;

/** `chunkSeconds` 0 means one chunk for the whole episode. */
export function planFixedChunks(totalSamples: number, chunkSeconds: number, sampleRate = SAMPLE_RATE): PlannedChunk[] {
  if (!Number.isInteger(totalSamples) || totalSamples <= 0) throw new Error(`cannot plan ${totalSamples} samples`);
  if (chunkSeconds === 0) return [{ index: 0, startSample: 0, endSample: totalSamples, reason: "whole episode" }];
  const size = Math.round(chunkSeconds * sampleRate);
  if (size <= 0) throw new Error(`chunk length ${chunkSeconds}s is too short`);
  const plan: PlannedChunk[] = [];
  let start = 0;
  while (start < totalSamples) {
    let end = Math.min(start + size, totalSamples);
    if (totalSamples - end < MIN_TAIL_SEC * sampleRate) end = totalSamples;
    plan.push({ index: plan.length, startSample: start, endSample: end, reason: end === totalSamples ? "end of audio" : "fixed length" });
    start = end;
  }
  return plan;
}
