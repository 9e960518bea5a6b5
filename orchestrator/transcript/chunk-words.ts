/**
 * What a finished chunk's worker found. Small results come inside the result event and are kept in
 * the chunk's row (`result_words`); larger ones are a results object the worker wrote. Stitching
 * the final transcript and the partial one both read words through here.
 *
 * A row's words were validated (contract/wire.ts `Word`) when their result event arrived, and the
 * store wrote them back with JSON.stringify, so reading them needs only JSON.parse and a shape check
 * of the fields stitching and rendering use. Only a row that fails that check (written by hand, or
 * damaged) is run through the schema again, to name what is wrong. A results object is worker input
 * read for the first time, so the queue adapter validates it in full.
 *
 * Cheaper still: the process that accepted a result already holds its words, parsed and validated
 * (AcceptedWords), and when that process also stitches the episode it takes them from there instead
 * of parsing the row again; only while the row still holds exactly the JSON it wrote.
 */
import { z } from "zod";
import { Word, type ChunkTranscript } from "../../contract/wire.ts";
import type { ChunkRow } from "../store/episode-store.ts";

/** Reads a results object; the port the queue adapter fits. */
export interface ChunkResults {
  getChunkTranscript(objectName: string): Promise<ChunkTranscript>;
}

const Words = z.array(Word);

/** A chunk row's stored words are not a word list (not JSON, or not the shape the store writes). */
export class StoredWordsError extends Error {
  override readonly name = "StoredWordsError";
}

/** True when the row says where its words are. */
export function hasResult(row: Pick<ChunkRow, "resultWords" | "resultObject">): boolean {
  return row.resultWords !== null || row.resultObject !== null;
}

/**
 * The chunk's words, with times relative to its audio span's start. `accepted`: words this process
 * kept when it accepted the result (a stitch passes them; each is taken, so used once).
 */
export async function chunkWords(
  row: Pick<ChunkRow, "id" | "resultWords" | "resultObject">,
  results: ChunkResults,
  accepted?: AcceptedWords,
): Promise<readonly Word[]> {
  if (row.resultWords !== null) return accepted?.take(row.id, row.resultWords) ?? storedWords(row.id, row.resultWords);
  if (row.resultObject !== null) return (await results.getChunkTranscript(row.resultObject)).words;
  throw new Error(`chunk ${row.id} has no result`);
}

/** Parses a row's `result_words`; throws StoredWordsError naming the chunk when they are not a word list. */
function storedWords(chunkId: string, json: string): readonly Word[] {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (err) {
    throw new StoredWordsError(`chunk ${chunkId}'s stored words are not JSON`, { cause: err });
  }
  if (isWordList(value)) return value;
  // the schema says exactly what is wrong (and would catch anything the shape check lets through)
  const checked = Words.safeParse(value);
  if (checked.success) return checked.data;
  throw new StoredWordsError(`chunk ${chunkId}'s stored words are malformed: ${z.prettifyError(checked.error)}`, { cause: checked.error });
}

/**
 * The shape `Word` guarantees where stitching and rendering depend on it: an array of objects with
 * non-empty text, finite non-negative times and an optional confidence in [0, 1]. Cheap: one loop,
 * no copies.
 */
function isWordList(value: unknown): value is Word[] {
  if (!Array.isArray(value)) return false;
  for (const w of value as unknown[]) {
    if (typeof w !== "object" || w === null) return false;
    const { text, start, end, confidence } = w as Record<string, unknown>;
    if (typeof text !== "string" || text.length === 0) return false;
    if (typeof start !== "number" || !(start >= 0) || start === Infinity) return false;
    if (typeof end !== "number" || !(end >= 0) || end === Infinity) return false;
    if (confidence !== undefined && (typeof confidence !== "number" || !(confidence >= 0 && confidence <= 1))) return false;
  }
  return true;
}

/**
 * Words of results this process accepted lately, as their events carried them (already validated)
 * together with the JSON the store wrote for them: a stitch in the same process takes them instead of
 * parsing each row's words again. An entry counts only while the row holds exactly that JSON (the
 * row is what is true: another orchestrator, or a later attempt, may have written it since), so a
 * stale or missing entry only means the row is parsed. Bounded by a number of words, oldest entries
 * dropped first: at ~100 bytes a word, DEFAULT_MAX_WORDS holds ~11 hours of speech in ~16 MB.
 */
export class AcceptedWords {
  static readonly DEFAULT_MAX_WORDS = 100_000;
  readonly #entries = new Map<string, { json: string; words: readonly Word[] }>();
  #words = 0;

  constructor(private readonly maxWords = AcceptedWords.DEFAULT_MAX_WORDS) {}

  /** Keeps the words of chunk `chunkId`'s accepted result, which the store wrote as `json`. */
  remember(chunkId: string, json: string, words: readonly Word[]): void {
    this.#drop(chunkId);
    if (words.length > this.maxWords) return;
    this.#entries.set(chunkId, { json, words });
    this.#words += words.length;
    for (const [oldest, entry] of this.#entries) {
      if (this.#words <= this.maxWords) break;
      this.#entries.delete(oldest);
      this.#words -= entry.words.length;
    }
  }

  /** The kept words of `chunkId` if its row's `result_words` is still `json`, forgetting them either way. */
  take(chunkId: string, json: string): readonly Word[] | undefined {
    const entry = this.#entries.get(chunkId);
    this.#drop(chunkId);
    return entry?.json === json ? entry.words : undefined;
  }

  /** How many chunks' words are kept (for tests and the curious). */
  get size(): number {
    return this.#entries.size;
  }

  #drop(chunkId: string): void {
    const entry = this.#entries.get(chunkId);
    if (entry === undefined) return;
    this.#entries.delete(chunkId);
    this.#words -= entry.words.length;
  }
}
