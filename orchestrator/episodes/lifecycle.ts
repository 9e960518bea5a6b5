/**
 * Episode and chunk lifecycles: the named states and the only transitions allowed between them.
 * Every state change in the store goes through `assertTransition`, so an illegal move (a failed
 * episode turning "done", a done chunk going back to "leased") is a bug that surfaces loudly.
 */

export const EPISODE_STATES = ["received", "ingesting", "fetch_wait", "transcribing", "stitching", "done", "failed", "cancelled"] as const;
export type EpisodeState = (typeof EPISODE_STATES)[number];

export const CHUNK_STATES = ["queued", "leased", "done", "failed", "cancelled"] as const;
export type ChunkState = (typeof CHUNK_STATES)[number];

const EPISODE_TRANSITIONS: Record<EpisodeState, readonly EpisodeState[]> = {
  // received → ingesting once per ingest run; a restart, a download retry or `jobs retry` runs it again.
  received: ["ingesting", "failed", "cancelled"],
  // ingesting → fetch_wait: the download failed in a way that may pass (5xx, 429, timeout, DNS);
  // ingest/fetch-retry.ts decides when to try again, within a bounded window.
  ingesting: ["ingesting", "fetch_wait", "transcribing", "failed", "cancelled"],
  // fetch_wait → received: the retry is due and claimed (EpisodeStore.claimFetchRetry), then ingested again.
  fetch_wait: ["received", "cancelled"],
  transcribing: ["stitching", "failed", "cancelled"],
  // stitching → stitching: a restart mid-stitch simply stitches again (the output is deterministic).
  stitching: ["stitching", "done", "failed", "cancelled"],
  done: [],
  // failed → transcribing: `jobs retry` re-queues the dead chunks (EpisodeStore.retryFailed);
  // failed → received: `jobs retry` of a URL episode that failed before its chunks were cut downloads it again.
  failed: ["transcribing", "received"],
  // cancelled is final: nothing, no late result included, turns it done.
  cancelled: [],
};

const CHUNK_TRANSITIONS: Record<ChunkState, readonly ChunkState[]> = {
  queued: ["leased", "failed", "cancelled"],
  // leased → leased: a newer attempt (redelivery) takes the lease over from an older one.
  leased: ["leased", "queued", "done", "failed", "cancelled"],
  done: [],
  // failed → queued: a dead chunk re-published at a new generation by `jobs retry`.
  failed: ["queued"],
  cancelled: [],
};

export class IllegalTransitionError extends Error {
  override name = "IllegalTransitionError";
}

export function canTransitionEpisode(from: EpisodeState, to: EpisodeState): boolean {
  return EPISODE_TRANSITIONS[from].includes(to);
}

export function canTransitionChunk(from: ChunkState, to: ChunkState): boolean {
  return CHUNK_TRANSITIONS[from].includes(to);
}

export function assertEpisodeTransition(id: string, from: EpisodeState, to: EpisodeState): void {
  if (!canTransitionEpisode(from, to)) {
    throw new IllegalTransitionError(`episode ${id}: ${from} → ${to} is not allowed`);
  }
}

export function assertChunkTransition(id: string, from: ChunkState, to: ChunkState): void {
  if (!canTransitionChunk(from, to)) {
    throw new IllegalTransitionError(`chunk ${id}: ${from} → ${to} is not allowed`);
  }
}

export function isEpisodeState(s: string): s is EpisodeState {
  return (EPISODE_STATES as readonly string[]).includes(s);
}

export function isTerminalEpisode(s: EpisodeState): boolean {
  return s === "done" || s === "failed" || s === "cancelled";
}
