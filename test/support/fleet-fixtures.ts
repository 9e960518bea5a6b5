/**
 * Fixtures for fleet-plan tests (pure plan functions, no processes): a fixed clock, default
 * limits, and an observed machine and fleet with every field set to a plain default.
 */
import type { FleetLimits } from "../../orchestrator/fleet/fleet-limits.ts";
import type { ObservedFleet, ObservedMachine } from "../../orchestrator/fleet/fleet-state.ts";

export const NOW = Date.parse("2025-03-01T12:00:00Z");

export const LIMITS: FleetLimits = {
  maxMachines: 2,
  maxStarting: 2,
  idleTimeoutSec: 30,
  maxLifetimeSec: 3600,
  regions: [],
  guest: { cpuKind: "shared", cpus: 1, memoryMb: 1024 },
  image: "img",
  warmPool: 0,
  dailyBudgetMachineSeconds: null,
};

/** A started, known machine that claimed a chunk 40 s before NOW and holds one. */
export function machine(id: string, patch: Partial<ObservedMachine> = {}): ObservedMachine {
  return {
    id,
    state: "started",
    region: "local",
    createdAt: NOW - 60_000,
    stateSince: NOW - 50_000,
    startedAt: NOW - 50_000,
    known: true,
    pool: false,
    lastClaimAt: NOW - 40_000,
    leasedChunks: 1,
    ...patch,
  };
}

/** An empty fleet with nothing queued; settings last changed an hour before NOW. */
export function fleet(patch: Partial<ObservedFleet> = {}): ObservedFleet {
  return {
    machines: [],
    vanished: [],
    endedHolders: [],
    queued: 0,
    leased: 0,
    usageTodaySec: 0,
    createBackoffUntil: 0,
    leases: [],
    silentLeases: [],
    queueDrainedSince: null,
    staleQueued: [],
    bootFailures: [],
    lastFleetClaimAt: null,
    settingsChangedAt: NOW - 3_600_000,
    ...patch,
  };
}
