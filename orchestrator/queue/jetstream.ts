/**
 * The orchestrator's side of the JetStream wire: creating the streams, consumers and Object Store
 * buckets named in contract/wire.ts, publishing chunk jobs, reading the queue depth the
 * autoscaler needs, and small Object Store helpers.
 *
 * Everything stays inside the NATS 2.9 feature set (no stream/consumer metadata, no per-message TTL).
 *
 * Replicas: every stream and bucket is made with `opts.replicas` (queue/nats-replicas.ts:
 * min(3, cluster size), 1 on one server); one that exists with fewer is raised in place (2.9
 * allows changing num_replicas on a stream update). Consumers are left at num_replicas 0, which
 * means "as many as the stream": they follow the stream when it is raised (checked on 2.9.10).
 * Object Store and KV clients do not change an existing bucket, so their streams are raised here.
 */
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type ConsumerConfig,
  type JetStreamClient,
  type JetStreamManager,
  type PubAck,
  type StreamConfig,
} from "@nats-io/jetstream";
import { Objm, type ObjectStore } from "@nats-io/obj";
import type { NatsConnection } from "@nats-io/transport-node";
import { retryThroughNatsOutage } from "../../contract/nats-retry.ts";
import { ensureReplicas, waitPlaced } from "./nats-replicas.ts";
export { clusterSize, ensureReplicas, replicasFor, type StoreReplicas } from "./nats-replicas.ts";
import { headers } from "@nats-io/transport-node";
import { JOB_HEADER, jobMessageId, type ChunkJob, type InlineChunkJob, type WireNames } from "../../contract/wire.ts";

export interface WireResourceOptions {
  /** How long a worker may hold a chunk without a heartbeat before JetStream redelivers it. */
  readonly ackWaitMs: number;
  /** Deliveries of one job before JetStream gives up on it (poison input). */
  readonly maxDeliver: number;
  /** Told about each attempt that met a NATS outage and will be made again (for a log line). */
  readonly onRetry?: ((error: unknown, attempt: number) => void) | undefined;
  /** Window in which a repeated job msgID is dropped; default 2 min. */
  readonly duplicateWindowMs?: number;
  /** JetStream replicas of every stream and bucket (replicasFor()); default 1. */
  readonly replicas?: number;
}

export interface WireResources {
  readonly audio: ObjectStore;
  readonly results: ObjectStore;
  readonly transcripts: ObjectStore;
  /** Uploads received and not yet ingested, for any orchestrator to read (episodes/upload-store.ts). */
  readonly uploads: ObjectStore;
}

export interface QueueDepth {
  /** Jobs waiting for a worker. */
  readonly pending: number;
  /** Jobs delivered and not yet acked (being worked on, or about to be redelivered). */
  readonly inFlight: number;
  /** Pull requests waiting: roughly the number of idle workers. */
  readonly waiting: number;
}

const ms = (n: number): number => Math.round(n * 1_000_000);

/**
 * Creates (or updates to the given settings) every NATS resource the fleet uses. Safe to call on
 * every orchestrator start and concurrently with running workers: existing messages are kept.
 * The jobs consumer has no inactive_threshold so it survives an empty fleet. Every step is
 * idempotent, so an orchestrator starting while a cluster elects new leaders (a node just lost:
 * a stream's or consumer's info times out or answers 503) goes through it again until NATS answers.
 */
export async function ensureWireResources(nc: NatsConnection, names: WireNames, opts: WireResourceOptions): Promise<WireResources> {
  return retryThroughNatsOutage(
    () => afterCreateRaces(() => ensureWireResourcesOnce(nc, names, opts)),
    opts.onRetry ? { onRetry: opts.onRetry } : {},
  );
}

/**
 * nats-server's answers to a create that met the same resource made a moment before by someone
 * else (two orchestrators starting at once, each finding a stream missing, then both adding it):
 * subjects overlap (10065), stream name in use (10058), consumer name in use (10013), consumer
 * already exists (10148). Error codes of the server's JetStream API, which the client does not name.
 */
const CREATE_RACE_CODES = new Set([10065, 10058, 10013, 10148]);

/** How many times the whole setup is run again after losing a create race: each run finds more already made. */
const CREATE_RACE_RUNS = 3;

/**
 * Runs `ensure` again when one of its creates lost a race with another orchestrator making the
 * same resource: the next run finds what the other made and reconciles with it like any existing
 * resource (every step is idempotent). A create refused for another reason is thrown at once.
 */
