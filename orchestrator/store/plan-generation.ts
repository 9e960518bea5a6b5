/**
 * The generation at which an episode's plan records (and publishes) its chunks. An episode's first
 * plan starts at 1. A plan dropped by a failed ingest (EpisodeStore.failIngest) leaves jobs behind
 * in the jobs stream under the chunk ids the next plan reuses; so the next plan starts past every
 * generation the dropped one used. Its jobs, and the workers' events about them, then get message
 * ids of their own (JetStream drops a repeated id inside the stream's duplicate window, 2 minutes by
 * default: a retry at once would otherwise lose its chunks), and any job or event of the dropped
 * plan is stale to the store's fencing (compareAttempts), whatever audio it carries.
 *
 * The dropped plan's chunk rows, where generations otherwise live, go with it: the generation is
 * kept in the settings table (`plan_generation.<episodeId>`), written in the same batch as the
 * drop, so a restart, or another orchestrator's retry, starts the new plan there. It is removed once
 * the new plan is complete: from then on each chunk's generation is in its row and only grows.
 */
import { eq, sql } from "drizzle-orm";
import { chunks, settings } from "../../db/schema.ts";
import type { Db } from "./database.ts";

/** The database or a transaction on it. */
type Executor = Db | Parameters<Parameters<Db["transaction"]>[0]>[0];

function key(episodeId: string): string {
  return `plan_generation.${episodeId}`;
}

/** The generation new chunks of the episode's plan are recorded at: 1 unless a plan was dropped before. */
export async function planGeneration(db: Executor, episodeId: string): Promise<number> {
  const row = await db
    .select({ value: settings.value })
    .from(settings)
    .where(eq(settings.key, key(episodeId)))
    .get();
  return row === undefined ? 1 : Number(row.value);
}

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
 * The generation a fresh plan of the episode (its first chunk about to be recorded) starts at: the
 * kept one, and past the chunk rows of any plan it replaces.
 */
export async function freshPlanGeneration(db: Executor, episodeId: string): Promise<number> {
  const kept = await planGeneration(db, episodeId);
  const highest = await highestGeneration(db, episodeId);
  return highest === 0 ? kept : Math.max(kept, highest + 2);
}

/** The highest generation among the episode's chunk rows, or 0 when it has none. */
async function highestGeneration(db: Executor, episodeId: string): Promise<number> {
  const row = await db
    .select({ g: sql<number | null>`max(${chunks.generation})` })
    .from(chunks)
    .where(eq(chunks.episodeId, episodeId))
    .get();
  return Number(row?.g ?? 0);
}

/** The statement that keeps `generation` as the episode's plan generation (for a batch). */
export function keepPlanGeneration(db: Db, episodeId: string, generation: number) {
  const value = String(generation);
  return db
    .insert(settings)
    .values({ key: key(episodeId), value })
    .onConflictDoUpdate({ target: settings.key, set: { value } });
}

/** The statement that forgets the episode's plan generation (its plan is complete). */
export function forgetPlanGeneration(db: Db, episodeId: string) {
  return db.delete(settings).where(eq(settings.key, key(episodeId)));
}
