/**
 * The one place chunk jobs are built, published and re-published (ingest, resume, retry, the
 * sweeper's re-queues all come here), and where an episode's chunk audio lives until it ends.
 *
 * Chunk audio rides in the job message (contract/wire.ts InlineChunkJob): measured against the
 * Object Store (pure-JS SHA-256 on both sides, several round trips per chunk) and FLAC (ffmpeg on
 * both sides), it is the cheapest for the orchestrator, the worker and the wire (BENCHMARKS.md,
 * "Chunk audio"). To publish a chunk again at a later generation the orchestrator keeps the
 * episode's decoded PCM in its data directory (`<audioDir>/<episodeId>.pcm`) until the episode is
 * done or cancelled: the same bytes the audio bucket used to hold, on the orchestrator's disk.
 *
 * Fallbacks, so nothing breaks across an upgrade or on a small NATS: a chunk whose WAV does not fit
 * the connection's max_payload goes to the audio bucket with a JSON ChunkJob; an episode without
 * local PCM (ingested before this format: its chunk objects are in the bucket) is re-published as
 * JSON jobs naming those objects.
 */
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import type { ObjectStore } from "@nats-io/obj";
import {
  SAMPLE_RATE,
  chunkAudioObjectName,
  episodeLiveObjectName,
  objectMetaSubject,
  type ChunkJob,
  type InlineChunkJob,
  type WireNames,
} from "../../contract/wire.ts";
import { BYTES_PER_SAMPLE, readWavSlice } from "../ingest/audio-decode.ts";
import { chunkId } from "../store/episode-store.ts";
import { publishChunkJob, publishInlineChunkJob, putObject } from "./jetstream.ts";

/** What a job needs of its episode; `status` lets a re-publish of a finished episode be refused. */
export interface JobEpisode {
  readonly id: string;
  readonly language: string;
  readonly status?: string;
}

/** The audio span of one chunk (chunk-plan.ts). */
export interface ChunkSpan {
  readonly index: number;
  readonly startSample: number;
  readonly endSample: number;
}

/** Room left in a message for the job header and the protocol around it. */
const HEADER_ROOM = 4 * 1024;
const WAV_HEADER_BYTES = 44;

export class ChunkJobs {
  /** Episodes whose live marker is known to be in the bucket (put by this process). */
  readonly #live = new Set<string>();
  /**
   * Episodes purged by this process (done or cancelled: both final): an ingest still publishing,
   * or a re-queue decided just before, must not put their marker back.
   */
  readonly #purged = new Set<string>();

  constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly names: WireNames,
    private readonly audio: ObjectStore,
    /** Directory of the kept episode PCM files (created on first use). */
    private readonly audioDir: string,
    /** The connection's max_payload now (it may change with a reconnect). */
    private readonly maxPayload: () => number,
  ) {}

  /** Where an episode's decoded PCM (16 kHz mono s16le) is kept while it has chunks to run. */
  audioPath(episodeId: string): string {
    return path.join(this.audioDir, `${episodeId}.pcm`);
  }

  /** Moves a decoded PCM file to the episode's kept audio (before its plan is recorded). */
  async keepAudio(episodeId: string, pcmPath: string): Promise<void> {
    fs.mkdirSync(this.audioDir, { recursive: true, mode: 0o700 });
    const to = this.audioPath(episodeId);
    try {
      await fs.promises.rename(pcmPath, to);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EXDEV") throw err;
      await fs.promises.copyFile(pcmPath, to);
      await fs.promises.rm(pcmPath, { force: true });
    }
  }

  /**
   * Publishes one chunk's job at `generation` (1 when planned; the sweeper and retries pass the next
   * one): the one entry point for every publication. `wav` is the chunk's WAV when the caller holds
   * it; otherwise it is read from the kept PCM. Returns false, publishing nothing, for an episode
   * that is done or cancelled (its audio is purged, or being purged).
   */
  async publish(episode: JobEpisode, chunk: ChunkSpan, generation: number, wav?: Uint8Array): Promise<boolean> {
    if (episode.status === "done" || episode.status === "cancelled" || this.#purged.has(episode.id)) return false;
    const pcm = this.audioPath(episode.id);
    if (wav === undefined && !fs.existsSync(pcm)) {
      // ingested before jobs carried audio: its chunk objects are in the bucket
      await publishChunkJob(this.js, this.names, this.#objectJob(episode, chunk, generation));
      return true;
    }
    const bytes = wav ?? (await readWavSlice(pcm, chunk.startSample, chunk.endSample));
    if (!this.#fitsInline(chunk)) {
      const job = this.#objectJob(episode, chunk, generation);
      await putObject(this.audio, job.audioObject, bytes);
      await publishChunkJob(this.js, this.names, job);
      return true;
    }
    await this.#ensureLive(episode.id);
    if (this.#purged.has(episode.id)) {
      // purged while the marker was being put: take it away again
      await this.#dropMarker(episode.id);
      return false;
    }
    const job: InlineChunkJob = {
      v: 2,
      episodeId: episode.id,
      chunkId: chunkId(episode.id, chunk.index),
      index: chunk.index,
      startSample: chunk.startSample,
      endSample: chunk.endSample,
      sampleRate: SAMPLE_RATE,
      language: episode.language,
      generation,
      liveObject: episodeLiveObjectName(episode.id),
    };
    await publishInlineChunkJob(this.js, this.names, job, bytes);
    return true;
  }

  /**
   * An episode ended (done, cancelled, or cancelled mid-ingest): its live marker goes first (the
   * workers' cancellation signal: one delete for the whole episode), then the kept PCM, and the
   * chunk objects of chunks that went through the bucket (too big, or ingested before this format).
   * Not `final` for an ingest that failed: a retry downloads it afresh and publishes its chunks again.
   */
  async purge(episodeId: string, chunks: readonly ChunkSpan[], final = true): Promise<void> {
    const pcm = this.audioPath(episodeId);
    const local = fs.existsSync(pcm);
    if (final) this.#purged.add(episodeId);
    this.#live.delete(episodeId);
    await this.#dropMarker(episodeId);
    for (const c of chunks) {
      if (local && this.#fitsInline(c)) continue;
      await this.audio.delete(chunkAudioObjectName(episodeId, c.index)).catch(() => undefined);
    }
    await fs.promises.rm(pcm, { force: true });
  }

  /** Removes the episode's live marker, metadata and all (one purge of its subject). */
  async #dropMarker(episodeId: string): Promise<void> {
    await this.jsm.streams.purge(`OBJ_${this.names.audioBucket}`, {
      filter: objectMetaSubject(this.names.audioBucket, episodeLiveObjectName(episodeId)),
    });
  }

  #fitsInline(chunk: ChunkSpan): boolean {
    return WAV_HEADER_BYTES + (chunk.endSample - chunk.startSample) * BYTES_PER_SAMPLE + HEADER_ROOM <= this.maxPayload();
  }

  #objectJob(episode: JobEpisode, chunk: ChunkSpan, generation: number): ChunkJob {
    return {
      v: 1,
      episodeId: episode.id,
      chunkId: chunkId(episode.id, chunk.index),
      index: chunk.index,
      startSample: chunk.startSample,
      endSample: chunk.endSample,
      sampleRate: SAMPLE_RATE,
      audioObject: chunkAudioObjectName(episode.id, chunk.index),
      language: episode.language,
      ...(generation > 1 ? { generation } : {}),
    };
  }

  /**
   * Puts the episode's live marker (metadata only, no data: Object Store layout, ADR-20) once per
   * episode and process; a repeat after a restart only rewrites it.
   */
  async #ensureLive(episodeId: string): Promise<void> {
    if (this.#live.has(episodeId)) return;
    const bucket = this.names.audioBucket;
    const name = episodeLiveObjectName(episodeId);
    const info = {
      name,
      description: "episode is live: deleting this cancels its chunks",
      options: { max_chunk_size: 128 * 1024 },
      bucket,
      nuid: `live${createHash("sha256").update(episodeId).digest("hex").slice(0, 18)}`,
      size: 0,
      chunks: 0,
      mtime: new Date().toISOString(),
      digest: `SHA-256=${createHash("sha256").digest("base64").replace(/\+/g, "-").replace(/\//g, "_")}`,
      deleted: false,
    };
    await this.js.publish(objectMetaSubject(bucket, name), JSON.stringify(info));
    this.#live.add(episodeId);
  }
}