export async function afterCreateRaces<T>(ensure: () => Promise<T>): Promise<T> {
  for (let run = 1; ; run++) {
    try {
      return await ensure();
    } catch (err) {
      if (run >= CREATE_RACE_RUNS || !(err instanceof JetStreamApiError && CREATE_RACE_CODES.has(err.code))) throw err;
    }
  }
}

async function ensureWireResourcesOnce(nc: NatsConnection, names: WireNames, opts: WireResourceOptions): Promise<WireResources> {
  const jsm = await jetstreamManager(nc);
  const duplicateWindow = ms(opts.duplicateWindowMs ?? 120_000);
  const replicas = opts.replicas ?? 1;

  await ensureStream(jsm, {
    name: names.jobsStream,
    subjects: [names.jobsSubject],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    duplicate_window: duplicateWindow,
    num_replicas: replicas,
  });
  await ensureConsumer(jsm, names.jobsStream, {
    durable_name: names.jobsConsumer,
    ack_policy: AckPolicy.Explicit,
    ack_wait: ms(opts.ackWaitMs),
    max_deliver: opts.maxDeliver,
    deliver_policy: DeliverPolicy.All,
  });
  await ensureStream(jsm, {
    name: names.eventsStream,
    subjects: [`${names.eventsSubjectPrefix}.>`],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    duplicate_window: duplicateWindow,
    num_replicas: replicas,
  });
  await ensureConsumer(jsm, names.eventsStream, {
    durable_name: names.eventsConsumer,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
  });

  await ensureStream(jsm, {
    name: names.keptStream,
    subjects: [`${names.keptSubjectPrefix}.>`],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    duplicate_window: duplicateWindow,
    num_replicas: replicas,
    // one WAV per chunk: a chunk kept again (a resumed ingest) replaces the copy before
    max_msgs_per_subject: 1,
  });

  const objm = new Objm(nc);
  const bucket = async (name: string): Promise<ObjectStore> => {
    const os = await objm.create(name, { storage: StorageType.File, replicas });
    await ensureReplicas(jsm, `OBJ_${name}`, replicas);
    return os;
  };
  await ensureResultsStream(jsm, names.resultsBucket, replicas);
  return {
    audio: await bucket(names.audioBucket),
    results: await bucket(names.resultsBucket),
    transcripts: await bucket(names.transcriptsBucket),
    uploads: await bucket(names.uploadsBucket),
  };
}

/**
 * The results bucket's stream, made before the Object Store client would make it, with one
 * difference: no rollup headers. Workers may publish into this bucket (and nothing else on it);
 * a message with `Nats-Rollup: all` would otherwise purge every result in it. Results are written
 * once under fresh names and never replaced or deleted, so nothing of ours needs a rollup here.
 * An existing bucket made with rollups allowed is changed in place.
 */
async function ensureResultsStream(jsm: JetStreamManager, bucket: string, replicas: number): Promise<void> {
  const name = `OBJ_${bucket}`;
  let current: StreamConfig;
  try {
    current = (await jsm.streams.info(name)).config;
  } catch (err) {
    if (!isApiError(err, JetStreamApiCodes.StreamNotFound)) throw err;
    await jsm.streams.add({
      name,
      subjects: [`$O.${bucket}.C.>`, `$O.${bucket}.M.>`],
      storage: StorageType.File,
      discard: DiscardPolicy.New,
      allow_direct: true,
      allow_rollup_hdrs: false,
      max_age: 0,
      num_replicas: replicas,
    });
    return;
  }
  if (current.allow_rollup_hdrs) await jsm.streams.update(name, { ...current, allow_rollup_hdrs: false });
}

function isApiError(err: unknown, code: number): boolean {
  return err instanceof JetStreamApiError && err.code === code;
}

type StreamSettings = Pick<StreamConfig, "name" | "subjects" | "retention" | "storage" | "duplicate_window" | "num_replicas"> &
  Partial<Pick<StreamConfig, "max_msgs_per_subject">>;

async function ensureStream(jsm: JetStreamManager, want: StreamSettings): Promise<void> {
  let current: StreamConfig;
  try {
    current = (await jsm.streams.info(want.name)).config;
  } catch (err) {
    if (!isApiError(err, JetStreamApiCodes.StreamNotFound)) throw err;
    await jsm.streams.add(want);
    return;
  }
  if (current.retention !== want.retention || current.storage !== want.storage) {
    throw new Error(
      `stream ${want.name} exists with retention=${current.retention} storage=${current.storage}; ` +
        `want ${want.retention}/${want.storage}: delete it to recreate`,
    );
  }
  const sameSubjects = JSON.stringify([...(current.subjects ?? [])].sort()) === JSON.stringify([...want.subjects].sort());
  const raise = (current.num_replicas ?? 1) < want.num_replicas;
  if (!sameSubjects || current.duplicate_window !== want.duplicate_window || raise) {
    await jsm.streams.update(want.name, {
      ...current,
      subjects: want.subjects,
      duplicate_window: want.duplicate_window,
      num_replicas: Math.max(current.num_replicas ?? 1, want.num_replicas),
    });
    if (raise) await waitPlaced(jsm, want.name, want.num_replicas);
  }
}

