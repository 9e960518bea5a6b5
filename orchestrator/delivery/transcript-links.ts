/**
 * Stable public URLs of a finished episode's transcripts, and the `<podcast:transcript>` elements
 * (Podcasting 2.0) a host pastes into its feed item. Timed formats carry `rel="captions"`.
 */
import { TRANSCRIPT_FORMATS, type TranscriptFormat } from "../transcript/formats.ts";

/** Order and feed metadata of each published format. */
const PUBLISHED: Array<{ format: TranscriptFormat; type: string; timed: boolean }> = [
  { format: "vtt", type: "text/vtt", timed: true },
  { format: "srt", type: "application/x-subrip", timed: true },
  { format: "json", type: "application/json", timed: true },
  { format: "txt", type: "text/plain", timed: false },
];

function base(publicUrl: string): string {
  return publicUrl.replace(/\/+$/, "");
}

export function transcriptUrl(publicUrl: string, episodeId: string, format: TranscriptFormat): string {
  return `${base(publicUrl)}/v1/episodes/${encodeURIComponent(episodeId)}/transcript.${format}`;
}

/** Every published format's URL, plus the podcast-transcript.xml snippet. */
export function transcriptUrls(publicUrl: string, episodeId: string): Record<TranscriptFormat | "podcastTranscriptXml", string> {
  const out = Object.fromEntries(
    (Object.keys(TRANSCRIPT_FORMATS) as TranscriptFormat[]).map((f) => [f, transcriptUrl(publicUrl, episodeId, f)]),
  ) as Record<TranscriptFormat, string>;
  return { ...out, podcastTranscriptXml: `${base(publicUrl)}/v1/episodes/${encodeURIComponent(episodeId)}/podcast-transcript.xml` };
}

function attr(value: string): string {
  return value.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** One `<podcast:transcript .../>` per format, one per line. */
export function podcastTranscriptElements(publicUrl: string, episodeId: string, language: string): string {
  return (
    PUBLISHED.map(
      (p) =>
        `<podcast:transcript url="${attr(transcriptUrl(publicUrl, episodeId, p.format))}" type="${p.type}" language="${attr(language)}"${p.timed ? ' rel="captions"' : ""} />`,
    ).join("\n") + "\n"
  );
}
