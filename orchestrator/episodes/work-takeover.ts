/**
 * The takeover pass, run by EVERY orchestrator (at boot and every TTL/2): work whose claim is
 * missing or expired (its owner died, stalled past its TTL, or is this process's previous life)
 * is claimed and resumed here.
 *
 * - Ingests left unfinished (received, ingesting, or a plan still growing) are resumed through
 *   EpisodeService.takeOver, which runs them under their claim (claimed-ingest.ts); only as many as
 *   this process has free ingest slots, so a takeover never queues behind local work while another
 *   orchestrator sits idle.
 * - Episodes whose chunks are all done but that nobody stitched ("transcribing" with a complete
 *   plan, or "stitching") are stitched under a "stitch" claim (finish-episode.ts).
 *
 * One episode's failure is logged and left for the next pass; nothing here ends the process.
 */
import type { WorkClaims } from "../cluster/work-claims.ts";
import type { Logger } from "../log.ts";
import type { EpisodeRow, EpisodeStore } from "../store/episode-store.ts";
import { ingestUnfinished } from "./claimed-ingest.ts";

export interface TakeoverDeps {
  store: EpisodeStore;
  claims: WorkClaims;
  episodes: { takeOver(row: EpisodeRow): boolean; readonly ingestsInFlight: number; isIngesting(id: string): boolean };
  /** Stitches an episode under its claim (finishEpisode with claims). */
  finish: (episodeId: string) => Promise<void>;
  /** Ingest processing slots of this process (config.tuning.maxConcurrentIngests). */
  maxIngests: number;
  log: Logger;
}

export interface TakeoverResult {
  /** Ingests started (each runs once its claim is ours). */
  ingests: number;
  /** Stitches attempted. */
  stitches: number;
}

/** One pass: observe unclaimed unfinished work, take what this process has room for. */
export async function takeoverPass(deps: TakeoverDeps, signal?: AbortSignal): Promise<TakeoverResult> {
  const result: TakeoverResult = { ingests: 0, stitches: 0 };
  const { store, claims, episodes, log } = deps;

  const liveIngests = await claims.live("ingest");
  const unfinished = (await store.episodesInStates(["received", "ingesting", "transcribing"])).filter(ingestUnfinished);
  let room = deps.maxIngests - episodes.ingestsInFlight;
  for (const row of unfinished) {
    if (room <= 0 || signal?.aborted) break;
    if (liveIngests.has(row.id) || episodes.isIngesting(row.id)) continue;
    if (episodes.takeOver(row)) {
      log.info("taking over an unfinished ingest", { episodeId: row.id, status: row.status });
      result.ingests++;
      room--;
    }
  }

  const liveStitches = await claims.live("stitch");
  for (const row of await store.episodesInStates(["transcribing", "stitching"])) {
    if (signal?.aborted) break;
    if (row.chunkCount === null || liveStitches.has(row.id) || liveIngests.has(row.id)) continue;
    if (row.status === "transcribing") {
      const counts = await store.chunkCounts(row.id);
      if (counts.done !== row.chunkCount) continue;
    }
    try {
      await deps.finish(row.id);
      result.stitches++;
    } catch (err) {
      // the next pass tries again
      log.error("could not finish an episode left unstitched", { episodeId: row.id, error: err });
    }
  }
  return result;
}
