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

/** The chunk's words, with times relative to its audio span's start. */
export async function chunkWords(row: Pick<ChunkRow, "id" | "resultWords" | "resultObject">, results: ChunkResults): Promise<readonly Word[]> {
  if (row.resultWords !== null) return storedWords(row.id, row.resultWords);
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
