/**
 * What a finished chunk's worker found. Small results come inside the result event and are kept in
 * the chunk's row (`result_words`); larger ones are a results object the worker wrote. Stitching
 * the final transcript and the partial one both read words through here.
 */
import { z } from "zod";
import { Word, type ChunkTranscript } from "../../contract/wire.ts";
import type { ChunkRow } from "../store/episode-store.ts";

/** Reads a results object; the port the queue adapter fits. */
export interface ChunkResults {
  getChunkTranscript(objectName: string): Promise<ChunkTranscript>;
}

const Words = z.array(Word);

/** True when the row says where its words are. */
export function hasResult(row: Pick<ChunkRow, "resultWords" | "resultObject">): boolean {
  return row.resultWords !== null || row.resultObject !== null;
}

/** The chunk's words, with times relative to its audio span's start. */
export async function chunkWords(row: Pick<ChunkRow, "id" | "resultWords" | "resultObject">, results: ChunkResults): Promise<readonly Word[]> {
  if (row.resultWords !== null) return Words.parse(JSON.parse(row.resultWords));
  if (row.resultObject !== null) return (await results.getChunkTranscript(row.resultObject)).words;
  throw new Error(`chunk ${row.id} has no result`);
}
