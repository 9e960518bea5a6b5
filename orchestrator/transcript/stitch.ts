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
  /** Words with times relative to the chunk start. */
  readonly words: readonly Word[];
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
 * Chunks are ordered by `index` (never by arrival), each word is shifted by exactly
 * `startSample / sampleRate` seconds, and where chunk i+1 starts before chunk i ends the overlap is
 * cut at its middle (the seam): a word stays only in the chunk whose side of the seam holds the
 * word's midpoint, so a word spoken across the overlap appears once. Throws `StitchError` when an
 * index is missing or repeated, so an incomplete episode can never be published as complete.
 */
export function stitchChunks(
  chunks: readonly StitchChunk[],
  sampleRate: number,
  options: StitchOptions = {},
): TimedWord[] {
  if (!Number.isFinite(sampleRate) || sampleRate <= 0) {
    throw new StitchError(`sample rate must be a positive number, got ${sampleRate}`);
  }
  const ordered = orderByIndex(chunks, options.expectedChunks);

  // Seam between chunk i and i+1, in seconds; NaN where the two chunks do not overlap.
  const seams: number[] = [];
  for (let i = 0; i + 1 < ordered.length; i++) {
    const current = ordered[i]!;
    const next = ordered[i + 1]!;
    seams.push(
      next.startSample < current.endSample
        ? (next.startSample + current.endSample) / 2 / sampleRate
        : Number.NaN,
    );
  }

  const out: TimedWord[] = [];
  ordered.forEach((chunk, i) => {
    const offset = chunk.startSample / sampleRate;
    const lowerSeam = i > 0 ? seams[i - 1]! : Number.NaN;
    const upperSeam = i < seams.length ? seams[i]! : Number.NaN;
    const words = [...chunk.words].sort((a, b) => a.start - b.start);
    for (const word of words) {
      const start = offset + word.start;
      const end = offset + Math.max(word.start, word.end);
      const mid = (start + end) / 2;
      if (!Number.isNaN(lowerSeam) && mid < lowerSeam) continue;
      if (!Number.isNaN(upperSeam) && mid >= upperSeam) continue;
      out.push(toTimedWord(word, start, end));
    }
  });
  return out;
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
  return word.confidence === undefined
    ? { text: word.text, start, end }
    : { text: word.text, start, end, confidence: word.confidence };
}
