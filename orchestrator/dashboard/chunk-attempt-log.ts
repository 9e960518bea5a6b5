/**
 * Keeps every chunk attempt (`chunk_attempts`) from the chunk transition events, for the episode
 * page's timeline and failures: the chunks table holds only the current attempt and forgets the
 * machine once an attempt fails. A claim (→ leased) opens a row; leaving "leased" closes the
 * holder's row with the outcome. The rows are written after the transition committed, in event
 * order (Database.write runs writers in call order), the transitions of one commit in one write;
 * a lost write only thins the timeline.
 */
import { and, asc, desc, eq, inArray } from "drizzle-orm";
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

/** Transitions that open an attempt (a claim) or close one (leaving "leased"): the only ones recorded. */
function opensOrCloses(e: ChunkTransitionEvent): boolean {
  return (e.to === "leased" && e.machineId !== null) || e.from === "leased";
}

type NewAttempt = typeof chunkAttempts.$inferInsert;

export class ChunkAttemptLog {
  /** Transitions announced since the last write, recorded together on the next turn of the event loop. */
  #pending: ChunkTransitionEvent[] = [];

  constructor(
    private readonly database: Database,
    private readonly log: Logger,
  ) {}

  /**
   * Starts recording; returns what stops it. The transitions of one commit (a pull batch of worker
   * events announces dozens) are recorded in one write, not one or two writes each.
   */
  follow(events: Pick<StateEvents, "on">): () => void {
    const off = events.on("chunk:transition", (e) => {
      if (!opensOrCloses(e)) return;
      this.#pending.push(e);
      if (this.#pending.length === 1) setImmediate(() => void this.#flush());
    });
    return () => {
      off();
      void this.#flush();
    };
  }

  async #flush(): Promise<void> {
    const events = this.#pending;
    this.#pending = [];
    await this.recordAll(events).catch((err: unknown) => this.log.debug("chunk attempts not recorded", { events: events.length, error: err }));
  }

  async record(e: ChunkTransitionEvent): Promise<void> {
    await this.recordAll([e]);
  }

  /**
   * Records `events` in order in one transaction. A claim opens a row (and ends whatever attempt of
   * the chunk was still open, as superseded); leaving "leased" closes the newest open row of the
   * chunk with the outcome. Rows opened by these events are closed in memory and inserted at the
   * end, in one statement.
   */
  async recordAll(events: readonly ChunkTransitionEvent[]): Promise<void> {
    const recorded = events.filter(opensOrCloses);
    if (recorded.length === 0) return;
    await this.database.write((db) =>
      db.transaction(async (tx) => {
        /** The newest row each chunk opened in this batch. */
        const opened = new Map<string, NewAttempt>();
        const rows: NewAttempt[] = [];
        /** Chunks whose rows from before this batch a claim supersedes, by the claim's time. */
        const superseded = new Map<number, string[]>();
        for (const e of recorded) {
          const mine = opened.get(e.chunkId);
          if (e.to === "leased" && e.machineId) {
            // a newer claim ends whatever attempt of this chunk was still open
            if (mine) {
              if (mine.outcome === "running") Object.assign(mine, { endedAt: e.at, outcome: "superseded" });
            } else {
              superseded.set(e.at, [...(superseded.get(e.at) ?? []), e.chunkId]);
            }
            const row: NewAttempt = {
              chunkId: e.chunkId,
              episodeId: e.episodeId,
              chunkIndex: e.index,
              machineId: e.machineId,
              generation: e.generation,
              attempt: e.attempt,
              startedAt: e.at,
              outcome: "running",
            };
            opened.set(e.chunkId, row);
            rows.push(row);
            continue;
          }
          const ended = { endedAt: e.at, outcome: attemptOutcome(e.to), error: e.to === "done" ? null : e.error };
          if (mine) {
            // its newest open row is this batch's (older ones were superseded when it was opened)
            if (mine.outcome === "running") Object.assign(mine, ended);
            continue;
          }
          const newest = tx
            .select({ id: chunkAttempts.id })
            .from(chunkAttempts)
            .where(and(eq(chunkAttempts.chunkId, e.chunkId), eq(chunkAttempts.outcome, "running")))
            .orderBy(desc(chunkAttempts.id))
            .limit(1);
          await tx.update(chunkAttempts).set(ended).where(eq(chunkAttempts.id, newest));
        }
        // rows from before this batch only: this batch's are inserted below
        for (const [at, chunkIds] of superseded) {
          await tx
            .update(chunkAttempts)
            .set({ endedAt: at, outcome: "superseded" })
            .where(and(inArray(chunkAttempts.chunkId, chunkIds), eq(chunkAttempts.outcome, "running")));
        }
        if (rows.length > 0) await tx.insert(chunkAttempts).values(rows);
      }),
    );
  }

  async forEpisode(episodeId: string): Promise<ChunkAttemptRow[]> {
    return this.database.db.select().from(chunkAttempts).where(eq(chunkAttempts.episodeId, episodeId)).orderBy(asc(chunkAttempts.startedAt)).all();
  }
}
