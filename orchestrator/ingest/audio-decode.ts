/**
 * ffprobe and ffmpeg wrappers: check that a file is audio, and decode it once to 16 kHz mono
 * signed 16-bit PCM. Chunks are then cut from that PCM by sample index, so offsets are exact.
 *
 * The bytes are the submitter's. Both tools are held to the file they are given: only the
 * container demuxers in ALLOWED_DEMUXERS (none of which opens other files or URLs, as the HLS,
 * DASH, concat and image-sequence demuxers do) and only the `file` protocol. Without that, an
 * "episode" that is an HLS playlist naming a local file is decoded as that file.
 */
import { spawn } from "node:child_process";
import type { Writable } from "node:stream";
import fs from "node:fs";
import path from "node:path";
import { SAMPLE_RATE } from "../../contract/wire.ts";
import { BadInputError } from "./ingest-errors.ts";
import { playlistKind } from "./playlist-sniff.ts";

/**
 * ffmpeg demuxer names (`ffmpeg -demuxers`) that may read submitted bytes: the containers podcasts
 * are published in. `mov` stands for `mov,mp4,m4a,3gp,3g2,mj2` (m4a/mp4), `matroska` for
 * `matroska,webm`, `asf` for WMA; `mpegts` for transport-stream video episodes.
 */
export const ALLOWED_DEMUXERS = [
  "mp3",
  "mov",
  "ogg",
  "wav",
  "w64",
  "flac",
  "aac",
  "matroska",
  "aiff",
  "caf",
  "asf",
  "ac3",
  "eac3",
  "mpegts",
] as const;

/** ALLOWED_DEMUXERS as a submitter knows them, for error messages. */
const SUPPORTED_CONTAINERS = "MP3, M4A/MP4, Ogg/Opus, WAV, FLAC, AAC, WebM/MKV, AIFF, CAF, WMA, AC-3, MPEG-TS";

/** Input options that confine ffprobe/ffmpeg to the one input file, then the input itself. */
export function confinedInput(filePath: string): string[] {
  // `file:` so that a name with a colon is never read as another protocol
  return ["-format_whitelist", ALLOWED_DEMUXERS.join(","), "-protocol_whitelist", "file", "-i", `file:${path.resolve(filePath)}`];
}

/** The same confinement for bytes piped to the tool's stdin: the allowed demuxers, only the `pipe` protocol. */
export function confinedPipeInput(): string[] {
  return ["-format_whitelist", ALLOWED_DEMUXERS.join(","), "-protocol_whitelist", "pipe", "-i", "pipe:0"];
}

export const BYTES_PER_SAMPLE = 2;

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], timeoutMs: number): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], timeout: timeoutMs, killSignal: "SIGKILL" });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    child.on("error", (err: NodeJS.ErrnoException) =>
      reject(err.code === "ENOENT" ? new Error(`${cmd} is not installed (apt-get install ffmpeg)`) : err),
    );
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

export interface ProbeResult {
  durationSec: number | undefined;
  codec: string;
  formatName: string;
}

/**
 * Probe a file; BadInputError when it is empty, a playlist or manifest (which would name other
 * files), in a container outside ALLOWED_DEMUXERS, or holds no audio stream.
 */
export async function probeAudio(filePath: string): Promise<ProbeResult> {
  const size = fs.statSync(filePath).size;
  if (size === 0) throw new BadInputError("empty_file", "the audio file is empty (0 bytes)");
  const playlist = playlistKind(readHead(filePath));
  if (playlist) throw new BadInputError("not_audio", `not an audio file: it is ${playlist}, which names other files; submit the audio itself`);
  const r = await run("ffprobe", ["-v", "error", "-show_format", "-show_streams", "-of", "json", ...confinedInput(filePath)], 60_000);
  if (r.code !== 0) {
    const why = lastLine(r.stderr, filePath) || "ffprobe could not read it";
    throw new BadInputError("not_audio", `not an audio file in a supported container (${SUPPORTED_CONTAINERS}): ${why}`);
  }
  const info = JSON.parse(r.stdout) as {
    streams?: Array<{ codec_type?: string; codec_name?: string }>;
    format?: { duration?: string; format_name?: string };
  };
  const audio = info.streams?.find((s) => s.codec_type === "audio");
  if (!audio) throw new BadInputError("not_audio", "not an audio file: no audio stream found");
  const d = Number(info.format?.duration);
  return { durationSec: Number.isFinite(d) ? d : undefined, codec: audio.codec_name ?? "unknown", formatName: info.format?.format_name ?? "unknown" };
}

/** ffmpeg's output options for what every decode here makes: raw s16le PCM, 16 kHz, mono, no video. */
const PCM_OUTPUT = ["-vn", "-ac", "1", "-ar", String(SAMPLE_RATE), "-f", "s16le", "-acodec", "pcm_s16le"];

/** Decode to raw PCM (s16le, 16 kHz, mono). Returns the number of samples written. */
export async function decodeToPcm(inputPath: string, pcmPath: string, timeoutMs = 30 * 60_000): Promise<number> {
  const r = await run("ffmpeg", ["-nostdin", "-v", "error", "-y", ...confinedInput(inputPath), ...PCM_OUTPUT, pcmPath], timeoutMs);
  if (r.code !== 0) {
    fs.rmSync(pcmPath, { force: true });
    throw new BadInputError("decode_failed", `could not decode the audio: ${lastLine(r.stderr, inputPath) || `ffmpeg exited ${r.code}`}`);
  }
  const samples = Math.floor(fs.statSync(pcmPath).size / BYTES_PER_SAMPLE);
  if (samples === 0) throw new BadInputError("decode_failed", "the audio decoded to zero samples");
  return samples;
}

