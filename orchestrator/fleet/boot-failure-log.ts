/**
 * Boot failures as they are learnt (the worker's WorkerBootFailed event, or the machine's exit
 * event when the worker could not publish), kept in the machine event log (`machine_events`, kind
 * `boot_failed`): reason = what went wrong, detail = `{"exitCode", "source"}`. One per machine:
 * the worker's own account replaces an exit-event guess that got there first.
 */
import { and, count, desc, eq, gt, inArray, sql } from "drizzle-orm";
import { machineEvents, machines } from "../../db/schema.ts";
import type { Database } from "../store/database.ts";
import type { BootFailure } from "./fleet-state.ts";

export const BOOT_FAILED_EVENT = "boot_failed";

export type BootFailureSource = "worker" | "exit_event";

interface Detail {
  exitCode: number | null;
  source: BootFailureSource;
}

function parseDetail(detail: string | null): Detail {
  try {
    const d = JSON.parse(detail ?? "{}") as Partial<Detail>;
    return { exitCode: typeof d.exitCode === "number" ? d.exitCode : null, source: d.source === "worker" ? "worker" : "exit_event" };
  } catch {
    return { exitCode: null, source: "exit_event" };
  }
}

export class BootFailureLog {
  constructor(
    private readonly database: Database,
    private readonly now: () => number = Date.now,
  ) {}

  /** Records a boot failure of `machineId`; returns false when one was already recorded (and kept). */
  async record(f: { machineId: string; exitCode: number | null; reason: string; source: BootFailureSource }): Promise<boolean> {
    const detail = JSON.stringify({ exitCode: f.exitCode, source: f.source } satisfies Detail);
    const reason = f.reason.slice(0, 1000);
    return this.database.write(async (db) => {
      const existing = await db
        .select()
        .from(machineEvents)
        .where(and(eq(machineEvents.machineId, f.machineId), eq(machineEvents.kind, BOOT_FAILED_EVENT)))
        .get();
      if (existing) {
        if (f.source !== "worker" || parseDetail(existing.detail).source === "worker") return false;
        await db.update(machineEvents).set({ reason, detail }).where(eq(machineEvents.id, existing.id));
        return true;
      }
      await db.insert(machineEvents).values({ at: this.now(), machineId: f.machineId, kind: BOOT_FAILED_EVENT, reason, detail });
      return true;
    });
  }

  /** Boot failures of this orchestrator's machines learnt after `since`, newest first. */
  async recent(since: number, limit = 50): Promise<BootFailure[]> {
    const rows = await this.database.db
      .select({ machineId: machineEvents.machineId, at: machineEvents.at, reason: machineEvents.reason, detail: machineEvents.detail })
      .from(machineEvents)
      .innerJoin(machines, eq(machineEvents.machineId, machines.id))
      .where(and(eq(machineEvents.kind, BOOT_FAILED_EVENT), gt(machineEvents.at, since)))
      .orderBy(desc(machineEvents.at))
      .limit(limit)
      .all();
    return rows.map((r) => ({ machineId: r.machineId!, at: r.at, exitCode: parseDetail(r.detail).exitCode, reason: r.reason ?? "unknown" }));
  }

  /** Which of `ids` already have a boot failure recorded. */
  async notedAmong(ids: string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const rows = await this.database.db
      .select({ id: machineEvents.machineId })
      .from(machineEvents)
      .where(and(eq(machineEvents.kind, BOOT_FAILED_EVENT), inArray(machineEvents.machineId, ids)))
      .all();
    return new Set(rows.map((r) => r.id!));
  }

  /** Machines ever recorded as failing to boot (for /metrics). */
  async total(): Promise<number> {
    const [row] = await this.database.db
      .select({ n: count(sql`distinct ${machineEvents.machineId}`) })
      .from(machineEvents)
      .where(eq(machineEvents.kind, BOOT_FAILED_EVENT))
      .all();
    return Number(row?.n ?? 0);
  }
}
