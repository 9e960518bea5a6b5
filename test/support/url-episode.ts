/**
 * A URL episode in the store, as store tests need one before they move it along: the fields the
 * store requires, with values no test depends on.
 */
import type { EpisodeStore } from "../../orchestrator/store/episode-store.ts";

export async function createUrlEpisode(store: EpisodeStore, id: string): Promise<string> {
  await store.createEpisode({
    id,
    title: null,
    sourceKind: "url",
    sourceUrl: "https://example.com/a.mp3",
    uploadPath: null,
    chunkSeconds: 30,
    language: "en",
  });
  return id;
}
