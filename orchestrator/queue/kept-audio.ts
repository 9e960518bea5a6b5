/**
 * Where a chunk's audio is kept between its first job and its episode's end, so that ChunkJobs can
 * publish it again at a later generation (sweeper re-queues, retries, a resume after a crash).
 *
 * Two keepers, chosen by where NATS runs:
 * - LocalKeptAudio (the embedded nats-server, one machine): streaming ingest appends the episode's
 *   decoded PCM to `<audioDir>/<episodeId>.pcm` and a chunk's WAV is cut from it on demand. No cost
 *   on the first publish; only this orchestrator can read it, which is all there is on one machine.
 * - NatsKeptAudio (NATS_URL: an external server or cluster, possibly several orchestrators): each
 *   chunk's padded WAV is published once to the kept-audio stream (replicated like every stream),
 *   one message per chunk subject, before the chunk is recorded; any orchestrator reads it back with
 *   one message get and the episode's subjects are purged in one call. One publish per chunk, no
 *   Object Store chunking or hashing (BENCHMARKS.md, "Kept chunk audio in NATS").
 *
 * Chunks too big for max_payload never come here: their WAV is an object in the audio bucket
 * (chunk-jobs.ts), which every orchestrator reads already.
 */
import fs from "node:fs";
import path from "node:path";
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import type { WireNames } from "../../contract/wire.ts";
import { readWavSlice } from "../ingest/audio-decode.ts";

/** A chunk's span in its episode's samples (the padded span its WAV covers). */
export interface KeptSpan {
  readonly index: number;
  readonly startSample: number;
  readonly endSample: number;
}

/** The kept-audio port ChunkJobs uses; see the module doc for the two implementations. */
export interface KeptAudio {
  /** "local": only this orchestrator can read it; "nats": any orchestrator on the same NATS can. */
  readonly kind: "local" | "nats";
  /**
   * Where streaming ingest appends the episode's decoded PCM as it decodes, or undefined when the
   * keeper keeps chunks one by one (keepChunk) and wants no PCM file.
   */
  pcmPath(episodeId: string): string | undefined;
  /** Keeps one chunk's WAV; called before the chunk is recorded, so a recorded chunk always has its audio. */
  keepChunk(episodeId: string, chunk: KeptSpan, wav: Uint8Array): Promise<void>;
  /** The chunk's WAV, or null when nothing of the episode is kept here (ingested before this keeper). */
  readChunk(episodeId: string, chunk: KeptSpan): Promise<Uint8Array | null>;
  /** Whether anything of the episode is kept (decides whether its chunk objects are the audio). */
  holds(episodeId: string): Promise<boolean>;
  /** Frees everything kept for the episode; safe to repeat. */
  purge(episodeId: string): Promise<void>;
}

/** The episode's decoded PCM in the orchestrator's data directory (module doc). */
export class LocalKeptAudio implements KeptAudio {
  readonly kind = "local";

  /** `audioDir`: created on first use. */
  constructor(private readonly audioDir: string) {}

  pcmPath(episodeId: string): string {
    return path.join(this.audioDir, `${episodeId}.pcm`);
  }

  /** Moves a whole decoded PCM file into keeping (tests, and ingest paths that decode to a file first). */
  async keepPcmFile(episodeId: string, pcmFile: string): Promise<void> {
    fs.mkdirSync(this.audioDir, { recursive: true, mode: 0o700 });
    const to = this.pcmPath(episodeId);
    try {
      await fs.promises.rename(pcmFile, to);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EXDEV") throw err;
      await fs.promises.copyFile(pcmFile, to);
      await fs.promises.rm(pcmFile, { force: true });
    }
  }

  /** Nothing to do: the chunk's samples are in the PCM file already (appended before it was cut). */
  async keepChunk(): Promise<void> {}

  async readChunk(episodeId: string, chunk: KeptSpan): Promise<Uint8Array | null> {
    const pcm = this.pcmPath(episodeId);
    if (!fs.existsSync(pcm)) return null;
    return await readWavSlice(pcm, chunk.startSample, chunk.endSample);
  }

  holds(episodeId: string): Promise<boolean> {
    return Promise.resolve(fs.existsSync(this.pcmPath(episodeId)));
  }

  async purge(episodeId: string): Promise<void> {
    await fs.promises.rm(this.pcmPath(episodeId), { force: true });
  }
}

/** Each chunk's WAV as one message of the kept-audio stream (module doc). */
export class NatsKeptAudio implements KeptAudio {
  readonly kind = "nats";

  constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly names: WireNames,
  ) {}

  /** Subject of one chunk's kept WAV: `<prefix>.kept.<episodeId>.<index>`. */
  subject(episodeId: string, index: number): string {
    return `${this.names.keptSubjectPrefix}.${episodeId}.${index}`;
  }

  pcmPath(): undefined {
    return undefined;
  }

  async keepChunk(episodeId: string, chunk: KeptSpan, wav: Uint8Array): Promise<void> {
    await this.js.publish(this.subject(episodeId, chunk.index), wav);
  }

  async readChunk(episodeId: string, chunk: KeptSpan): Promise<Uint8Array | null> {
    // null when there is no such message (the client maps "no message found" to null)
    const msg = await this.jsm.streams.getMessage(this.names.keptStream, { last_by_subj: this.subject(episodeId, chunk.index) });
    return msg?.data ?? null;
  }

  async holds(episodeId: string): Promise<boolean> {
    const info = await this.jsm.streams.info(this.names.keptStream, { subjects_filter: `${this.names.keptSubjectPrefix}.${episodeId}.>` });
    return Object.keys(info.state.subjects ?? {}).length > 0;
  }

  async purge(episodeId: string): Promise<void> {
    await this.jsm.streams.purge(this.names.keptStream, { filter: `${this.names.keptSubjectPrefix}.${episodeId}.>` });
  }
}
