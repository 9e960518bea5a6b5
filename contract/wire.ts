/**
 * The wire contract between the orchestrator and its workers: NATS names, message schemas and
 * error codes. Both sides import this module; it does no I/O, so it can be read on its own to
 * learn everything that crosses the wire.
 *
 * Flow of one chunk:
 *   orchestrator  --job-->  jobs stream (WorkQueue, one shared durable pull consumer)
 *   The job message carries the chunk's WAV as its payload and the job (InlineChunkJob) in the
 *   JOB_HEADER header: one publish, no Object Store round trips or hashing per chunk. A chunk too big
 *   for the connection's max_payload, and every job published before this format, is a JSON ChunkJob
 *   whose audio is an object in the audio bucket; workers handle both.
 *   The worker pulls the job, publishes ChunkClaimed on the events stream, transcribes the audio,
 *   publishes ChunkResult (the words inside it when small, INLINE_RESULT_MAX_BYTES; else in an object
 *   it writes to the results bucket first), and only then acks the job.
 *   A worker that cannot process a chunk publishes ChunkFailed (permanent → term, else nak).
 *
 * Cancellation: every job names a cancellation object in the audio bucket (`cancelObject`): an
 * inline job its episode's marker (episodeLiveObjectName, put once before the episode's first job),
 * an object job its audio object. The orchestrator cancels by deleting it, after marking the chunks
 * cancelled in its store. A worker that pulls a job whose object is gone does not run it (an inline
 * job is termed without an event; an object job fails bad_audio and is termed); a worker running a
 * chunk checks the object's info at every heartbeat (`working()`), and when it is gone aborts the
 * engine and `term()`s the job without an event. No extra bucket, subject or permission is needed:
 * the worker already reads that bucket. Every event about a cancelled chunk is ignored by the store's fencing.
 *
 * Liveness: while it runs a chunk the worker publishes WorkerHeartbeat on a plain subject every few
 * seconds; a chunk whose holder falls silent is re-queued whoever the holder is (a GPU box the
 * orchestrator never created included). A worker that cannot start publishes WorkerBootFailed.
 *
 * Dead letters and retry: a chunk whose attempt count reaches maxAttempts (the jobs consumer's
 * max_deliver), or that fails permanently, is dead and fails its episode. A retry re-publishes
 * only dead chunks, each at its next generation (attempt 0), like the sweeper's re-queue. An
 * episode whose ingest failed mid-way is planned afresh by a retry, at generations past every one
 * its dropped plan used (see ChunkJob.generation).
 */
import { createHash, type Hash } from "node:crypto";
import { z } from "zod";

/** Sample rate of all chunk audio: 16 kHz mono signed 16-bit little-endian PCM in a WAV file. */
export const SAMPLE_RATE = 16_000;

/**
 * The primary subtag of a job's language tag (`de-DE` → `de`, `en_US` → `en`), lower case: what
 * speech engines take. The orchestrator sends canonical BCP 47 tags (ChunkJob.language).
 */
export function primaryLanguage(tag: string): string {
  return (tag.split(/[-_]/)[0] ?? "").toLowerCase();
}

/** Names of every NATS resource, derived from one prefix so that deployments (and tests) never collide. */
export interface WireNames {
  readonly jobsStream: string;
  readonly jobsSubject: string;
  readonly jobsConsumer: string;
  readonly eventsStream: string;
  readonly eventsSubjectPrefix: string;
  readonly eventsConsumer: string;
  readonly audioBucket: string;
  readonly resultsBucket: string;
  readonly transcriptsBucket: string;
  /** Object Store bucket of uploads received and not yet ingested (the orchestrators' only; no worker reads it). */
  readonly uploadsBucket: string;
  /** Stream of each chunk's WAV kept while its episode runs, when NATS is external (orchestrator only). */
  readonly keptStream: string;
  readonly keptSubjectPrefix: string;
  /** Core NATS subject (not in any stream) of WorkerHeartbeat messages. */
  readonly heartbeatSubject: string;
  /** KV bucket of the orchestrators' leader lease (orchestrator/cluster/leader-lease.ts); workers never touch it. */
  readonly leaderBucket: string;
}

const PREFIX_RE = /^[a-z][a-z0-9_-]{0,31}$/;

