/**
 * A guarded write: one write transaction whose first statements check that the writer may still
 * write, so the check and the write are one atomic step even when another orchestrator writes to
 * the same sqld in between. Two guards exist:
 * - a leader fence (cluster/fence.ts): the stored leader term must still be the fence's
 *   (store/leader-term.ts), else FencedError;
 * - a work claim (cluster/work-claims.ts): the writer must still hold its live claim on the
 *   episode, else ClaimLostError. A claim holder paused between its last check and its write, past
 *   its TTL, is refused here instead of recording a chunk of a plan that another orchestrator now
 *   extends.
 * A failed check rolls back: nothing is written.
 */
import type { Client, InArgs, InStatement, ResultSet, Transaction, TransactionMode } from "@libsql/client";
import { drizzle } from "drizzle-orm/libsql";
import * as schema from "../../db/schema.ts";
import type { Fence } from "../cluster/fence.ts";
import { checkClaim, type ClaimRef } from "../cluster/work-claims.ts";
import type { Db } from "./database.ts";
import { checkLeaderTerm } from "./leader-term.ts";

/** What a guarded write checks before its body runs; at least one is given. */
export interface WriteGuards {
  fence?: Fence | undefined;
  claim?: ClaimRef | undefined;
}

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
    return Promise.reject(new TypeError("no migrations inside a guarded write"));
  }
  transaction(): Promise<Transaction> {
    return Promise.reject(new TypeError("a guarded write is already a transaction"));
  }
  sync(): Promise<never> {
    return Promise.reject(new TypeError("no sync inside a guarded write"));
  }
  close(): void {
    throw new TypeError("a guarded write does not close the connection");
  }
  reconnect(): void {
    throw new TypeError("a guarded write does not reconnect");
  }
}

/**
 * Runs `fn` in a write transaction that first checks `guards`. The fence's own clock check runs
 * before anything touches the database.
 */
export async function guardedWrite<T>(client: Client, guards: WriteGuards, fn: (db: Db) => Promise<T>): Promise<T> {
  guards.fence?.check();
  const tx = await client.transaction("write");
  try {
    if (guards.fence) await checkLeaderTerm(tx, guards.fence);
    if (guards.claim) await checkClaim(tx, guards.claim);
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
