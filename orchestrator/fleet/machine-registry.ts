/**
 * The orchestrator's own record of its worker machines (the `machines` table), the machine event
 * log (`machine_events`: every observed state change and every autoscaler/sweeper action, with its
 * reason) and daily machine-seconds (`fleet_usage`). All writes go through Database.write; state
 * changes through Database.commit, which announces each as a `machine:transition` event once
 * committed (events/state-transitions.ts checks it: a destroyed machine never comes back).
 * The fleet's passes write with the leader's fence (cluster/fence.ts): a deposed leader's late
 * write throws FencedError and changes nothing.
 */
import { and, desc, eq, inArray, isNotNull, isNull, max, sql } from "drizzle-orm";
import { chunks, episodes, fleetUsage, machineEvents, machines } from "../../db/schema.ts";
import type { MachineTransitionEvent } from "../events/state-events.ts";
import { machineTransition } from "../events/state-transitions.ts";
import type { Fence } from "../cluster/fence.ts";
import type { Database } from "../store/database.ts";
import { isRunning, type LeasedChunk } from "./fleet-state.ts";
import type { Machine, MachineState } from "./machine.ts";

export type MachineRow = typeof machines.$inferSelect;
export type MachineEventRow = typeof machineEvents.$inferSelect;

export interface MachineEventInput {
  machineId: string | null;
  kind: string;
  fromState?: string | null;
  toState?: string | null;
  reason?: string | null;
  detail?: string | null;
}

/** Longest stretch one observation may add to usage: a stalled orchestrator must not bill hours at once. */
const MAX_ACCRUAL_MS = 10 * 60_000;

/** UTC day key, e.g. "2025-01-31". */
export function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

export class MachineRegistry {
  constructor(
    private readonly database: Database,
    private readonly now: () => number = Date.now,
  ) {}

  private get db() {
    return this.database.db;
  }

  /** Records a machine this orchestrator just created (before anything else can see it as an orphan). */
  async recordCreated(m: Machine, fleetId: string, pool: boolean, reason: string, fence?: Fence): Promise<void> {
    const t = this.now();
    await this.database.commit(
      async (db, emit) => {
        const known = await db.select({ id: machines.id }).from(machines).where(eq(machines.id, m.id)).get();
        await db.batch([
          db
            .insert(machines)
            .values({
              id: m.id,
              state: m.state,
              region: m.region,
              image: m.config?.image ?? null,
              createdAt: Date.parse(m.created_at) || t,
              updatedAt: t,
              fleetId,
              pool,
            })
            .onConflictDoNothing(),
          db.insert(machineEvents).values({ at: t, machineId: m.id, kind: "create", toState: m.state, reason, detail: m.region }),
        ]);
        if (!known) emit(machineTransition(m.id, null, m.state, t, "create", reason));
      },
      { fence },
    );
  }

  /** Machines not yet known to be destroyed. */
  async active(): Promise<MachineRow[]> {
    return this.db.select().from(machines).where(isNull(machines.destroyedAt)).all();
  }

  async recent(limit = 200): Promise<MachineRow[]> {
    return this.db.select().from(machines).orderBy(desc(machines.createdAt)).limit(limit).all();
  }

  async event(e: MachineEventInput, fence?: Fence): Promise<void> {
    await this.database.write((db) => db.insert(machineEvents).values({ at: this.now(), ...e }), { fence });
  }

  async events(limit = 100, machineId?: string): Promise<MachineEventRow[]> {
    const q = this.db.select().from(machineEvents);
    const filtered = machineId ? q.where(eq(machineEvents.machineId, machineId)) : q;
    return filtered.orderBy(desc(machineEvents.id)).limit(limit).all();
  }

  /**
   * Applies one observation of the listed machines: records every state change as an event,
   * notes starts, and adds the machine-seconds run since the last observation to today's usage.
   */
  async observe(listed: Machine[], fence?: Fence): Promise<void> {
    const t = this.now();
    const rows = new Map((await this.active()).map((r) => [r.id, r]));
    let accrued = 0;
    const statements = [];
    const transitions: MachineTransitionEvent[] = [];
    for (const m of listed) {
      const row = rows.get(m.id);
      // a row that says destroyed but was never marked ended is left for markEnded: destroyed is final
      if (!row || row.state === "destroyed") continue;
      const since = Date.parse(m.updated_at) || t;
      const running = isRunning(m.state);
      if (row.accruedAt !== null) accrued += Math.min(MAX_ACCRUAL_MS, Math.max(0, (running ? t : Math.min(t, since)) - row.accruedAt));
      const patch: Partial<MachineRow> = { accruedAt: running ? (row.accruedAt === null ? Math.min(t, since) : t) : null, pid: m.pid ?? null };
      if (m.state !== row.state) {
        transitions.push(machineTransition(m.id, row.state, m.state, t, "state"));
        patch.state = m.state;
        patch.updatedAt = t;
        if (m.state === "started") patch.startedAt = since;
        statements.push(this.db.insert(machineEvents).values({ at: t, machineId: m.id, kind: "state", fromState: row.state, toState: m.state }));
      } else if (m.state === "started" && row.startedAt === null) {
        patch.startedAt = since;
      }
      statements.push(this.db.update(machines).set(patch).where(eq(machines.id, m.id)));
    }
    if (accrued > 0) {
      const seconds = accrued / 1000;
      statements.push(
        this.db
          .insert(fleetUsage)
          .values({ day: utcDay(t), machineSeconds: seconds })
          .onConflictDoUpdate({ target: fleetUsage.day, set: { machineSeconds: sql`${fleetUsage.machineSeconds} + ${seconds}` } }),
      );
    }
    if (statements.length === 0) return;
    const [first, ...rest] = statements;
    await this.database.commit(
      async (db, emit) => {
        await db.batch([first!, ...rest]);
        for (const e of transitions) emit(e);
      },
      { fence },
    );
  }