export function wireNames(prefix = "podfleet"): WireNames {
  if (!PREFIX_RE.test(prefix)) {
    throw new Error(`NATS prefix "${prefix}" must match ${PREFIX_RE}`);
  }
  const upper = prefix.toUpperCase().replace(/-/g, "_");
  return {
    jobsStream: `${upper}_JOBS`,
    jobsSubject: `${prefix}.jobs.chunk`,
    jobsConsumer: `${prefix}-workers`,
    eventsStream: `${upper}_EVENTS`,
    eventsSubjectPrefix: `${prefix}.events`,
    eventsConsumer: `${prefix}-orchestrator`,
    audioBucket: `${prefix}-audio`,
    resultsBucket: `${prefix}-results`,
    transcriptsBucket: `${prefix}-transcripts`,
    uploadsBucket: `${prefix}-uploads`,
    keptStream: `${upper}_KEPT_AUDIO`,
    keptSubjectPrefix: `${prefix}.kept`,
    heartbeatSubject: `${prefix}.heartbeats`,
    leaderBucket: `${prefix}_leader`,
  };
}

/**
 * A unit of work in the JSON form: transcribe samples [startSample, endSample) of one episode, whose
 * WAV is the object `audioObject` in the audio bucket. Used for chunks too big to ride in a message,
 * and the form of every job published before InlineChunkJob (still in a queue after an upgrade).
 */
export const ChunkJob = z.object({
  v: z.literal(1),
  episodeId: z.string().min(1),
  chunkId: z.string().min(1),
  index: z.number().int().nonnegative(),
  startSample: z.number().int().nonnegative(),
  endSample: z.number().int().positive(),
  sampleRate: z.literal(SAMPLE_RATE),
  /** Object name of the chunk's WAV file in the audio bucket; its deletion cancels the chunk. */
  audioObject: z.string().min(1),
  /** Language hint for the engine (BCP 47), e.g. "en". */
  language: z.string().default("en"),
  /**
   * Publication generation: bumped each time the orchestrator re-queues the chunk (e.g. its machine
   * died). Attempts are ordered by (generation, deliveryCount). A chunk is first published at its
   * plan's generation: 1, except when the episode is planned afresh after an ingest that failed
   * mid-way (its chunks were dropped): then past every generation the dropped plan used, so the
   * new jobs never share a message id (jobMessageId, eventMessageId) with the old ones and the old
   * ones' events are stale. Absent means 1 (jobs published before generations existed).
   */
  generation: z.number().int().positive().optional(),
});
export type ChunkJob = z.infer<typeof ChunkJob>;

/**
 * The job of a message whose payload IS the chunk's WAV (16 kHz mono 16-bit), carried as JSON in
 * the JOB_HEADER header. `liveObject` is the episode's marker in the audio bucket: while it exists
 * the episode is live; its deletion cancels every chunk of the episode at once.
 */
export const InlineChunkJob = ChunkJob.omit({ v: true, audioObject: true, generation: true }).extend({
  v: z.literal(2),
  generation: z.number().int().positive(),
  liveObject: z.string().min(1),
});
export type InlineChunkJob = z.infer<typeof InlineChunkJob>;

/** Header of a job message that carries its audio: the InlineChunkJob as JSON. */
export const JOB_HEADER = "Podfleet-Job";

/**
 * Message id used for JetStream de-duplication of a chunk job publication: a repeat of the same
 * publication (a retried publish, a takeover re-publishing what may have gone out) is dropped inside
 * the stream's duplicate window. Every new publication of a chunk id is at a new generation (a
 * re-queue, a retry, a fresh plan after a failed ingest: ChunkJob.generation), so it is never dropped.
 */
export function jobMessageId(chunkId: string, generation: number): string {
  return `${chunkId}.g${generation}`;
}

/** One recognised word; times in seconds relative to the start of its chunk. */
export const Word = z.object({
  text: z.string().min(1),
  start: z.number().nonnegative(),
  end: z.number().nonnegative(),
  confidence: z.number().min(0).max(1).optional(),
});
export type Word = z.infer<typeof Word>;

