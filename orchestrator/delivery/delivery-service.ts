/**
 * Signed completion callbacks. A pass (run by a PassRunner, woken by every episode that finishes
 * and at the next due retry; its timer is only the crash-safe backstop) does two things:
 * 1. every finished episode (done or failed) with a callback URL gets one delivery row
 *    (`episode.transcribed` / `episode.failed`), so no completion path needs a hook and a crash
 *    between "done" and "sent" loses nothing;
 * 2. every due delivery is attempted; each attempt is recorded; a failure is retried on the
 *    backoff schedule (about a day in all) and the delivery is given up after the last one.
 * On the leader the pass runs under its fence (cluster/fence.ts): each delivery is first claimed
 * by a fenced write (its next attempt moved past this attempt's timeout), so a deposed leader's
 * late pass sends nothing, and a successor does not send it again while this attempt may still run.
 */
import { randomBytes } from "node:crypto";
import { and, asc, eq, inArray, isNotNull, isNull, lte, min } from "drizzle-orm";
import { deliveries, deliveryAttempts, episodeLinks, episodes } from "../../db/schema.ts";
import type { Fence } from "../cluster/fence.ts";
import { isDeposedError } from "../cluster/fence.ts";
import type { Logger } from "../log.ts";
import type { Database } from "../store/database.ts";
import { sendCallback, type SendResult } from "./callback-sender.ts";
import { transcriptUrls } from "./transcript-links.ts";

export type DeliveryRow = typeof deliveries.$inferSelect;
export type DeliveryAttemptRow = typeof deliveryAttempts.$inferSelect;

/** Wait after attempt n (index n-1) before attempt n+1. Ten attempts over about 28 hours. */
export const RETRY_DELAYS_SEC = [10, 60, 300, 900, 3600, 7200, 14_400, 28_800, 43_200] as const;
export const MAX_DELIVERY_ATTEMPTS = RETRY_DELAYS_SEC.length + 1;

export interface DeliveryServiceDeps {
  database: Database;
  /** Standard Webhooks secret (`whsec_…`) that signs every callback. */
  secret: string;
  /** Base URL the transcript links in events point at. */
  publicUrl: () => string;
  allowPrivateUrls: boolean;
  log: Logger;
  now?: () => number;
  timeoutMs?: number;
  /** Sends one attempt; defaults to an HTTP POST (tests may wrap it to observe). */
  send?: typeof sendCallback;
}

export interface DeliveryView {
  id: string;
  event: string;
  url: string;
  state: string;
  attempts: Array<{ attempt: number; at: string; httpStatus: number | null; error: string | null; durationMs: number }>;
  nextAttemptAt: string | null;
  deliveredAt: string | null;
}

export class DeliveryService {
  private readonly now: () => number;

  constructor(private readonly deps: DeliveryServiceDeps) {
    this.now = deps.now ?? Date.now;
  }

  /** One pass: create deliveries for newly finished episodes, then attempt the due ones. */
  async pass(signal?: AbortSignal, fence?: Fence): Promise<{ created: number; attempted: number; delivered: number }> {
    const created = await this.enqueueFinished(fence);
    let attempted = 0;
    let delivered = 0;
    for (const d of await this.due()) {
      if (signal?.aborted) break;
      try {
        if (fence && !(await this.claim(d, fence))) continue;
        attempted++;
        if (await this.attempt(d, fence)) delivered++;
      } catch (err) {
        if (isDeposedError(err)) throw err;
        // The send itself never throws (a failure is a recorded attempt); this is the record being
        // refused. The delivery stays due and is tried next pass; the other deliveries go on.
        this.deps.log.error("callback attempt could not be recorded", { deliveryId: d.id, episodeId: d.episodeId, error: err });
      }
    }
    return { created, attempted, delivered };
  }

  /** Create the delivery of every finished episode that has a callback URL and none yet. */
  async enqueueFinished(fence?: Fence): Promise<number> {
    const db = this.deps.database.db;
    const rows = await db
      .select({ episode: episodes, callbackUrl: episodeLinks.callbackUrl })
      .from(episodeLinks)
      .innerJoin(episodes, eq(episodes.id, episodeLinks.episodeId))
      .leftJoin(deliveries, eq(deliveries.episodeId, episodes.id))
      .where(and(isNotNull(episodeLinks.callbackUrl), inArray(episodes.status, ["done", "failed"]), isNull(deliveries.id)))
      .all();
    if (rows.length === 0) return 0;
    const now = this.now();
    const values = rows.map(({ episode, callbackUrl }) => {
      const event = episode.status === "done" ? "episode.transcribed" : "episode.failed";
      const payload = {
        type: event,
        timestamp: new Date(now).toISOString(),
        data: {
          episodeId: episode.id,
          status: episode.status,
          title: episode.title,
          /** BCP 47: what `<podcast:transcript language>` should say. */
          language: episode.language,
          error: episode.error,
          sourceUrl: episode.sourceUrl,
          durationSec: episode.durationSec,
          finishedAt: episode.finishedAt === null ? null : new Date(episode.finishedAt).toISOString(),
          ...(episode.status === "done" ? { transcripts: transcriptUrls(this.deps.publicUrl(), episode.id) } : {}),
        },
      };
      return {
        id: `dlv_${randomBytes(8).toString("hex")}`,
        episodeId: episode.id,
        event,
        url: callbackUrl!,
        state: "pending",
        payload: JSON.stringify(payload),
        attempts: 0,
        nextAttemptAt: now,
        createdAt: now,
        deliveredAt: null,
      };
    });
    await this.deps.database.write((w) => w.insert(deliveries).values(values).onConflictDoNothing(), { fence });
    return values.length;
  }

