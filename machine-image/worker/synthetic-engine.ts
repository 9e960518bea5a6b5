/**
 * BENCHMARK-ONLY engine: it recognises nothing. It reads the chunk's length from its WAV header
 * and sleeps for length × `realTimeFactor`, so `npm run bench` can measure how the farm scales
 * with dozens of machines without burning CPU on speech recognition. Selected with
 * ENGINE=synthetic on the worker (the orchestrator passes PODFLEET_ENGINE; rate: PODFLEET_SYNTHETIC_RTF); never use it for real transcripts.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { Word } from "../../contract/wire.ts";
import type { SpeechEngine, TranscribeOptions } from "./engine.ts";
import { assertChunkWav } from "./wav-format.ts";

export interface SyntheticEngineOptions {
  /** Seconds of processing per second of audio, e.g. 0.1 = ten times faster than real time. */
  readonly realTimeFactor: number;
}

export class SyntheticEngine implements SpeechEngine {
  readonly name = "synthetic";
  readonly #rtf: number;

  constructor(opts: SyntheticEngineOptions) {
    if (!(opts.realTimeFactor >= 0)) throw new RangeError("realTimeFactor must be >= 0");
    this.#rtf = opts.realTimeFactor;
  }

  /** Sleeps for the chunk's audio length × the real-time factor; returns one placeholder word. */
  async transcribe(wavPath: string, opts: TranscribeOptions): Promise<Word[]> {
    opts.signal.throwIfAborted();
    const f = await assertChunkWav(wavPath);
    const audioSec = f.dataBytes / (f.sampleRate * f.channels * (f.bitsPerSample / 8));
    const ms = Math.round(audioSec * this.#rtf * 1000);
    if (ms > 0) {
      try {
        await sleep(ms, undefined, { signal: opts.signal });
      } catch (err) {
        throw opts.signal.aborted ? opts.signal.reason : err; // the port promises the signal's reason
      }
    }
    return [{ text: "synthetic", start: 0, end: Math.min(audioSec, 0.5), confidence: 1 }];
  }
}
