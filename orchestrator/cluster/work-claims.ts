/**
 * Claimable work: an episode's ingest or stitch is recorded in `work_claims` with an owner (this
 * orchestrator's instance id) and an expiry, instead of living only as a promise in one process.
 * Whoever holds a live claim does the work; anyone may take a claim that expired unreleased
 * (its owner died or stalled), which is how another orchestrator picks up what a dead one was doing.
 *
 * Clocks: the expiry is computed and compared inside the SQL statements, with the database's own
 * clock (`DB_NOW_MS`): with sqld (DATABASE_URL) every statement runs on the server, and with a
 * `file:` database every orchestrator is on the one host, so hosts whose clocks disagree still
 * agree on whether a claim is live. The holder stops its work by its own monotonic clock: a claim
 * last renewed by a request sent at local time t is valid until t + TTL at the latest, so when
 * renewals fail (lost, or the database unreachable) the work is aborted before anyone else can
 * take the claim over.
 */
import type { Transaction } from "@libsql/client";
import type { Logger } from "../log.ts";
import type { Database } from "../store/database.ts";

/** What may be claimed: the work of one episode that must run once and can be interrupted. */
export type ClaimKind = "ingest" | "stitch";
export const CLAIM_KINDS: readonly ClaimKind[] = ["ingest", "stitch"];

/** Epoch milliseconds by the database's clock (SQLite `julianday`, which every libSQL version has). */
const DB_NOW_MS = "cast((julianday('now') - 2440587.5) * 86400000 as integer)";

/** The claim was taken by another orchestrator (or could not be renewed in time): the local work must stop. */
export class ClaimLostError extends Error {
  override readonly name = "ClaimLostError";
  constructor(
    readonly kind: ClaimKind,
    readonly episodeId: string,
  ) {
    super(`the ${kind} claim on episode ${episodeId} is no longer ours: another orchestrator may have taken it over`);
  }
}

/** The result of a claim attempt. `takenOver`: it had expired under another owner who never released it. */
export type ClaimOutcome = { owned: true; takenOver: boolean } | { owned: false };

/** Whose claim on what: the guard of a write that only the claim's holder may make (store/guarded-write.ts). */
export interface ClaimRef {
  readonly kind: ClaimKind;
  readonly episodeId: string;
  /** The holder's instance id. */
  readonly owner: string;
}

/** Inside a write transaction: throws ClaimLostError unless `claim.owner` holds a live claim (by the database's clock). */
export async function checkClaim(tx: Pick<Transaction, "execute">, claim: ClaimRef): Promise<void> {
  const r = await tx.execute({
    sql: `select 1 as ok from work_claims where kind = ? and episode_id = ? and owner = ? and expires_at > ${DB_NOW_MS}`,
    args: [claim.kind, claim.episodeId, claim.owner],
  });
  if (r.rows.length === 0) throw new ClaimLostError(claim.kind, claim.episodeId);
}

/** A claim being held while its work runs (`WorkClaims.hold`); as a ClaimRef it guards the work's writes. */
export interface HeldClaim extends ClaimRef {
  /** Aborted (with a ClaimLostError as reason) when a renewal fails: the work must stop. */
  readonly signal: AbortSignal;
  /** Throws ClaimLostError unless the database still names us as the owner (a fence before a write that matters). */
  check(): Promise<void>;
}

/** A live claim as the takeover pass sees it. */
export interface LiveClaim {
  episodeId: string;
  owner: string;
  expiresAt: number;
}

export class WorkClaims {
  /** How often a held claim is renewed: three renewals fit in one TTL, so one slow or lost renewal costs nothing. */
  readonly renewEveryMs: number;

  constructor(
    private readonly database: Database,
    /** This orchestrator's instance id (cluster/instance-id.ts). */
    readonly owner: string,
    readonly ttlMs: number,
    private readonly log: Logger,
  ) {
    if (!(ttlMs > 0)) throw new RangeError(`claim TTL must be positive, got ${ttlMs}`);
    this.renewEveryMs = Math.max(1, Math.floor(ttlMs / 3));
  }

