/**
 * Stitch a fully transcribed episode: read every chunk's result in chunk order (from its row, or
 * its result object when it was too big for the event), shift word times
 * by the chunk's exact start offset, render every transcript format, store the files, and mark
 * the episode done. Completion is counted against the planned chunks, never a capped query.
 *
 * With work claims (cluster/work-claims.ts) the stitch runs under a "stitch" claim: of several
 * orchestrators asked to finish one episode (the last result's, the ingest's end, a takeover pass)
 * one stitches and the others skip; a stitch whose owner died is finished by the takeover pass of
 * another, and one whose claim was lost meanwhile writes no outcome.
 */
import { SAMPLE_RATE } from "../../contract/wire.ts";
import { ClaimLostError, type HeldClaim, type WorkClaims } from "../cluster/work-claims.ts";
import type { Logger } from "../log.ts";
import type { EpisodeStore } from "../store/episode-store.ts";
import { chunkWords } from "../transcript/chunk-words.ts";
import { stitchChunks } from "../transcript/stitch.ts";
import { TRANSCRIPT_FORMATS, type TranscriptFormat } from "../transcript/formats.ts";
import type { WorkQueue } from "./work-queue.ts";

export function transcriptObject(episodeId: string, format: TranscriptFormat): string {
  return `${episodeId}/transcript.${format}`;
}

/** Episodes being stitched by this process: the last result and the end of a streaming ingest may both ask. */
const finishing = new Set<string>();

export interface FinishDeps {
  store: EpisodeStore;
  queue: WorkQueue;
  log: Logger;
  /** Present: the stitch runs under a "stitch" claim (absent: this process is the only one, as in unit tests). */
  claims?: WorkClaims | undefined;
}

export async function finishEpisode(episodeId: string, deps: FinishDeps): Promise<void> {
  if (finishing.has(episodeId)) return;
  finishing.add(episodeId);
  try {
    if (!deps.claims) return await stitchEpisode(episodeId, deps);
    // the cheap checks first: most calls (the ingest's end, a result with chunks still out) have nothing to stitch
    if (!(await readyToStitch(episodeId, deps.store))) return;
    const held = await deps.claims.hold("stitch", episodeId, (claim) => stitchEpisode(episodeId, deps, claim));
    if (!held.ran) deps.log.debug("another orchestrator is stitching this episode", { episodeId });
  } finally {
    finishing.delete(episodeId);
  }
}

/** Whether every planned chunk is done and the episode waits to be (or is being) stitched. */
async function readyToStitch(episodeId: string, store: EpisodeStore): Promise<boolean> {
  const episode = await store.getEpisode(episodeId);
  if (!episode || (episode.status !== "transcribing" && episode.status !== "stitching")) return false;
  const chunkRows = await store.listChunks(episodeId);
  return chunkRows.length === episode.chunkCount && chunkRows.every((c) => c.state === "done");
}

async function stitchEpisode(episodeId: string, deps: FinishDeps, claim?: HeldClaim): Promise<void> {
  const { store, queue, log } = deps;
  const episode = await store.getEpisode(episodeId);
  if (!episode || (episode.status !== "transcribing" && episode.status !== "stitching")) return;
  const chunkRows = await store.listChunks(episodeId);
  if (chunkRows.length !== episode.chunkCount || chunkRows.some((c) => c.state !== "done")) return;

  await store.transitionEpisode(episodeId, "stitching");
  try {
    const inputs = [];
    for (const c of chunkRows) {
      // words this process accepted are taken as they arrived; the rest are read from the row (or results object)
      const words = await chunkWords(c, queue, store.acceptedWords);
      inputs.push({
        index: c.index,
        startSample: c.startSample,
        endSample: c.endSample,
        coreStartSample: c.coreStartSample,
        coreEndSample: c.coreEndSample,
        words,
      });
    }
    const words = stitchChunks(inputs, SAMPLE_RATE, { expectedChunks: episode.chunkCount ?? chunkRows.length });
    for (const [format, spec] of Object.entries(TRANSCRIPT_FORMATS) as Array<[TranscriptFormat, (typeof TRANSCRIPT_FORMATS)[TranscriptFormat]]>) {
      await queue.putTranscriptFile(transcriptObject(episodeId, format), spec.render(words, { language: episode.language }));
    }
    // a stitch taken over meanwhile is the new owner's to finish (its files are the same bytes)
    await claim?.check();
    await queue
      .purgeEpisodeAudio(episodeId, chunkRows)
      .catch((err: unknown) => log.warn("could not purge the audio of a finished episode", { episodeId, error: err }));
    await store.transitionEpisode(episodeId, "done", {}, claim);
    log.info("episode done", { episodeId, words: words.length, chunks: chunkRows.length });
  } catch (err) {
    if (err instanceof ClaimLostError || claim?.signal.aborted) {
      log.warn("stitch stopped: its claim was taken over", { episodeId });
      return;
    }
    // cancelled while stitching: the lifecycle refused "done", and the cancellation stands
    if ((await store.getEpisode(episodeId))?.status === "cancelled") {
      log.info("episode cancelled while stitching", { episodeId });
      return;
    }
    log.error("stitching failed", { episodeId, error: err });
    await store.transitionEpisode(episodeId, "failed", { error: `stitching failed: ${(err as Error).message}` });
  }
}
