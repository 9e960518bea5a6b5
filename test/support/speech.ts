/**
 * Synthetic podcast episodes for tests: speak a script with flite, join the paragraphs with silence
 * with ffmpeg, and encode as WAV (16 kHz mono) or MP3. Results are cached by a hash of the inputs,
 * so repeated test runs skip synthesis: the cache lives in $PODFLEET_FIXTURE_CACHE, or in
 * <os tmpdir>/podfleet-fixtures, and is deliberately kept between runs (delete it freely).
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFile, mkdir, mkdtemp, readFile, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

export type FliteVoice = "rms" | "awb" | "kal16" | "slt";

export interface SynthesizeOptions {
  /** Paragraphs of the script; each is spoken separately, with `pauseSec` of silence between. */
  readonly paragraphs: readonly string[];
  /** flite voice (default "rms"). */
  readonly voice?: FliteVoice;
  /** Silence between paragraphs in seconds (default 1.2). */
  readonly pauseSec?: number;
  /** "wav": 16 kHz mono PCM; "mp3": 44.1 kHz mono 64 kb/s, like a real podcast (default "wav"). */
  readonly format?: "wav" | "mp3";
  /** Directory the episode file is written to (the caller owns and removes it). */
  readonly dir: string;
}

export interface SynthesizedEpisode {
  /** The audio file, inside `dir`. */
  readonly path: string;
  /** The script that was spoken: paragraphs joined by blank lines (the reference for WER). */
  readonly text: string;
  readonly durationSec: number;
}

/** A tool the fixtures need (flite, ffmpeg, ffprobe) is not installed. */
export class FixtureToolMissingError extends Error {
  override readonly name = "FixtureToolMissingError";
  constructor(
    readonly tool: string,
    options?: { cause?: unknown },
  ) {
    super(`${tool} is not installed or not on PATH; install it (Debian: apt-get install ${tool === "flite" ? "flite" : "ffmpeg"})`, options);
  }
}

/** A fixture tool ran but failed; the message carries the end of its stderr. */
export class FixtureToolError extends Error {
  override readonly name = "FixtureToolError";
}

/** Bump when the synthesis pipeline changes, so old cache entries are not reused. */
const PIPELINE_VERSION = 1;
const MAX_TOOL_OUTPUT = 16 * 1024 * 1024;

/**
 * Speaks `paragraphs` into an audio file in `dir` and returns its path, the spoken text and the
 * duration. Throws `FixtureToolMissingError` when flite or ffmpeg is missing.
 */
export async function synthesizeEpisode(options: SynthesizeOptions): Promise<SynthesizedEpisode> {
  const voice = options.voice ?? "rms";
  const pauseSec = options.pauseSec ?? 1.2;
  const format = options.format ?? "wav";
  const paragraphs = options.paragraphs.map((p) => p.replace(/\s+/g, " ").trim()).filter((p) => p !== "");
  if (paragraphs.length === 0) throw new Error("synthesizeEpisode needs at least one non-empty paragraph");
  if (!(pauseSec >= 0)) throw new Error(`pauseSec must be >= 0, got ${pauseSec}`);

  const key = createHash("sha256")
    .update(JSON.stringify({ v: PIPELINE_VERSION, paragraphs, voice, pauseSec, format }))
    .digest("hex")
    .slice(0, 24);
  const cacheDir = process.env.PODFLEET_FIXTURE_CACHE ?? join(tmpdir(), "podfleet-fixtures");
  const cachedAudio = join(cacheDir, `${key}.${format}`);
  const cachedMeta = join(cacheDir, `${key}.json`);

  let durationSec = await readCachedDuration(cachedMeta);
  if (durationSec === undefined) {
    await mkdir(cacheDir, { recursive: true });
    const work = await mkdtemp(join(cacheDir, "work-"));
    try {
      const audio = await render(paragraphs, voice, pauseSec, format, work, key);
      durationSec = await probeDuration(audio);
      await rename(audio, cachedAudio);
      const metaTmp = join(work, "meta.json");
      await writeFile(metaTmp, JSON.stringify({ durationSec }));
      await rename(metaTmp, cachedMeta);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }

  const path = join(options.dir, `episode-${key.slice(0, 12)}.${format}`);
  await copyFile(cachedAudio, path);
  return { path, text: paragraphs.join("\n\n"), durationSec };
}

async function readCachedDuration(metaPath: string): Promise<number | undefined> {
  try {
    const meta: unknown = JSON.parse(await readFile(metaPath, "utf8"));
    const duration = (meta as { durationSec?: unknown }).durationSec;
    return typeof duration === "number" && duration > 0 ? duration : undefined;
  } catch {
    return undefined; // no cache entry (or a torn one): synthesize again
  }
}

async function render(
  paragraphs: readonly string[],
  voice: FliteVoice,
  pauseSec: number,
  format: "wav" | "mp3",
  work: string,
  key: string,
): Promise<string> {
  const parts: string[] = [];
  for (const [i, paragraph] of paragraphs.entries()) {
    const txt = join(work, `para-${i}.txt`);
    const wav = join(work, `para-${i}.wav`);
    await writeFile(txt, paragraph + "\n");
    await runTool("flite", ["-voice", voice, "-f", txt, "-o", wav]);
    parts.push(wav);
  }
  // Normalise every paragraph to 16 kHz mono, pad all but the last with silence, then concatenate.
  const filters = parts.map((_, i) => {
    const pad = i < parts.length - 1 && pauseSec > 0 ? `,apad=pad_dur=${pauseSec}` : "";
    return `[${i}:a]aresample=16000,aformat=sample_fmts=s16:channel_layouts=mono${pad}[p${i}]`;
  });
  const inputsLabel = parts.map((_, i) => `[p${i}]`).join("");
  filters.push(`${inputsLabel}concat=n=${parts.length}:v=0:a=1[out]`);
  const out = join(work, `${key}.${format}`);
  const encode =
    format === "wav" ? ["-c:a", "pcm_s16le", "-ar", "16000", "-ac", "1"] : ["-c:a", "libmp3lame", "-b:a", "64k", "-ar", "44100", "-ac", "1"];
  await runTool("ffmpeg", [
    "-hide_banner",
    "-loglevel",
    "error",
    "-nostdin",
    "-y",
    ...parts.flatMap((p) => ["-i", p]),
    "-filter_complex",
    filters.join(";"),
    "-map",
    "[out]",
    ...encode,
    out,
  ]);
  return out;
}

async function probeDuration(path: string): Promise<number> {
  const stdout = await runTool("ffprobe", ["-v", "error", "-show_entries", "format=duration", "-of", "default=noprint_wrappers=1:nokey=1", path]);
  const duration = Number.parseFloat(stdout.trim());
  if (!(duration > 0)) throw new FixtureToolError(`ffprobe reported no duration for ${path}: ${stdout.trim()}`);
  return duration;
}

function runTool(tool: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(tool, args, { maxBuffer: MAX_TOOL_OUTPUT }, (error, stdout, stderr) => {
      if (error === null) return resolve(stdout);
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return reject(new FixtureToolMissingError(tool, { cause: error }));
      reject(new FixtureToolError(`${tool} failed (${error.code ?? error.signal}): ${stderr.slice(-2000)}`, { cause: error }));
    });
  });
}
