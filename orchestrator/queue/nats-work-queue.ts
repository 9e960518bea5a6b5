/**
 * The NATS adapter of the episode code's WorkQueue port, and the loop that feeds worker events
 * (claimed, result, failed, boot_failed) from the events stream to a handler in batches, acking
 * each one only after the handler has applied it.
 */
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager, type JsMsg } from "@nats-io/jetstream";
import { Objm } from "@nats-io/obj";
import type { NatsConnection } from "@nats-io/transport-node";
import { ChunkTranscript, type WireNames, type WorkerEvent } from "../../contract/wire.ts";
import { parseWorkerEvent } from "../../contract/worker-event.ts";
import type { WorkQueue } from "../episodes/work-queue.ts";
import type { Logger } from "../log.ts";
import { ChunkJobs, type ChunkSpan, type JobEpisode } from "./chunk-jobs.ts";
import { LocalKeptAudio, NatsKeptAudio } from "./kept-audio.ts";
import { ObjectReader } from "../../contract/object-reader.ts";
import { retryThroughNatsOutage } from "../../contract/nats-retry.ts";
import { ObjectWriter } from "../../contract/object-writer.ts";
import { ensureWireResources, eventsProgress, queueDepth, type WireResourceOptions, type WireResources } from "./jetstream.ts";

/** NATS's default max_payload: what a connection that reports none is assumed to allow. */
const DEFAULT_MAX_PAYLOAD = 1024 * 1024;

/** How long a transcript read keeps trying through a NATS outage: well inside an HTTP client's patience. */
const TRANSCRIPT_READ_WINDOW_MS = 15_000;

/**
 * The JetStream API timeout of result and transcript reads (the client's default is 5 s): such a
 * read is a few message gets (contract/object-reader.ts), each answered within milliseconds by a live
 * stream leader, so one that is not answered in 1.5 s is tried again instead of waited for.
 */
export const READ_API_TIMEOUT_MS = 1_500;

/** Result and transcript reads, without consumers, on a JetStream context with READ_API_TIMEOUT_MS. */
interface Readers {
  readonly results: ObjectReader;
  readonly transcripts: ObjectReader;
}

export class NatsWorkQueue implements WorkQueue {
  private constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly names: WireNames,
    private readonly buckets: WireResources,
    private readonly jobs: ChunkJobs,
    private readonly reads: Readers,
    private readonly transcriptWriter: ObjectWriter,
  ) {}

  /**
   * `keep`: how chunk audio is kept for re-publishing (queue/kept-audio.ts): "local" = episodes'
   * decoded PCM in `audioDir` (the embedded NATS), "nats" = each chunk's WAV in the kept-audio
   * stream, readable by every orchestrator (NATS_URL).
   */
  static async open(
    nc: NatsConnection,
    names: WireNames,
    opts: WireResourceOptions & { audioDir: string; keep?: "local" | "nats" },
  ): Promise<NatsWorkQueue> {
    const buckets = await ensureWireResources(nc, names, opts);
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    const kept = opts.keep === "nats" ? new NatsKeptAudio(js, jsm, names) : new LocalKeptAudio(opts.audioDir);
    const jobs = new ChunkJobs(js, jsm, names, buckets.audio, kept, () => nc.info?.max_payload ?? DEFAULT_MAX_PAYLOAD);
    const readJs = jetstream(nc, { timeout: READ_API_TIMEOUT_MS });
    const readJsm = await readJs.jetstreamManager();
    const reader = async (bucket: string) => new ObjectReader(await new Objm(readJs).open(bucket), readJsm, bucket);
    const reads = { results: await reader(names.resultsBucket), transcripts: await reader(names.transcriptsBucket) };
    const transcriptWriter = new ObjectWriter(js, names.transcriptsBucket, nc.info?.max_payload);
    return new NatsWorkQueue(js, jsm, names, buckets, jobs, reads, transcriptWriter);
  }

  /** The buckets this queue made (the upload store uses `uploads`). */
  get resources(): WireResources {
    return this.buckets;
  }

  episodeAudioPath(episodeId: string): string | undefined {
    return this.jobs.audioPath(episodeId);
  }

  keepChunkAudio(episodeId: string, chunk: ChunkSpan, wav: Uint8Array): Promise<void> {
    return this.jobs.keepChunk(episodeId, chunk, wav);
  }

  publishChunk(episode: JobEpisode, chunk: ChunkSpan, generation: number, wav?: Uint8Array): Promise<boolean> {
    return this.jobs.publish(episode, chunk, generation, wav);
  }

  purgeEpisodeAudio(episodeId: string, chunks: readonly ChunkSpan[], opts: { final?: boolean } = {}): Promise<void> {
    return this.jobs.purge(episodeId, chunks, opts.final ?? true);
  }

  /** A chunk's result object (for a stitch), read through a NATS outage (contract/nats-retry.ts). */
  async getChunkTranscript(objectName: string): Promise<ChunkTranscript> {
    // a worker wrote this metadata: the reader refuses a link, which would make us read another object in its place
    const bytes = await retryThroughNatsOutage(() => this.reads.results.read(objectName));
    if (bytes === null) throw new Error(`result object ${objectName} is missing`);
    return ChunkTranscript.parse(JSON.parse(new TextDecoder().decode(bytes)));
  }

  /**
   * Stores a transcript file through the shared writer (contract/object-writer.ts: native SHA-256),
   * replacing the one an earlier stitch stored under the name: its chunks are purged once the new
   * metadata is in, as the client's put does.
   */
  async putTranscriptFile(objectName: string, body: string): Promise<void> {
    // read through an outage like the put itself (contract/object-writer.ts): a stitch that meets a cluster node lost does not fail its episode
    const earlier = await retryThroughNatsOutage(() => this.buckets.transcripts.info(objectName));
    await this.transcriptWriter.put(objectName, new TextEncoder().encode(body), { mode: "replace" });
    if (earlier === null) return;
    const bucket = this.names.transcriptsBucket;
    // the new file is in; a failed cleanup leaves unreferenced chunks, not a wrong transcript
    await this.jsm.streams.purge(`OBJ_${bucket}`, { filter: `$O.${bucket}.C.${earlier.nuid}` }).catch(() => undefined);
  }

  /** A transcript read waits out a short NATS outage (a cluster node lost, its streams electing) before it fails. */
  async getTranscriptFile(objectName: string): Promise<Uint8Array | null> {
    return retryThroughNatsOutage(() => this.reads.transcripts.read(objectName), { windowMs: TRANSCRIPT_READ_WINDOW_MS });
  }

  depth() {
    return queueDepth(this.jsm, this.names);
  }

  eventsProgress() {
    return eventsProgress(this.jsm, this.names);
  }
}

