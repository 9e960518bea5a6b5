/**
 * Keeps every chunk attempt (`chunk_attempts`) from the chunk transition events, for the episode
 * page's timeline and failures: the chunks table holds only the current attempt and forgets the
 * machine once an attempt fails. A claim (→ leased) opens a row; leaving "leased" closes the
 * holder's row with the outcome. The rows are written after the transition committed, in event
 * order (Database.write runs writers in call order); a lost write only thins the timeline.
 */
import { and, asc, desc, eq } from "drizzle-orm";
import { chunkAttempts } from "../../db/schema.ts";
import type { ChunkTransitionEvent, StateEvents } from "../events/state-events.ts";
import type { Logger } from "../log.ts";
import type { Database } from "../store/database.ts";

export type ChunkAttemptRow = typeof chunkAttempts.$inferSelect;

/** How an attempt ended, from the state its chunk moved to. */
export function attemptOutcome(to: ChunkTransitionEvent["to"]): string {
  if (to === "done") return "done";
  if (to === "failed") return "failed";
  if (to === "cancelled") return "cancelled";
  return "requeued";
}

export class ChunkAttemptLog {
  constructor(
    private readonly database: Database,
    private readonly log: Logger,
  ) {}

  /** Starts recording; returns what stops it. */
  follow(events: Pick<StateEvents, "on">): () => void {
    return events.on("chunk:transition", (e) => {
      this.record(e).catch((err: unknown) => this.log.debug("chunk attempt not recorded", { chunkId: e.chunkId, error: err }));
    });
  }

  async record(e: ChunkTransitionEvent): Promise<void> {
    if (e.to === "leased" && e.machineId) {
      await this.database.write(async (db) => {
        // a newer claim ends whatever attempt of this chunk was still open
        await db
          .update(chunkAttempts)
          .set({ endedAt: e.at, outcome: "superseded" })
          .where(and(eq(chunkAttempts.chunkId, e.chunkId), eq(chunkAttempts.outcome, "running")));
        await db.insert(chunkAttempts).values({
          chunkId: e.chunkId,
          episodeId: e.episodeId,
          chunkIndex: e.index,
          machineId: e.machineId!,
          generation: e.generation,
          attempt: e.attempt,
          startedAt: e.at,
          outcome: "running",
        });
      });
      return;
    }
    if (e.from !== "leased") return;
    await this.database.write(async (db) => {
      const open = await db
        .select({ id: chunkAttempts.id })
        .from(chunkAttempts)
        .where(and(eq(chunkAttempts.chunkId, e.chunkId), eq(chunkAttempts.outcome, "running")))
        .orderBy(desc(chunkAttempts.id))
        .get();
      if (!open) return;
      await db
        .update(chunkAttempts)
        .set({ endedAt: e.at, outcome: attemptOutcome(e.to), error: e.to === "done" ? null : e.error })
        .where(eq(chunkAttempts.id, open.id));
    });
  }

  async forEpisode(episodeId: string): Promise<ChunkAttemptRow[]> {
    return this.database.db.select().from(chunkAttempts).where(eq(chunkAttempts.episodeId, episodeId)).orderBy(asc(chunkAttempts.startedAt)).all();
  }
}
