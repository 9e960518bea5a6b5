/**
 * Recovery decisions, as pure functions of the observed fleet: what becomes of each chunk a lost
 * holder held (published again at its next generation, or dead once its holders have been lost
 * maxMachineLosses times), chunks whose holder fell silent (no heartbeat past the limit: a worker
 * the registry never knew, dead after its job's last delivery, say), and queued chunks whose job
 * the queue lost. fleet-actions.ts carries the actions out; the store's fencing keeps them safe
 * against a claim or result that gets there first.
 */
import type { ChunkRecovery, FleetAction, ObservedFleet, RecoveryTuning } from "./fleet-state.ts";

/** The requeue action for the chunks `owner` holds (all of them, or those in `only`). */
export function recoverLeases(
  fleet: Pick<ObservedFleet, "leases">,
  owner: string,
  reason: string,
  tuning: RecoveryTuning,
  only?: ReadonlySet<string>,
): Extract<FleetAction, { kind: "requeue" }> {
  const chunks: ChunkRecovery[] = [];
  for (const lease of fleet.leases) {
    if (lease.owner !== owner || (only && !only.has(lease.id))) continue;
    const losses = lease.machineLosses + 1;
    chunks.push(
      losses >= tuning.maxMachineLosses
        ? {
            chunkId: lease.id,
            episodeId: lease.episodeId,
            to: "dead",
            why: `the machine running it was lost ${losses} times (last: ${owner}); it may be crashing the worker`,
          }
        : { chunkId: lease.id, episodeId: lease.episodeId, to: "requeue", generation: lease.generation + 1 },
    );
  }
  return { kind: "requeue", machineId: owner, reason, lost: only ? "silent" : "died", chunks };
}

/**
 * Silent holders and lost jobs. `handled`: owners whose chunks the sweep already recovers (a dead
 * machine), so no chunk is recovered twice in one pass.
 */
export function planRecovery(fleet: ObservedFleet, handled: ReadonlySet<string>, now: number, tuning: RecoveryTuning): FleetAction[] {
  const actions: FleetAction[] = [];
  const silentByOwner = new Map<string, { chunks: Set<string>; silentMs: number }>();
  for (const s of fleet.silentLeases) {
    if (handled.has(s.owner)) continue;
    const entry = silentByOwner.get(s.owner) ?? { chunks: new Set<string>(), silentMs: 0 };
    entry.chunks.add(s.chunkId);
    entry.silentMs = Math.max(entry.silentMs, s.silentMs);
    silentByOwner.set(s.owner, entry);
  }
  for (const [owner, { chunks, silentMs }] of silentByOwner) {
    actions.push(recoverLeases(fleet, owner, `no heartbeat for ${Math.round(silentMs / 1000)} s`, tuning, chunks));
  }

  const drainedFor = fleet.queueDrainedSince === null ? -1 : now - fleet.queueDrainedSince;
  if (drainedFor >= tuning.strandedAfterMs && fleet.staleQueued.length > 0) {
    actions.push({ kind: "republish", reason: "job lost by the queue", chunks: fleet.staleQueued.map((c) => ({ ...c, next: c.generation + 1 })) });
  }
  return actions;
}
