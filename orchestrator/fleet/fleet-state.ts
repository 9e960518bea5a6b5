/**
 * What the fleet passes see and what they may do: the observed fleet (machines from the Machines
 * API joined with the orchestrator's own records, the leases, the queue, boot failures, today's
 * usage; see fleet-observation.ts) and the actions the pure plan (fleet-plan.ts, with autoscaler.ts,
 * sweeper.ts, recovery-plan.ts, boot-backoff.ts) returns for fleet-actions.ts to carry out.
 */
import { TRANSIENT_STATES, type MachineState } from "./machine.ts";

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
  /**
   * Leader term it was created under (its `podfleet_term` metadata); 0 for machines from before
   * terms. Over the cap, the oldest term goes first: a deposed leader's late create is reaped.
   * Absent: 0.
   */
  term?: number;
  /** Latest chunk lease it took, epoch ms; null if never. */
  lastClaimAt: number | null;
  /** Chunks it holds a lease on right now. */
  leasedChunks: number;
  /**
   * False while a machine that is no longer running still holds leases and worker events published
   * when that was first seen are not yet applied (its result may still be on its way); absent: true.
   */
  leasesSettled?: boolean;
  /** Its latest exit (the Machines API exit event), if the listing carries one. */
  exit?: MachineExit | null;
  /** A boot failure of this machine is already recorded. */
  bootFailureNoted?: boolean;
}

/** The latest exit event of a machine (Machines API `request.exit_event`). */
export interface MachineExit {
  code: number;
  requestedStop: boolean;
  oomKilled: boolean;
}

/** A machine the orchestrator recorded that the API no longer lists. */
export interface VanishedMachine {
  id: string;
  leasedChunks: number;
  /** As ObservedMachine's: false while a result of its may still be in the events backlog; absent: true. */
  leasesSettled?: boolean;
  /** Latest chunk lease it took, epoch ms; null if never (absent: not known). */
  lastClaimAt?: number | null;
  /** Its last exit event, fetched once (absent or null: unknown). */
  exit?: MachineExit | null;
  bootFailureNoted?: boolean;
}

/** A chunk some worker holds, with what recovering it needs. */
export interface LeasedChunk {
  id: string;
  episodeId: string;
  owner: string;
  generation: number;
  /** Times the machine holding it was lost before (PODFLEET_MAX_ATTEMPTS of them make it dead). */
  machineLosses: number;
}

/** A chunk `queued` since before the stranded period, at the generation seen. */
export interface QueuedChunk {
  id: string;
  episodeId: string;
  generation: number;
}

/** A worker that ended before it claimed any work, and why. */
export interface BootFailure {
  machineId: string;
  /** Epoch ms, when the orchestrator learnt of it. */
  at: number;
  /** Process exit code; null when the machine never ran a process (launch failed). */
  exitCode: number | null;
  reason: string;
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
  /** Every chunk a worker holds (fleet machines and workers the registry does not know). */
  leases: LeasedChunk[];
  /**
   * Leased chunks whose holder promised heartbeats and has been silent longer than the heartbeat
   * limit, counted once every worker event published when that was first seen has been applied.
   */
  silentLeases: Array<{ chunkId: string; owner: string; silentMs: number }>;
  /** Since when the jobs consumer has had nothing undelivered (epoch ms); null: it has, or unknown. */
  queueDrainedSince: number | null;
  /** Chunks queued since before the stranded period (read only once the queue has been drained that long). */
  staleQueued: QueuedChunk[];
  /** Recent boot failures, newest first. */
  bootFailures: BootFailure[];
  /** Latest claim by a machine of this fleet (epoch ms), or null. */
  lastFleetClaimAt: number | null;
  /** When the limits, image, engine or model last changed (epoch ms): boot failures before it no longer count. */
  settingsChangedAt: number;
}

/** Recovery thresholds (settings). */
export interface RecoveryTuning {
  /** A chunk whose machine is lost this many times is dead (PODFLEET_MAX_ATTEMPTS). */
  maxMachineLosses: number;
  /** A queued chunk with nothing undelivered in the queue for this long has lost its job. */
  strandedAfterMs: number;
}

export const DEFAULT_RECOVERY_TUNING: RecoveryTuning = { maxMachineLosses: 5, strandedAfterMs: 180_000 };

/** Boot failure back-off (settings): the first retry after `baseMs`, doubling to `maxMs`. */
export interface BootBackoffTuning {
  baseMs: number;
  maxMs: number;
}

export const DEFAULT_BOOT_BACKOFF: BootBackoffTuning = { baseMs: 5_000, maxMs: 300_000 };

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

export type DestroyReason = "orphan" | "failed" | "wedged" | "lifetime" | "boot_deadline" | "pool_trim" | "pool_expired" | "leftover" | "over_cap";
export type BlockedReason = "drain" | "budget" | "backoff" | "boot_failure";

/** What becomes of one chunk of a lost holder: published again at `generation`, or dead. */
export type ChunkRecovery =
  { chunkId: string; episodeId: string; to: "requeue"; generation: number } | { chunkId: string; episodeId: string; to: "dead"; why: string };

export type FleetAction =
  | { kind: "create"; pool: boolean; reason: string }
  | { kind: "start"; machineId: string; reason: string }
  | { kind: "stop"; machineId: string; reason: string }
  | { kind: "destroy"; machineId: string; reason: DestroyReason }
  /** `lost`: the holder's machine died (or ended), or the holder fell silent (no heartbeat). */
  | { kind: "requeue"; machineId: string; reason: string; lost: "died" | "silent"; chunks: ChunkRecovery[] }
  | { kind: "mark_gone"; machineId: string; reason: string }
  | { kind: "republish"; reason: string; chunks: Array<QueuedChunk & { next: number }> }
  | { kind: "note_boot_failure"; machineId: string; exitCode: number | null; reason: string }
  /** `cause`: what the operator must fix (a boot failure's reason); logged once per change. */
  | { kind: "blocked"; reason: BlockedReason; detail: string; cause?: string };

/** States that count against the cap: a process is, or may soon be, running. */
const NOT_LIVE: readonly MachineState[] = ["stopped", "suspended", "failed", "destroyed", "launch_failed", "replaced", "migrated"];
/** States of a machine still on its way up. */
const BOOTING: readonly MachineState[] = ["creating", "created", "starting", "restarting"];
/** States in which a machine may run a worker process (and use machine-seconds). */
const RUNNING: readonly MachineState[] = ["starting", "started", "stopping", "restarting"];
/** States a machine should pass through quickly. */
const TRANSIENT: readonly MachineState[] = TRANSIENT_STATES;

export const isLive = (s: MachineState): boolean => !NOT_LIVE.includes(s);
export const isBooting = (s: MachineState): boolean => BOOTING.includes(s);
export const isRunning = (s: MachineState): boolean => RUNNING.includes(s);
export const isTransient = (s: MachineState): boolean => TRANSIENT.includes(s);
