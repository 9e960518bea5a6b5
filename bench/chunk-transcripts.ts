/**
 * The accuracy benchmark's decoder runs: one engine call per (audio, sample range), at most one
 * per core at a time, remembered in memory (two plans sharing a chunk decode it once) and on disk
 * under .cache/bench-transcripts/ (a run that is stopped, or extended with another configuration,
 * redoes nothing it already has). The key covers the audio's bytes, the range and the engine's
 * flags, so a changed episode or engine never reuses an old transcript.
 */
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Word } from "../contract/wire.ts";
import { BYTES_PER_SAMPLE, wavHeader } from "../orchestrator/ingest/audio-decode.ts";

export interface Engine {
  readonly name: string;
  transcribe(wavPath: string, opts: { language: string; signal: AbortSignal }): Promise<Word[]>;
}

export interface Audio {
  /** 16-bit mono PCM. */
  readonly pcm: Buffer;
}

export class ChunkTranscripts {
  readonly #memo = new Map<string, Promise<Word[]>>();
  readonly #digests = new WeakMap<Buffer, string>();
  readonly #waiting: Array<() => void> = [];
  #running = 0;
  /** Audio seconds the engine actually decoded in this process (cache hits excluded). */
  decodedSec = 0;

  constructor(
    private readonly engine: Engine,
    /** Engine identity for the cache key: name and flags. */
    private readonly engineKey: string,
    private readonly cacheDir: string,
    private readonly workDir: string,
    private readonly slots = Math.max(1, os.availableParallelism()),
    private readonly sampleRate = 16_000,
  ) {
    fs.mkdirSync(cacheDir, { recursive: true });
  }

  /** The words of samples [start, end) of `audio`, times relative to `start`. */
  words(audio: Audio, start: number, end: number): Promise<Word[]> {
    const key = `${this.#digest(audio.pcm)}-${start}-${end}-${this.engineKey}`;
    let p = this.#memo.get(key);
    if (!p) {
      p = this.#load(key, audio, start, end);
      this.#memo.set(key, p);
    }
    return p;
  }

  async #load(key: string, audio: Audio, start: number, end: number): Promise<Word[]> {
    const file = path.join(this.cacheDir, `${createHash("sha256").update(key).digest("hex").slice(0, 32)}.json`);
    try {
      return JSON.parse(fs.readFileSync(file, "utf8")) as Word[];
    } catch {
      // not decoded yet (or a torn file): decode below
    }
    const words = await this.#limited(async () => {
      const wav = path.join(this.workDir, `${key}.wav`);
      const data = audio.pcm.subarray(start * BYTES_PER_SAMPLE, end * BYTES_PER_SAMPLE);
      fs.writeFileSync(wav, Buffer.concat([wavHeader(end - start), data]));
      try {
        return await this.engine.transcribe(wav, { language: "en", signal: new AbortController().signal });
      } finally {
        fs.rmSync(wav, { force: true });
      }
    });
    this.decodedSec += (end - start) / this.sampleRate;
    fs.writeFileSync(`${file}.tmp`, JSON.stringify(words));
    fs.renameSync(`${file}.tmp`, file);
    return words;
  }

  #digest(pcm: Buffer): string {
    let d = this.#digests.get(pcm);
    if (!d) {
      d = createHash("sha256").update(pcm).digest("hex").slice(0, 16);
      this.#digests.set(pcm, d);
    }
    return d;
  }

  async #limited<T>(fn: () => Promise<T>): Promise<T> {
    while (this.#running >= this.slots) await new Promise<void>((r) => this.#waiting.push(r));
    this.#running++;
    try {
      return await fn();
    } finally {
      this.#running--;
      this.#waiting.shift()?.();
    }
  }
}
