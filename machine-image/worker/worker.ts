/**
 * The worker loop a machine runs: pull one chunk job at a time from the shared durable consumer,
 * process it (see chunk-attempt.ts), and exit when there has been no work for `idleTimeoutMs`,
 * when `maxLifetimeMs` is reached, or when told to stop. A stopping worker never loses a chunk:
 * it finishes it within `stopTimeoutMs` or hands it back with an immediate nak.
 */
import { retryThroughNatsOutage } from "../../contract/nats-retry.ts";
import { ObjectReader } from "../../contract/object-reader.ts";
import { parseNatsServers } from "../../contract/nats-servers.ts";
import { mkdir } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { jetstream, type JsMsg } from "@nats-io/jetstream";
import { Objm } from "@nats-io/obj";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { DEFAULT_HEARTBEAT_MS, INLINE_RESULT_MAX_BYTES, workerInboxPrefix, type WireNames } from "../../contract/wire.ts";
import { processChunkAttempt, type WorkerLog } from "./chunk-attempt.ts";
import type { SpeechEngine } from "./engine.ts";
import { ResultWriter } from "./result-writer.ts";

export type { WorkerLog } from "./chunk-attempt.ts";

export interface WorkerOptions {
  /**
   * An open connection the caller owns (opened with `inboxPrefix: workerInboxPrefix(names)` if the
   * worker's NATS user has workerPermissions()); or `natsUrl` (one URL or a comma-separated server list) plus credentials (a user and password,
   * or a token) for the worker to open and drain itself.
   */
  readonly nc?: NatsConnection;
  readonly natsUrl?: string;
  readonly natsToken?: string;
  readonly natsUser?: string;
  readonly natsPassword?: string;
  readonly names: WireNames;
  readonly engine: SpeechEngine;
  readonly machineId: string;
  /** Exit after this long without a job. */
  readonly idleTimeoutMs: number;
  /** Take no new job after this long (the current one still finishes). */
  readonly maxLifetimeMs?: number;
  /** `working()` interval while a chunk runs; default a third of the consumer's ack_wait. */
  readonly heartbeatMs?: number;
  /** Interval of WorkerHeartbeat messages to the orchestrator while a chunk runs; default DEFAULT_HEARTBEAT_MS. */
  readonly heartbeatEventMs?: number;
  /** Called once a chunk has been claimed (its `claimed` event published): the worker booted. */
  readonly onClaim?: () => void;
  /** After `signal` aborts, how long the current chunk may still run before it is handed back; default 10 s. */
  readonly stopTimeoutMs?: number;
  /** Longest single pull request; default 2 s. A stop while idle waits for the current pull to end. */
  readonly pullExpiresMs?: number;
  /** Redelivery delay after a transient failure, by delivery count; default 1 s doubling to 60 s. */
  readonly nakDelayMs?: (deliveryCount: number) => number;
  /** Directory for downloaded chunk audio (created if missing; files are removed after each chunk). */
  readonly workDir: string;
  /** Abort to stop (SIGTERM). */
  readonly signal?: AbortSignal;
  readonly log?: WorkerLog;
  /** Results up to this many bytes of JSON travel in the result event; default INLINE_RESULT_MAX_BYTES (0: always an object). */
  readonly inlineResultMaxBytes?: number;
}

export interface WorkerResult {
  /** Chunks whose result was recorded and acked. */
  readonly processed: number;
  /** Chunks given back or failed (termed, naked, handed back). */
  readonly failed: number;
  readonly reason: "idle" | "lifetime" | "signal";
}

const MIN_PULL_MS = 1_000;

/** How long a starting worker waits for NATS to answer its first JetStream requests. */
const BOOT_OUTAGE_MS = 60_000;

/**
 * The JetStream API timeout of audio object reads (the client's default is 5 s): each read is a
 * few message gets, answered within milliseconds by a live stream leader, so one not answered in
 * 1.5 s is tried again instead of waited for (the orchestrator's reads use the same).
 */
const AUDIO_READ_API_TIMEOUT_MS = 1_500;

/** Default transient-failure backoff: 1 s, 2 s, 4 s … capped at 60 s. */
export function defaultNakDelayMs(deliveryCount: number): number {
  return Math.min(1_000 * 2 ** Math.max(0, deliveryCount - 1), 60_000);
}

