/**
 * The observe half of a fleet pass: this fleet's tagged machines from the Machines API joined with
 * the orchestrator's records, the leases, the queue, boot failures and today's usage, as one
 * ObservedFleet for the pure plan (fleet-plan.ts). It also keeps what a pass must remember from the
 * previous ones, so that each fact it reports is settled: since when the queue has been drained,
 * which ended or silent holders were first seen when (counted only once every worker event published
 * then has been applied), each vanished machine's exit event (fetched once), and when the settings
 * that decide whether a worker boots last changed.
 */
import type { Fence } from "../cluster/fence.ts";
import type { WorkQueue } from "../episodes/work-queue.ts";
import type { ChunkHeartbeats } from "../store/chunk-heartbeats.ts";
import type { EpisodeStore } from "../store/episode-store.ts";
import { fleetMetadata, machineTerm, POOL_METADATA_KEY } from "./autoscaler.ts";
import type { BootFailureLog } from "./boot-failure-log.ts";
import type { FleetLimits, FleetLimitsStore } from "./fleet-limits.ts";
import { isRunning, type MachineExit, type ObservedFleet, type ObservedMachine, type QueuedChunk, type VanishedMachine } from "./fleet-state.ts";
import type { Machine, MachineEvent } from "./machine.ts";
import type { MachinesApi } from "./machines-client.ts";
import type { MachineRegistry } from "./machine-registry.ts";

export interface FleetObserverDeps {
  machines: Pick<MachinesApi, "list" | "events">;
  registry: MachineRegistry;
  bootFailures: BootFailureLog;
  limits: FleetLimitsStore;
  store: Pick<EpisodeStore, "queuedSince">;
  heartbeats: Pick<ChunkHeartbeats, "silentSince">;
  queue: Pick<WorkQueue, "depth" | "eventsProgress">;
  fleetId: string;
  /**
   * What besides the limits decides whether a worker boots (engine, model, and on the local
   * runtime whether the model file is there): a change restarts the boot-failure count.
   */
  workerSettings: () => Promise<string> | string;
  /** A queued chunk with nothing undelivered in the queue for this long has lost its job. */
  strandedAfterMs: number;
  /** A holder that promised heartbeats and sent none for this long is lost. */
  heartbeatLimitMs: number;
  /** Since when heartbeats are being received (epoch ms), null when they are not: nothing is judged silent before a whole limit of listening. */
  heartbeatsSince: () => number | null;
  /** The API-error create back-off in force (fleet-actions.ts). */
  createBackoffUntil: () => number;
  /**
   * Demand hint: chunks expected from episodes still being ingested, not yet published. Counted as
   * queued, so machines start when an episode is submitted, not when its first job appears; the
   * fleet limits bound it like any backlog. Absent: 0.
   */
  expectedChunks?: () => number;
  now: () => number;
}

export interface Observation {
  fleet: ObservedFleet;
  listed: Machine[];
  limits: FleetLimits;
}

export interface ObserveOptions {
  /** Apply the listing to the records (state-change events, usage); only passes do, so views never double-count. */
  record: boolean;
  /** Also read what only the sweep decides on (stranded chunks). */
  sweep: boolean;
  signal?: AbortSignal | undefined;
  /** The leader's fence the records are written under (FleetController PassOptions.fence). */
  fence?: Fence | undefined;
}

/** The latest exit event in a machine's events (newest first, as Fly lists them). */
export function latestExit(events: readonly MachineEvent[] | undefined): MachineExit | null {
  const exit = events?.find((e) => e.type === "exit" && e.request?.exit_event)?.request?.exit_event;
  return exit ? { code: exit.exit_code, requestedStop: exit.requested_stop, oomKilled: exit.oom_killed } : null;
}

export class FleetObserver {
  readonly #deps: FleetObserverDeps;
  /** Ended machines seen holding leases, each with the events stream's last sequence then. */
  readonly #endedHoldersSeen = new Map<string, number>();
  /** Listed machines no longer running, and vanished ones, seen holding leases: the same, per machine. */
  readonly #stoppedHoldersSeen = new Map<string, number>();
  /** Silent leased chunks, each with the events stream's last sequence when first seen silent. */
  readonly #silentSeen = new Map<string, number>();
  #drainedSince: number | null = null;
  #settingsKey: string | undefined;
  #settingsChangedAt: number;
  /** Exit events of vanished machines, fetched once each. */
  readonly #exits = new Map<string, MachineExit | null>();

