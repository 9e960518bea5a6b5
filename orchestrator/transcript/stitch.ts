/**
 * Stitching: turn the per-chunk word lists that workers return into one word list for the whole
 * episode. Chunk times are relative to the chunk; episode times are relative to the episode start.
 */
import type { Word } from "../../contract/wire.ts";

/** One recognised word placed on the episode timeline (seconds from the episode start). */
export interface TimedWord {
  readonly text: string;
  readonly start: number;
  readonly end: number;
  readonly confidence?: number;
  /** Speaker label, once diarization exists; nothing sets it yet. */
  readonly speaker?: string;
}

/** What stitching needs from one chunk: its place in the plan and the words its worker found. */
export interface StitchChunk {
  /** Position of the chunk in the episode's chunk plan, 0-based. */
  readonly index: number;
  /** First sample of the chunk in the episode's 16 kHz PCM. */
  readonly startSample: number;
  /** One past the last sample of the chunk. */
  readonly endSample: number;
  /**
   * The part of the episode the chunk answers for, inside [startSample, endSample): its audio
   * minus the context padding (ingest/chunk-context.ts). Absent for chunks planned before padding,
   * which stitch by the middle of their overlap instead.
   */
  readonly coreStartSample?: number | null | undefined;
  readonly coreEndSample?: number | null | undefined;
  /** Words with times relative to the chunk start. */
  readonly words: readonly Word[];
  /**
   * Not transcribed yet (a partial transcript's next chunk, `words` empty): its seam still cuts
   * the words before it, but a word the seam goes through stays with this chunk, as it will when
   * its result comes, instead of being taken from its neighbour.
   */
  readonly pending?: boolean;
}

export interface StitchOptions {
  /**
   * How many chunks the plan holds. When given, a chunk index at or past it is an error and so is
   * any index below it that is missing; without it, indices must run 0..n-1 over what was given.
   */
  readonly expectedChunks?: number;
}

/**
 * The chunk list cannot form a transcript (a chunk is missing, duplicated or malformed). Permanent:
 * retrying the stitch with the same input fails the same way; the caller must finish the chunks first.
 */
export class StitchError extends Error {
  override readonly name = "StitchError";
  readonly permanent = true;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * Places every word of every chunk on the episode timeline.
 *
 * Chunks are ordered by `index` (never by arrival) and each word is shifted by exactly
 * `startSample / sampleRate` seconds. Between two neighbours there is one seam: the core boundary
 * when both chunks carry cores (context padding), else the middle of their overlap when they
 * overlap (plans made before padding). A word stays only in the chunk whose side of the seam holds
 * its midpoint, so a word heard by both chunks appears once. A word the seam cuts through, which the
 * two chunks time a few milliseconds apart, could have its midpoint on each chunk's own side (kept
 * twice) or on the other's (kept by neither): such a word is resolved once (`resolveCutWords`).
 * Throws `StitchError` when an index is missing or repeated, or cores do not join up, so an
 * incomplete episode is never published as complete.
 */
export function stitchChunks(chunks: readonly StitchChunk[], sampleRate: number, options: StitchOptions = {}): TimedWord[] {
  if (!Number.isFinite(sampleRate) || sampleRate <= 0) {
    throw new StitchError(`sample rate must be a positive number, got ${sampleRate}`);
  }
  const ordered = orderByIndex(chunks, options.expectedChunks);

  // Seam between chunk i and i+1, in samples; NaN where there is none (no cores, no overlap).
  const seams: number[] = [];
  for (let i = 0; i + 1 < ordered.length; i++) seams.push(seamBetween(ordered[i]!, ordered[i + 1]!));

  const out: TimedWord[] = [];
  // Per seam: where the later chunk's words begin in `out`, and the words the seam cuts through that the midpoint rule dropped.
  const boundaries: number[] = [];
  const droppedCut: TimedWord[][] = seams.map(() => []);
  ordered.forEach((chunk, i) => {
    if (i > 0) boundaries.push(out.length);
    const offset = chunk.startSample / sampleRate;
    const lowerSeam = i > 0 ? seams[i - 1]! : Number.NaN;
    const upperSeam = i < seams.length ? seams[i]! : Number.NaN;
    const words = inStartOrder(chunk.words) ? chunk.words : [...chunk.words].sort((a, b) => a.start - b.start);
    for (const word of words) {
      const start = offset + word.start;
      const end = offset + Math.max(word.start, word.end);
      // The midpoint in samples, rounded so that two chunks computing the same instant from
      // different offsets agree exactly on which side of a seam it lies.
      const mid = roundSamples(chunk.startSample + ((word.start + Math.max(word.start, word.end)) / 2) * sampleRate);
      const below = !Number.isNaN(lowerSeam) && mid < lowerSeam;
      const above = !Number.isNaN(upperSeam) && mid >= upperSeam;
      if (!below && !above) out.push(toTimedWord(word, start, end));
      else {
        const k = below ? i - 1 : i;
        const at = seams[k]! / sampleRate;
        if (start < at && at < end) droppedCut[k]!.push(toTimedWord(word, start, end));
      }
    }
  });
  for (let k = seams.length - 1; k >= 0; k--) {
    if (ordered[k]!.pending !== true && ordered[k + 1]!.pending !== true)
      resolveCutWords(out, boundaries[k]!, seams[k]! / sampleRate, droppedCut[k]!);
  }
  return out;
}

