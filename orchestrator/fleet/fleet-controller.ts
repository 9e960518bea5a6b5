/**
 * Runs the fleet: observe (Machines API list of this fleet's tagged machines, the orchestrator's
 * records, open chunks, today's usage), decide (the pure `plan` of autoscaler.ts and sweeper.ts),
 * act (create/start/stop/destroy machines, re-queue chunks of dead machines, record every action).
 * Passes never overlap: one lock serialises the autoscaler timer, the sweeper timer and
 * `machines reap`, so two decisions can never both spend the same free slot under the cap.
 */
import type { ChunkJob } from "../../contract/wire.ts";
import { WORKER_ENV } from "../../contract/wire.ts";
import type { WorkQueue } from "../episodes/work-queue.ts";
import { jobFor } from "../ingest/ingest-episode.ts";
import type { Logger } from "../log.ts";
import type { ChunkRow, EpisodeStore } from "../store/episode-store.ts";
import { fleetMetadata, plan, POOL_METADATA_KEY } from "./autoscaler.ts";
import { machineSizeConfig, type FleetLimits, type FleetLimitsStore } from "./fleet-limits.ts";
import { isLive, type FleetAction, type ObservedFleet, type SweepTuning, type VanishedMachine } from "./fleet-state.ts";
import type { CreateMachineRequest, Machine } from "./machine.ts";
import type { MachinesApi } from "./machines-client.ts";
import { CapacityError, MachinesApiError } from "./machines-errors.ts";
import type { MachineRegistry } from "./machine-registry.ts";

/** The Machines API calls the fleet makes (MachinesClient satisfies it). */
export type FleetMachinesPort = Pick<MachinesApi, "list" | "create" | "start" | "stop" | "destroy">;

export interface FleetControllerDeps {
  machines: FleetMachinesPort;
  registry: MachineRegistry;
  limits: FleetLimitsStore;
  store: Pick<EpisodeStore, "leasedBy" | "requeueLeased" | "failLostChunk" | "getEpisode" | "queuedSince" | "requeueStranded">;
  queue: Pick<WorkQueue, "publishJob" | "depth" | "eventsProgress">;
  fleetId: string;
  /** Env every worker gets (NATS URL, prefix, engine, token); timeouts are added from the limits. */
  workerEnv: Record<string, string>;
  /** How long a stopping worker may finish its chunk before handing it back. */
  stopTimeoutSec: number;
  /** A chunk whose machine dies this many times is dead (PODFLEET_MAX_ATTEMPTS, like failed attempts). */
  maxMachineLosses: number;
  /**
   * A chunk `queued` this long while the queue has nothing left to deliver has lost its job (a
   * broker that died between a nak and its redelivery, say): the sweeper publishes it again.
   * Longer than the ack wait plus the longest nak back-off, so a job merely waiting is never doubled.
   */
  strandedAfterMs: number;
  tuning: SweepTuning;
  log: Logger;
  now?: () => number;
}

/** An action with what became of it. */
export type ActionOutcome = FleetAction & { outcome: "done" | "planned" | "failed"; machineId?: string; error?: string };

export interface PassOptions {
  sweep: boolean;
  scale: boolean;
  /** Decide and report, change nothing. */
  dryRun?: boolean;
}

const BACKOFF_BASE_MS = 2_000;
const BACKOFF_MAX_MS = 60_000;

export class FleetController {
  readonly #deps: FleetControllerDeps;
  readonly #now: () => number;
  #lock: Promise<unknown> = Promise.resolve();
  #createFailures = 0;
  #createBackoffUntil = 0;
  #blocked: { reason: string; detail: string; since: number } | null = null;
  /** Since when the jobs consumer has had nothing undelivered (see #republishStranded). */
  #drainedSince: number | null = null;
  #lastPassAt: number | null = null;
  /** Ended machines seen holding leases, each with the events stream's last sequence then. */
  readonly #endedHoldersSeen = new Map<string, number>();

