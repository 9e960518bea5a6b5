/**
 * The NATS adapter of the episode code's WorkQueue port, and the loop that feeds worker events
 * (claimed, result, failed, boot_failed) from the events stream to a handler, acking each one only after the
 * handler has applied it.
 */
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { ChunkTranscript, WorkerEvent, type WireNames } from "../../contract/wire.ts";
import type { WorkQueue } from "../episodes/work-queue.ts";
import type { Logger } from "../log.ts";
import {
  ensureWireResources,
  eventsProgress,
  getObjectBytes,
  getObjectJson,
  publishChunkJob,
  putObject,
  queueDepth,
  type WireResourceOptions,
  type WireResources,
} from "./jetstream.ts";

export class NatsWorkQueue implements WorkQueue {
  private constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly names: WireNames,
    private readonly buckets: WireResources,
  ) {}

  static async open(nc: NatsConnection, names: WireNames, opts: WireResourceOptions): Promise<NatsWorkQueue> {
    const buckets = await ensureWireResources(nc, names, opts);
    return new NatsWorkQueue(jetstream(nc), await jetstreamManager(nc), names, buckets);
  }

  async putChunkAudio(objectName: string, wav: Uint8Array): Promise<void> {
    await putObject(this.buckets.audio, objectName, wav);
  }

  async deleteChunkAudio(objectName: string): Promise<void> {
    await this.buckets.audio.delete(objectName);
  }

  async publishJob(job: Parameters<WorkQueue["publishJob"]>[0], generation: number): Promise<void> {
    await publishChunkJob(this.js, this.names, job, generation);
  }

  async getChunkTranscript(objectName: string): Promise<ChunkTranscript> {
    // a worker wrote this metadata: a link would make us read another object in its place
    if ((await this.buckets.results.info(objectName))?.options?.link) throw new Error(`result object ${objectName} is a link, not a result`);
    const value = await getObjectJson(this.buckets.results, objectName);
    if (value === null) throw new Error(`result object ${objectName} is missing`);
    return ChunkTranscript.parse(value);
  }

  async putTranscriptFile(objectName: string, body: string): Promise<void> {
    await putObject(this.buckets.transcripts, objectName, new TextEncoder().encode(body));
  }

  async getTranscriptFile(objectName: string): Promise<Uint8Array | null> {
    return getObjectBytes(this.buckets.transcripts, objectName);
  }

  depth() {
    return queueDepth(this.jsm, this.names);
  }

  eventsProgress() {
    return eventsProgress(this.jsm, this.names);
  }
}

/**
 * Consume worker events in stream order until `signal` aborts. A malformed event is logged and
 * acked (it can never become valid); a handler error naks it for a retry a moment later.
 *
 * One long-lived pull (`consume`, up to EVENT_BATCH messages buffered) rather than a pull request
 * per event: at a few hundred events a second, per-event requests were most of the orchestrator's
 * NATS cost. Events are still handled one at a time, in order.
 */
const EVENT_BATCH = 100;

export async function consumeChunkEvents(
  nc: NatsConnection,
  names: WireNames,
  handle: (event: WorkerEvent) => Promise<unknown>,
  opts: { signal: AbortSignal; log: Logger },
): Promise<void> {
  const consumer = await jetstream(nc).consumers.get(names.eventsStream, names.eventsConsumer);
  while (!opts.signal.aborted) {
    let messages;
    try {
      messages = await consumer.consume({ max_messages: EVENT_BATCH, expires: 5_000 });
    } catch (err) {
      if (opts.signal.aborted) return;
      opts.log.warn("events pull failed", { error: err });
      await new Promise((r) => setTimeout(r, 500));
      continue;
    }
    const stop = (): void => void messages.stop();
    opts.signal.addEventListener("abort", stop, { once: true });
    try {
      for await (const msg of messages) {
        let parsed: WorkerEvent;
        try {
          parsed = WorkerEvent.parse(msg.json());
        } catch (err) {
          opts.log.warn("malformed worker event dropped", { subject: msg.subject, error: err });
          msg.ack();
          continue;
        }
        try {
          await handle(parsed);
          msg.ack();
        } catch (err) {
          opts.log.error("applying worker event failed", { type: parsed.type, chunkId: "chunkId" in parsed ? parsed.chunkId : undefined, error: err });
          msg.nak(1000);
        }
        if (opts.signal.aborted) break;
      }
    } catch (err) {
      if (opts.signal.aborted) return;
      opts.log.warn("events pull failed", { error: err });
      await new Promise((r) => setTimeout(r, 500));
    } finally {
      opts.signal.removeEventListener("abort", stop);
      messages.stop();
    }
  }
}
