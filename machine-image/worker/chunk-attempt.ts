/**
 * One attempt at one chunk job: claim, heartbeat, download, transcribe, record, ack. The order
 * is the point: the job is acked only after its ChunkResult event (with the words, or naming the
 * result object written first) is durably stored, and poison input is recorded (ChunkFailed, permanent) before the job is `term()`ed.
 */
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { randomBytes, randomUUID } from "node:crypto";
import type { JetStreamClient, JsMsg } from "@nats-io/jetstream";
import type { ObjectStore } from "@nats-io/obj";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  ChunkJob,
  InlineChunkJob,
  JOB_HEADER,
  eventMessageId,
  eventSubject,
  resultObjectName,
  type ChunkEvent,
  type ChunkFailed,
  type ChunkTranscript,
  type WireNames,
  type WorkerHeartbeat,
  type Word,
} from "../../contract/wire.ts";
import { retryThroughNatsOutage } from "../../contract/nats-retry.ts";
import type { ObjectReader } from "../../contract/object-reader.ts";
import type { SpeechEngine } from "./engine.ts";
import { EngineUnavailableError, PermanentChunkError, TransientChunkError } from "./errors.ts";
import type { ResultSink } from "./result-writer.ts";

/** One structured log record; main.ts prints it as a JSON line. */
export type WorkerLog = (event: string, fields?: Record<string, unknown>) => void;

export interface ChunkAttemptContext {
  /** For WorkerHeartbeat, a plain publish. */
  readonly nc: Pick<NatsConnection, "publish">;
  readonly js: JetStreamClient;
  /** Interval of WorkerHeartbeat messages while the chunk runs. */
  readonly heartbeatEventMs: number;
  /** Called after the claim is published. */
  readonly onClaim: () => void;
  readonly names: WireNames;
  readonly engine: SpeechEngine;
  readonly machineId: string;
  /** The audio bucket: its objects' metadata says whether a chunk is still live. */
  readonly audio: ObjectStore;
  /** Reads the audio objects of jobs too big for max_payload, without a consumer. */
  readonly audioReader: ObjectReader;
  /** Write-only: the worker account cannot read the results bucket. */
  readonly results: ResultSink;
  readonly workDir: string;
  readonly heartbeatMs: number;
  /** After the worker is told to stop, how long the current chunk may still run. */
  readonly stopTimeoutMs: number;
  readonly stopSignal: AbortSignal;
  readonly nakDelayMs: (deliveryCount: number) => number;
  readonly log: WorkerLog;
  /** Results whose words' JSON is at most this many bytes travel in the event (contract/wire.ts INLINE_RESULT_MAX_BYTES). */
  readonly inlineResultMaxBytes: number;
}

/** What became of the job message: acked (result recorded), termed (permanent failure), naked (retry). */
export type ChunkOutcome = "acked" | "termed" | "naked" | "handed_back" | "cancelled";

/** Raised into the engine's signal when a stopping worker gives a chunk back. */
export class ChunkHandedBackError extends Error {
  override readonly name = "ChunkHandedBackError";
}

/** Raised into the engine's signal when the chunk's audio object is gone: its episode was cancelled. */
export class ChunkCancelledError extends Error {
  override readonly name = "ChunkCancelledError";
}

const MAX_MESSAGE = 2000;

/**
 * How long a claim or result publish is retried through a NATS outage (a cluster node lost and
 * its streams electing new leaders; the job's ack wait is kept alive meanwhile). A failure event
 * on the way out is given less: the job goes back to the queue either way.
 */
const PUBLISH_OUTAGE_MS = 60_000;
const FAILURE_PUBLISH_OUTAGE_MS = 5_000;

