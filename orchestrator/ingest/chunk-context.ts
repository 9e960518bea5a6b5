/**
 * Context padding: every chunk is transcribed with some audio before and after its core, the
 * stride idea of chunked speech recognition. The recogniser then hears each word at a core's edge
 * with its neighbours, as in the unchunked run, and stitching keeps only the words whose midpoint
 * falls inside the core (transcript/stitch.ts), so every word is kept exactly once.
 *
 * A planned chunk's `startSample/endSample` stay the audio span that is cut, sent and that word
 * times are relative to; `coreStartSample/coreEndSample` is the part of the episode it answers for.
 * Cores tile the episode; audio spans overlap their neighbours by up to the padding before plus after.
 */
import type { PlannedChunk } from "../store/episode-store.ts";

/**
 * Default context padding on each side of a core cut in a silence, seconds
 * (PODFLEET_CHUNK_PAD_SECONDS): none. Chosen by measurement with bench/accuracy.ts (BENCHMARKS.md,
 * "Seams"): once each chunk's decoder starts from its own audio's normalisation (the pocketsphinx
 * engine does), a cut in a pause costs no more than the pause itself, and padding it only decodes
 * audio twice.
 */
export const CHUNK_PAD_SECONDS = 0;

/** Default padding after a core cut in a silence, seconds (PODFLEET_CHUNK_PAD_AFTER_SECONDS): none, as before it. */
export const CHUNK_PAD_AFTER_SECONDS = 0;

/**
 * Default padding of a side cut in speech, seconds (PODFLEET_CHUNK_PAD_SPEECH_SECONDS): a word may be
 * cut in two there, and both chunks must hear it whole for its midpoint to pick one of them. Chosen
 * by the same measurement.
 */
export const CHUNK_PAD_SPEECH_SECONDS = 2;

/** The default padding, as ingest uses it when no setting says otherwise. */
export const DEFAULT_CHUNK_PAD: SidePadding = { before: CHUNK_PAD_SECONDS, after: CHUNK_PAD_AFTER_SECONDS, speech: CHUNK_PAD_SPEECH_SECONDS };

/** The most padding the settings allow, seconds: more only decodes the same words again. */
export const MAX_CHUNK_PAD_SECONDS = 30;

/**
 * Padding on each side of a core. The two sides need not match: what a decoder hears before the
 * core warms it up, while what follows the core only gives its last words their right-hand
 * context; and a side cut in speech needs more than one cut in a pause. A plain number pads both
 * sides alike.
 */
export interface SidePadding {
  readonly before: number;
  readonly after: number;
  /** Padding of a side cut in speech; unset, the larger of `before` and `after`. */
  readonly speech?: number;
}

/**
 * The padding the settings give: `before` (PODFLEET_CHUNK_PAD_SECONDS, default CHUNK_PAD_SECONDS),
 * `after` (PODFLEET_CHUNK_PAD_AFTER_SECONDS; unset, it is `before` when that was set, so that one
 * setting still pads both sides alike, else CHUNK_PAD_AFTER_SECONDS) and `speech`
 * (PODFLEET_CHUNK_PAD_SPEECH_SECONDS; unset, CHUNK_PAD_SPEECH_SECONDS when neither other side was
 * set, else the larger of the two, as before that setting existed).
 */
export function chunkPadding(before: number | undefined, after: number | undefined, speech: number | undefined): SidePadding {
  const pad = { before: before ?? CHUNK_PAD_SECONDS, after: after ?? before ?? CHUNK_PAD_AFTER_SECONDS };
  const speechDefault = before === undefined && after === undefined ? CHUNK_PAD_SPEECH_SECONDS : Math.max(pad.before, pad.after);
  return { ...pad, speech: speech ?? speechDefault };
}

/** `pad` as both sides (a plain number pads both alike). */
export function sides(pad: number | SidePadding): SidePadding {
  return typeof pad === "number" ? { before: pad, after: pad } : pad;
}

/** A half-open sample range [start, end). */
export interface SampleSpan {
  readonly start: number;
  readonly end: number;
}

/**
 * The audio span to cut for a core span: `padSamples` more before and after it (one number: both
 * sides), clamped to the episode (0..totalSamples). Throws on a core that is empty or outside the episode.
 */
export function paddedSpan(core: SampleSpan, padSamples: number | SidePadding, totalSamples: number): SampleSpan {
  const { before, after } = sides(padSamples);
  for (const p of [before, after]) {
    if (!Number.isInteger(p) || p < 0) throw new RangeError(`padding must be a whole number of samples >= 0, got ${p}`);
  }
  if (!Number.isInteger(totalSamples) || totalSamples <= 0)
    throw new RangeError(`episode length must be a positive whole number of samples, got ${totalSamples}`);
  if (!Number.isInteger(core.start) || !Number.isInteger(core.end) || core.start < 0 || core.end > totalSamples || core.end <= core.start) {
    throw new RangeError(`core [${core.start}, ${core.end}) is not a non-empty span inside 0..${totalSamples}`);
  }
  return { start: Math.max(0, core.start - before), end: Math.min(totalSamples, core.end + after) };
}

