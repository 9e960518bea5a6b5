/**
 * What one worker event does to its chunk row, decided without I/O: the fencing rules of
 * EpisodeStore.applyEvents. A claim takes the lease unless a newer attempt holds it; a result counts
 * only from the lease holder of the current attempt; a failure fails the chunk when permanent or at
 * maxAttempts, else sends it back to the queue. Attempts are ordered by (generation, delivery
 * count): compareAttempts. The store reads every chunk of a pull batch in one statement, applies
 * the effects in event order on its copy of the rows, and writes each changed row once.
 */
import { compareAttempts, type ChunkClaimed, type ChunkEvent, type ChunkFailed, type ChunkResult } from "../../contract/wire.ts";
import type { ChunkState } from "../episodes/lifecycle.ts";
import type { ChunkTransitionEvent } from "../events/state-events.ts";
import { chunkTransition } from "../events/state-transitions.ts";
import type { ChunkRow, EventOutcome } from "./episode-store.ts";

/** The columns an event may change: the store writes these back for every row an event changed. */
export const EVENT_COLUMNS = [
  "state",
  "generation",
  "attempt",
  "leaseOwner",
  "leasedAt",
  "heartbeatAt",
  "lastError",
  "resultObject",
  "resultWords",
  "wordCount",
  "processingMs",
  "doneAt",
  "updatedAt",
] as const satisfies ReadonlyArray<keyof ChunkRow>;
type EventSet = Partial<Pick<ChunkRow, (typeof EVENT_COLUMNS)[number]>>;

/** The outcome of one event; when accepted, the columns it sets and the transition to announce. */
export interface EventEffect {
  outcome: EventOutcome;
  /** A failure that made the chunk dead. */
  chunkFailed: boolean;
  change?: { set: EventSet; transition: ChunkTransitionEvent };
}

const ignored = (outcome: EventOutcome): EventEffect => ({ outcome, chunkFailed: false });

/** The effect of `event` on `chunk` (undefined: no such chunk) at time `t`. */
export function eventEffect(chunk: ChunkRow | undefined, event: ChunkEvent, maxAttempts: number, t: number): EventEffect {
  if (!chunk) return ignored("unknown");
  if (event.type === "claimed") return claimEffect(chunk, event, t);
  if (event.type === "result") return resultEffect(chunk, event, t);
  return failureEffect(chunk, event, maxAttempts, t);
}

/** A worker started an attempt: it now holds the lease, unless a newer attempt already does. */
function claimEffect(chunk: ChunkRow, event: ChunkClaimed, t: number): EventEffect {
  // a cancelled or dead chunk takes no new lease (a retry re-queues it at a newer generation first)
  if (chunk.state === "done" || chunk.state === "failed" || chunk.state === "cancelled") return ignored("duplicate");
  const order = compareAttempts(event, chunk);
  if (order < 0) return ignored("stale");
  if (order === 0 && chunk.leaseOwner === event.machineId) return ignored("duplicate");
  const lease = { generation: event.generation ?? 1, attempt: event.attempt, leaseOwner: event.machineId };
  const set: EventSet = {
    state: "leased",
    ...lease,
    leasedAt: event.at,
    // a holder that promises heartbeats is judged by them from now on (store/chunk-heartbeats.ts)
    heartbeatAt: event.heartbeatMs === undefined ? null : t,
    updatedAt: t,
  };
  return { outcome: "accepted", chunkFailed: false, change: { set, transition: chunkTransition(chunk, "leased", t, lease) } };
}

/** A worker finished an attempt: accepted only from the current lease holder of the current attempt; inline words are kept in the row. */
function resultEffect(chunk: ChunkRow, event: ChunkResult, t: number): EventEffect {
  if (chunk.state === "done") return ignored("duplicate");
  if (chunk.state !== "leased" || compareAttempts(event, chunk) !== 0 || chunk.leaseOwner !== event.machineId) return ignored("stale");
  const set: EventSet = {
    state: "done",
    resultObject: event.resultObject ?? null,
    resultWords: event.words ? JSON.stringify(event.words) : null,
    wordCount: event.wordCount,
    processingMs: Math.round(event.processingMs),
    lastError: null,
    doneAt: t,
    updatedAt: t,
  };
  return { outcome: "accepted", chunkFailed: false, change: { set, transition: chunkTransition(chunk, "done", t, { lastError: null }) } };
}

/** A worker could not process an attempt: a permanent failure (or the last attempt) fails the chunk; a transient one re-queues it (the worker naks). */
function failureEffect(chunk: ChunkRow, event: ChunkFailed, maxAttempts: number, t: number): EventEffect {
  if (chunk.state === "done" || chunk.state === "failed" || chunk.state === "cancelled") return ignored("duplicate");
  if (compareAttempts(event, chunk) < 0) return ignored("stale");
  const fail = event.permanent || event.attempt >= maxAttempts;
  const to: ChunkState = fail ? "failed" : "queued";
  const lastError = `${event.code}: ${event.message}`;
  const set: EventSet = { state: to, lastError, leaseOwner: null, updatedAt: t };
  return { outcome: "accepted", chunkFailed: fail, change: { set, transition: chunkTransition(chunk, to, t, { lastError, leaseOwner: null }) } };
}
