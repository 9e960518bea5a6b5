/**
 * Transcript renderers: plain text, SubRip (SRT), WebVTT and Podcasting 2.0 JSON, all from the same
 * stitched word list, plus the table of formats the HTTP layer serves (extension → content type).
 */
import { SRT_CUE_LIMITS, buildCues, paragraphs, type Cue, type CueOptions } from "./segments.ts";
import type { PodcastTranscriptJson } from "./podcast-json-schema.ts";
import type { TimedWord } from "./stitch.ts";

export interface RenderOptions {
  /** Overrides of the caption limits (`CUE_LIMITS`) for SRT, WebVTT and JSON. */
  readonly cues?: CueOptions;
  /** Pause that starts a new paragraph in plain text (default `PARAGRAPH_PAUSE_SEC`). */
  readonly paragraphPauseSec?: number;
  /**
   * The transcript's language (BCP 47), written where a format has a place for it: the JSON's
   * `language`. SRT and WebVTT have none (a player takes it from `<track srclang>` or the feed's
   * `<podcast:transcript language>`), and a WebVTT header line would not parse.
   */
  readonly language?: string;
}

/**
 * Formats seconds as `HH:MM:SS,mmm` (SRT, `separator` ",") or `HH:MM:SS.mmm` (WebVTT, "."),
 * rounding to the millisecond; negative input counts as zero, hours may exceed 99.
 */
export function formatTimestamp(seconds: number, separator: "," | "."): string {
  return formatMs(Math.max(0, Math.round(seconds * 1000)), separator);
}

function formatMs(totalMs: number, separator: string): string {
  const ms = totalMs % 1000;
  const totalSec = (totalMs - ms) / 1000;
  const s = totalSec % 60;
  const m = Math.floor(totalSec / 60) % 60;
  const h = Math.floor(totalSec / 3600);
  return `${pad(h, 2)}:${pad(m, 2)}:${pad(s, 2)}${separator}${pad(ms, 3)}`;
}

/** Module level, not inside formatMs: under tsx every closure a call creates is also given its name (a property write). */
function pad(n: number, width: number): string {
  return String(n).padStart(width, "0");
}

interface TimedCue {
  readonly cue: Cue;
  readonly startMs: number;
  readonly endMs: number;
}

/**
 * Cues with whole-millisecond times that never go backwards: each cue starts no earlier than the
 * previous one ends and lasts at least 1 ms (WebVTT wants end > start).
 */
function timedCues(words: readonly TimedWord[], cueOptions: CueOptions | undefined): readonly TimedCue[] {
  const key = JSON.stringify(cueOptions ?? {});
  const cached = cueCache.get(words)?.get(key);
  if (cached) return cached;
  let previousEndMs = 0;
  const timed = buildCues(words, cueOptions).map((cue) => {
    const startMs = Math.max(Math.round(cue.start * 1000), previousEndMs, 0);
    const endMs = Math.max(Math.round(cue.end * 1000), startMs + 1);
    previousEndMs = endMs;
    return { cue, startMs, endMs };
  });
  const byOptions = cueCache.get(words) ?? new Map<string, readonly TimedCue[]>();
  byOptions.set(key, timed);
  cueCache.set(words, byOptions);
  return timed;
}

/**
 * Cues already built for a words array, by cue options: WebVTT and the Podcasting 2.0 JSON use
 * the same cues, and a finished episode renders both from one array, so the second is free. Keyed
 * weakly by the array (callers never mutate a stitched transcript), so nothing outlives it.
 */
const cueCache = new WeakMap<readonly TimedWord[], Map<string, readonly TimedCue[]>>();

/** Plain text: one paragraph per stretch of speech between long pauses, blank line between. */
export function renderText(words: readonly TimedWord[], options: RenderOptions = {}): string {
  const paras = paragraphs(words, options.paragraphPauseSec === undefined ? {} : { pauseSec: options.paragraphPauseSec });
  if (paras.length === 0) return "";
  return paras.map((p) => (p.speaker === undefined ? p.text : `${p.speaker}: ${p.text}`)).join("\n\n") + "\n";
}