/** A decode in progress: PCM goes to `onPcm` as ffmpeg writes it. */
export interface PcmDecode {
  /** ffmpeg's stdin when decoding piped bytes (write the source, then end it); null for a file. */
  stdin: Writable | null;
  /** Resolves with the samples decoded once ffmpeg exits 0 and every piece was handled; rejects with BadInputError decode_failed. */
  done: Promise<number>;
  /** Stop the decode (the source failed); `done` then rejects. */
  kill(): void;
}

/**
 * Decode `input` (a file, or the bytes written to `stdin`) to s16le 16 kHz mono PCM as a stream:
 * each piece ffmpeg writes is passed to `onPcm`, and ffmpeg waits while `onPcm` does (so does
 * whatever feeds its stdin). Confined like decodeToPcm.
 */
export function decodePcmStream(input: { file: string } | "stdin", onPcm: (pcm: Buffer) => Promise<void> | void, timeoutMs = 30 * 60_000): PcmDecode {
  const inputArgs = input === "stdin" ? confinedPipeInput() : confinedInput(input.file);
  // -flush_packets 0: ffmpeg writes its output buffer (32 KiB) when full, not each packet (an MP3
  // frame resampled is under 1 KiB): 25x fewer pieces for node to take, which was most of the cut's
  // CPU and held the decode back (BENCHMARKS.md, "Hour episode, streamed")
  const child = spawn("ffmpeg", ["-nostdin", "-v", "error", ...inputArgs, ...PCM_OUTPUT, "-flush_packets", "0", "pipe:1"], {
    stdio: [input === "stdin" ? "pipe" : "ignore", "pipe", "pipe"],
    timeout: timeoutMs,
    killSignal: "SIGKILL",
  });
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  // a source that fails mid-way kills ffmpeg; writing to its closed stdin must not throw
  child.stdin?.on("error", () => undefined);
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on("error", (err: NodeJS.ErrnoException) =>
      reject(err.code === "ENOENT" ? new Error("ffmpeg is not installed (apt-get install ffmpeg)") : err),
    );
    child.on("close", (code) => resolve(code));
  });
  const done = (async () => {
    let bytes = 0;
    try {
      for await (const piece of child.stdout! as AsyncIterable<Buffer>) {
        bytes += piece.length;
        await onPcm(piece);
      }
    } catch (err) {
      child.kill("SIGKILL");
      throw err;
    }
    const code = await exited;
    const where = input === "stdin" ? "pipe:0" : input.file;
    if (code !== 0) throw new BadInputError("decode_failed", `could not decode the audio: ${lastLine(stderr, where) || `ffmpeg exited ${code}`}`);
    const samples = Math.floor(bytes / BYTES_PER_SAMPLE);
    if (samples === 0) throw new BadInputError("decode_failed", "the audio decoded to zero samples");
    return samples;
  })();
  // handled here too: it may reject (not audio, a publish that failed) while the caller still awaits the download
  done.catch(() => undefined);
  return { stdin: child.stdin, done, kill: () => child.kill("SIGKILL") };
}

/** A 44-byte RIFF/WAVE header for `samples` of 16-bit mono PCM at SAMPLE_RATE. */
export function wavHeader(samples: number): Buffer {
  const dataBytes = samples * BYTES_PER_SAMPLE;
  const h = Buffer.alloc(44);
  h.write("RIFF", 0, "ascii");
  h.writeUInt32LE(36 + dataBytes, 4);
  h.write("WAVE", 8, "ascii");
  h.write("fmt ", 12, "ascii");
  h.writeUInt32LE(16, 16); // fmt chunk size
  h.writeUInt16LE(1, 20); // PCM
  h.writeUInt16LE(1, 22); // mono
  h.writeUInt32LE(SAMPLE_RATE, 24);
  h.writeUInt32LE(SAMPLE_RATE * BYTES_PER_SAMPLE, 28); // byte rate
  h.writeUInt16LE(BYTES_PER_SAMPLE, 32); // block align
  h.writeUInt16LE(16, 34); // bits per sample
  h.write("data", 36, "ascii");
  h.writeUInt32LE(dataBytes, 40);
  return h;
}

/** Read samples [start, end) of a PCM file as a complete WAV file in memory (one chunk at a time). */
export async function readWavSlice(pcmPath: string, startSample: number, endSample: number): Promise<Buffer> {
  const samples = endSample - startSample;
  const fh = await fs.promises.open(pcmPath, "r");
  try {
    const data = Buffer.alloc(samples * BYTES_PER_SAMPLE);
    const { bytesRead } = await fh.read(data, 0, data.length, startSample * BYTES_PER_SAMPLE);
    if (bytesRead !== data.length) throw new Error(`short read of ${pcmPath}: ${bytesRead} of ${data.length} bytes`);
    return Buffer.concat([wavHeader(samples), data]);
  } finally {
    await fh.close();
  }
}

/** The first bytes of a file, for sniffing. */
function readHead(filePath: string, bytes = 1024): Buffer {
  const fd = fs.openSync(filePath, "r");
  try {
    const buf = Buffer.alloc(bytes);
    return buf.subarray(0, fs.readSync(fd, buf, 0, bytes, 0));
  } finally {
    fs.closeSync(fd);
  }
}

/** The tool's last two stderr lines, our file path (a server detail) replaced by "input". */
function lastLine(s: string, inputPath: string): string {
  const lines = s
    .trim()
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean)
    .slice(-2);
  const text = lines.join("; ").replace(/ @ 0x[0-9a-f]+\]/g, "]");
  return text
    .split(`file:${path.resolve(inputPath)}`)
    .join("input")
    .split(inputPath)
    .join("input")
    .slice(0, 300);
}
