/**
 * The sweeper's decision, as a pure function: which machines of this fleet to destroy (force) and
 * why, which vanished machines to mark gone, and whose chunk leases to return to the queue (what
 * becomes of each chunk: recovery-plan.ts). fleet-plan.ts puts it together; this file only decides.
 */
import type { FleetLimits } from "./fleet-limits.ts";
import {
  DEFAULT_RECOVERY_TUNING,
  isRunning,
  isTransient,
  type DestroyReason,
  type FleetAction,
  type ObservedFleet,
  type ObservedMachine,
  type RecoveryTuning,
  type SweepTuning,
} from "./fleet-state.ts";
import { recoverLeases } from "./recovery-plan.ts";

const sec = (ms: number): number => ms / 1000;

/** Why `m` must go now, or undefined when it may stay (pool trimming is decided fleet-wide). */
function destroyReason(m: ObservedMachine, fleet: ObservedFleet, limits: FleetLimits, now: number, tuning: SweepTuning): DestroyReason | undefined {
  if (m.state === "destroying" && sec(now - m.stateSince) <= tuning.wedgedSec) return undefined;
  if (!m.known) return "orphan";
  if (m.state === "failed" || m.state === "launch_failed") return "failed";
  if (isTransient(m.state) && sec(now - m.stateSince) > tuning.wedgedSec) return "wedged";
  const age = sec(now - m.createdAt);
  if (m.state === "stopped") {
    if (!m.pool) return sec(now - m.stateSince) > tuning.wedgedSec ? "leftover" : undefined;
    return age > limits.maxLifetimeSec ? "pool_expired" : undefined;
  }
  if (m.state === "started" || m.state === "restarting") {
    // A pool machine restarts many times; its lifetime is counted per run, from its last start.
    const runAge = sec(now - (m.pool ? (m.startedAt ?? m.createdAt) : m.createdAt));
    if (runAge > limits.maxLifetimeSec + tuning.lifetimeGraceSec) return "lifetime";
  }
  if (m.state === "started" && m.startedAt !== null && fleet.queued > 0) {
    const claimedThisRun = m.lastClaimAt !== null && m.lastClaimAt >= m.startedAt;
    if (!claimedThisRun && sec(now - m.startedAt) > tuning.bootDeadlineSec) return "boot_deadline";
  }
  return undefined;
}

/**
 * Decides one sweep. Destroys are capped per pass (the rest wait for the next pass); a machine
 * that is being destroyed has its leased chunks re-queued at once, and one that is no longer running
 * a worker as soon as its events are settled, rather than after the queue's ack timeout.
 */
export function planSweep(
  fleet: ObservedFleet,
  limits: FleetLimits,
  now: number,
  tuning: SweepTuning,
  recovery: RecoveryTuning = DEFAULT_RECOVERY_TUNING,
): FleetAction[] {
  const actions: FleetAction[] = [];
  const doomed = new Set<string>();
  for (const m of fleet.machines) {
    const reason = destroyReason(m, fleet, limits, now, tuning);
    if (reason && doomed.size < tuning.maxDestroysPerPass) {
      doomed.add(m.id);
      actions.push({ kind: "destroy", machineId: m.id, reason });
    }
  }

  // Warm pool: keep the newest `warmPool` stopped pool machines, destroy the rest.
  const pool = fleet.machines
    .filter((m) => m.pool && m.known && m.state === "stopped" && !doomed.has(m.id))
    .sort((a, b) => b.createdAt - a.createdAt);
  for (const m of pool.slice(limits.warmPool)) {
    if (doomed.size >= tuning.maxDestroysPerPass) break;
    doomed.add(m.id);
    actions.push({ kind: "destroy", machineId: m.id, reason: "pool_trim" });
  }

  for (const m of fleet.machines) {
    // an ended machine's leases wait until its events are applied: a finished chunk's result wins
    if (m.leasedChunks > 0 && (doomed.has(m.id) || (!isRunning(m.state) && m.leasesSettled !== false))) {
      actions.push(recoverLeases(fleet, m.id, doomed.has(m.id) ? "destroyed" : `machine ${m.state}`, recovery));
    }
  }
  for (const v of fleet.vanished) {
    if (v.leasedChunks > 0 && v.leasesSettled !== false) actions.push(recoverLeases(fleet, v.id, "machine gone", recovery));
    actions.push({ kind: "mark_gone", machineId: v.id, reason: "no longer listed by the Machines API" });
  }
  for (const e of fleet.endedHolders) {
    if (e.leasedChunks > 0) actions.push(recoverLeases(fleet, e.id, "lease taken after the machine ended", recovery));
  }
  return actions;
}
