/**
 * What the hostile soak serves: a few seconds of speech as WAV and MP3 (flite + ffmpeg, cached by
 * test/support/speech.ts), a 60 s 48 kHz stereo WAV of 11 MB (more than a socket
 * buffers, for the close-under-backpressure server), and RSS documents pointing at them.
 */
import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { synthesizeEpisode } from "../test/support/speech.ts";

const run = promisify(execFile);

export interface SoakAudio {
  /** File names inside the served directory. */
  wav: string;
  mp3: string;
  big: string;
}

const LINES = [
  "The soak sends this short episode through every server we could think of.",
  "It should come back as a transcript, or fail with a reason.",
];

export async function buildAudio(dir: string): Promise<SoakAudio> {
  const wav = await synthesizeEpisode({ paragraphs: LINES, dir, pauseSec: 0.8 });
  const mp3 = await synthesizeEpisode({ paragraphs: LINES, dir, pauseSec: 0.8, format: "mp3" });
  const big = path.join(dir, "big.wav");
  await run("ffmpeg", [
    "-hide_banner",
    "-loglevel",
    "error",
    "-nostdin",
    "-y",
    "-i",
    wav.path,
    "-af",
    "apad=whole_dur=60",
    "-ar",
    "48000",
    "-ac",
    "2",
    "-c:a",
    "pcm_s16le",
    big,
  ]);
  fs.renameSync(wav.path, path.join(dir, "speech.wav"));
  fs.renameSync(mp3.path, path.join(dir, "speech.mp3"));
  return { wav: "speech.wav", mp3: "speech.mp3", big: "big.wav" };
}

export interface FeedItemSpec {
  guid: string;
  title: string;
  url: string;
  publishedAt: number;
}

const escapeXml = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** An RSS 2.0 podcast feed with one enclosure per item. */
export function feedXml(title: string, items: FeedItemSpec[]): string {
  const entries = items.map(
    (i) => `    <item>
      <title>${escapeXml(i.title)}</title>
      <guid isPermaLink="false">${escapeXml(i.guid)}</guid>
      <pubDate>${new Date(i.publishedAt).toUTCString()}</pubDate>
      <enclosure url="${escapeXml(i.url)}" length="100000" type="${i.url.includes(".mp3") ? "audio/mpeg" : "audio/wav"}"/>
    </item>`,
  );
  return `<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd">
  <channel>
    <title>${escapeXml(title)}</title>
    <link>http://127.0.0.1/</link>
    <description>hostile soak</description>
${entries.join("\n")}
  </channel>
</rss>
`;
}
