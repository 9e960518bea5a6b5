/**
 * The database side of fencing (cluster/fence.ts): the `leader_term` row holds the highest term
 * any orchestrator was elected at. A new leader raises it before its duties start; a write made
 * with a fence runs in one write transaction that first checks the row still holds the fence's
 * term, and throws FencedError (rolling back, so nothing is written) when a newer leader raised it.
 * libSQL serialises write transactions (BEGIN IMMEDIATE, or sqld's queue), so every write of a
 * deposed leader is either ordered before its successor's raise or refused.
 */
import type { Client, InArgs, InStatement, ResultSet, Transaction, TransactionMode } from "@libsql/client";
import { drizzle } from "drizzle-orm/libsql";
import * as schema from "../../db/schema.ts";
import { FencedError, type Fence } from "../cluster/fence.ts";
import type { Database, Db } from "./database.ts";

/** The fencing row as stored; null before any orchestrator was elected. */
export interface StoredLeaderTerm {
  term: number;
  holder: string;
  since: number;
}

const READ_TERM = "SELECT term, holder, since FROM leader_term WHERE id = 1";

/**
 * A libSQL Client over one open transaction, so drizzle statements (batches included) run inside
 * it. Only what drizzle calls is supported; the rest throws, since a write body must not open
 * transactions of its own or close the connection.
 */
class TransactionClient implements Client {
  readonly protocol: string;
  constructor(
    private readonly tx: Transaction,
    outer: Client,
  ) {
    this.protocol = outer.protocol;
  }
  get closed(): boolean {
    return this.tx.closed;
  }
  execute(stmt: InStatement): Promise<ResultSet>;
  execute(sql: string, args?: InArgs): Promise<ResultSet>;
  execute(stmt: InStatement | string, args?: InArgs): Promise<ResultSet> {
    return this.tx.execute(typeof stmt === "string" ? { sql: stmt, args: args ?? [] } : stmt);
  }
  batch(stmts: Array<InStatement | [string, InArgs?]>, _mode?: TransactionMode): Promise<ResultSet[]> {
    return this.tx.batch(stmts.map((s) => (Array.isArray(s) ? { sql: s[0], args: s[1] ?? [] } : s)));
  }
  executeMultiple(sql: string): Promise<void> {
    return this.tx.executeMultiple(sql);
  }
  migrate(): Promise<ResultSet[]> {
    return Promise.reject(new TypeError("no migrations inside a fenced write"));
  }
  transaction(): Promise<Transaction> {
    return Promise.reject(new TypeError("a fenced write is already a transaction"));
  }
  sync(): Promise<never> {
    return Promise.reject(new TypeError("no sync inside a fenced write"));
  }
  close(): void {
    throw new TypeError("a fenced write does not close the connection");
  }
  reconnect(): void {
    throw new TypeError("a fenced write does not reconnect");
  }
}

function rowTerm(rs: ResultSet): StoredLeaderTerm | null {
  const row = rs.rows[0];
  return row ? { term: Number(row.term), holder: typeof row.holder === "string" ? row.holder : "", since: Number(row.since) } : null;
}

/**
 * Runs `fn` in a write transaction that first checks the stored term is `fence.term`. The fence's
 * own clock check runs before anything touches the database.
 */
export async function fencedWrite<T>(client: Client, fence: Fence, fn: (db: Db) => Promise<T>): Promise<T> {
  fence.check();
  const tx = await client.transaction("write");
  try {
    const stored = rowTerm(await tx.execute(READ_TERM));
    if (stored?.term !== fence.term) throw new FencedError(fence.term, stored?.term ?? null);
    const result = await fn(drizzle(new TransactionClient(tx, client), { schema }));
    await tx.commit();
    return result;
  } catch (err) {
    if (!tx.closed) await tx.rollback().catch(() => undefined);
    throw err;
  } finally {
    tx.close();
  }
}

/**
 * Raises the stored term to `fence.term` on election. Throws FencedError when the row already
 * holds a higher term: a newer leader exists (or the lease bucket was recreated and its revisions
 * started over, which an operator must look at); this process must not lead then.
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
