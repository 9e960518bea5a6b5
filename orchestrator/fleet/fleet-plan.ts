/**
 * The fleet's whole decision for one pass, as a pure function: `plan(observed, limits, now)` returns
 * the actions that bring the fleet where it should be. Boot failures the observation shows are
 * noted first (and count in this pass's back-off), then the sweep (destroy, mark gone, recover the
 * chunks of lost and silent holders, republish lost jobs), then scaling. fleet-actions.ts carries
 * the actions out; test/fleet-plan.test.ts tables them.
 */
import { planScale } from "./autoscaler.ts";
import { notedFailures, planBootNotes } from "./boot-backoff.ts";
import type { FleetLimits } from "./fleet-limits.ts";
import {
  DEFAULT_BOOT_BACKOFF,
  DEFAULT_RECOVERY_TUNING,
  DEFAULT_SWEEP_TUNING,
  type BootBackoffTuning,
  type FleetAction,
  type ObservedFleet,
  type ObservedMachine,
  type RecoveryTuning,
  type SweepTuning,
} from "./fleet-state.ts";
import { planRecovery } from "./recovery-plan.ts";
import { planSweep } from "./sweeper.ts";

export interface PlanOptions {
  /** Decide the sweep (destroy, re-queue, mark gone, republish); default true. */
  sweep?: boolean;
  /** Decide scaling (start, create, stop); default true. */
  scale?: boolean;
  tuning?: SweepTuning;
  recovery?: RecoveryTuning;
  boot?: BootBackoffTuning;
}

/**
 * One fleet decision. A machine the sweep destroys is seen by the scale decision as `destroying`:
 * never started, and still counted against the cap until the API stops listing it (its process
 * may take a moment to die).
 */
export function plan(observed: ObservedFleet, limits: FleetLimits, now: number, options: PlanOptions = {}): FleetAction[] {
  const recovery = options.recovery ?? DEFAULT_RECOVERY_TUNING;
  const notes = planBootNotes(observed);
  const fleet: ObservedFleet =
    notes.length === 0 ? observed : { ...observed, bootFailures: [...notedFailures(notes, now), ...observed.bootFailures] };

  const sweep: FleetAction[] = [];
  if (options.sweep !== false) {
    sweep.push(...planSweep(fleet, limits, now, options.tuning ?? DEFAULT_SWEEP_TUNING, recovery));
    const handled = new Set(sweep.flatMap((a) => (a.kind === "requeue" ? [a.machineId] : [])));
    sweep.push(...planRecovery(fleet, handled, now, recovery));
  }
  if (options.scale === false) return [...notes, ...sweep];
  const doomed = new Set(sweep.flatMap((a) => (a.kind === "destroy" ? [a.machineId] : [])));
  const machines: ObservedMachine[] = fleet.machines.map((m) => (doomed.has(m.id) ? { ...m, state: "destroying" } : m));
  return [...notes, ...sweep, ...planScale({ ...fleet, machines }, limits, now, options.boot ?? DEFAULT_BOOT_BACKOFF)];
}
