/**
 * Episodes read straight from the database when no orchestrator runs, so `jobs list` and
 * `jobs show` answer without starting NATS, the fleet or a single machine (which is what the
 * old embedded start did on a data directory with unfinished work). A data directory with no
 * database yet has no episodes; nothing is created.
 */
import fs from "node:fs";
import { parseConfig } from "../config.ts";
import { episodeList, episodeView, type EpisodeView } from "../episodes/episode-service.ts";
import { Database } from "../store/database.ts";
import { EpisodeStore } from "../store/episode-store.ts";
import type { CommandContext } from "./command-action.ts";
import { safeInline, writeHuman } from "./terminal-text.ts";

export interface OfflineEpisodes {
  list(limit: number): Promise<EpisodeView[]>;
  view(id: string): Promise<EpisodeView | undefined>;
  close(): void;
}

export async function openOfflineEpisodes(ctx: CommandContext): Promise<OfflineEpisodes> {
  const config = parseConfig(ctx.env, { dataDir: ctx.dataDir });
  const url = config.database.url;
  if (!ctx.json)
    writeHuman(
      `podfleet: note: no orchestrator running on ${safeInline(config.dataDir)}: reading its database directly (nothing is started)\n`,
      process.stderr,
    );
  if (url.startsWith("file:") && !fs.existsSync(url.slice("file:".length))) {
    return { list: () => Promise.resolve([]), view: () => Promise.resolve(undefined), close: () => {} };
  }
  const database = await Database.open(url, config.database.authToken);
  const store = new EpisodeStore(database);
  return { list: (limit) => episodeList(store, limit), view: (id) => episodeView(store, id), close: () => database.close() };
}