  /** Marks a machine destroyed (by us) or gone (no longer listed), with an event saying which and why. */
  async markEnded(id: string, kind: "destroy" | "gone", reason: string, detail?: string, fence?: Fence): Promise<void> {
    const t = this.now();
    await this.database.commit(
      async (db, emit) => {
        const row = await db.select().from(machines).where(eq(machines.id, id)).get();
        const event = machineTransition(id, row?.state ?? null, "destroyed", t, kind, reason);
        await db.batch([
          db.update(machines).set({ state: "destroyed", destroyedAt: t, updatedAt: t, accruedAt: null, pid: null }).where(eq(machines.id, id)),
          db
            .insert(machineEvents)
            .values({ at: t, machineId: id, kind, fromState: row?.state ?? null, toState: "destroyed", reason, detail: detail ?? null }),
        ]);
        emit(event);
      },
      { fence },
    );
  }

  /** Machine-seconds used on the UTC day of `at`. */
  async usageSeconds(at = this.now()): Promise<number> {
    const row = await this.db
      .select()
      .from(fleetUsage)
      .where(eq(fleetUsage.day, utcDay(at)))
      .get();
    return row?.machineSeconds ?? 0;
  }

  /** Open chunks of episodes being transcribed: waiting (queued) and held by a worker (leased). */
  async openChunks(): Promise<{ queued: number; leased: number }> {
    const rows = await this.db
      .select({ state: chunks.state, n: sql<number>`count(*)` })
      .from(chunks)
      .innerJoin(episodes, eq(chunks.episodeId, episodes.id))
      .where(and(eq(episodes.status, "transcribing"), inArray(chunks.state, ["queued", "leased"])))
      .groupBy(chunks.state)
      .all();
    const out = { queued: 0, leased: 0 };
    for (const r of rows) out[r.state as "queued" | "leased"] = Number(r.n);
    return out;
  }

  /**
   * Chunks of transcribing episodes leased by machines already recorded as ended (destroyed or
   * gone), by owner: claims applied after their machine's end, from the event backlog.
   */
  async leasesOfEnded(): Promise<Map<string, string[]>> {
    const rows = await this.db
      .select({ id: chunks.id, owner: machines.id })
      .from(chunks)
      .innerJoin(episodes, eq(chunks.episodeId, episodes.id))
      .innerJoin(machines, eq(chunks.leaseOwner, machines.id))
      .where(and(eq(episodes.status, "transcribing"), eq(chunks.state, "leased"), isNotNull(machines.destroyedAt)))
      .all();
    const out = new Map<string, string[]>();
    for (const r of rows) out.set(r.owner, [...(out.get(r.owner) ?? []), r.id]);
    return out;
  }

  /** Every chunk of a transcribing episode that a worker holds, whoever the worker is. */
  async leasedChunks(): Promise<LeasedChunk[]> {
    const rows = await this.db
      .select({
        id: chunks.id,
        episodeId: chunks.episodeId,
        owner: chunks.leaseOwner,
        generation: chunks.generation,
        machineLosses: chunks.machineLosses,
      })
      .from(chunks)
      .innerJoin(episodes, eq(chunks.episodeId, episodes.id))
      .where(and(eq(episodes.status, "transcribing"), eq(chunks.state, "leased"), isNotNull(chunks.leaseOwner)))
      .all();
    return rows.map((r) => ({ ...r, owner: r.owner! }));
  }

  /** Latest claim (epoch ms) by a machine this orchestrator created, or null. */
  async lastFleetClaimAt(): Promise<number | null> {
    const row = await this.db
      .select({ at: max(chunks.leasedAt) })
      .from(chunks)
      .innerJoin(machines, eq(chunks.leaseOwner, machines.id))
      .get();
    return row?.at ?? null;
  }

  /** Per machine id: the chunks it leases now and the time of its latest lease. */
  async leases(ids: string[]): Promise<Map<string, { leased: string[]; lastClaimAt: number | null }>> {
    const out = new Map<string, { leased: string[]; lastClaimAt: number | null }>();
    if (ids.length === 0) return out;
    for (const id of ids) out.set(id, { leased: [], lastClaimAt: null });
    const latest = await this.db
      .select({ owner: chunks.leaseOwner, at: max(chunks.leasedAt) })
      .from(chunks)
      .where(and(inArray(chunks.leaseOwner, ids), isNotNull(chunks.leasedAt)))
      .groupBy(chunks.leaseOwner)
      .all();
    for (const r of latest) if (r.owner) out.get(r.owner)!.lastClaimAt = r.at ?? null;
    const held = await this.db
      .select({ id: chunks.id, owner: chunks.leaseOwner })
      .from(chunks)
      .innerJoin(episodes, eq(chunks.episodeId, episodes.id))
      .where(and(eq(episodes.status, "transcribing"), inArray(chunks.leaseOwner, ids), eq(chunks.state, "leased")))
      .all();
    for (const r of held) if (r.owner) out.get(r.owner)!.leased.push(r.id);
    return out;
  }
}

export type { MachineState };