/** Longest a word can be, seconds: how far back from a seam a word overlapping it may start. */
const MAX_WORD_SEC = 30;

/**
 * Makes a word the seam at `at` seconds cuts through come out exactly once. `boundary` is where the
 * later chunk's words begin in `out` (both sides in start order); `dropped` are the words that
 * straddle the seam and that the midpoint rule gave to the other chunk, the earlier chunk's first.
 * - Kept twice: the earlier chunk's last word and the later chunk's first are the same word
 *   overlapping in time; the later chunk's copy goes.
 * - Kept by neither: a dropped word that no kept word overlaps goes back in, once.
 */
function resolveCutWords(out: TimedWord[], boundary: number, at: number, dropped: readonly TimedWord[]): void {
  const last = out[boundary - 1];
  const first = out[boundary];
  if (last && first && last.text === first.text && overlaps(last, first) && (last.end > at || first.start < at)) out.splice(boundary, 1);
  for (const word of dropped) {
    if (overlapsKept(out, boundary, word)) continue;
    let insertAt = boundary;
    while (insertAt > 0 && out[insertAt - 1]!.start > word.start) insertAt--;
    while (insertAt < out.length && out[insertAt]!.start <= word.start) insertAt++;
    out.splice(insertAt, 0, word);
  }
}

/** Whether a word of `out` (in start order) near `boundary` overlaps `word` in time. */
function overlapsKept(out: readonly TimedWord[], boundary: number, word: TimedWord): boolean {
  for (let j = boundary - 1; j >= 0 && out[j]!.start > word.start - MAX_WORD_SEC; j--) if (overlaps(out[j]!, word)) return true;
  for (let k = boundary; k < out.length && out[k]!.start < word.end; k++) if (overlaps(out[k]!, word)) return true;
  return false;
}

const overlaps = (a: TimedWord, b: TimedWord): boolean => a.start < b.end && b.start < a.end;

const roundSamples = (x: number): number => Math.round(x * 1000) / 1000;

/** Whether words already run in start order (as engines write them): a stable sort would keep them as they are. */
function inStartOrder(words: readonly Word[]): boolean {
  for (let i = 1; i < words.length; i++) if (!(words[i - 1]!.start <= words[i]!.start)) return false;
  return true;
}

/** The seam between neighbours `a` and `b` (sample position), or NaN when they neither carry cores nor overlap. */
function seamBetween(a: StitchChunk, b: StitchChunk): number {
  const aEnd = a.coreEndSample ?? undefined;
  const bStart = b.coreStartSample ?? undefined;
  if (aEnd !== undefined && bStart !== undefined) {
    if (aEnd !== bStart) throw new StitchError(`chunk ${a.index}'s core ends at sample ${aEnd} but chunk ${b.index}'s starts at ${bStart}`);
    return aEnd;
  }
  return b.startSample < a.endSample ? (b.startSample + a.endSample) / 2 : Number.NaN;
}

function orderByIndex(chunks: readonly StitchChunk[], expected: number | undefined): StitchChunk[] {
  const count = expected ?? chunks.length;
  if (!Number.isInteger(count) || count < 0) {
    throw new StitchError(`expected chunk count must be a non-negative integer, got ${count}`);
  }
  const slots = new Array<StitchChunk | undefined>(count).fill(undefined);
  for (const chunk of chunks) {
    const { index, startSample, endSample } = chunk;
    if (!Number.isInteger(index) || index < 0 || index >= count) {
      throw new StitchError(`chunk index ${index} is outside the plan of ${count} chunks`);
    }
    if (slots[index] !== undefined) throw new StitchError(`chunk index ${index} appears twice`);
    if (!Number.isInteger(startSample) || startSample < 0 || !(endSample > startSample)) {
      throw new StitchError(`chunk ${index} has bad sample range [${startSample}, ${endSample})`);
    }
    const coreStart = chunk.coreStartSample ?? undefined;
    const coreEnd = chunk.coreEndSample ?? undefined;
    if ((coreStart === undefined) !== (coreEnd === undefined)) throw new StitchError(`chunk ${index} has only one end of its core`);
    if (coreStart !== undefined && coreEnd !== undefined && !(startSample <= coreStart && coreStart < coreEnd && coreEnd <= endSample)) {
      throw new StitchError(`chunk ${index}'s core [${coreStart}, ${coreEnd}) is not inside its audio [${startSample}, ${endSample})`);
    }
    slots[index] = chunk;
  }
  const missing = slots.flatMap((slot, i) => (slot === undefined ? [i] : []));
  if (missing.length > 0) {
    const shown = missing.slice(0, 10).join(", ") + (missing.length > 10 ? ", …" : "");
    throw new StitchError(`${missing.length} of ${count} chunks missing (index ${shown})`);
  }
  return slots as StitchChunk[];
}

function toTimedWord(word: Word, start: number, end: number): TimedWord {
  return word.confidence === undefined ? { text: word.text, start, end } : { text: word.text, start, end, confidence: word.confidence };
}
