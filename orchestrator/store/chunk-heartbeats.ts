/**
 * The holders' heartbeats (contract/wire.ts WorkerHeartbeat) in the chunks table: each one moves
 * `heartbeat_at` of the chunk it names, only while that holder still leases that attempt (fencing,
 * as for results), and the sweeper asks which leased chunks have been silent too long. Heartbeats
 * arrive on a plain NATS subject, so the time recorded is the orchestrator's, never the worker's.
 */
import { and, eq, isNotNull, lt } from "drizzle-orm";
import type { WorkerHeartbeat } from "../../contract/wire.ts";
import { chunks, episodes } from "../../db/schema.ts";
import type { Database } from "./database.ts";

/** A leased chunk whose holder has said nothing since `heartbeatAt`. */
export interface SilentLease {
  chunkId: string;
  owner: string;
  heartbeatAt: number;
}

export class ChunkHeartbeats {
  constructor(
    private readonly database: Database,
    private readonly now: () => number = Date.now,
  ) {}

  /** Records one heartbeat; false when its sender no longer holds that attempt (stale, or not yet claimed). */
  async apply(hb: WorkerHeartbeat): Promise<boolean> {
    return this.database.write(async (db) => {
      const result = await db
        .update(chunks)
        .set({ heartbeatAt: this.now() })
        .where(
          and(
            eq(chunks.id, hb.chunkId),
            eq(chunks.state, "leased"),
            eq(chunks.leaseOwner, hb.machineId),
            eq(chunks.attempt, hb.attempt),
            eq(chunks.generation, hb.generation ?? 1),
          ),
        )
        .run();
      return result.rowsAffected > 0;
    });
  }

  /** Leased chunks of transcribing episodes whose holder promised heartbeats and sent none since `before`. */
  async silentSince(before: number): Promise<SilentLease[]> {
    const rows = await this.database.db
      .select({ chunkId: chunks.id, owner: chunks.leaseOwner, heartbeatAt: chunks.heartbeatAt })
      .from(chunks)
      .innerJoin(episodes, eq(chunks.episodeId, episodes.id))
      .where(
        and(
          eq(episodes.status, "transcribing"),
          eq(chunks.state, "leased"),
          isNotNull(chunks.heartbeatAt),
          isNotNull(chunks.leaseOwner),
          lt(chunks.heartbeatAt, before),
        ),
      )
      .all();
    return rows.map((r) => ({ chunkId: r.chunkId, owner: r.owner!, heartbeatAt: r.heartbeatAt! }));
  }
}
