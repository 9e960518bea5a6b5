/**
 * What the dashboard's episode list shows per episode: where it came from (upload, URL, feed,
 * webhook), its chunk counts, progress and an ETA from the pace so far, audio length and wall
 * time. Read straight from libSQL in two queries, whatever the number of episodes.
 */
import { and, desc, eq, inArray, sql } from "drizzle-orm";
import { chunks, episodeLinks, episodes } from "../../db/schema.ts";
import { EPISODE_STATES } from "../episodes/lifecycle.ts";
import type { ChunkCounts, EpisodeRow } from "../store/episode-store.ts";
import type { Database } from "../store/database.ts";

export type EpisodeSource = "upload" | "url" | "feed" | "webhook";

export interface EpisodeLine {
  id: string;
  title: string | null;
  source: EpisodeSource;
  sourceUrl: string | null;
  status: string;
  error: string | null;
  chunks: ChunkCounts;
  /** Done chunks over planned chunks, 0..1; null before the plan exists. */
  progress: number | null;
  /** Seconds until the last chunk is done at the pace so far; null when unknown or finished. */
  etaSec: number | null;
  durationSec: number | null;
  /** From submission to finish (or to now while it runs). */
  wallMs: number;
  createdAt: number;
  finishedAt: number | null;
}

export function isStatusFilter(value: string | undefined): value is (typeof EPISODE_STATES)[number] {
  return value !== undefined && (EPISODE_STATES as readonly string[]).includes(value);
}

export function sourceOf(row: Pick<EpisodeRow, "sourceKind">, origin: string | null): EpisodeSource {
  if (origin === "webhook") return "webhook";
  if (origin === "feed-new" || origin === "feed-backfill") return "feed";
  return row.sourceKind === "upload" ? "upload" : "url";
}

function emptyCounts(): ChunkCounts {
  return { total: 0, queued: 0, leased: 0, done: 0, failed: 0, cancelled: 0 };
}

/** Progress and ETA of one episode from its counts and timings. */
export function progressOf(row: EpisodeRow, counts: ChunkCounts, now: number): { progress: number | null; etaSec: number | null } {
  const planned = row.chunkCount ?? counts.total;
  if (row.status === "done") return { progress: 1, etaSec: null };
  if (!planned) return { progress: null, etaSec: null };
  const progress = counts.done / planned;
  const running = row.status === "transcribing" || row.status === "stitching";
  if (!running || counts.done === 0 || row.transcribeStartedAt === null) return { progress, etaSec: null };
  const perChunk = (now - row.transcribeStartedAt) / counts.done;
  return { progress, etaSec: Math.max(0, Math.round((perChunk * (planned - counts.done)) / 1000)) };
}

export async function listEpisodeLines(
  database: Database,
  opts: { status?: string | undefined; limit: number; now: number },
): Promise<EpisodeLine[]> {
  const db = database.db;
  const where = isStatusFilter(opts.status) ? eq(episodes.status, opts.status) : undefined;
  const rows = await db
    .select({ e: episodes, origin: episodeLinks.origin })
    .from(episodes)
    .leftJoin(episodeLinks, eq(episodeLinks.episodeId, episodes.id))
    .where(where)
    .orderBy(desc(episodes.createdAt))
    .limit(opts.limit)
    .all();
  const counts = await countsByEpisode(
    database,
    rows.map((r) => r.e.id),
  );
  return rows.map(({ e, origin }) => {
    const c = counts.get(e.id) ?? emptyCounts();
    return {
      id: e.id,
      title: e.title,
      source: sourceOf(e, origin),
      sourceUrl: e.sourceUrl,
      status: e.status,
      error: e.error,
      chunks: c,
      ...progressOf(e, c, opts.now),
      durationSec: e.durationSec,
      wallMs: (e.finishedAt ?? opts.now) - e.createdAt,
      createdAt: e.createdAt,
      finishedAt: e.finishedAt,
    };
  });
}

/** Chunk counts of many episodes in one grouped query. */
export async function countsByEpisode(database: Database, ids: string[]): Promise<Map<string, ChunkCounts>> {
  const out = new Map<string, ChunkCounts>();
  if (ids.length === 0) return out;
  const rows = await database.db
    .select({ episodeId: chunks.episodeId, state: chunks.state, n: sql<number>`count(*)` })
    .from(chunks)
    .where(and(inArray(chunks.episodeId, ids)))
    .groupBy(chunks.episodeId, chunks.state)
    .all();
  for (const r of rows) {
    const c = out.get(r.episodeId) ?? emptyCounts();
    const n = Number(r.n);
    if (r.state in c) c[r.state as keyof ChunkCounts] = n;
    c.total += n;
    out.set(r.episodeId, c);
  }
  return out;
}
