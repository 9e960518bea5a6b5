/**
 * Read-only views of the fleet for the API and CLI: limits, machines by state, queue depth,
 * today's usage and why nothing starts (`GET /v1/fleet`), and each machine with its age, state
 * and current chunk (`GET /v1/machines`).
 */
import type { QueueDepth } from "../episodes/work-queue.ts";
import { describeBootBackoff } from "./boot-backoff.ts";
import type { FleetController } from "./fleet-controller.ts";
import type { FleetLimits, FleetLimitsStore } from "./fleet-limits.ts";
import { isLive } from "./fleet-state.ts";
import type { MachineRegistry } from "./machine-registry.ts";
import { utcDay } from "./machine-registry.ts";

export interface FleetView {
  fleetId: string;
  limits: FleetLimits;
  machines: { total: number; live: number; byState: Record<string, number> };
  queue: { queued: number; leased: number; pending: number; inFlight: number };
  usage: { day: string; machineSeconds: number; dailyBudgetMachineSeconds: number | null };
  /** Why no machine starts now (drain, budget, boot_failure, backoff); null when nothing blocks. */
  blocked: { reason: string; detail: string; since: string } | null;
  /** Workers failing to boot: the latest reason, how many in a row, when the next machine may start; null while they boot. */
  bootFailure: { reason: string; exitCode: number | null; failures: number; nextTryAt: string; detail: string } | null;
  /** Why queued work waits for a machine, or null. */
  waiting: { cause: string; detail: string } | null;
  createBackoffUntil: string | null;
  lastPassAt: string | null;
  /** Who runs the fleet (the leader lease's holder), its term and since when; null while nobody leads. */
  leader: { holder: string; term: number; since: string } | null;
}

export interface MachineView {
  id: string;
  state: string;
  region: string;
  pool: boolean;
  createdAt: string;
  ageSec: number;
  /** Chunk the machine holds a lease on now, if any. */
  currentChunk: string | null;
  pid?: number;
}

export interface FleetViewDeps {
  controller: FleetController;
  registry: MachineRegistry;
  limits: FleetLimitsStore;
  depth: () => Promise<QueueDepth>;
  fleetId: string;
  /** Who leads, as the lease key says (cluster/leader-lease.ts); absent: reported as null. */
  leader?: () => Promise<{ holder: string; term: number; since: number } | null>;
  now?: () => number;
}

const iso = (ms: number | null): string | null => (ms === null || ms === 0 ? null : new Date(ms).toISOString());

export class FleetViews {
  constructor(private readonly deps: FleetViewDeps) {}

  private now(): number {
    return (this.deps.now ?? Date.now)();
  }

  async fleet(): Promise<FleetView> {
    const { fleet, listed, limits } = await this.deps.controller.observe();
    const depth = await this.deps.depth().catch(() => ({ pending: 0, inFlight: 0, waiting: 0 }));
    const byState: Record<string, number> = {};
    for (const m of listed) byState[m.state] = (byState[m.state] ?? 0) + 1;
    const blocked = this.deps.controller.blocked;
    const failing = this.deps.controller.bootBackoff;
    const now = this.now();
    const leader = this.deps.leader ? await this.deps.leader() : null;
    return {
      fleetId: this.deps.fleetId,
      limits,
      machines: { total: listed.length, live: listed.filter((m) => isLive(m.state)).length, byState },
      queue: { queued: fleet.queued, leased: fleet.leased, pending: depth.pending, inFlight: depth.inFlight },
      usage: { day: utcDay(now), machineSeconds: Math.round(fleet.usageTodaySec), dailyBudgetMachineSeconds: limits.dailyBudgetMachineSeconds },
      blocked: blocked ? { reason: blocked.reason, detail: blocked.detail, since: new Date(blocked.since).toISOString() } : null,
      bootFailure: failing
        ? {
            reason: failing.reason,
            exitCode: failing.exitCode,
            failures: failing.failures,
            nextTryAt: new Date(failing.until).toISOString(),
            detail: describeBootBackoff(failing, now),
          }
        : null,
      waiting: this.deps.controller.waitingReason(now),
      createBackoffUntil: iso(this.deps.controller.createBackoffUntil > now ? this.deps.controller.createBackoffUntil : 0),
      lastPassAt: iso(this.deps.controller.lastPassAt),
      leader: leader ? { holder: leader.holder, term: leader.term, since: new Date(leader.since).toISOString() } : null,
    };
  }

  async machines(): Promise<MachineView[]> {
    const { fleet, listed } = await this.deps.controller.observe();
    const leases = await this.deps.registry.leases(listed.map((m) => m.id));
    const now = this.now();
    return fleet.machines
      .map((m) => {
        const pid = listed.find((l) => l.id === m.id)?.pid;
        return {
          id: m.id,
          state: m.state,
          region: m.region,
          pool: m.pool,
          createdAt: new Date(m.createdAt).toISOString(),
          ageSec: Math.max(0, Math.round((now - m.createdAt) / 1000)),
          currentChunk: leases.get(m.id)?.leased[0] ?? null,
          ...(pid !== undefined ? { pid } : {}),
        };
      })
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }
}
