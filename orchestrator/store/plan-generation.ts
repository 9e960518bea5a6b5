/**
 * The generation at which an episode's plan records (and publishes) its chunks. An episode's first
 * plan starts at 1. A plan dropped by a failed ingest (EpisodeStore.failIngest) leaves jobs behind
 * in the jobs stream under the chunk ids the next plan reuses; so the next plan starts past every
 * generation the dropped one used. Its jobs, and the workers' events about them, then get message
 * ids of their own (JetStream drops a repeated id inside the stream's duplicate window, 2 minutes by
 * default: a retry at once would otherwise lose its chunks), and any job or event of the dropped
 * plan is stale to the store's fencing (compareAttempts), whatever audio it carries.
 *
 * The dropped plan's chunk rows, where generations otherwise live, go with it: the generation the
 * next plan starts at is kept in the episode's row (`episodes.plan_generation`, migration 0015),
 * written in the same batch as the drop, so a restart, or another orchestrator's retry, starts the
 * new plan there. Once chunks are recorded each one's generation is in its row and only grows.
 */
import { eq, sql } from "drizzle-orm";
import { chunks } from "../../db/schema.ts";
import type { Db } from "./database.ts";

/**
 * The generation a plan started after `dropped` (the chunks of the plan it replaces) begins at:
 * two past the highest, since a re-queue publishes its job at the next generation before it records
 * it (fleet/fleet-actions.ts), so a job one past the rows may already be out; never below `current`.
 */
export function generationAfter(dropped: ReadonlyArray<{ generation: number }>, current: number): number {
  if (dropped.length === 0) return current;
  return Math.max(current, ...dropped.map((c) => c.generation + 2));
}

/**
 * The generation a fresh plan of the episode (its first chunk about to be recorded, or a whole
 * plan) starts at: the episode's kept one, and past the chunk rows of any plan it replaces (a
 * re-ingest after a crash).
 */
export async function freshPlanGeneration(db: Db, episode: { id: string; planGeneration: number }): Promise<number> {
  const row = await db
    .select({ g: sql<number | null>`max(${chunks.generation})` })
    .from(chunks)
    .where(eq(chunks.episodeId, episode.id))
    .get();
  const highest = Number(row?.g ?? 0);
  return generationAfter(highest === 0 ? [] : [{ generation: highest }], episode.planGeneration);
}
