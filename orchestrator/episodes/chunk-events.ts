/**
 * Applies worker events (claimed, result, failed) to the store, in the order the events stream
 * holds them, and finishes an episode once its last chunk is done. Returns what happened so
 * the caller can ack the event: every event is applied at most once in effect, because the
 * store's fencing makes a repeated event a no-op.
 */
import type { ChunkEvent } from "../../contract/wire.ts";
import type { Logger } from "../log.ts";
import type { EpisodeStore, EventOutcome } from "../store/episode-store.ts";
import { finishEpisode } from "./finish-episode.ts";
import type { WorkQueue } from "./work-queue.ts";

export interface ChunkEventDeps {
  store: EpisodeStore;
  queue: WorkQueue;
  log: Logger;
  maxAttempts: number;
}

export async function applyChunkEvent(event: ChunkEvent, deps: ChunkEventDeps): Promise<EventOutcome> {
  const { store, log } = deps;
  switch (event.type) {
    case "claimed": {
      const outcome = await store.applyClaim(event);
      log.debug("chunk claimed", { chunkId: event.chunkId, attempt: event.attempt, machineId: event.machineId, outcome });
      return outcome;
    }
    case "result": {
      const outcome = await store.applyResult(event);
      if (outcome !== "accepted") {
        log.info("chunk result ignored", { chunkId: event.chunkId, attempt: event.attempt, machineId: event.machineId, outcome });
        return outcome;
      }
      const counts = await store.chunkCounts(event.episodeId);
      const episode = await store.getEpisode(event.episodeId);
      if (episode && counts.done === episode.chunkCount) {
        await finishEpisode(event.episodeId, deps);
      }
      return outcome;
    }
    case "failed": {
      const { outcome, chunkFailed } = await store.applyFailure(event, deps.maxAttempts);
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
      return outcome;
    }
  }
}