/** Processes one delivered job message to a final verb (ack, term or nak). Rejects only on EngineUnavailableError. */
export async function processChunkAttempt(ctx: ChunkAttemptContext, msg: JsMsg): Promise<ChunkOutcome> {
  const attempt = msg.info.deliveryCount;
  const parsed = parseJob(msg);
  if (!parsed.ok) {
    ctx.log("chunk.invalid_job", { seq: msg.seq, attempt, error: parsed.error });
    if (parsed.ids) {
      const failed = failedEvent(ctx, parsed.ids, attempt, "engine_error", true, `invalid job: ${parsed.error}`);
      await publishEvent(ctx, failed).catch((err: unknown) => ctx.log("event.publish_failed", { type: "failed", error: String(err) }));
    }
    msg.term();
    return "termed";
  }
  const job = parsed.job;
  if (parsed.audio.kind === "inline" && !(await isLive(ctx, job.cancelObject))) {
    // its episode was cancelled (or finished) before this job ran: nothing to record, the store fences it
    ctx.log("chunk.cancelled", { chunkId: job.chunkId, attempt, before: "claim" });
    msg.term();
    return "cancelled";
  }
  // generation 1 is left out of events, so their shape (and msg ids) stay what they were before re-queueing existed
  const ids: JobIds = {
    episodeId: job.episodeId,
    chunkId: job.chunkId,
    ...(job.generation && job.generation > 1 ? { generation: job.generation } : {}),
  };
  const started = Date.now();

  const giveUp = new AbortController();
  let checking = false;
  const heartbeat = setInterval(() => {
    try {
      msg.working();
    } catch (err) {
      ctx.log("chunk.heartbeat_failed", { chunkId: job.chunkId, error: String(err) });
    }
    // Cancellation (contract/wire.ts): the orchestrator deleted this chunk's audio object.
    if (checking || giveUp.signal.aborted) return;
    checking = true;
    isLive(ctx, job.cancelObject)
      .then((live) => {
        if (!live) giveUp.abort(new ChunkCancelledError(`chunk ${job.chunkId} was cancelled (${job.cancelObject} is gone)`));
      })
      .catch((err: unknown) => ctx.log("chunk.cancel_check_failed", { chunkId: job.chunkId, error: String(err) }))
      .finally(() => (checking = false));
  }, ctx.heartbeatMs);
  let stopTimer: NodeJS.Timeout | undefined;
  const onStop = (): void => {
    stopTimer = setTimeout(
      () => giveUp.abort(new ChunkHandedBackError(`worker stopping: chunk not done within ${ctx.stopTimeoutMs} ms`)),
      ctx.stopTimeoutMs,
    );
  };
  if (ctx.stopSignal.aborted) onStop();
  else ctx.stopSignal.addEventListener("abort", onStop, { once: true });
  const wavPath = join(ctx.workDir, `${randomUUID()}.wav`);
  // Liveness for the orchestrator (contract/wire.ts WorkerHeartbeat): whoever we are, a chunk we
  // stop beating for is re-queued, so a worker that dies holding it cannot keep it forever.
  const beat = (): void => {
    const hb: WorkerHeartbeat = { v: 1, type: "heartbeat", ...ids, attempt, machineId: ctx.machineId, at: Date.now() };
    try {
      ctx.nc.publish(ctx.names.heartbeatSubject, JSON.stringify(hb));
    } catch (err) {
      ctx.log("chunk.heartbeat_publish_failed", { chunkId: job.chunkId, error: String(err) });
    }
  };
  let beats: NodeJS.Timeout | undefined;

  try {
    await publishEvent(
      ctx,
      { v: 1, type: "claimed", ...ids, attempt, machineId: ctx.machineId, at: Date.now(), heartbeatMs: ctx.heartbeatEventMs },
      giveUp.signal,
    );
    beats = setInterval(beat, ctx.heartbeatEventMs);
    ctx.onClaim();
    ctx.log("chunk.claimed", { ...ids, attempt });

    if (parsed.audio.kind === "inline") await writeFile(wavPath, parsed.audio.wav);
    else await downloadAudio(ctx, job.chunkId, parsed.audio.object, wavPath, giveUp.signal);
    giveUp.signal.throwIfAborted();
    const words = await ctx.engine.transcribe(wavPath, { language: job.language, signal: giveUp.signal });

    // small results ride in the event; a large one goes to the results bucket under a fresh name
    const inline = JSON.stringify(words);
    let where: { words: Word[] } | { resultObject: string };
    if (Buffer.byteLength(inline) <= ctx.inlineResultMaxBytes) {
      where = { words };
    } else {
      const resultObject = resultObjectName(job.chunkId, attempt, job.generation ?? 1, randomBytes(16).toString("base64url"));
      const transcript: ChunkTranscript = { v: 1, chunkId: job.chunkId, attempt, engine: ctx.engine.name, words };
      await ctx.results.put(resultObject, new TextEncoder().encode(JSON.stringify(transcript)), giveUp.signal);
      where = { resultObject };
    }
    const processingMs = Date.now() - started;
    await publishEvent(
      ctx,
      {
        v: 1,
        type: "result",
        ...ids,
        attempt,
        machineId: ctx.machineId,
        at: Date.now(),
        ...where,
        wordCount: words.length,
        engine: ctx.engine.name,
        processingMs,
      },
      giveUp.signal,
    );
    clearInterval(heartbeat);
    try {
      await msg.ackAck();
    } catch (err) {
      // the result is recorded; a redelivery only produces a duplicate attempt that fencing ignores
      ctx.log("chunk.ack_failed", { ...ids, attempt, error: String(err) });
    }
    ctx.log("chunk.done", { ...ids, attempt, words: words.length, processingMs });
    return "acked";
  } catch (err) {
    clearInterval(heartbeat);
    if (giveUp.signal.reason instanceof ChunkCancelledError) {
      // nothing to record: the store already fences every event of a cancelled chunk
      ctx.log("chunk.cancelled", { ...ids, attempt });
      msg.term();
      return "cancelled";
    }
    return await settleFailure(ctx, msg, ids, attempt, err, giveUp.signal.aborted);
  } finally {
    clearInterval(heartbeat);
    clearInterval(beats);
    clearTimeout(stopTimer);
    ctx.stopSignal.removeEventListener("abort", onStop);
    await rm(wavPath, { force: true });
  }
}