/** Runs the pull loop until idle, lifetime or signal; rejects on fatal errors (no consumer, engine unusable, connection closed). */
export async function runWorker(opts: WorkerOptions): Promise<WorkerResult> {
  const log: WorkerLog = opts.log ?? (() => undefined);
  const signal = opts.signal ?? new AbortController().signal;
  let nc = opts.nc;
  if (!nc) {
    if (!opts.natsUrl) throw new TypeError("runWorker needs nc or natsUrl");
    nc = await connect({
      servers: parseNatsServers(opts.natsUrl),
      name: `podfleet-worker ${opts.machineId}`,
      inboxPrefix: workerInboxPrefix(opts.names),
      ...(opts.natsUser ? { user: opts.natsUser, pass: opts.natsPassword ?? "" } : {}),
      ...(opts.natsToken ? { token: opts.natsToken } : {}),
    });
  }
  try {
    return await pullLoop(nc, opts, signal, log);
  } finally {
    if (!opts.nc) await nc.drain().catch(() => nc.close());
  }
}

async function pullLoop(nc: NatsConnection, opts: WorkerOptions, signal: AbortSignal, log: WorkerLog): Promise<WorkerResult> {
  const { names } = opts;
  const js = jetstream(nc);
  // audio objects are read with message gets on a short API timeout (contract/object-reader.ts),
  // their metadata included, so the reader's store is opened on that context too
  const readJs = jetstream(nc, { timeout: AUDIO_READ_API_TIMEOUT_MS });
  // a cluster electing its leaders (a node just lost) answers late or 503: wait that out, but a
  // missing consumer or bucket is final
  const { consumer, info, audio, audioReader } = await retryThroughNatsOutage(
    async () => {
      const consumer = await js.consumers.get(names.jobsStream, names.jobsConsumer);
      const info = await consumer.info(true);
      const audio = await new Objm(js).open(names.audioBucket);
      const audioReader = new ObjectReader(await new Objm(readJs).open(names.audioBucket), await readJs.jetstreamManager(false), names.audioBucket);
      return { consumer, info, audio, audioReader };
    },
    { windowMs: BOOT_OUTAGE_MS, signal, onRetry: (error, attempt) => log("boot.nats_retry", { attempt, error: String(error) }) },
  );
  const ackWaitMs = (info.config.ack_wait ?? 30_000_000_000) / 1_000_000;
  const heartbeatMs = opts.heartbeatMs ?? Math.max(100, Math.floor(ackWaitMs / 3));
  const results = new ResultWriter(js, names.resultsBucket, nc.info?.max_payload);
  await mkdir(opts.workDir, { recursive: true });

  const ctx = {
    nc,
    js,
    heartbeatEventMs: opts.heartbeatEventMs ?? DEFAULT_HEARTBEAT_MS,
    onClaim: opts.onClaim ?? (() => undefined),
    names,
    engine: opts.engine,
    machineId: opts.machineId,
    audio,
    audioReader,
    results,
    workDir: opts.workDir,
    heartbeatMs,
    stopTimeoutMs: opts.stopTimeoutMs ?? 10_000,
    stopSignal: signal,
    nakDelayMs: opts.nakDelayMs ?? defaultNakDelayMs,
    log,
    inlineResultMaxBytes: opts.inlineResultMaxBytes ?? INLINE_RESULT_MAX_BYTES,
  };
  const startedAt = Date.now();
  let lastWorkAt = startedAt;
  let processed = 0;
  let failed = 0;
  const done = (reason: WorkerResult["reason"]): WorkerResult => {
    log("worker.exit", { reason, processed, failed });
    return { processed, failed, reason };
  };
  log("worker.started", { machineId: opts.machineId, engine: opts.engine.name, ackWaitMs, heartbeatMs });

  for (;;) {
    if (signal.aborted) return done("signal");
    const now = Date.now();
    const lifetimeLeft = opts.maxLifetimeMs === undefined ? Infinity : startedAt + opts.maxLifetimeMs - now;
    if (lifetimeLeft <= 0) return done("lifetime");
    const idleLeft = lastWorkAt + opts.idleTimeoutMs - now;
    if (idleLeft <= 0) return done("idle");

    const expires = Math.max(MIN_PULL_MS, Math.min(opts.pullExpiresMs ?? 2_000, idleLeft, lifetimeLeft));
    let msg: JsMsg | null;
    try {
      // not raced against the signal: a pull left behind could take a job that then sits until ack_wait
      msg = await consumer.next({ expires });
    } catch (err) {
      if (nc.isClosed()) throw err;
      log("pull.error", { error: String(err) });
      await sleep(MIN_PULL_MS, undefined, { signal }).catch(() => undefined);
      continue;
    }
    if (msg === null) continue;
    if (signal.aborted) {
      // arrived as we were told to stop: give it straight back to the fleet
      msg.nak();
      return done("signal");
    }
    const outcome = await processChunkAttempt(ctx, msg);
    if (outcome === "acked") processed += 1;
    else failed += 1;
    lastWorkAt = Date.now();
  }
}