  constructor(deps: FleetObserverDeps) {
    this.#deps = deps;
    this.#settingsChangedAt = deps.now();
  }

  async observe(options: ObserveOptions): Promise<Observation> {
    const { machines, registry, fleetId } = this.#deps;
    const [listed, limits] = await Promise.all([machines.list({ metadata: fleetMetadata(fleetId) }), this.#deps.limits.get()]);
    options.signal?.throwIfAborted();
    if (options.record) await registry.observe(listed, options.fence);
    const rows = new Map((await registry.active()).map((r) => [r.id, r]));
    const listedIds = new Set(listed.map((m) => m.id));
    const vanishedIds = [...rows.keys()].filter((id) => !listedIds.has(id));
    const leases = await registry.leases([...listedIds, ...vanishedIds]);
    const open = await registry.openChunks();
    const depth = await this.#deps.queue.depth().catch(() => undefined);
    const now = this.#deps.now();
    // The queue may hold jobs the DB does not count (a stale redelivery); they need a worker too.
    const pending = depth?.pending ?? 0;
    this.#drainedSince = depth && depth.pending === 0 ? (this.#drainedSince ?? now) : null;
    await this.#noteSettings(limits, now);
    const noted = await this.#deps.bootFailures.notedAmong([...listedIds, ...vanishedIds]);
    const bootFailures = await this.#deps.bootFailures.recent(this.#settingsChangedAt);

    const fleet: ObservedFleet = {
      machines: listed.map((m) => {
        const row = rows.get(m.id);
        const lease = leases.get(m.id);
        return {
          id: m.id,
          state: m.state,
          region: m.region,
          createdAt: Date.parse(m.created_at) || now,
          stateSince: Date.parse(m.updated_at) || now,
          startedAt: row?.startedAt ?? null,
          known: row !== undefined,
          pool: row?.pool ?? m.config?.metadata?.[POOL_METADATA_KEY] === "1",
          term: machineTerm(m.config?.metadata),
          lastClaimAt: lease?.lastClaimAt ?? null,
          leasedChunks: lease?.leased.length ?? 0,
          exit: latestExit(m.events),
          bootFailureNoted: noted.has(m.id),
        };
      }),
      vanished: await this.#vanished(vanishedIds, leases, noted),
      endedHolders: await this.#settledEndedHolders(),
      queued: Math.max(open.queued, pending) + (this.#deps.expectedChunks?.() ?? 0),
      leased: open.leased,
      usageTodaySec: await registry.usageSeconds(now),
      createBackoffUntil: this.#deps.createBackoffUntil(),
      leases: await registry.leasedChunks(),
      silentLeases: await this.#settledSilentLeases(now),
      queueDrainedSince: this.#drainedSince,
      staleQueued: options.sweep ? await this.#staleQueued(now) : [],
      bootFailures,
      lastFleetClaimAt: bootFailures.length > 0 ? await registry.lastFleetClaimAt() : null,
      settingsChangedAt: this.#settingsChangedAt,
    };
    await this.#settleStoppedHolders([
      ...fleet.machines.filter((m) => m.leasedChunks > 0 && !isRunning(m.state)),
      ...fleet.vanished.filter((v) => v.leasedChunks > 0),
    ]);
    return { fleet, listed, limits };
  }

  /**
   * A worker publishes its result and may then exit at once (idle, or stopped): its machine can be
   * seen stopped or gone while that result is still in the events backlog. Such a holder's leases
   * are judged (`leasesSettled`) only once every worker event published when it was first seen so
   * has been applied, in the same pass when nothing is behind; a lease still held then is really lost.
   */
  async #settleStoppedHolders(holders: Array<ObservedMachine | VanishedMachine>): Promise<void> {
    const ids = new Set(holders.map((h) => h.id));
    for (const id of this.#stoppedHoldersSeen.keys()) if (!ids.has(id)) this.#stoppedHoldersSeen.delete(id);
    if (holders.length === 0) return;
    const progress = await this.#deps.queue.eventsProgress().catch(() => undefined);
    for (const h of holders) {
      if (!progress) {
        h.leasesSettled = false;
        continue;
      }
      const seenAt = this.#stoppedHoldersSeen.get(h.id) ?? progress.published;
      this.#stoppedHoldersSeen.set(h.id, seenAt);
      h.leasesSettled = progress.applied >= seenAt;
    }
  }

  async #noteSettings(limits: FleetLimits, now: number): Promise<void> {
    const key = JSON.stringify([limits, await this.#deps.workerSettings()]);
    if (this.#settingsKey !== undefined && key !== this.#settingsKey) this.#settingsChangedAt = now;
    this.#settingsKey = key;
  }

  /** Vanished machines, with the exit event of each that never claimed work (fetched once). */
  async #vanished(
    ids: string[],
    leases: Map<string, { leased: string[]; lastClaimAt: number | null }>,
    noted: Set<string>,
  ): Promise<VanishedMachine[]> {
    for (const id of this.#exits.keys()) if (!ids.includes(id)) this.#exits.delete(id);
    const out: VanishedMachine[] = [];
    for (const id of ids) {
      const lastClaimAt = leases.get(id)?.lastClaimAt ?? null;
      if (lastClaimAt === null && !noted.has(id) && !this.#exits.has(id)) {
        const exit = await this.#deps.machines.events(id).then(latestExit, () => null);
        this.#exits.set(id, exit);
      }
      out.push({
        id,
        leasedChunks: leases.get(id)?.leased.length ?? 0,
        lastClaimAt,
        exit: this.#exits.get(id) ?? null,
        bootFailureNoted: noted.has(id),
      });
    }
    return out;
  }

  /**
   * Machines recorded as ended that still hold leases. A claim can reach the store after its
   * machine was marked ended (the event backlog after an orchestrator restart, say); the sweeper
   * never sees that machine die again, and once the queue has delivered the job its last time
   * nothing else would free the chunk. Such a holder counts only once every event published when
   * it was first seen has been applied: a machine publishes nothing after it ends, so any result it
   * sent has then been applied, and a lease still held is really lost.
   */
  async #settledEndedHolders(): Promise<VanishedMachine[]> {
    const leases = await this.#deps.registry.leasesOfEnded();
    for (const owner of this.#endedHoldersSeen.keys()) if (!leases.has(owner)) this.#endedHoldersSeen.delete(owner);
    if (leases.size === 0) return [];
    const progress = await this.#deps.queue.eventsProgress().catch(() => undefined);
    if (!progress) return [];
    const settled: VanishedMachine[] = [];
    for (const [owner, chunkIds] of leases) {
      const seenAt = this.#endedHoldersSeen.get(owner);
      if (seenAt === undefined) this.#endedHoldersSeen.set(owner, progress.published);
      else if (progress.applied >= seenAt) settled.push({ id: owner, leasedChunks: chunkIds.length });
    }
    return settled;
  }

  /**
   * Leased chunks whose holder promised heartbeats and sent none for the limit, while heartbeats
   * have been received for at least that long. Like ended holders, one counts once every worker
   * event published when it was first seen silent has been applied (the same pass, when nothing is
   * behind): a result of its holder still in the backlog must win over a re-queue.
   */
  async #settledSilentLeases(now: number): Promise<ObservedFleet["silentLeases"]> {
    const listening = this.#deps.heartbeatsSince();
    const before = now - this.#deps.heartbeatLimitMs;
    if (listening === null || listening > before) {
      this.#silentSeen.clear();
      return [];
    }
    // progress first: a heartbeat applied after this read is then in the silence query below
    const progress = await this.#deps.queue.eventsProgress().catch(() => undefined);
    const silent = await this.#deps.heartbeats.silentSince(before);
    const ids = new Set(silent.map((s) => s.chunkId));
    for (const id of this.#silentSeen.keys()) if (!ids.has(id)) this.#silentSeen.delete(id);
    if (!progress) return [];
    const settled: ObservedFleet["silentLeases"] = [];
    for (const s of silent) {
      const seenAt = this.#silentSeen.get(s.chunkId) ?? progress.published;
      this.#silentSeen.set(s.chunkId, seenAt);
      if (progress.applied >= seenAt) settled.push({ chunkId: s.chunkId, owner: s.owner, silentMs: now - s.heartbeatAt });
    }
    return settled;
  }

  /** Chunks queued since before the stranded period, read only once the queue has been drained that long. */
  async #staleQueued(now: number): Promise<QueuedChunk[]> {
    if (this.#drainedSince === null || now - this.#drainedSince < this.#deps.strandedAfterMs) return [];
    const rows = await this.#deps.store.queuedSince(now - this.#deps.strandedAfterMs);
    return rows.map((c) => ({ id: c.id, episodeId: c.episodeId, generation: c.generation }));
  }
}