/**
 * SubRip: numbered cues (from 1), `HH:MM:SS,mmm --> HH:MM:SS,mmm`, at most two lines of at most
 * 32 characters (`SRT_CUE_LIMITS`; a single word longer than a line keeps a line of its own),
 * a blank line between cues. SRT has no speaker markup, so speakers are not shown.
 */
export function renderSrt(words: readonly TimedWord[], options: RenderOptions = {}): string {
  return timedCues(words, { ...SRT_CUE_LIMITS, ...options.cues })
    .map(({ cue, startMs, endMs }, i) => `${i + 1}\n${formatMs(startMs, ",")} --> ${formatMs(endMs, ",")}\n${cue.lines.join("\n")}\n`)
    .join("\n");
}

/** Escapes the characters WebVTT cue text reserves (`&`, `<`, `>`; the latter also breaks up "-->"). */
function escapeVtt(text: string): string {
  // most lines hold none of them: one scan, no copies
  if (!VTT_RESERVED_RE.test(text)) return text;
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

const VTT_RESERVED_RE = /[&<>]/;

/** WebVTT: `WEBVTT` header, `HH:MM:SS.mmm` timings, speakers as `<v Name>` voice spans. */
export function renderVtt(words: readonly TimedWord[], options: RenderOptions = {}): string {
  const blocks = timedCues(words, options.cues).map(({ cue, startMs, endMs }) => {
    const lines = cue.lines.map(escapeVtt);
    if (cue.speaker !== undefined && lines.length > 0) {
      lines[0] = `<v ${escapeVtt(cue.speaker)}>${lines[0]}`;
    }
    return `${formatMs(startMs, ".")} --> ${formatMs(endMs, ".")}\n${lines.join("\n")}\n`;
  });
  return ["WEBVTT\n", ...blocks].join("\n");
}

/**
 * Podcasting 2.0 JSON as an object: one segment per caption cue, seconds rounded to the ms, and
 * the transcript's `language` when it is known.
 */
export function podcastJson(words: readonly TimedWord[], options: RenderOptions = {}): PodcastTranscriptJson {
  return {
    version: "1.0.0",
    ...(options.language === undefined ? {} : { language: options.language }),
    segments: timedCues(words, options.cues).map(({ cue, startMs, endMs }) => ({
      ...(cue.speaker === undefined ? {} : { speaker: cue.speaker }),
      startTime: startMs / 1000,
      endTime: endMs / 1000,
      body: cue.text,
    })),
  };
}

/** Podcasting 2.0 JSON as a string (see `podcastJson`). */
export function renderPodcastJson(words: readonly TimedWord[], options: RenderOptions = {}): string {
  return JSON.stringify(podcastJson(words, options));
}

/** A way to serve a transcript: its HTTP content type and how to render it. */
export interface TranscriptFormatSpec {
  readonly contentType: string;
  readonly render: (words: readonly TimedWord[], options?: RenderOptions) => string;
}

/** Every format we serve, keyed by file extension (`/episodes/:id/transcript.srt`, etc.). */
export const TRANSCRIPT_FORMATS = {
  txt: { contentType: "text/plain; charset=utf-8", render: renderText },
  srt: { contentType: "application/x-subrip", render: renderSrt },
  vtt: { contentType: "text/vtt; charset=utf-8", render: renderVtt },
  json: { contentType: "application/json", render: renderPodcastJson },
} as const satisfies Record<string, TranscriptFormatSpec>;

export type TranscriptFormat = keyof typeof TRANSCRIPT_FORMATS;

/** Narrows a string (a URL extension, a query parameter) to a format we serve. */
export function isTranscriptFormat(value: string): value is TranscriptFormat {
  return Object.hasOwn(TRANSCRIPT_FORMATS, value);
}
