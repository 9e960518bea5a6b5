/**
 * What the fleet passes see and what they may do: the observed fleet (machines from the Machines
 * API joined with the orchestrator's own records, the queue, today's usage) and the actions the
 * pure planners (autoscaler.ts, sweeper.ts) return for the controller to carry out.
 */
import type { MachineState } from "./machine.ts";

/** One tagged machine as the Machines API lists it, joined with what the orchestrator knows. */
export interface ObservedMachine {
  id: string;
  state: MachineState;
  region: string;
  /** Epoch ms. */
  createdAt: number;
  /** When the machine entered its current state (the API's `updated_at`), epoch ms. */
  stateSince: number;
  /** Last time it was seen entering `started`, epoch ms; null if never seen started. */
  startedAt: number | null;
  /** The orchestrator has a record of creating it (false: an orphan). */
  known: boolean;
  /** Created for the warm pool (no auto_destroy): it rests stopped after idling out. */
  pool: boolean;
  /** Latest chunk lease it took, epoch ms; null if never. */
  lastClaimAt: number | null;
  /** Chunks it holds a lease on right now. */
  leasedChunks: number;
}

/** A machine the orchestrator recorded that the API no longer lists. */
export interface VanishedMachine {
  id: string;
  leasedChunks: number;
}

export interface ObservedFleet {
  machines: ObservedMachine[];
  vanished: VanishedMachine[];
  /**
   * Machines already recorded as ended that still hold leases, counted only once every event
   * published when the lease was first seen has been applied (so no result of theirs is still
   * on its way): a claim that reached the store after its machine's end.
   */
  endedHolders: VanishedMachine[];
  /** Chunks waiting for a worker. */
  queued: number;
  /** Chunks a worker holds. */
  leased: number;
  /** Machine-seconds used today (UTC). */
  usageTodaySec: number;
  /** No create before this (epoch ms) after capacity or API failures; 0 = none. */
  createBackoffUntil: number;
}

/** Sweeper thresholds that are settings rather than operator limits. */
export interface SweepTuning {
  /** A machine in a transient state (starting, stopping, …) longer than this is wedged. */
  wedgedSec: number;
  /** A started machine that took no chunk this long after starting, while chunks wait, is destroyed. */
  bootDeadlineSec: number;
  /** Grace past maxLifetimeSec before a machine still running is destroyed. */
  lifetimeGraceSec: number;
  /** Most destroys in one pass (Fly allows about 1 request/s per action). */
  maxDestroysPerPass: number;
}

export const DEFAULT_SWEEP_TUNING: SweepTuning = { wedgedSec: 300, bootDeadlineSec: 120, lifetimeGraceSec: 120, maxDestroysPerPass: 20 };

export type DestroyReason = "orphan" | "failed" | "wedged" | "lifetime" | "boot_deadline" | "pool_trim" | "pool_expired" | "leftover";
export type BlockedReason = "drain" | "budget" | "backoff";

export type FleetAction =
  | { kind: "create"; pool: boolean; reason: string }
  | { kind: "start"; machineId: string; reason: string }
  | { kind: "stop"; machineId: string; reason: string }
  | { kind: "destroy"; machineId: string; reason: DestroyReason }
  | { kind: "requeue"; machineId: string; chunks: number; reason: string }
  | { kind: "mark_gone"; machineId: string; reason: string }
  | { kind: "blocked"; reason: BlockedReason; detail: string };

/** States that count against the cap: a process is, or may soon be, running. */
const NOT_LIVE: readonly MachineState[] = ["stopped", "suspended", "failed", "destroyed", "launch_failed", "replaced", "migrated"];
/** States of a machine still on its way up. */
const BOOTING: readonly MachineState[] = ["creating", "created", "starting", "restarting"];
/** States in which a machine may run a worker process (and use machine-seconds). */
const RUNNING: readonly MachineState[] = ["starting", "started", "stopping", "restarting"];
/** States a machine should pass through quickly. */
const TRANSIENT: readonly MachineState[] = ["creating", "starting", "stopping", "restarting", "suspending", "destroying", "launch_failed", "updating", "replacing"];

export const isLive = (s: MachineState): boolean => !NOT_LIVE.includes(s);
export const isBooting = (s: MachineState): boolean => BOOTING.includes(s);
export const isRunning = (s: MachineState): boolean => RUNNING.includes(s);
export const isTransient = (s: MachineState): boolean => TRANSIENT.includes(s);
