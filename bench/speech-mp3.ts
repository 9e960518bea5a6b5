/**
 * A real MP3 of connected speech for the hour-episode benchmark (issue 15: "a real MP3 of speech
 * fetched by URL, not a 16 kHz noise WAV upload"). Text: the license and documentation prose the
 * machine ships under /usr/share/common-licenses (varied sentences, paragraph breaks), read in turn
 * by flite's four 16 kHz voices; the parts are joined, resampled to 44.1 kHz stereo and encoded at 128
 * kbit/s with LAME, like a published episode. The file is cached: building an hour costs ~1 min CPU.
 *
 * `npm exec -- node --import tsx bench/speech-mp3.ts [minutes] [out.mp3]` builds it on its own.
 */
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** flite's 16 kHz voices (the 8 kHz "kal" would need resampling before the concat demuxer joins the parts). */
const VOICES = ["awb", "rms", "slt", "kal16"] as const;
const TEXT_FILES = ["GPL-3", "Apache-2.0", "GFDL-1.3", "Artistic", "LGPL-3", "MPL-2.0", "GPL-2", "CC0-1.0"];
/** flite reads about 17 characters of this text per second of audio; ask for more than the hour needs, -t trims it. */
const CHARS_PER_SEC = 20;

/** Paragraphs of readable prose: license text with markup, rules and short lines dropped. */
function paragraphs(): string[] {
  const out: string[] = [];
  for (const name of TEXT_FILES) {
    const file = path.join("/usr/share/common-licenses", name);
    if (!fs.existsSync(file)) continue;
    for (const block of fs.readFileSync(file, "utf8").split(/\n\s*\n/)) {
      const text = block
        .replace(/\s+/g, " ")
        .replace(/[<>_*=#|~`]/g, " ")
        .trim();
      if (text.length >= 80 && /[a-z]/.test(text)) out.push(text);
    }
  }
  if (out.length === 0) throw new Error("no text found under /usr/share/common-licenses to synthesise");
  return out;
}

/** Builds (or reuses) `minutes` of speech as an MP3 at `outPath`; returns its path. */
export async function speechMp3(minutes: number, outPath = path.join(os.tmpdir(), `podfleet-speech-${minutes}min.mp3`)): Promise<string> {
  if (fs.existsSync(outPath)) return outPath;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-speech-"));
  try {
    const paras = paragraphs();
    const perVoiceChars = Math.ceil((minutes * 60 * CHARS_PER_SEC) / VOICES.length);
    const parts: string[] = [];
    const voices: Array<Promise<unknown>> = [];
    let p = 0;
    for (const [i, voice] of VOICES.entries()) {
      let text = "";
      while (text.length < perVoiceChars) text += `${paras[p++ % paras.length]}\n\n`;
      const txt = path.join(work, `part${i}.txt`);
      const wav = path.join(work, `part${i}.wav`);
      fs.writeFileSync(txt, text);
      parts.push(wav);
      voices.push(run("flite", ["-voice", voice, "-f", txt, "-o", wav], { maxBuffer: 1 << 20 }));
    }
    await Promise.all(voices);
    const list = path.join(work, "parts.txt");
    fs.writeFileSync(list, parts.map((f) => `file '${f}'`).join("\n"));
    const tmp = `${outPath}.part.mp3`;
    await run("ffmpeg", [
      "-nostdin",
      "-loglevel",
      "error",
      "-y",
      "-f",
      "concat",
      "-safe",
      "0",
      "-i",
      list,
      "-t",
      String(minutes * 60),
      "-ar",
      "44100",
      "-ac",
      "2",
      "-c:a",
      "libmp3lame",
      "-b:a",
      "128k",
      tmp,
    ]);
    fs.renameSync(tmp, outPath);
    return outPath;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) {
  const minutes = Number(process.argv[2] ?? 60);
  speechMp3(minutes, process.argv[3]).then(
    (file) => process.stdout.write(`${file}\n`),
    (err: unknown) => {
      process.stderr.write(`speech-mp3: ${String(err)}\n`);
      process.exit(1);
    },
  );
}
