/**
 * The fleet page's history and economics, from libSQL: machines by state over the last hour
 * (rebuilt from the machine event log, sampled every minute), boot failures with their reasons,
 * and machine-seconds per audio hour with the estimated cost at the configured price.
 */
import { and, desc, eq, gte, inArray, isNotNull, or, sql } from "drizzle-orm";
import { episodes, fleetUsage, machineEvents, machines } from "../../db/schema.ts";
import type { Database } from "../store/database.ts";

/** States grouped as the chart draws them. */
export const STATE_GROUPS = ["booting", "running", "stopped", "failed"] as const;
export type StateGroup = (typeof STATE_GROUPS)[number];

export function stateGroup(state: string): StateGroup | null {
  if (state === "started") return "running";
  if (state === "created" || state === "creating" || state === "starting" || state === "restarting" || state === "updating" || state === "replacing")
    return "booting";
  if (state === "stopping" || state === "stopped" || state === "suspended" || state === "suspending") return "stopped";
  if (state === "failed" || state === "launch_failed") return "failed";
  return null; // destroyed, destroying, gone
}

export interface StateSample {
  at: number;
  counts: Record<StateGroup, number>;
}

export interface FleetEconomics {
  /** Machine-seconds used over the window (all recorded days). */
  machineSeconds: number;
  /** Hours of audio in episodes finished done. */
  audioHours: number;
  /** Machine-seconds per audio hour; null with no audio yet. */
  perAudioHour: number | null;
  /** Estimated cost of `machineSeconds`, and per audio hour; null without a price. */
  cost: number | null;
  costPerAudioHour: number | null;
}

export interface BootFailureLine {
  machineId: string;
  at: number;
  reason: string;
}

const WINDOW_MS = 3600_000;
const STEP_MS = 60_000;

/** Machines by state group at every minute of the last hour. */
export async function stateHistory(database: Database, now: number): Promise<StateSample[]> {
  const from = now - WINDOW_MS;
  const db = database.db;
  // every machine alive at some point in the window, with its events in order
  const rows = await db
    .select({ id: machines.id, createdAt: machines.createdAt })
    .from(machines)
    .where(or(sql`${machines.destroyedAt} is null`, gte(machines.destroyedAt, from)))
    .all();
  if (rows.length === 0) return samples(from, now, () => emptyCounts());
  const ids = rows.map((r) => r.id);
  const events = await db
    .select({ machineId: machineEvents.machineId, at: machineEvents.at, toState: machineEvents.toState })
    .from(machineEvents)
    .where(and(inArray(machineEvents.machineId, ids), isNotNull(machineEvents.toState)))
    .orderBy(machineEvents.at)
    .all();
  const byMachine = new Map<string, Array<{ at: number; state: string }>>();
  for (const e of events) {
    const list = byMachine.get(e.machineId!) ?? [];
    list.push({ at: e.at, state: e.toState! });
    byMachine.set(e.machineId!, list);
  }
  return samples(from, now, (t) => {
    const counts = emptyCounts();
    for (const list of byMachine.values()) {
      let state: string | null = null;
      for (const e of list) {
        if (e.at > t) break;
        state = e.state;
      }
      const group = state ? stateGroup(state) : null;
      if (group) counts[group] += 1;
    }
    return counts;
  });
}

function emptyCounts(): Record<StateGroup, number> {
  return { booting: 0, running: 0, stopped: 0, failed: 0 };
}

function samples(from: number, to: number, at: (t: number) => Record<StateGroup, number>): StateSample[] {
  const out: StateSample[] = [];
  for (let t = from + STEP_MS; t <= to; t += STEP_MS) out.push({ at: t, counts: at(t) });
  return out;
}

export async function recentBootFailures(database: Database, limit = 20): Promise<BootFailureLine[]> {
  const rows = await database.db
    .select({ machineId: machineEvents.machineId, at: machineEvents.at, reason: machineEvents.reason })
    .from(machineEvents)
    .where(eq(machineEvents.kind, "boot_failed"))
    .orderBy(desc(machineEvents.at))
    .limit(limit)
    .all();
  return rows.map((r) => ({ machineId: r.machineId ?? "?", at: r.at, reason: r.reason ?? "unknown" }));
}

/** Machine-seconds per audio hour and the estimated cost, over everything recorded. */
export async function fleetEconomics(database: Database, pricePerMachineSecond: number | null): Promise<FleetEconomics> {
  const db = database.db;
  const usage = await db
    .select({ s: sql<number>`coalesce(sum(${fleetUsage.machineSeconds}), 0)` })
    .from(fleetUsage)
    .get();
  const audio = await db
    .select({ s: sql<number>`coalesce(sum(${episodes.durationSec}), 0)` })
    .from(episodes)
    .where(eq(episodes.status, "done"))
    .get();
  const machineSeconds = Number(usage?.s ?? 0);
  const audioHours = Number(audio?.s ?? 0) / 3600;
  const perAudioHour = audioHours > 0 ? machineSeconds / audioHours : null;
  return {
    machineSeconds,
    audioHours,
    perAudioHour,
    cost: pricePerMachineSecond === null ? null : machineSeconds * pricePerMachineSecond,
    costPerAudioHour: pricePerMachineSecond === null || perAudioHour === null ? null : perAudioHour * pricePerMachineSecond,
  };
}