/**
 * One core (a cut of chunk-plan.ts) as a padded chunk: its audio span is the core plus `padSamples`
 * before and after it (one number: both sides), clamped to 0..totalSamples. A side whose cut fell
 * in speech (`startsInSpeech`/`endsInSpeech`) gets the larger of the two paddings: a word may be
 * cut in two there, and each chunk must hear it whole for its midpoint to pick one of them.
 * Streaming ingest pads each core as soon as the audio reaches its padded end, with the decoded
 * length so far as `totalSamples`.
 */
export function padCore(
  core: { index: number; startSample: number; endSample: number; reason: string; startsInSpeech?: boolean; endsInSpeech?: boolean },
  padSamples: number | SidePadding,
  totalSamples: number,
): PlannedChunk {
  const audio = paddedSpan({ start: core.startSample, end: core.endSample }, coreSides(core, padSamples), totalSamples);
  return {
    index: core.index,
    startSample: audio.start,
    endSample: audio.end,
    coreStartSample: core.startSample,
    coreEndSample: core.endSample,
    reason: core.reason,
  };
}

/** `pad` with its speech padding resolved: as set, else the larger of `before` and `after`. */
function withSpeech(pad: number | SidePadding): Required<SidePadding> {
  const { before, after, speech = Math.max(before, after) } = sides(pad);
  return { before, after, speech };
}

/** The padding of each side of `core`: `speech` (default the larger of the two) on a side cut in speech. */
export function coreSides(core: { startsInSpeech?: boolean; endsInSpeech?: boolean }, pad: number | SidePadding): SidePadding {
  const { before, after, speech } = withSpeech(pad);
  return { before: core.startsInSpeech === true ? speech : before, after: core.endsInSpeech === true ? speech : after };
}

/** The most padding any side of a core can get under `pad` (a side cut in speech may get more than either). */
export function widestSide(pad: number | SidePadding): number {
  const { before, after, speech } = withSpeech(pad);
  return Math.max(before, after, speech);
}

/** Padding in seconds as whole samples on each side; throws on a side that is negative or not finite. */
export function padSamples(padSec: number | SidePadding, sampleRate: number): SidePadding {
  const { before, after, speech } = sides(padSec);
  for (const p of [before, after, speech ?? 0]) {
    if (!(p >= 0) || !Number.isFinite(p)) throw new RangeError(`padding must be a number of seconds >= 0, got ${p}`);
  }
  const out = { before: Math.round(before * sampleRate), after: Math.round(after * sampleRate) };
  return speech === undefined ? out : { ...out, speech: Math.round(speech * sampleRate) };
}

/**
 * Turns a plan whose chunks tile the episode (cut without overlap) into padded chunks: each
 * chunk's span becomes its core and its audio span grows by `padSec` before and after it (one
 * number: both sides). Throws when the chunks do not tile 0..totalSamples exactly.
 */
export function padPlan(plan: readonly PlannedChunk[], padSec: number | SidePadding, totalSamples: number, sampleRate: number): PlannedChunk[] {
  const pad = padSamples(padSec, sampleRate);
  let expectedStart = 0;
  const out = plan.map((c) => {
    if (c.startSample !== expectedStart) {
      throw new RangeError(`chunk ${c.index} starts at sample ${c.startSample}, not ${expectedStart}: padding needs chunks that tile the episode`);
    }
    expectedStart = c.endSample;
    return { ...c, ...padCore(c, pad, totalSamples) };
  });
  if (expectedStart !== totalSamples) throw new RangeError(`the chunks end at sample ${expectedStart}, not at the episode's end ${totalSamples}`);
  return out;
}

/**
 * Pads the cores of chunk-plan.ts (`planCores`, which tile the episode) as streaming ingest does:
 * `padSec` before and after each (one number: both sides), the larger of the two on a side cut in speech.
 */
export function padCores(
  cores: ReadonlyArray<{ index: number; startSample: number; endSample: number; reason: string; startsInSpeech: boolean; endsInSpeech: boolean }>,
  padSec: number | SidePadding,
  totalSamples: number,
  sampleRate: number,
): PlannedChunk[] {
  const pad = padSamples(padSec, sampleRate);
  padPlan(cores, 0, totalSamples, sampleRate); // throws unless the cores tile the episode
  return cores.map((core) => padCore(core, pad, totalSamples));
}