/**
 * Consume worker events in stream order until `signal` aborts, handing them to `handle` in
 * batches: whatever the pull has delivered and not yet handled, up to EVENT_BATCH, so the store
 * applies a batch in one transaction. Each event is acked once its batch is applied. A malformed
 * event is logged and acked (it can never become valid); when a batch fails, its events are
 * handled one by one, and an event that still fails is naked for a retry a moment later.
 *
 * One long-lived pull (`consume`): at a few hundred events a second, per-event pull requests were
 * most of the orchestrator's NATS cost.
 */
const EVENT_BATCH = 100;

export async function consumeChunkEvents(
  nc: NatsConnection,
  names: WireNames,
  handle: (events: WorkerEvent[]) => Promise<unknown>,
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
    // Messages the pull has delivered are yielded back to back; a flush scheduled with
    // setImmediate runs after them, so it takes them all as one batch.
    let pending: JsMsg[] = [];
    let applying: Promise<void> = Promise.resolve();
    let scheduled = false;
    const flush = (): void => {
      scheduled = false;
      const batch = pending;
      pending = [];
      applying = applying.then(() => applyBatch(batch, handle, opts.log));
    };
    try {
      for await (const msg of messages) {
        pending.push(msg);
        if (pending.length >= EVENT_BATCH) {
          flush();
          await applying; // no more than one batch waiting
        } else if (!scheduled) {
          scheduled = true;
          setImmediate(flush);
        }
        if (opts.signal.aborted) break;
      }
    } catch (err) {
      if (!opts.signal.aborted) {
        opts.log.warn("events pull failed", { error: err });
        await new Promise((r) => setTimeout(r, 500));
      }
    } finally {
      opts.signal.removeEventListener("abort", stop);
      messages.stop();
      if (pending.length > 0) flush();
      await applying;
    }
  }
}

/** Parses, applies and acks one batch (see consumeChunkEvents). Never rejects. */
async function applyBatch(batch: JsMsg[], handle: (events: WorkerEvent[]) => Promise<unknown>, log: Logger): Promise<void> {
  const good: { msg: JsMsg; event: WorkerEvent }[] = [];
  for (const msg of batch) {
    try {
      good.push({ msg, event: parseWorkerEvent(msg.json()) });
    } catch (err) {
      log.warn("malformed worker event dropped", { subject: msg.subject, error: err });
      msg.ack();
    }
  }
  if (good.length === 0) return;
  try {
    await handle(good.map((g) => g.event));
    for (const g of good) g.msg.ack();
    return;
  } catch (err) {
    if (good.length > 1) log.warn("applying a batch of worker events failed; applying them one by one", { events: good.length, error: err });
    else logFailure(log, good[0]!.event, err);
  }
  if (good.length === 1) {
    good[0]!.msg.nak(1000);
    return;
  }
  for (const g of good) {
    try {
      await handle([g.event]);
      g.msg.ack();
    } catch (err) {
      logFailure(log, g.event, err);
      g.msg.nak(1000);
    }
  }
}

function logFailure(log: Logger, event: WorkerEvent, err: unknown): void {
  log.error("applying worker event failed", { type: event.type, chunkId: "chunkId" in event ? event.chunkId : undefined, error: err });
}
