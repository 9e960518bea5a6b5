/**
 * The port through which episode code reaches NATS: exactly the calls it makes, nothing more.
 * The NATS adapter lives in queue/nats-work-queue.ts; tests use the same adapter on a real server.
 */
import type { ChunkJob, ChunkTranscript } from "../../contract/wire.ts";
import type { EventsProgress, QueueDepth } from "../queue/jetstream.ts";

export type { EventsProgress, QueueDepth };

export interface WorkQueue {
  putChunkAudio(objectName: string, wav: Uint8Array): Promise<void>;
  deleteChunkAudio(objectName: string): Promise<void>;
  publishJob(job: ChunkJob, generation: number): Promise<void>;
  getChunkTranscript(objectName: string): Promise<ChunkTranscript>;
  putTranscriptFile(objectName: string, body: string): Promise<void>;
  getTranscriptFile(objectName: string): Promise<Uint8Array | null>;
  depth(): Promise<QueueDepth>;
  eventsProgress(): Promise<EventsProgress>;
}