  constructor(deps: FleetControllerDeps) {
    this.#deps = deps;
    this.#now = deps.now ?? Date.now;
  }

  /** Why no machine can start right now (drain, budget, backoff), or null. */
  get blocked(): { reason: string; detail: string; since: number } | null {
    return this.#blocked;
  }

  get createBackoffUntil(): number {
    return this.#createBackoffUntil;
  }

  get lastPassAt(): number | null {
    return this.#lastPassAt;
  }

  /** One pass under the fleet lock: observe, plan, act. Returns every action and its outcome. */
  pass(options: PassOptions): Promise<ActionOutcome[]> {
    const run = this.#lock.then(() => this.#pass(options));
    this.#lock = run.catch(() => undefined);
    return run;
  }

  /**
   * Observes the fleet: tagged machines from the API joined with our records, chunks, usage.
   * Only passes `record` (state-change events, usage), so views never double-count.
   */
  async observe(record = false): Promise<{ fleet: ObservedFleet; listed: Machine[]; limits: FleetLimits }> {
    const { machines, registry, fleetId } = this.#deps;
    const [listed, limits] = await Promise.all([machines.list({ metadata: fleetMetadata(fleetId) }), this.#deps.limits.get()]);
    if (record) await registry.observe(listed);
    const rows = new Map((await registry.active()).map((r) => [r.id, r]));
    const listedIds = new Set(listed.map((m) => m.id));
    const vanishedIds = [...rows.keys()].filter((id) => !listedIds.has(id));
    const leases = await registry.leases([...listedIds, ...vanishedIds]);
    const open = await registry.openChunks();
    // The queue may hold jobs the DB does not count (a stale redelivery); they need a worker too.
    const pending = await this.#deps.queue.depth().then((d) => d.pending, () => 0);
    const now = this.#now();
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
          lastClaimAt: lease?.lastClaimAt ?? null,
          leasedChunks: lease?.leased.length ?? 0,
        };
      }),
      vanished: vanishedIds.map((id) => ({ id, leasedChunks: leases.get(id)?.leased.length ?? 0 })),
      endedHolders: await this.#settledEndedHolders(),
      queued: Math.max(open.queued, pending),
      leased: open.leased,
      usageTodaySec: await registry.usageSeconds(now),
      createBackoffUntil: this.#createBackoffUntil,
    };
    return { fleet, listed, limits };
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

  async #pass(options: PassOptions): Promise<ActionOutcome[]> {
    const { fleet, limits } = await this.observe(!options.dryRun);
    const now = this.#now();
    const actions = plan(fleet, limits, now, { sweep: options.sweep, scale: options.scale, tuning: this.#deps.tuning });
    this.#lastPassAt = now;
    if (options.dryRun) return actions.map((a) => ({ ...a, outcome: "planned" as const }));
    if (options.scale) await this.#noteBlocked(actions.find((a) => a.kind === "blocked"));
    const outcomes: ActionOutcome[] = [];
    for (const action of actions) {
      if (action.kind === "blocked") continue;
      outcomes.push(await this.#act(action, limits));
    }
    if (options.sweep) await this.#republishStranded(now);
    return outcomes;
  }

  async #act(action: Exclude<FleetAction, { kind: "blocked" }>, limits: FleetLimits): Promise<ActionOutcome> {
    const { machines, registry, log } = this.#deps;
    try {
      switch (action.kind) {
        case "create": {
          const machine = await this.#create(action.pool, limits, action.reason);
          return machine ? { ...action, outcome: "done", machineId: machine.id } : { ...action, outcome: "failed", error: "no region had capacity" };
        }
        case "start":
          await machines.start(action.machineId);
          await registry.event({ machineId: action.machineId, kind: "start", reason: action.reason });
          log.info("machine started from the warm pool", { machineId: action.machineId, reason: action.reason });
          break;
        case "stop":
          await machines.stop(action.machineId, { signal: "SIGTERM", timeout: this.#deps.stopTimeoutSec + 5 });
          await registry.event({ machineId: action.machineId, kind: "stop", reason: action.reason });
          log.info("machine stopped", { machineId: action.machineId, reason: action.reason });
          break;
        case "destroy":
          await this.#destroy(action.machineId, action.reason);
          break;
        case "requeue": {
          const ids = await this.#requeue(action.machineId);
          await registry.event({ machineId: action.machineId, kind: "requeue", reason: action.reason, detail: ids.join(",") || null });
          if (ids.length > 0) log.warn("chunks of a dead machine re-queued", { machineId: action.machineId, chunks: ids });
          break;
        }
        case "mark_gone":
          await registry.markEnded(action.machineId, "gone", action.reason);
          break;
      }
      return { ...action, outcome: "done" };
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      log.warn("fleet action failed", { action: action.kind, machineId: "machineId" in action ? action.machineId : undefined, error: err });
      await registry.event({ machineId: "machineId" in action ? action.machineId : null, kind: `${action.kind}_failed`, reason: action.reason, detail: message.slice(0, 500) });
      return { ...action, outcome: "failed", error: message };
    }
  }

  /** Creates one worker, trying each configured region on capacity errors; backs off when all fail. */
  async #create(pool: boolean, limits: FleetLimits, reason: string): Promise<Machine | undefined> {
    const { machines, registry, fleetId, log } = this.#deps;
    const regions: Array<string | undefined> = limits.regions.length > 0 ? limits.regions : [undefined];
    for (const region of regions) {
      try {
        const machine = await machines.create(this.#request(pool, limits, region));
        await registry.recordCreated(machine, fleetId, pool, reason);
        this.#createFailures = 0;
        this.#createBackoffUntil = 0;
        log.info("machine created", { machineId: machine.id, region: machine.region, pool, reason });
        return machine;
      } catch (err) {
        const capacity = err instanceof CapacityError;
        await registry.event({ machineId: null, kind: "create_failed", reason: capacity ? "capacity" : "api_error", detail: `${region ?? "default region"}: ${(err as Error).message}`.slice(0, 500) });
        if (!capacity) {
          this.#backOff();
          throw err;
        }
        log.warn("no capacity in region; trying the next", { region: region ?? "default" });
      }
    }
    this.#backOff();
    return undefined;
  }

  #backOff(): void {
    this.#createFailures += 1;
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (this.#createFailures - 1));
    this.#createBackoffUntil = this.#now() + delay;
  }

  #request(pool: boolean, limits: FleetLimits, region: string | undefined): CreateMachineRequest {
    const stop = this.#deps.stopTimeoutSec;
    return {
      ...(region ? { region } : {}),
      config: {
        image: limits.image,
        env: {
          ...this.#deps.workerEnv,
          [WORKER_ENV.idleTimeoutSec]: String(limits.idleTimeoutSec),
          [WORKER_ENV.maxLifetimeSec]: String(limits.maxLifetimeSec),
          [WORKER_ENV.stopTimeoutSec]: String(stop),
        },
        ...machineSizeConfig(limits.guest),
        restart: { policy: "no" },
        // A pool machine rests stopped after idling out, so the next backlog can start it quickly.
        auto_destroy: !pool,
        metadata: { ...fleetMetadata(this.#deps.fleetId), ...(pool ? { [POOL_METADATA_KEY]: "1" } : {}) },
        stop_config: { signal: "SIGTERM", timeout: `${stop + 5}s` },
      },
    };
  }

  async #destroy(id: string, reason: string): Promise<void> {
    try {
      await this.#deps.machines.destroy(id, { force: true });
    } catch (err) {
      if (!(err instanceof MachinesApiError && err.status === 404)) throw err;
      await this.#deps.registry.markEnded(id, "gone", reason, "already gone when destroyed");
      return;
    }
    await this.#deps.registry.markEnded(id, "destroy", reason);
    this.#deps.log.info("machine destroyed", { machineId: id, reason });
  }

  /**
   * Re-publishes each chunk `owner` held at the next generation, then returns it to `queued`; a
   * chunk whose machines have now died maxAttempts times is dead instead (and fails its episode).
   */
  async #requeue(owner: string): Promise<string[]> {
    const { store, maxMachineLosses } = this.#deps;
    const done: string[] = [];
    for (const chunk of await store.leasedBy([owner])) {
      if (chunk.machineLosses + 1 >= maxMachineLosses) {
        const reason = `the machine running it was lost ${chunk.machineLosses + 1} times (last: ${owner}); it may be crashing the worker`;
        if (await store.failLostChunk(chunk.id, owner, reason)) {
          this.#deps.log.warn("chunk dead: its machines keep dying", { chunkId: chunk.id, episodeId: chunk.episodeId, losses: chunk.machineLosses + 1 });
        }
        continue;
      }
      const generation = await this.#publishNextGeneration(chunk);
      if (generation !== undefined && (await store.requeueLeased(chunk.id, owner, generation))) done.push(chunk.id);
    }
    return done;
  }

  /**
   * Publishes a chunk's job again at its next generation and returns that generation (undefined
   * when its episode is gone). Publish first, record after: if the store update then fails, the
   * new job still wins, its claim being newer.
   */
  async #publishNextGeneration(chunk: ChunkRow): Promise<number | undefined> {
    const episode = await this.#deps.store.getEpisode(chunk.episodeId);
    if (!episode) return undefined;
    const generation = chunk.generation + 1;
    const job: ChunkJob = { ...jobFor(episode, chunk.index, chunk.startSample, chunk.endSample), generation };
    await this.#deps.queue.publishJob(job, generation);
    return generation;
  }

  /**
   * Safety net for jobs the queue lost: when nothing has been waiting for delivery in the jobs
   * consumer for strandedAfterMs (so every job handed out since has had time to be claimed), a
   * chunk still `queued` since before then has no job anywhere. It is published again at the next
   * generation (the lost job, should it ever come back, is then stale to the fencing).
   */
  async #republishStranded(now: number): Promise<void> {
    const { store, queue, registry, log, strandedAfterMs } = this.#deps;
    const depth = await queue.depth().catch(() => undefined);
    if (!depth || depth.pending > 0) {
      this.#drainedSince = null;
      return;
    }
    this.#drainedSince ??= now;
    if (now - this.#drainedSince < strandedAfterMs) return;
    const republished: string[] = [];
    for (const chunk of await store.queuedSince(now - strandedAfterMs)) {
      const generation = await this.#publishNextGeneration(chunk);
      if (generation !== undefined && (await store.requeueStranded(chunk.id, chunk.generation, generation))) republished.push(chunk.id);
    }
    if (republished.length > 0) {
      await registry.event({ machineId: null, kind: "republish", reason: "job lost by the queue", detail: republished.join(",").slice(0, 500) });
      log.warn("queued chunks had no job in the queue; published again", { chunks: republished });
    }
  }

  async #noteBlocked(action: Extract<FleetAction, { kind: "blocked" }> | undefined): Promise<void> {
    const previous = this.#blocked;
    if (!action) {
      this.#blocked = null;
      return;
    }
    if (previous?.reason === action.reason) return;
    this.#blocked = { reason: action.reason, detail: action.detail, since: this.#now() };
    await this.#deps.registry.event({ machineId: null, kind: "blocked", reason: action.reason, detail: action.detail });
    this.#deps.log.warn("fleet blocked", { reason: action.reason, detail: action.detail });
  }

  /** Live machines by the last observation helper, for views. */
  static liveCount(listed: Machine[]): number {
    return listed.filter((m) => isLive(m.state)).length;
  }
}