type JobIds = { episodeId: string; chunkId: string; generation?: number };

/** Maps an attempt's error onto the job's final verb, recording a ChunkFailed event first. */
async function settleFailure(
  ctx: ChunkAttemptContext,
  msg: JsMsg,
  ids: JobIds,
  attempt: number,
  err: unknown,
  handedBack: boolean,
): Promise<ChunkOutcome> {
  const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  if (handedBack) {
    ctx.log("chunk.handed_back", { ...ids, attempt, error: message });
    await bestEffort(ctx, failedEvent(ctx, ids, attempt, "transient", false, message));
    msg.nak();
    return "handed_back";
  }
  if (err instanceof EngineUnavailableError) {
    ctx.log("chunk.engine_unavailable", { ...ids, attempt, error: message });
    msg.nak();
    throw err;
  }
  if (err instanceof PermanentChunkError) {
    ctx.log("chunk.failed", { ...ids, attempt, permanent: true, code: err.code, error: message });
    try {
      await publishEvent(ctx, failedEvent(ctx, ids, attempt, err.code, true, message));
    } catch (pubErr) {
      // never drop poison input unrecorded: give it back and record it on a later attempt
      ctx.log("event.publish_failed", { ...ids, type: "failed", error: String(pubErr) });
      msg.nak(ctx.nakDelayMs(attempt));
      return "naked";
    }
    msg.term();
    return "termed";
  }
  const delay = ctx.nakDelayMs(attempt);
  ctx.log("chunk.failed", { ...ids, attempt, permanent: false, retryInMs: delay, error: message });
  await bestEffort(ctx, failedEvent(ctx, ids, attempt, "transient", false, message));
  try {
    msg.nak(delay);
  } catch (nakErr) {
    // connection gone: JetStream redelivers after ack_wait anyway
    ctx.log("chunk.nak_failed", { ...ids, attempt, error: String(nakErr) });
  }
  return "naked";
}

function failedEvent(
  ctx: ChunkAttemptContext,
  ids: JobIds,
  attempt: number,
  code: ChunkFailed["code"],
  permanent: boolean,
  message: string,
): ChunkFailed {
  return {
    v: 1,
    type: "failed",
    ...ids,
    attempt,
    machineId: ctx.machineId,
    at: Date.now(),
    code,
    permanent,
    message: message.slice(0, MAX_MESSAGE),
  };
}

async function bestEffort(ctx: ChunkAttemptContext, event: ChunkEvent): Promise<void> {
  try {
    await publishEvent(ctx, event, undefined, FAILURE_PUBLISH_OUTAGE_MS);
  } catch (err) {
    ctx.log("event.publish_failed", { chunkId: event.chunkId, type: event.type, error: String(err) });
  }
}

/**
 * Publishes an event on the events stream and waits for its PubAck, again through a NATS outage
 * (safe: the msgID de-duplicates a copy whose first ack was lost) until `signal` gives up.
 */
