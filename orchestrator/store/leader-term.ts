/**
 * The database side of fencing (cluster/fence.ts): the `leader_term` row holds the highest term
 * any orchestrator was elected at. A new leader raises it before its duties start; a write made
 * with a fence runs in one write transaction that first checks the row still holds the fence's
 * term, and throws FencedError (rolling back, so nothing is written) when a newer leader raised it.
 * libSQL serialises write transactions (BEGIN IMMEDIATE, or sqld's queue), so every write of a
 * deposed leader is either ordered before its successor's raise or refused.
 */
import type { Client, ResultSet, Transaction } from "@libsql/client";
import { FencedError, type Fence } from "../cluster/fence.ts";
import type { Database } from "./database.ts";

/** The fencing row as stored; null before any orchestrator was elected. */
export interface StoredLeaderTerm {
  term: number;
  holder: string;
  since: number;
}

const READ_TERM = "SELECT term, holder, since FROM leader_term WHERE id = 1";

function rowTerm(rs: ResultSet): StoredLeaderTerm | null {
  const row = rs.rows[0];
  return row ? { term: Number(row.term), holder: typeof row.holder === "string" ? row.holder : "", since: Number(row.since) } : null;
}

/** Throws FencedError unless the stored term is `fence.term`: the first statement of a fenced write (store/guarded-write.ts). */
export async function checkLeaderTerm(tx: Pick<Transaction, "execute">, fence: Fence): Promise<void> {
  const stored = rowTerm(await tx.execute(READ_TERM));
  if (stored?.term !== fence.term) throw new FencedError(fence.term, stored?.term ?? null);
}

/**
 * Raises the stored term to `fence.term` on election. Throws FencedError when the row already
 * holds a higher term: a newer leader exists (or the lease bucket was recreated and its revisions
 * started over: the leader part then moves them past the stored term, LeaderLease.skipPast); this
 * process must not lead then.
 */
export async function raiseLeaderTerm(database: Database, fence: Fence, holder: string, since: number): Promise<void> {
  fence.check();
  const rs = await database.write(() =>
    database.client.execute({
      sql:
        "INSERT INTO leader_term (id, term, holder, since) VALUES (1, ?, ?, ?) " +
        "ON CONFLICT(id) DO UPDATE SET term = excluded.term, holder = excluded.holder, since = excluded.since WHERE excluded.term >= leader_term.term",
      args: [fence.term, holder, since],
    }),
  );
  if (rs.rowsAffected === 0) {
    const stored = await readLeaderTerm(database.client);
    throw new FencedError(fence.term, stored?.term ?? null);
  }
}

/** The fencing row, for views and tests. */
export async function readLeaderTerm(client: Client): Promise<StoredLeaderTerm | null> {
  return rowTerm(await client.execute(READ_TERM));
}