type ConsumerSettings = Pick<ConsumerConfig, "durable_name" | "ack_policy" | "deliver_policy"> &
  Partial<Pick<ConsumerConfig, "ack_wait" | "max_deliver">>;

async function ensureConsumer(jsm: JetStreamManager, stream: string, want: ConsumerSettings): Promise<void> {
  const durable = want.durable_name ?? "";
  let current: ConsumerConfig;
  try {
    current = (await jsm.consumers.info(stream, durable)).config;
  } catch (err) {
    if (!isApiError(err, JetStreamApiCodes.ConsumerNotFound)) throw err;
    await jsm.consumers.add(stream, want);
    return;
  }
  const changed =
    (want.ack_wait !== undefined && current.ack_wait !== want.ack_wait) ||
    (want.max_deliver !== undefined && current.max_deliver !== want.max_deliver);
  if (changed) {
    const update: { ack_wait?: number; max_deliver?: number } = {};
    if (want.ack_wait !== undefined) update.ack_wait = want.ack_wait;
    if (want.max_deliver !== undefined) update.max_deliver = want.max_deliver;
    await jsm.consumers.update(stream, durable, update);
  }
}

/**
 * Publishes one chunk job in the JSON form (its audio an object). The msgID `<chunkId>.g<generation>`
 * (generation from the job, absent = 1) makes a retried publish of the same generation a no-op
 * inside the duplicate window; bump the generation to requeue on purpose.
 */
export async function publishChunkJob(js: JetStreamClient, names: WireNames, job: ChunkJob): Promise<PubAck> {
  return await js.publish(names.jobsSubject, JSON.stringify(job), {
    msgID: jobMessageId(job.chunkId, job.generation ?? 1),
  });
}

/** Publishes one chunk job that carries its WAV as the payload (contract/wire.ts InlineChunkJob); de-duplicated like publishChunkJob. */
export async function publishInlineChunkJob(js: JetStreamClient, names: WireNames, job: InlineChunkJob, wav: Uint8Array): Promise<PubAck> {
  const h = headers();
  h.set(JOB_HEADER, JSON.stringify(job));
  return await js.publish(names.jobsSubject, wav, { msgID: jobMessageId(job.chunkId, job.generation), headers: h });
}

/** Reads the jobs consumer's counters: the autoscaler's inputs. */
export async function queueDepth(jsm: JetStreamManager, names: WireNames): Promise<QueueDepth> {
  const info = await jsm.consumers.info(names.jobsStream, names.jobsConsumer);
  return { pending: info.num_pending, inFlight: info.num_ack_pending, waiting: info.num_waiting };
}

/**
 * How far the orchestrator has applied worker events: the events stream's last sequence (every
 * event published so far) and the events consumer's ack floor (every event up to it applied).
 */
export interface EventsProgress {
  readonly published: number;
  readonly applied: number;
}

export async function eventsProgress(jsm: JetStreamManager, names: WireNames): Promise<EventsProgress> {
  // stream first: an event published between the two reads is then at most counted as unapplied
  const stream = await jsm.streams.info(names.eventsStream);
  const consumer = await jsm.consumers.info(names.eventsStream, names.eventsConsumer);
  return { published: stream.state.last_seq, applied: consumer.ack_floor.stream_seq };
}

/** Stores bytes under `name`, replacing any previous object of that name. */
export async function putObject(os: ObjectStore, name: string, bytes: Uint8Array): Promise<void> {
  await os.putBlob({ name }, bytes);
}

/** Stores a value as UTF-8 JSON. */
export async function putObjectJson(os: ObjectStore, name: string, value: unknown): Promise<void> {
  await putObject(os, name, new TextEncoder().encode(JSON.stringify(value)));
}

/** Reads an object's bytes, or null when there is no such object. */
export async function getObjectBytes(os: ObjectStore, name: string): Promise<Uint8Array | null> {
  return await os.getBlob(name);
}

/** Reads an object as JSON (unvalidated: parse it with the contract's schema), or null when absent. */
export async function getObjectJson(os: ObjectStore, name: string): Promise<unknown> {
  const bytes = await getObjectBytes(os, name);
  return bytes === null ? null : (JSON.parse(new TextDecoder().decode(bytes)) as unknown);
}