async function publishEvent(ctx: ChunkAttemptContext, event: ChunkEvent, signal?: AbortSignal, windowMs = PUBLISH_OUTAGE_MS): Promise<void> {
  await retryThroughNatsOutage(() => ctx.js.publish(eventSubject(ctx.names, event), JSON.stringify(event), { msgID: eventMessageId(event) }), {
    windowMs,
    ...(signal ? { signal } : {}),
    onRetry: (error, attempt) => ctx.log("event.publish_retry", { chunkId: event.chunkId, type: event.type, attempt, error: String(error) }),
  });
}

/** What a worker needs of a job, whichever form it came in. */
interface WorkJob {
  readonly episodeId: string;
  readonly chunkId: string;
  readonly language: string;
  readonly generation?: number | undefined;
  /** The audio bucket object whose deletion cancels this chunk (contract/wire.ts, "Cancellation"). */
  readonly cancelObject: string;
}

type JobAudio = { kind: "inline"; wav: Uint8Array } | { kind: "object"; object: string };
type ParsedJob = { ok: true; job: WorkJob; audio: JobAudio } | { ok: false; error: string; ids: JobIds | undefined };

/**
 * A job with the JOB_HEADER header carries its WAV as the payload (InlineChunkJob); one without is
 * the JSON ChunkJob whose audio is an object (too big for a message, or published before the
 * inline form: still in a queue after an upgrade).
 */
function parseJob(msg: JsMsg): ParsedJob {
  const header = msg.headers?.get(JOB_HEADER);
  let raw: unknown;
  try {
    raw = JSON.parse(header ? header : msg.string());
  } catch (err) {
    return { ok: false, error: `not JSON: ${String(err)}`, ids: undefined };
  }
  if (header) {
    const r = InlineChunkJob.safeParse(raw);
    if (r.success) return { ok: true, job: { ...r.data, cancelObject: r.data.liveObject }, audio: { kind: "inline", wav: msg.data } };
    return { ok: false, error: issues(r.error), ids: idsOf(raw) };
  }
  const r = ChunkJob.safeParse(raw);
  if (r.success) return { ok: true, job: { ...r.data, cancelObject: r.data.audioObject }, audio: { kind: "object", object: r.data.audioObject } };
  return { ok: false, error: issues(r.error), ids: idsOf(raw) };
}

function issues(error: { issues: ReadonlyArray<{ path: PropertyKey[]; message: string }> }): string {
  return error.issues.map((i) => `${i.path.map(String).join(".")}: ${i.message}`).join("; ");
}

function idsOf(raw: unknown): JobIds | undefined {
  const o = typeof raw === "object" && raw !== null ? (raw as Record<string, unknown>) : {};
  return typeof o.episodeId === "string" && o.episodeId && typeof o.chunkId === "string" && o.chunkId
    ? { episodeId: o.episodeId, chunkId: o.chunkId }
    : undefined;
}

/** True while the chunk's cancellation object is in the audio bucket. */
async function isLive(ctx: ChunkAttemptContext, name: string): Promise<boolean> {
  const info = await ctx.audio.info(name);
  return info !== null && !info.deleted;
}

/** How long an audio read keeps trying through a NATS outage (a cluster node lost) before the attempt fails. */
const READ_OUTAGE_MS = 60_000;

/**
 * Reads an audio object (a job too big for max_payload names one) to a file, without a consumer
 * (contract/object-reader.ts: message gets, answered by the stream's leader even while a cluster
 * node is down), retried through a NATS outage. A missing object is permanent; a read that does not
 * match the object's size or digest, or an outage longer than READ_OUTAGE_MS, is transient.
 * `signal` (the attempt's give-up signal, aborted when the chunk is cancelled or handed back)
 * stops it between pieces.
 */
async function downloadAudio(ctx: ChunkAttemptContext, chunkId: string, name: string, path: string, signal: AbortSignal): Promise<void> {
  let bytes: Uint8Array | null;
  try {
    bytes = await retryThroughNatsOutage(() => ctx.audioReader.read(name, signal), {
      windowMs: READ_OUTAGE_MS,
      signal,
      onRetry: (error, attempt) => ctx.log("audio.read_retry", { chunkId, attempt, error: String(error) }),
    });
  } catch (err) {
    signal.throwIfAborted();
    throw new TransientChunkError(`download of "${name}" failed: ${String(err)}`, { cause: err });
  }
  if (bytes === null) throw new PermanentChunkError("bad_audio", `audio object "${name}" is not in the bucket`);
  await writeFile(path, bytes);
}
