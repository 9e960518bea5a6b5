/** Human renderings of an episode shared by `jobs show` and `transcribe`: the chunk table and the transcript links. */
import type { ChunkView } from "../episodes/episode-service.ts";
import { table } from "./table.ts";

export interface TranscriptLinks {
  /** `<url>/v1/episodes/<id>/transcript`: add `.txt`, `.srt`, `.vtt` or `.json`. */
  base: string;
  txt: string;
  srt: string;
  vtt: string;
  json: string;
  /** The `<podcast:transcript>` tags to paste into the feed item. */
  podcastTranscript: string;
}

export function transcriptLinks(orchestratorUrl: string, episodeId: string): TranscriptLinks {
  const base = new URL(`/v1/episodes/${encodeURIComponent(episodeId)}/transcript`, orchestratorUrl).toString();
  return {
    base,
    txt: `${base}.txt`,
    srt: `${base}.srt`,
    vtt: `${base}.vtt`,
    json: `${base}.json`,
    podcastTranscript: new URL(`/v1/episodes/${encodeURIComponent(episodeId)}/podcast-transcript.xml`, orchestratorUrl).toString(),
  };
}

function clock(sec: number): string {
  const m = Math.floor(sec / 60);
  return `${m}:${(sec - m * 60).toFixed(1).padStart(4, "0")}`;
}

/** One row per chunk: index, span, machine, attempt, state, time, error. */
export function formatChunkTable(chunks: ChunkView[]): string {
  return table(
    ["CHUNK", "SPAN", "MACHINE", "ATTEMPT", "STATE", "TIME", "ERROR"],
    chunks.map((c) => [
      String(c.index),
      `${clock(c.startSec)}-${clock(c.endSec)}`,
      c.machineId ?? "-",
      String(c.attempt),
      c.state,
      c.processingMs === null ? "-" : `${(c.processingMs / 1000).toFixed(1)} s`,
      (c.error ?? "").slice(0, 80),
    ]),
  );
}
