/**
 * One ingest run under the episode's "ingest" claim (cluster/work-claims.ts): whichever
 * orchestrator starts it (the one that received the submission, a download retry, `jobs retry`,
 * or another orchestrator's takeover pass after the owner died) holds the claim while it runs, so
 * no two orchestrators ever ingest the same episode at once, and a run whose owner dies is taken
 * over once the claim expires.
 *
 * A run that resumes a growing plan (the previous run died after recording some chunks) also
 * publishes again the chunks recorded before it that no worker ever claimed: the previous run may
 * have died between recording a chunk and publishing its job. Only the claim holder does that, so
 * two orchestrators never re-publish the same chunk generation; and a repeat of a job that did go
 * out carries the same message id (chunk + generation), so inside the stream's duplicate window
 * it is dropped, and outside it is a second delivery the store's fencing absorbs.
 */
import fs from "node:fs";
import type { WorkClaims } from "../cluster/work-claims.ts";
import { ingestEpisode, type IngestDeps } from "../ingest/ingest-episode.ts";
import { BYTES_PER_SAMPLE } from "../ingest/audio-decode.ts";
import type { EpisodeRow } from "../store/episode-store.ts";

/** States in which an episode's ingest is unfinished: what a claimed run (or a takeover) may ingest. */
export function ingestUnfinished(row: Pick<EpisodeRow, "status" | "chunkCount">): boolean {
  return row.status === "received" || row.status === "ingesting" || (row.status === "transcribing" && row.chunkCount === null);
}

export interface ClaimedIngestDeps extends IngestDeps {
  /** Absent: no claims (a single process, as in unit tests); the run goes ahead unclaimed. */
  claims?: WorkClaims | undefined;
  /** Called when the episode's row turned out not to need this run, or someone else holds its claim. */
  onSkipped?: (reason: string) => void;
}

/**
 * Ingests `row` under its claim; resolves `false` without doing anything when another
 * orchestrator holds the claim or the episode's ingest is no longer unfinished.
 */
export async function runClaimedIngest(row: EpisodeRow, deps: ClaimedIngestDeps): Promise<boolean> {
  const { claims } = deps;
  if (!claims) {
    await ingestEpisode(row, deps);
    return true;
  }
  const outcome = await claims.hold("ingest", row.id, async (held) => {
    // read again under the claim: the previous owner may have finished (and released) since `row` was read
    const current = await deps.store.getEpisode(row.id);
    if (!current || !ingestUnfinished(current)) {
      deps.onSkipped?.(`episode is ${current?.status ?? "gone"}`);
      return false;
    }
    const runDeps: IngestDeps = { ...deps, held, claims };
    const earlier = await unclaimedEarlierChunks(current, deps);
    // the kept PCM covers them (a restart on the same data directory): out at once; otherwise once this run has decoded the audio again
    const now = earlier.length > 0 && keptPcmCovers(current.id, earlier, deps);
    if (now) await republish(current.id, earlier, deps);
    await ingestEpisode(current, runDeps);
    if (earlier.length > 0 && !now && !held.signal.aborted) await republish(current.id, earlier, deps);
    return true;
  });
  if (!outcome.ran) deps.onSkipped?.("another orchestrator holds its ingest claim");
  return outcome.ran && outcome.value;
}

/** Chunks a previous run recorded that no worker has claimed (queued, attempt 0): their job may never have gone out. */
async function unclaimedEarlierChunks(row: EpisodeRow, deps: IngestDeps): Promise<Array<{ index: number; startSample: number; endSample: number }>> {
  if (row.status !== "transcribing") return [];
  return (await deps.store.listChunks(row.id)).filter((c) => c.state === "queued" && c.attempt === 0);
}

function keptPcmCovers(episodeId: string, chunks: ReadonlyArray<{ endSample: number }>, deps: IngestDeps): boolean {
  const end = Math.max(...chunks.map((c) => c.endSample));
  const file = deps.queue.episodeAudioPath(episodeId);
  if (file === undefined) return false; // no local PCM (external NATS): republished once this run has decoded again
  try {
    return fs.statSync(file).size >= end * BYTES_PER_SAMPLE;
  } catch {
    return false;
  }
}

/** Publishes the jobs of the chunks among `chunks` that are still queued and unclaimed, at their current generation. */
async function republish(episodeId: string, chunks: ReadonlyArray<{ index: number }>, deps: IngestDeps): Promise<void> {
  const row = await deps.store.getEpisode(episodeId);
  if (!row || row.status !== "transcribing") return;
  const wanted = new Set(chunks.map((c) => c.index));
  const still = (await deps.store.listChunks(episodeId)).filter((c) => wanted.has(c.index) && c.state === "queued" && c.attempt === 0);
  for (const c of still) await deps.queue.publishChunk(row, c, c.generation);
  if (still.length > 0) {
    deps.log.info("re-published chunks a previous ingest run recorded", { episodeId, chunks: still.length });
    deps.onPublished?.();
  }
}