/** What a worker stores in the results bucket for one attempt of one chunk. */
export const ChunkTranscript = z.object({
  v: z.literal(1),
  chunkId: z.string(),
  attempt: z.number().int().positive(),
  engine: z.string(),
  words: z.array(Word),
});
export type ChunkTranscript = z.infer<typeof ChunkTranscript>;

/** Object name of a chunk's WAV file in the audio bucket (JSON ChunkJob). */
export function chunkAudioObjectName(episodeId: string, index: number): string {
  return `${episodeId}/${String(index).padStart(4, "0")}.wav`;
}

/**
 * Subject of an Object Store object's metadata (NATS ADR-20 layout: `$O.<bucket>.M.<base64url name,
 * padded>`): where writers that skip the client library (results, episode markers) publish it.
 */
export function objectMetaSubject(bucket: string, name: string): string {
  return `$O.${bucket}.M.${base64UrlPadded(Buffer.from(name, "utf8"))}`;
}

/** An Object Store object's `digest` for its bytes (ADR-20: `SHA-256=<base64url, padded>`), as writers set it and readers check it. */
export function objectDigest(bytes: Uint8Array): string {
  return objectDigestOf(createHash("sha256").update(bytes));
}

/** The digest string of bytes hashed piece by piece (a stream's): `hash` must be a fresh SHA-256 fed every byte. */
export function objectDigestOf(hash: Hash): string {
  return `SHA-256=${base64UrlPadded(hash.digest())}`;
}

