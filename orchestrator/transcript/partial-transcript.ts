/**
 * Progressive results: the transcript of an episode's finished prefix (chunks 0..k all done)
 * while the rest is still being transcribed, so a producer reads the first minutes long before
 * the last chunk is done.
 *
 * The prefix is stitched exactly as the final transcript will be (stitch.ts), with the first
 * unfinished chunk standing in with no words: its seam with chunk k still cuts chunk k's words,
 * so every word of the prefix is a word of the final transcript, at the same time. Caption cues
 * are grouped as for the final transcript (segments.ts); the cues up to `stableSegments` can no
 * longer change as more chunks finish (only the last cue may still grow, and a cue reaching into
 * the next chunk's audio waits for it), which is what the segment stream sends, each once.
 */
import { SAMPLE_RATE, type Word } from "../../contract/wire.ts";
import { isTerminalEpisode, type EpisodeState } from "../episodes/lifecycle.ts";
import type { ChunkRow, EpisodeRow } from "../store/episode-store.ts";
import { chunkWords, hasResult, type ChunkResults } from "./chunk-words.ts";
import { podcastJson } from "./formats.ts";
import type { PodcastTranscriptJson } from "./podcast-json-schema.ts";
import { stitchChunks, type StitchChunk, type TimedWord } from "./stitch.ts";

/** One caption segment as the Podcasting 2.0 JSON transcript has it (seconds). */
export type TranscriptSegment = PodcastTranscriptJson["segments"][number];

export interface PartialTranscript {
  episodeId: string;
  status: EpisodeState;
  /** True when this is the whole transcript: the episode is done. */
  complete: boolean;
  /** Chunks in the plan (null until the audio is all cut: a streamed plan has chunks before). */
  chunkCount: number | null;
  /** Chunks 0..chunksDone-1 are done and stitched here; a done chunk after a gap waits for the gap. */
  chunksDone: number;
  /** The transcript holds everything spoken before this point (seconds from the episode start). */
  throughSec: number;
  language: string;
  words: TimedWord[];
  /** Caption segments of `words` (the JSON transcript's `segments`). */
  segments: TranscriptSegment[];
  /** How many of `segments`, from the first, are final (never change again). All of them when complete. */
  stableSegments: number;
}

/** The store calls it needs. */
export interface PartialTranscriptStore {
  getEpisode(id: string): Promise<EpisodeRow | undefined>;
  listChunks(episodeId: string): Promise<ChunkRow[]>;
}

/** A done chunk's result never changes until it is re-run at a new generation, so a cache keyed by both never goes stale. */
const CACHED_RESULTS = 2000;

export class PartialTranscripts {
  readonly #cache = new Map<string, readonly Word[]>();

  constructor(private readonly deps: { store: PartialTranscriptStore; results: ChunkResults }) {}

  /** The episode's transcript so far, or undefined when there is no such episode. */
  async read(episodeId: string): Promise<PartialTranscript | undefined> {
    const episode = await this.deps.store.getEpisode(episodeId);
    if (!episode) return undefined;
    const status = episode.status as EpisodeState;
    // a streamed plan has chunks (and done ones) while it grows, before chunkCount is known; before the
    // first chunk of a (re-)ingest, rows left by an earlier run are not this run's
    const beforePlan = status === "received" || status === "ingesting" || status === "fetch_wait";
    const chunks = episode.chunkCount === null && beforePlan ? [] : await this.deps.store.listChunks(episodeId);
    const prefix: ChunkRow[] = [];
    for (const c of chunks) {
      if (c.index !== prefix.length || c.state !== "done" || !hasResult(c)) break;
      prefix.push(c);
    }
    const next = chunks[prefix.length];
    const all = episode.chunkCount !== null && prefix.length === episode.chunkCount;
    const inputs: StitchChunk[] = [];
    for (const c of prefix) inputs.push({ ...spans(c), words: await this.#words(c) });
    // the first unfinished chunk, without words, so its seam cuts the prefix where the final transcript will
    if (next && !all) inputs.push({ ...spans(next), words: [], pending: true });
    // a growing plan whose every chunk is done: the next chunk, not cut yet, starts at the last core's end
    const edge = !next && !all && episode.chunkCount === null ? prefix.at(-1)?.coreEndSample : undefined;
    if (edge != null)
      inputs.push({
        index: prefix.length,
        startSample: edge,
        endSample: edge + 1,
        coreStartSample: edge,
        coreEndSample: edge + 1,
        words: [],
        pending: true,
      });
    const words = inputs.length === 0 ? [] : stitchChunks(inputs, SAMPLE_RATE, { expectedChunks: inputs.length });
    const throughSec = all ? (episode.durationSec ?? lastEnd(words)) : next ? next.startSample / SAMPLE_RATE : edge != null ? edge / SAMPLE_RATE : 0;
    const segments = podcastJson(words).segments;
    const complete = status === "done" && all;
    return {
      episodeId,
      status,
      complete,
      chunkCount: episode.chunkCount,
      chunksDone: prefix.length,
      throughSec,
      language: episode.language,
      words,
      segments,
      stableSegments: complete || (all && isTerminalEpisode(status)) ? segments.length : stableCount(segments, throughSec),
    };
  }

  async #words(c: ChunkRow): Promise<readonly Word[]> {
    const key = `${c.id}@${c.generation}.${c.attempt}`;
    const hit = this.#cache.get(key);
    if (hit) {
      // most recently used last: the oldest entry is the first to go
      this.#cache.delete(key);
      this.#cache.set(key, hit);
      return hit;
    }
    const words = await chunkWords(c, this.deps.results);
    this.#cache.set(key, words);
    if (this.#cache.size > CACHED_RESULTS) this.#cache.delete(this.#cache.keys().next().value!);
    return words;
  }
}

/**
 * Segments that more words can no longer change: all but the last (the next words may still join
 * it), and none that ends past `throughSec` (it reaches into audio not yet transcribed).
 */
function stableCount(segments: readonly TranscriptSegment[], throughSec: number): number {
  let n = Math.max(0, segments.length - 1);
  while (n > 0 && segments[n - 1]!.endTime > throughSec) n--;
  return n;
}

/** Where a chunk sits in the plan: its audio span and, for padded plans, its core. */
function spans(c: ChunkRow): Omit<StitchChunk, "words"> {
  return { index: c.index, startSample: c.startSample, endSample: c.endSample, coreStartSample: c.coreStartSample, coreEndSample: c.coreEndSample };
}

function lastEnd(words: readonly TimedWord[]): number {
  return words.reduce((max, w) => Math.max(max, w.end), 0);
}
