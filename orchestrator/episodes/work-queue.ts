/**
 * The port through which episode code reaches NATS: exactly the calls it makes, nothing more.
 * The NATS adapter lives in queue/nats-work-queue.ts; tests use the same adapter on a real server.
 */
import type { ChunkTranscript } from "../../contract/wire.ts";
import type { ChunkSpan, JobEpisode } from "../queue/chunk-jobs.ts";
import type { EventsProgress, QueueDepth } from "../queue/jetstream.ts";

export type { ChunkSpan, EventsProgress, JobEpisode, QueueDepth };

export interface WorkQueue {
  /**
   * Where an episode's decoded PCM is kept (streaming ingest appends to it as it decodes, before
   * recording each chunk); undefined when chunk audio is kept chunk by chunk (keepChunkAudio).
   */
  episodeAudioPath(episodeId: string): string | undefined;
  /** Keeps one chunk's WAV for later re-publishing, before the chunk is recorded (queue/kept-audio.ts). */
  keepChunkAudio(episodeId: string, chunk: ChunkSpan, wav: Uint8Array): Promise<void>;
  /** Builds and publishes one chunk's job at `generation` (queue/chunk-jobs.ts); false for a finished episode. */
  publishChunk(episode: JobEpisode, chunk: ChunkSpan, generation: number, wav?: Uint8Array): Promise<boolean>;
  /**
   * An episode ended: cancels its chunks for workers and frees its audio, once for the whole episode.
   * `final` (default): done or cancelled, nothing is published for it again; false for a failed ingest (a retry publishes afresh).
   */
  purgeEpisodeAudio(episodeId: string, chunks: readonly ChunkSpan[], opts?: { final?: boolean }): Promise<void>;
  getChunkTranscript(objectName: string): Promise<ChunkTranscript>;
  putTranscriptFile(objectName: string, body: string): Promise<void>;
  getTranscriptFile(objectName: string): Promise<Uint8Array | null>;
  depth(): Promise<QueueDepth>;
  eventsProgress(): Promise<EventsProgress>;
}