/** Base64url with padding: how the Object Store layout writes names and digests. */
function base64UrlPadded(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("base64").replace(/\+/g, "-").replace(/\//g, "_");
}

/** Object name of an episode's liveness marker in the audio bucket (InlineChunkJob.liveObject): deleted = cancelled or finished. */
export function episodeLiveObjectName(episodeId: string): string {
  return `${episodeId}/live`;
}

/**
 * Object name of one attempt's result. `nonce` is random, chosen by the worker that writes it and
 * carried only in its ChunkResult event: workers may write to the results bucket but not read it
 * (workerPermissions), so no other worker can learn, and so overwrite, the name.
 */
export function resultObjectName(chunkId: string, attempt: number, generation: number, nonce: string): string {
  if (!/^[A-Za-z0-9_-]{16,64}$/.test(nonce)) throw new TypeError("a result nonce is 16-64 characters of [A-Za-z0-9_-]");
  return generation === 1 ? `${chunkId}/${nonce}/attempt-${attempt}.json` : `${chunkId}/${nonce}/g${generation}-attempt-${attempt}.json`;
}

/**
 * Orders two attempts of one chunk: by generation, then by delivery count. Negative when `a` is
 * older than `b`, 0 when they are the same attempt. The store fences results with this.
 */
export function compareAttempts(
  a: { generation?: number | undefined; attempt: number },
  b: { generation?: number | undefined; attempt: number },
): number {
  const ga = a.generation ?? 1;
  const gb = b.generation ?? 1;
  return ga !== gb ? ga - gb : a.attempt - b.attempt;
}

const EventBase = {
  v: z.literal(1),
  episodeId: z.string(),
  chunkId: z.string(),
  /** JetStream delivery count of the job message: the attempt number, used for fencing. */
  attempt: z.number().int().positive(),
  /** Publication generation of the job message (see ChunkJob.generation; absent = 1); fencing compares (generation, attempt). */
  generation: z.number().int().positive().optional(),
  /** Id of the machine that holds the lease (FLY_MACHINE_ID, or a host name off-platform). */
  machineId: z.string().min(1),
  at: z.number().int().nonnegative(),
};

export const ChunkClaimed = z.object({
  ...EventBase,
  type: z.literal("claimed"),
  /**
   * The interval at which this worker publishes WorkerHeartbeat while it holds the chunk. Present:
   * the orchestrator re-queues the chunk once no heartbeat came for its heartbeat limit, whoever the
   * holder is. Absent (a worker from before heartbeats): only the machine's death frees the chunk.
   */
  heartbeatMs: z.number().int().positive().optional(),
});
/**
 * Words of a result whose JSON is at most this many bytes travel inside ChunkResult (`words`);
 * larger ones go to the results bucket (`resultObject`). 64 KiB fits any NATS max_payload in use
 * and an hour of speech in one chunk does not: about 6,000 words, ~400 KB.
 */
export const INLINE_RESULT_MAX_BYTES = 64 * 1024;

export const ChunkResult = z
  .object({
    ...EventBase,
    type: z.literal("result"),
    /** Where the ChunkTranscript is, when the words did not fit in the event. Exactly one of resultObject and words is set. */
    resultObject: z.string().optional(),
    /** The words themselves, when their JSON is at most INLINE_RESULT_MAX_BYTES. */
    words: z.array(Word).optional(),
    wordCount: z.number().int().nonnegative(),
    engine: z.string(),
    processingMs: z.number().nonnegative(),
  })
  .refine((r) => (r.resultObject === undefined) !== (r.words === undefined), { message: "a result has exactly one of resultObject and words" });
export const ChunkFailed = z.object({
  ...EventBase,
  type: z.literal("failed"),
  code: z.enum(["bad_audio", "engine_error", "transient"]),
  permanent: z.boolean(),
  message: z.string().max(2000),
});
export const ChunkEvent = z.discriminatedUnion("type", [ChunkClaimed, ChunkResult, ChunkFailed]);
export type ChunkEvent = z.infer<typeof ChunkEvent>;
export type ChunkClaimed = z.infer<typeof ChunkClaimed>;
export type ChunkResult = z.infer<typeof ChunkResult>;
export type ChunkFailed = z.infer<typeof ChunkFailed>;

/**
 * A worker that ends before it claimed any work says why, then exits: a boot failure (engine or
 * model missing, bad configuration, no jobs consumer). The orchestrator backs machine creation off
 * while they repeat. Published on bootFailedSubject() (the events stream) when the worker can still
 * reach NATS; otherwise the machine's exit event is all the orchestrator gets.
 */
export const WorkerBootFailed = z.object({
  v: z.literal(1),
  type: z.literal("boot_failed"),
  machineId: z.string().min(1),
  /** The process exit code that follows (2 configuration, 3 engine unavailable, 1 other). */
  exitCode: z.number().int(),
  reason: z.string().min(1).max(2000),
  at: z.number().int().nonnegative(),
});
export type WorkerBootFailed = z.infer<typeof WorkerBootFailed>;

/** Everything on the events stream: chunk events and boot failures. */
export const WorkerEvent = z.discriminatedUnion("type", [ChunkClaimed, ChunkResult, ChunkFailed, WorkerBootFailed]);
export type WorkerEvent = z.infer<typeof WorkerEvent>;

/** Subject of a boot failure (one per stream: the machine id may hold dots). */
export function bootFailedSubject(names: WireNames): string {
  return `${names.eventsSubjectPrefix}.boot_failed`;
}

/** Message id of a machine's boot failure: a retried publish is stored once. */
export function bootFailedMessageId(machineId: string): string {
  return `boot_failed.${machineId}`;
}

/**
 * "Still working on this chunk": published by the holder every heartbeat interval (default
 * DEFAULT_HEARTBEAT_MS, WORKER_ENV.heartbeatSec) while it runs the chunk, on names.heartbeatSubject.
 * Plain NATS, not JetStream: a heartbeat is worth nothing once the next one is due, so none is
 * stored. The orchestrator re-queues a chunk whose holder sent none for its heartbeat limit.
 */
export const WorkerHeartbeat = z.object({ ...EventBase, type: z.literal("heartbeat") });
export type WorkerHeartbeat = z.infer<typeof WorkerHeartbeat>;

/** Heartbeat interval of a worker not told otherwise. */
export const DEFAULT_HEARTBEAT_MS = 10_000;

/** Subject an event is published on: `<prefix>.events.<type>.<episodeId>`. */
export function eventSubject(names: WireNames, event: Pick<ChunkEvent, "type" | "episodeId">): string {
  return `${names.eventsSubjectPrefix}.${event.type}.${event.episodeId}`;
}

/** Message id for de-duplicating an event publication (a retried publish is stored once). */
export function eventMessageId(event: Pick<ChunkEvent, "type" | "chunkId" | "attempt"> & { generation?: number }): string {
  const generation = event.generation ?? 1;
  return generation === 1 ? `${event.chunkId}.${event.attempt}.${event.type}` : `${event.chunkId}.g${generation}.${event.attempt}.${event.type}`;
}

/**
 * The NATS subjects a worker may use, and nothing more: pull from the jobs consumer and ack its
 * messages, read chunk audio, write results, publish events. A worker cannot publish jobs, write
 * or delete audio, read results (its own included) or transcripts, purge or delete any stream or
 * message, or touch another prefix's resources. The embedded nats-server gives its worker user
 * exactly these permissions; an operator running their own NATS puts the same lists in its config
 * (`podfleet nats permissions` prints them).
 *
 * JetStream API subjects as nats-server 2.9 and the @nats-io 3.x clients use them: opening a
 * bucket reads its stream info; reading an object looks up its metadata (direct or message get)
 * and streams the chunks through a short-lived ordered consumer. Results are written without
 * reading (machine-image/worker/result-writer.ts): publish-only on the results bucket's chunk and
 * metadata subjects. The orchestrator creates that bucket's stream without rollup headers, so a
 * publish there cannot purge it either (`Nats-Rollup: all` is refused by the server).
 */
export interface NatsPermissions {
  readonly publish: readonly string[];
  readonly subscribe: readonly string[];
}

/** Reply subjects of a worker start with this, so its subscribe permission covers only its own inboxes. */
export function workerInboxPrefix(names: WireNames): string {
  return `_INBOX_${names.jobsConsumer.replace(/[^A-Za-z0-9_-]/g, "_")}`;
}

export function workerPermissions(names: WireNames): NatsPermissions {
  const audio = `OBJ_${names.audioBucket}`;
  const readBucket = (stream: string): string[] => [
    `$JS.API.STREAM.INFO.${stream}`,
    `$JS.API.STREAM.MSG.GET.${stream}`,
    `$JS.API.DIRECT.GET.${stream}`,
    `$JS.API.DIRECT.GET.${stream}.>`,
    `$JS.API.CONSUMER.CREATE.${stream}`,
    `$JS.API.CONSUMER.CREATE.${stream}.>`,
    `$JS.API.CONSUMER.DELETE.${stream}.>`,
    `$JS.API.CONSUMER.INFO.${stream}.>`,
    `$JS.FC.${stream}.>`,
  ];
  return {
    publish: [
      "$JS.API.INFO",
      `$JS.API.CONSUMER.INFO.${names.jobsStream}.${names.jobsConsumer}`,
      `$JS.API.CONSUMER.MSG.NEXT.${names.jobsStream}.${names.jobsConsumer}`,
      `$JS.ACK.${names.jobsStream}.${names.jobsConsumer}.>`,
      ...readBucket(audio),
      `$O.${names.resultsBucket}.C.>`,
      `$O.${names.resultsBucket}.M.>`,
      `${names.eventsSubjectPrefix}.>`,
      names.heartbeatSubject,
    ],
    subscribe: [`${workerInboxPrefix(names)}.>`],
  };
}

/** Environment variables the orchestrator passes to a worker machine. */
export const WORKER_ENV = {
  natsUrl: "NATS_URL",
  natsPrefix: "PODFLEET_NATS_PREFIX",
  natsToken: "NATS_TOKEN",
  /** User and password of the worker's NATS account (the permissions of workerPermissions()). */
  natsUser: "NATS_USER",
  natsPassword: "NATS_PASSWORD",
  engine: "ENGINE",
  /** Whisper model name or path (engine "whisper"); absent = the image's default. */
  whisperModel: "WHISPER_MODEL",
  /** Benchmark engine only: sleep per second of audio (engine "synthetic"). */
  syntheticRtf: "PODFLEET_SYNTHETIC_RTF",
  idleTimeoutSec: "PODFLEET_IDLE_TIMEOUT_SEC",
  maxLifetimeSec: "PODFLEET_MAX_LIFETIME_SEC",
  /** After SIGTERM, how long the current chunk may still run before it is handed back (nak). */
  stopTimeoutSec: "PODFLEET_STOP_TIMEOUT_SEC",
  machineId: "FLY_MACHINE_ID",
  /** Seconds between WorkerHeartbeat messages while a chunk runs (default DEFAULT_HEARTBEAT_MS). */
  heartbeatSec: "PODFLEET_HEARTBEAT_SEC",
} as const;