  /** When the earliest pending delivery is due (ms since the epoch), or null when none is pending. */
  async nextDueAt(): Promise<number | null> {
    const row = await this.deps.database.db
      .select({ at: min(deliveries.nextAttemptAt) })
      .from(deliveries)
      .where(eq(deliveries.state, "pending"))
      .get();
    return row?.at ?? null;
  }

  private async due(): Promise<DeliveryRow[]> {
    return this.deps.database.db
      .select()
      .from(deliveries)
      .where(and(eq(deliveries.state, "pending"), lte(deliveries.nextAttemptAt, this.now())))
      .orderBy(asc(deliveries.nextAttemptAt))
      .limit(50)
      .all();
  }

  /**
   * Takes a due delivery for one attempt (fenced): moves its next attempt past the attempt's
   * timeout, only if nobody moved it since `d` was read. False when it was taken or changed.
   */
  private async claim(d: DeliveryRow, fence: Fence): Promise<boolean> {
    const until = this.now() + (this.deps.timeoutMs ?? 15_000) + 5_000;
    const taken = await this.deps.database.write(
      (db) =>
        db
          .update(deliveries)
          .set({ nextAttemptAt: until })
          .where(
            and(
              eq(deliveries.id, d.id),
              eq(deliveries.state, "pending"),
              eq(deliveries.attempts, d.attempts),
              eq(deliveries.nextAttemptAt, d.nextAttemptAt!),
            ),
          )
          .run(),
      { fence },
    );
    return taken.rowsAffected > 0;
  }

  /** One attempt at one delivery, recorded. Returns whether it was delivered. */
  private async attempt(d: DeliveryRow, fence?: Fence): Promise<boolean> {
    const at = this.now();
    const send = this.deps.send ?? sendCallback;
    let result: SendResult;
    try {
      result = await send(d.url, d.id, d.payload, at, {
        secret: this.deps.secret,
        allowPrivate: this.deps.allowPrivateUrls,
        timeoutMs: this.deps.timeoutMs ?? 15_000,
      });
    } catch (err) {
      result = { ok: false, httpStatus: null, error: (err as Error).message, retryAfterSec: undefined, durationMs: 0 };
    }
    const attempt = d.attempts + 1;
    const giveUp = !result.ok && attempt >= MAX_DELIVERY_ATTEMPTS;
    const delaySec = Math.max(RETRY_DELAYS_SEC[attempt - 1] ?? 0, Math.min(result.retryAfterSec ?? 0, 24 * 3600));
    const state = result.ok ? "delivered" : giveUp ? "failed" : "pending";
    const nextAttemptAt = result.ok || giveUp ? null : at + delaySec * 1000;
    await this.deps.database.commit(
      async (db, emit) => {
        await db.batch([
          db
            .insert(deliveryAttempts)
            .values({ deliveryId: d.id, attempt, at, httpStatus: result.httpStatus, error: result.error, durationMs: result.durationMs }),
          db
            .update(deliveries)
            .set({ attempts: attempt, state, nextAttemptAt, deliveredAt: result.ok ? at : null })
            .where(eq(deliveries.id, d.id)),
        ]);
        const { httpStatus, error, ok } = result;
        emit({
          type: "delivery:attempt",
          deliveryId: d.id,
          episodeId: d.episodeId,
          event: d.event,
          attempt,
          at,
          ok,
          httpStatus,
          error: error ?? null,
          state,
          nextAttemptAt,
        });
      },
      { fence },
    );
    const fields = { deliveryId: d.id, episodeId: d.episodeId, event: d.event, attempt, httpStatus: result.httpStatus };
    if (result.ok) this.deps.log.info("callback delivered", fields);
    else
      this.deps.log.warn(giveUp ? "callback given up" : "callback attempt failed", {
        ...fields,
        error: result.error,
        retryInSec: giveUp ? undefined : delaySec,
      });
    return result.ok;
  }

  /**
   * Sends a delivery again (the dashboard's resend): it becomes pending and due now, whatever it
   * was; the next pass attempts it, numbering the attempt after the earlier ones. False when there
   * is no such delivery.
   */
  async resend(id: string): Promise<boolean> {
    return this.deps.database.write(async (db) => {
      const row = await db.select().from(deliveries).where(eq(deliveries.id, id)).get();
      if (!row) return false;
      await db.update(deliveries).set({ state: "pending", nextAttemptAt: this.now(), deliveredAt: null }).where(eq(deliveries.id, id));
      return true;
    });
  }

  /** Deliveries of one episode with every attempt, for `jobs show`. */
  async forEpisode(episodeId: string): Promise<DeliveryView[]> {
    const db = this.deps.database.db;
    const rows = await db.select().from(deliveries).where(eq(deliveries.episodeId, episodeId)).orderBy(asc(deliveries.createdAt)).all();
    const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
    return Promise.all(
      rows.map(async (d) => {
        const attempts = await db
          .select()
          .from(deliveryAttempts)
          .where(eq(deliveryAttempts.deliveryId, d.id))
          .orderBy(asc(deliveryAttempts.attempt))
          .all();
        return {
          id: d.id,
          event: d.event,
          url: d.url,
          state: d.state,
          attempts: attempts.map((a) => ({
            attempt: a.attempt,
            at: new Date(a.at).toISOString(),
            httpStatus: a.httpStatus,
            error: a.error,
            durationMs: a.durationMs,
          })),
          nextAttemptAt: d.state === "pending" ? iso(d.nextAttemptAt) : null,
          deliveredAt: iso(d.deliveredAt),
        };
      }),
    );
  }
}