  /**
   * Claims `kind` of `episodeId` if it is free (never claimed, released, expired) or already ours
   * (then it is only extended): one conditional upsert, so two orchestrators racing for it cannot both win.
   */
  async claim(kind: ClaimKind, episodeId: string): Promise<ClaimOutcome> {
    // the set clauses read the row as it was (SQLite evaluates them all against the old row)
    const rows = await this.#execute(
      `insert into work_claims (kind, episode_id, owner, expires_at, claimed_at, attempts, taken_over, taken_from)
       values (?, ?, ?, ${DB_NOW_MS} + ?, ${DB_NOW_MS}, 1, 0, null)
       on conflict (kind, episode_id) do update set
         taken_from = case when work_claims.owner is not null and work_claims.owner <> excluded.owner then work_claims.owner end,
         taken_over = work_claims.taken_over + (work_claims.owner is not null and work_claims.owner <> excluded.owner),
         owner = excluded.owner,
         expires_at = excluded.expires_at,
         claimed_at = excluded.claimed_at,
         attempts = work_claims.attempts + (work_claims.owner is null or work_claims.owner <> excluded.owner)
       where work_claims.owner is null or work_claims.owner = excluded.owner or work_claims.expires_at <= ${DB_NOW_MS}
       returning taken_from`,
      [kind, episodeId, this.owner, this.ttlMs],
    );
    const row = rows[0];
    if (!row) return { owned: false };
    const takenFrom = typeof row.taken_from === "string" ? row.taken_from : undefined;
    if (takenFrom !== undefined) this.log.info("work claim taken over", { kind, episodeId, from: takenFrom, owner: this.owner });
    return { owned: true, takenOver: takenFrom !== undefined };
  }

  /** Extends our claim by a TTL from now; false when it is no longer ours (taken over, or released). */
  async renew(kind: ClaimKind, episodeId: string): Promise<boolean> {
    const rows = await this.#execute(
      `update work_claims set expires_at = ${DB_NOW_MS} + ? where kind = ? and episode_id = ? and owner = ? returning 1 as ok`,
      [this.ttlMs, kind, episodeId, this.owner],
    );
    return rows.length > 0;
  }

  /** Gives the claim up (the work ended, whatever its outcome): anyone may claim it at once. A claim no longer ours is left alone. */
  async release(kind: ClaimKind, episodeId: string): Promise<void> {
    await this.#execute(`update work_claims set owner = null, expires_at = 0 where kind = ? and episode_id = ? and owner = ?`, [
      kind,
      episodeId,
      this.owner,
    ]);
  }

  /** Whether the database names us as the owner of a live claim. */
  async holds(kind: ClaimKind, episodeId: string): Promise<boolean> {
    const r = await this.database.client.execute({
      sql: `select 1 as ok from work_claims where kind = ? and episode_id = ? and owner = ? and expires_at > ${DB_NOW_MS}`,
      args: [kind, episodeId, this.owner],
    });
    return r.rows.length > 0;
  }

  /** Live claims of `kind` (anyone's): what the takeover pass leaves alone. */
  async live(kind: ClaimKind): Promise<Map<string, LiveClaim>> {
    const r = await this.database.client.execute({
      sql: `select episode_id, owner, expires_at from work_claims where kind = ? and owner is not null and expires_at > ${DB_NOW_MS}`,
      args: [kind],
    });
    return new Map(
      r.rows.map((row) => {
        const episodeId = row.episode_id as string;
        return [episodeId, { episodeId, owner: row.owner as string, expiresAt: Number(row.expires_at) }];
      }),
    );
  }

  /** Releases every claim `owner` holds: a previous run of this data directory, which the data-dir lock proves dead. */
  async releaseOwner(owner: string): Promise<number> {
    const rows = await this.#execute(`update work_claims set owner = null, expires_at = 0 where owner = ? returning 1 as ok`, [owner]);
    return rows.length;
  }

  /**
   * Runs `work` under a claim: claims it (returns `{ ran: false }` when someone else holds it),
   * renews it every TTL/3 while `work` runs, aborts `held.signal` when a renewal fails or cannot be
   * made before the claim would expire, and releases it when `work` ends (unless it was lost).
   */
  async hold<T>(
    kind: ClaimKind,
    episodeId: string,
    work: (held: HeldClaim) => Promise<T>,
  ): Promise<{ ran: true; value: T; takenOver: boolean } | { ran: false }> {
    const sentAt = performance.now();
    const outcome = await this.claim(kind, episodeId);
    if (!outcome.owned) return { ran: false };
    const abort = new AbortController();
    const lost = (): void => {
      if (!abort.signal.aborted) abort.abort(new ClaimLostError(kind, episodeId));
    };
    // local deadline: the claim cannot outlive a TTL past the send time of the last renewal that succeeded
    let validUntil = sentAt + this.ttlMs;
    let renewing: Promise<void> | undefined;
    const renewOnce = async (): Promise<void> => {
      const sent = performance.now();
      try {
        if (await this.renew(kind, episodeId)) validUntil = sent + this.ttlMs;
        else {
          this.log.warn("work claim lost: stopping the local work", { kind, episodeId, owner: this.owner });
          lost();
        }
      } catch (err) {
        this.log.warn("could not renew a work claim", { kind, episodeId, error: err });
        // one more try fits before the claim would expire? otherwise stop now, before anyone may take it
        if (performance.now() + this.renewEveryMs >= validUntil) lost();
      }
    };
    const timer = setInterval(() => {
      if (renewing || abort.signal.aborted) return;
      renewing = renewOnce().finally(() => (renewing = undefined));
    }, this.renewEveryMs);
    timer.unref();
    const held: HeldClaim = {
      kind,
      episodeId,
      owner: this.owner,
      signal: abort.signal,
      check: async () => {
        if (abort.signal.aborted || !(await this.holds(kind, episodeId))) {
          lost();
          throw new ClaimLostError(kind, episodeId);
        }
      },
    };
    try {
      const value = await work(held);
      return { ran: true, value, takenOver: outcome.takenOver };
    } finally {
      clearInterval(timer);
      await renewing;
      if (!abort.signal.aborted) {
        await this.release(kind, episodeId).catch((err: unknown) =>
          // it expires by itself within a TTL; until then nobody takes the (finished) work
          this.log.warn("could not release a work claim; it expires by itself", { kind, episodeId, error: err }),
        );
      }
    }
  }

  /** A write, in the database's one-writer-at-a-time queue (store/database.ts). */
  async #execute(sql: string, args: Array<string | number>): Promise<Array<Record<string, unknown>>> {
    const r = await this.database.write(() => this.database.client.execute({ sql, args }));
    return r.rows;
  }
}
