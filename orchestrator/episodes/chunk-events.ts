/**
 * Applies worker events (claimed, result, failed) to the store, in the order the events stream
 * holds them, and finishes an episode once its last chunk is done. Returns what happened so
 * the caller can ack the event: every event is applied at most once in effect, because the
 * store's fencing makes a repeated event a no-op.
 */
import type { ChunkEvent, ChunkFailed } from "../../contract/wire.ts";
import type { WorkClaims } from "../cluster/work-claims.ts";
import type { Logger } from "../log.ts";
import type { EpisodeStore, EventOutcome } from "../store/episode-store.ts";
import { finishEpisode } from "./finish-episode.ts";
import type { WorkQueue } from "./work-queue.ts";

export interface ChunkEventDeps {
  store: EpisodeStore;
  queue: WorkQueue;
  log: Logger;
  maxAttempts: number;
  /** The stitch of a finished episode runs under a claim (episodes/finish-episode.ts). */
  claims?: WorkClaims | undefined;
}

/**
 * Applies a pull batch of events in one store transaction (EpisodeStore.applyEvents), then does
 * what the accepted ones call for: fail the episodes of dead chunks, finish episodes whose last
 * chunk is done (checked once per episode, not once per result). Outcomes index for index.
 */
export async function applyChunkEvents(events: readonly ChunkEvent[], deps: ChunkEventDeps): Promise<EventOutcome[]> {
  const { store, log } = deps;
  const applied = await store.applyEvents(events, deps.maxAttempts);
  const finished = new Set<string>();
  for (const [i, event] of events.entries()) {
    const { outcome, chunkFailed } = applied[i]!;
    if (event.type === "claimed") {
      log.debug("chunk claimed", { chunkId: event.chunkId, attempt: event.attempt, machineId: event.machineId, outcome });
    } else if (event.type === "result") {
      if (outcome === "accepted") finished.add(event.episodeId);
      else log.info("chunk result ignored", { chunkId: event.chunkId, attempt: event.attempt, machineId: event.machineId, outcome });
    } else {
      await failed(event, outcome, chunkFailed, deps);
    }
  }
  for (const episodeId of finished) await finishIfComplete(episodeId, deps);
  return applied.map((a) => a.outcome);
}

async function finishIfComplete(episodeId: string, deps: ChunkEventDeps): Promise<void> {
  const counts = await deps.store.chunkCounts(episodeId);
  const episode = await deps.store.getEpisode(episodeId);
  if (episode && counts.done === episode.chunkCount) await finishEpisode(episodeId, deps);
}

async function failed(event: ChunkFailed, outcome: EventOutcome, chunkFailed: boolean, deps: ChunkEventDeps): Promise<void> {
  const { store, log } = deps;
  log.warn("chunk attempt failed", {
    chunkId: event.chunkId,
    attempt: event.attempt,
    code: event.code,
    permanent: event.permanent,
    message: event.message,
    outcome,
  });
  if (chunkFailed) {
    const episode = await store.getEpisode(event.episodeId);
    if (episode?.status === "transcribing") {
      await store.transitionEpisode(event.episodeId, "failed", {
        error: `chunk ${event.chunkId} failed: ${event.message}`,
      });
    }
  }
}

/** One event on its own (the batch path's fallback, when a batch could not be applied whole). */
export async function applyChunkEvent(event: ChunkEvent, deps: ChunkEventDeps): Promise<EventOutcome> {
  return (await applyChunkEvents([event], deps))[0]!;
}
