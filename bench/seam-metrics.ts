/**
 * What chunking did to the words around each seam, measured against the unchunked run of the same
 * audio: words lost (the direct run has a word there, the stitched run has nothing at that time),
 * words duplicated (two stitched words with the same text overlapping in time: both sides of an
 * overlap kept it), and how far the stitched word times moved from the direct run's.
 */
import type { TimedWord } from "../orchestrator/transcript/stitch.ts";

export interface SeamReport {
  seams: number;
  lost: number;
  duplicated: number;
  /** Words near seams present in both runs (same text, overlapping times). */
  matched: number;
  /** Direct-run words near seams that the stitched run has at that time, but as different words. */
  changed: number;
  /** Largest |Δstart| or |Δend| of a matched word, ms. */
  maxTimeErrorMs: number;
  /** Mean of max(|Δstart|, |Δend|) over matched words, ms. */
  meanTimeErrorMs: number;
}

/** Words whose midpoint is this close to a seam count as "at the seam" (seconds). */
export const SEAM_WINDOW_SEC = 2;

const mid = (w: TimedWord): number => (w.start + w.end) / 2;
const overlaps = (a: TimedWord, b: TimedWord): boolean => a.start < b.end && b.start < a.end;

/**
 * Compare `stitched` with `direct` around `seams` (seconds on the episode timeline). A direct word
 * with no stitched word overlapping it is lost; zero-length words (rare) count by their midpoint.
 */
export function measureSeams(direct: readonly TimedWord[], stitched: readonly TimedWord[], seams: readonly number[]): SeamReport {
  let lost = 0;
  let duplicated = 0;
  let matched = 0;
  let changed = 0;
  let sumErr = 0;
  let maxErr = 0;
  const near = (w: TimedWord): boolean => seams.some((s) => Math.abs(mid(w) - s) <= SEAM_WINDOW_SEC);
  for (const d of direct.filter(near)) {
    const covering = stitched.filter((w) => overlaps(w, d) || (w.start <= mid(d) && mid(d) <= w.end));
    if (covering.length === 0) {
      lost++;
      continue;
    }
    const same = covering.find((w) => w.text === d.text);
    if (!same) {
      changed++; // recognised differently: a WER matter, not a seam timing one
      continue;
    }
    const err = Math.max(Math.abs(same.start - d.start), Math.abs(same.end - d.end)) * 1000;
    matched++;
    sumErr += err;
    maxErr = Math.max(maxErr, err);
  }
  const nearStitched = stitched.filter(near);
  for (let i = 1; i < nearStitched.length; i++) {
    const a = nearStitched[i - 1]!;
    const b = nearStitched[i]!;
    if (a.text === b.text && overlaps(a, b)) duplicated++;
  }
  return {
    seams: seams.length,
    lost,
    duplicated,
    matched,
    changed,
    maxTimeErrorMs: Math.round(maxErr),
    meanTimeErrorMs: matched === 0 ? 0 : Math.round(sumErr / matched),
  };
}

/** Seam times of a chunk plan: the core boundary of padded chunks, else the cut itself or the middle of an overlap. */
export function seamTimes(
  plan: ReadonlyArray<{ startSample: number; endSample: number; coreStartSample?: number | undefined }>,
  sampleRate: number,
): number[] {
  const out: number[] = [];
  for (let i = 1; i < plan.length; i++) {
    const core = plan[i]!.coreStartSample;
    out.push((core ?? (plan[i]!.startSample + plan[i - 1]!.endSample) / 2) / sampleRate);
  }
  return out;
}
