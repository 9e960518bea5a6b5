/**
 * The autoscaler's decision, as a pure function: `plan(observed, limits, now)` returns the actions
 * that bring the fleet toward one worker per open chunk, never past `maxMachines` live machines nor
 * `maxStarting` booting at once. The cap is counted from the machines the API lists (tagged with this
 * fleet's id), never from what was created earlier, so it holds across restarts; the controller runs
 * one pass at a time, so it holds under concurrency.
 */
import type { FleetLimits } from "./fleet-limits.ts";
import { bootBackoff, describeBootBackoff, probeInFlight } from "./boot-backoff.ts";
import { DEFAULT_BOOT_BACKOFF, isBooting, isLive, type BootBackoffTuning, type FleetAction, type ObservedFleet } from "./fleet-state.ts";

export const FLEET_METADATA_KEY = "podfleet_fleet";
export const ROLE_METADATA_KEY = "podfleet_role";
export const POOL_METADATA_KEY = "podfleet_pool";
/** Metadata naming the leader term a machine was created under (cluster/fence.ts). */
export const TERM_METADATA_KEY = "podfleet_term";

/** The leader term in a machine's metadata; 0 when it has none (created before terms, or unfenced). */
export function machineTerm(metadata: Readonly<Record<string, string>> | undefined): number {
  const n = Number(metadata?.[TERM_METADATA_KEY]);
  return Number.isSafeInteger(n) && n > 0 ? n : 0;
}

/** Metadata every worker machine of `fleetId` carries; `list` filters on it. */
export function fleetMetadata(fleetId: string): Record<string, string> {
  return { [ROLE_METADATA_KEY]: "worker", [FLEET_METADATA_KEY]: fleetId };
}

/** Chunks that want a machine: waiting or being worked on. */
export function backlogOf(fleet: Pick<ObservedFleet, "queued" | "leased">): number {
  return fleet.queued + fleet.leased;
}

/**
 * Scale decision: start stopped pool machines before creating new ones; stop the newest idle
 * machines when the fleet is over a lowered cap; say why nothing can start (drain, budget, boot
 * failures, backoff). After boot failures, one machine at a time, once the back-off has passed.
 */
export function planScale(fleet: ObservedFleet, limits: FleetLimits, now: number, boot: BootBackoffTuning = DEFAULT_BOOT_BACKOFF): FleetAction[] {
  const actions: FleetAction[] = [];
  const live = fleet.machines.filter((m) => isLive(m.state));
  const leaving = live.filter((m) => m.state === "stopping" || m.state === "destroying").length;
  const booting = live.filter((m) => isBooting(m.state)).length;
  const backlog = backlogOf(fleet);

  // Over the cap (it was lowered, or a deposed leader created a machine late): stop the surplus,
  // oldest leader term first, then idle and newest first. SIGTERM lets each finish its chunk within
  // the stop timeout or hand it back. A machine of an older term still booting cannot be stopped
  // yet: it is destroyed (it holds no chunk).
  const surplus = live.length - leaving - limits.maxMachines;
  if (surplus > 0) {
    const newest = Math.max(0, ...live.map((m) => m.term ?? 0));
    const reapable = live
      .filter((m) => m.state === "started" || (isBooting(m.state) && (m.term ?? 0) < newest))
      .sort((a, b) => (a.term ?? 0) - (b.term ?? 0) || a.leasedChunks - b.leasedChunks || b.createdAt - a.createdAt)
      .slice(0, surplus);
    for (const m of reapable) {
      const older = (m.term ?? 0) < newest ? `; created under an older leader term (${m.term ?? 0} < ${newest})` : "";
      const reason = `over the cap of ${limits.maxMachines}${older}`;
      actions.push(m.state === "started" ? { kind: "stop", machineId: m.id, reason } : { kind: "destroy", machineId: m.id, reason: "over_cap" });
    }
  }

  const wanted = Math.min(backlog, limits.maxMachines);
  let need = wanted - live.length;
  if (backlog > 0 && limits.maxMachines === 0) {
    actions.push({ kind: "blocked", reason: "drain", detail: "maxMachines is 0: the fleet is draining and no machine starts" });
    return actions;
  }
  if (need <= 0) return actions;
  const budget = limits.dailyBudgetMachineSeconds;
  if (budget !== null && fleet.usageTodaySec >= budget) {
    actions.push({
      kind: "blocked",
      reason: "budget",
      detail: `daily budget reached: ${Math.round(fleet.usageTodaySec)} of ${budget} machine-seconds used today (UTC); the queue waits`,
    });
    return actions;
  }
  let slots = Math.max(0, limits.maxStarting - booting);

  // Workers that die before claiming work: wait out the back-off, then try one machine at a time.
  const failing = bootBackoff(fleet, boot);
  if (failing) {
    const detail = describeBootBackoff(failing, now);
    if (now < failing.until) {
      actions.push({ kind: "blocked", reason: "boot_failure", detail, cause: failing.reason });
      return actions;
    }
    if (probeInFlight(fleet.machines)) {
      actions.push({ kind: "blocked", reason: "boot_failure", detail, cause: failing.reason });
      return actions;
    }
    need = Math.min(need, 1);
  }

  const reason = `backlog ${backlog}, live ${live.length}, cap ${limits.maxMachines}`;
  const startable = fleet.machines
    .filter((m) => m.known && m.pool && m.state === "stopped" && (now - m.createdAt) / 1000 <= limits.maxLifetimeSec)
    .sort((a, b) => b.createdAt - a.createdAt);
  for (const m of startable) {
    if (need <= 0 || slots <= 0) break;
    actions.push({ kind: "start", machineId: m.id, reason });
    need--;
    slots--;
  }
  if (need > 0 && slots > 0 && now < fleet.createBackoffUntil) {
    actions.push({
      kind: "blocked",
      reason: "backoff",
      detail: `creates back off until ${new Date(fleet.createBackoffUntil).toISOString()} after API or capacity errors`,
    });
    return actions;
  }
  for (let i = 0; i < Math.min(need, slots); i++) actions.push({ kind: "create", pool: limits.warmPool > 0, reason });
  return actions;
}
