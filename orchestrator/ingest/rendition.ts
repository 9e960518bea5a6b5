/**
 * The rendition record: exactly which bytes were transcribed. Podcast hosts with dynamic ad
 * insertion serve different files under one URL, so a transcript is matched to its audio by the
 * final URL after redirects, the byte length and the sha256 of the file, not by the source URL.
 */
import { createHash } from "node:crypto";
import fs from "node:fs";
import { pipeline } from "node:stream/promises";

export interface Rendition {
  /** URL the audio was finally fetched from (after redirects); null for uploads. */
  finalUrl: string | null;
  audioBytes: number;
  /** Lowercase hex sha256 of the file as received. */
  audioSha256: string;
  /** Content type the server declared, or one inferred from the container for uploads. */
  audioContentType: string | null;
}

/** sha256 of a file, streamed (never read whole into memory). */
export async function sha256File(filePath: string): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash("sha256");
  let bytes = 0;
  await pipeline(fs.createReadStream(filePath), async function* (source: AsyncIterable<Buffer>) {
    for await (const chunk of source) {
      bytes += chunk.length;
      hash.update(chunk);
    }
    yield* [];
  });
  return { sha256: hash.digest("hex"), bytes };
}

const CONTAINER_TYPES: ReadonlyArray<[RegExp, string]> = [
  [/^mp3$/, "audio/mpeg"],
  [/^wav$/, "audio/wav"],
  [/^ogg$/, "audio/ogg"],
  [/^flac$/, "audio/flac"],
  [/(^|,)(mp4|m4a|mov)(,|$)/, "audio/mp4"],
  [/^aac$/, "audio/aac"],
  [/^matroska,webm$/, "audio/webm"],
  [/^aiff$/, "audio/aiff"],
  [/^caf$/, "audio/x-caf"],
  [/^asf$/, "audio/x-ms-wma"],
  [/^e?ac3$/, "audio/ac3"],
  [/^mpegts$/, "video/mp2t"],
  [/^w64$/, "audio/wav"],
];

/** A content type for an ffprobe `format_name` (uploads carry no trustworthy one); null if unknown. */
export function contentTypeForContainer(formatName: string): string | null {
  return CONTAINER_TYPES.find(([re]) => re.test(formatName))?.[1] ?? null;
}

/** Describe the file at `filePath`: hash and length from the bytes, the rest from the fetch. */
export async function describeRendition(
  filePath: string,
  fetched: { finalUrl: string | null; contentType: string | null | undefined },
  formatName: string,
): Promise<Rendition> {
  const { sha256, bytes } = await sha256File(filePath);
  return {
    finalUrl: fetched.finalUrl,
    audioBytes: bytes,
    audioSha256: sha256,
    audioContentType: fetched.contentType?.split(";")[0]?.trim().toLowerCase() || contentTypeForContainer(formatName),
  };
}
