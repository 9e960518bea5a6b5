/**
 * The port every speech engine implements (pocketsphinx today, whisper.cpp later). The worker
 * only ever calls `transcribe`, so a new engine is one class and one line in main.ts.
 */
import type { Word } from "../../contract/wire.ts";

export interface TranscribeOptions {
  /** BCP 47 language hint from the job, e.g. "en". */
  readonly language: string;
  /** Aborted when the worker must give the chunk up (shutdown): stop work and reject. */
  readonly signal: AbortSignal;
}

export interface SpeechEngine {
  /** Recorded in results and events, e.g. "pocketsphinx". */
  readonly name: string;
  /**
   * Transcribes a 16 kHz mono 16-bit WAV file. Word times are seconds from the start of the file.
   * Rejects with PermanentChunkError (bad audio, engine refuses it), TransientChunkError (may
   * work on retry), EngineUnavailableError (this machine cannot run the engine), or the signal's
   * reason when aborted.
   */
  transcribe(wavPath: string, opts: TranscribeOptions): Promise<Word[]>;
  /**
   * Loads the model once, before the first chunk, so a missing or corrupt model fails at worker
   * start (EngineUnavailableError), not mid-chunk. Engines without a resident model omit it.
   */
  open?(): Promise<void>;
  /** Releases what `open` started (a server process); called once when the worker stops. */
  close?(): Promise<void>;
}
