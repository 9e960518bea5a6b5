/**
 * The one place chunk jobs are built, published and re-published (ingest, resume, retry, the
 * sweeper's re-queues all come here), and where an episode's chunk audio lives until it ends.
 *
 * Chunk audio rides in the job message (contract/wire.ts InlineChunkJob): measured against the
 * Object Store (pure-JS SHA-256 on both sides, several round trips per chunk) and FLAC (ffmpeg on
 * both sides), it is the cheapest for the orchestrator, the worker and the wire (BENCHMARKS.md,
 * "Chunk audio"). To publish a chunk again at a later generation its audio is kept until the
 * episode is done or cancelled (queue/kept-audio.ts): with the embedded NATS as the episode's
 * decoded PCM in the data directory (`<audioDir>/<episodeId>.pcm`); with an external NATS (where
 * another orchestrator may be the one that re-publishes) as each chunk's WAV in the replicated
 * kept-audio stream, kept before the chunk is recorded (`keepChunk`).
 *
 * Fallbacks, so nothing breaks across an upgrade or on a small NATS: a chunk whose WAV does not fit
 * the connection's max_payload goes to the audio bucket with a JSON ChunkJob; an episode without
 * kept audio (ingested before this format: its chunk objects are in the bucket) is re-published as
 * JSON jobs naming those objects.
 */
import { createHash } from "node:crypto";
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import type { ObjectStore } from "@nats-io/obj";
import {
  SAMPLE_RATE,
  chunkAudioObjectName,
  episodeLiveObjectName,
  objectDigest,
  objectMetaSubject,
  type ChunkJob,
  type InlineChunkJob,
  type WireNames,
} from "../../contract/wire.ts";
import { BYTES_PER_SAMPLE } from "../ingest/audio-decode.ts";
import { chunkId } from "../store/episode-store.ts";
import { publishChunkJob, publishInlineChunkJob, putObject } from "./jetstream.ts";
import type { KeptAudio } from "./kept-audio.ts";

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
    /** Where chunk audio is kept for re-publishing (queue/kept-audio.ts). */
    private readonly kept: KeptAudio,
    /** The connection's max_payload now (it may change with a reconnect). */
    private readonly maxPayload: () => number,
  ) {}

  /** Where streaming ingest appends an episode's decoded PCM (16 kHz mono s16le); undefined when chunks are kept one by one. */
  audioPath(episodeId: string): string | undefined {
    return this.kept.pcmPath(episodeId);
  }

  /**
   * Keeps one chunk's WAV for later re-publishing, before the chunk is recorded (chunk-publisher.ts).
   * Local keeping has it in the PCM already; NATS keeping puts it in the kept-audio stream, or, for
   * a chunk too big for a message, as its object in the audio bucket (what its JSON job names).
   */
  async keepChunk(episodeId: string, chunk: ChunkSpan, wav: Uint8Array): Promise<void> {
    if (this.kept.kind === "local") return;
    if (this.#fitsInline(chunk)) await this.kept.keepChunk(episodeId, chunk, wav);
    else await putObject(this.audio, chunkAudioObjectName(episodeId, chunk.index), wav);
  }

  /**
   * Publishes one chunk's job at `generation` (its plan's when planned: 1, or past a plan a failed
   * ingest dropped, store/plan-generation.ts; the sweeper and retries pass the next one): the one
   * entry point for every publication. `wav` is the chunk's WAV when the caller holds
   * it; otherwise it is read from the kept audio. Returns false, publishing nothing, for an episode
   * that is done or cancelled (its audio is purged, or being purged).
   */
  async publish(episode: JobEpisode, chunk: ChunkSpan, generation: number, wav?: Uint8Array): Promise<boolean> {
    if (episode.status === "done" || episode.status === "cancelled" || this.#purged.has(episode.id)) return false;
    const bytes = wav ?? (await this.kept.readChunk(episode.id, chunk));
    if (bytes === null) {
      // its chunk object is the audio: ingested before jobs carried audio, or too big for a message
      await publishChunkJob(this.js, this.names, this.#objectJob(episode, chunk, generation));
      return true;
    }
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
   * workers' cancellation signal: one delete for the whole episode), then the kept audio, and the
   * chunk objects of chunks that went through the bucket (too big, or ingested before this format).
   * Not `final` for an ingest that failed: a retry downloads it afresh and publishes its chunks again.
   */
  async purge(episodeId: string, chunks: readonly ChunkSpan[], final = true): Promise<void> {
    const kept = await this.kept.holds(episodeId);
    if (final) this.#purged.add(episodeId);
    this.#live.delete(episodeId);
    await this.#dropMarker(episodeId);
    for (const c of chunks) {
      if (kept && this.#fitsInline(c)) continue;
      await this.audio.delete(chunkAudioObjectName(episodeId, c.index)).catch(() => undefined);
    }
    await this.kept.purge(episodeId);
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
      digest: objectDigest(new Uint8Array()),
      deleted: false,
    };
    await this.js.publish(objectMetaSubject(bucket, name), JSON.stringify(info));
    this.#live.add(episodeId);
  }
}
