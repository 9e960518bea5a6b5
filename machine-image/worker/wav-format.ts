/**
 * Reads and checks the header of a chunk's WAV file before an engine sees it, so unusable audio
 * is reported as `bad_audio` with a clear reason instead of an engine's cryptic exit.
 */
import { open } from "node:fs/promises";
import { SAMPLE_RATE } from "../../contract/wire.ts";
import { PermanentChunkError } from "./errors.ts";

export interface WavFormat {
  readonly audioFormat: number;
  readonly channels: number;
  readonly sampleRate: number;
  readonly bitsPerSample: number;
  /** Bytes of sample data (taken from the file size when the header leaves it unset). */
  readonly dataBytes: number;
}

const HEADER_SCAN_BYTES = 64 * 1024;

/** Parses the RIFF/WAVE header of `path`; throws PermanentChunkError("bad_audio") if it is not a WAV file. */
export async function readWavFormat(path: string): Promise<WavFormat> {
  const fh = await open(path, "r");
  let buf: Buffer;
  let fileSize: number;
  try {
    fileSize = (await fh.stat()).size;
    buf = Buffer.alloc(Math.min(fileSize, HEADER_SCAN_BYTES));
    await fh.read(buf, 0, buf.length, 0);
  } finally {
    await fh.close();
  }
  if (buf.length < 12 || buf.toString("latin1", 0, 4) !== "RIFF" || buf.toString("latin1", 8, 12) !== "WAVE") {
    throw new PermanentChunkError("bad_audio", `not a RIFF/WAVE file (${fileSize} bytes)`);
  }
  let fmt: Omit<WavFormat, "dataBytes"> | undefined;
  let offset = 12;
  while (offset + 8 <= buf.length) {
    const id = buf.toString("latin1", offset, offset + 4);
    const size = buf.readUInt32LE(offset + 4);
    const body = offset + 8;
    if (id === "fmt " && body + 16 <= buf.length) {
      fmt = {
        audioFormat: buf.readUInt16LE(body),
        channels: buf.readUInt16LE(body + 2),
        sampleRate: buf.readUInt32LE(body + 4),
        bitsPerSample: buf.readUInt16LE(body + 14),
      };
    } else if (id === "data") {
      if (!fmt) break;
      const rest = fileSize - body;
      const dataBytes = size === 0 || size === 0xffffffff || size > rest ? rest : size;
      return { ...fmt, dataBytes };
    }
    offset = body + size + (size % 2);
  }
  throw new PermanentChunkError("bad_audio", fmt ? "WAV file has no data chunk" : "WAV file has no fmt chunk");
}

/** Checks that `path` is 16 kHz mono 16-bit PCM with at least one sample, as the contract requires. */
export async function assertChunkWav(path: string): Promise<WavFormat> {
  const f = await readWavFormat(path);
  const pcm = f.audioFormat === 1 || f.audioFormat === 0xfffe;
  if (!pcm || f.channels !== 1 || f.sampleRate !== SAMPLE_RATE || f.bitsPerSample !== 16) {
    throw new PermanentChunkError(
      "bad_audio",
      `want ${SAMPLE_RATE} Hz mono 16-bit PCM, got format=${f.audioFormat} channels=${f.channels} rate=${f.sampleRate} bits=${f.bitsPerSample}`,
    );
  }
  if (f.dataBytes < 2) throw new PermanentChunkError("bad_audio", "WAV file holds no samples");
  return f;
}
