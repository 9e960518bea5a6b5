/**
 * The act half of a fleet pass: carries out the actions the plan returned, exactly as told, and
 * records each one (machine events, log). It decides nothing about the fleet; what it keeps is the
 * Machines API's own answer: when creates fail (API errors, no capacity in any region) it backs
 * creates off, 2 s doubling to 60 s, which the next observation reports.
 *
 * Under a leader's fence (cluster/fence.ts) every Machines API call is preceded by the fence's
 * local check (a paused-then-resumed leader acts no more), machines are created tagged with the
 * term, and every record is a fenced write. A deposed leader's action ends the pass (the error is
 * rethrown, not recorded as a failed action: recording it would be refused too).
 */
import { WORKER_ENV } from "../../contract/wire.ts";
import { isDeposedError, type Fence } from "../cluster/fence.ts";
import type { WorkQueue } from "../episodes/work-queue.ts";
import type { Logger } from "../log.ts";
import type { EpisodeStore } from "../store/episode-store.ts";
import { fleetMetadata, POOL_METADATA_KEY, TERM_METADATA_KEY } from "./autoscaler.ts";
import type { BootFailureLog } from "./boot-failure-log.ts";
import { machineSizeConfig, type FleetLimits } from "./fleet-limits.ts";
import type { FleetAction } from "./fleet-state.ts";
import type { CreateMachineRequest, Machine } from "./machine.ts";
import type { MachinesApi } from "./machines-client.ts";
import { CapacityError, MachinesApiError } from "./machines-errors.ts";
import type { MachineRegistry } from "./machine-registry.ts";

/** The Machines API calls the fleet makes (MachinesClient satisfies it). */
export type FleetMachinesPort = Pick<MachinesApi, "list" | "create" | "start" | "stop" | "destroy" | "events">;

export interface FleetActionsDeps {
  machines: FleetMachinesPort;
  registry: MachineRegistry;
  bootFailures: BootFailureLog;
  store: Pick<EpisodeStore, "requeueLeased" | "failLostChunk" | "getEpisode" | "getChunk" | "requeueStranded">;
  queue: Pick<WorkQueue, "publishChunk">;
  fleetId: string;
  /** Env every worker gets (NATS URL, prefix, engine, token); timeouts are added from the limits. */
  workerEnv: Record<string, string>;
  /** How long a stopping worker may finish its chunk before handing it back. */
  stopTimeoutSec: number;
  log: Logger;
  now: () => number;
}

/** An action with what became of it. */
export type ActionOutcome = FleetAction & { outcome: "done" | "planned" | "failed"; machineId?: string; error?: string };

const BACKOFF_BASE_MS = 2_000;
const BACKOFF_MAX_MS = 60_000;

export class FleetActions {
  readonly #deps: FleetActionsDeps;
  #createFailures = 0;
  #createBackoffUntil = 0;

  constructor(deps: FleetActionsDeps) {
    this.#deps = deps;
  }

  /** No create before this (epoch ms) after API or capacity failures; 0 = none. */
  get createBackoffUntil(): number {
    return this.#createBackoffUntil;
  }

  /** Carries out one action; a failure is recorded and returned, never thrown. */
  async run(action: Exclude<FleetAction, { kind: "blocked" }>, limits: FleetLimits, fence?: Fence): Promise<ActionOutcome> {
    const { machines, registry, log } = this.#deps;
    const machineId = "machineId" in action ? action.machineId : undefined;
    try {
      switch (action.kind) {
        case "create": {
          const machine = await this.#create(action.pool, limits, action.reason, fence);
          return machine ? { ...action, outcome: "done", machineId: machine.id } : { ...action, outcome: "failed", error: "no region had capacity" };
        }
        case "start":
          fence?.check();
          await machines.start(action.machineId);
          await registry.event({ machineId: action.machineId, kind: "start", reason: action.reason }, fence);
          log.info("machine started from the warm pool", { machineId: action.machineId, reason: action.reason });
          break;
        case "stop":
          fence?.check();
          await machines.stop(action.machineId, { signal: "SIGTERM", timeout: this.#deps.stopTimeoutSec + 5 });
          await registry.event({ machineId: action.machineId, kind: "stop", reason: action.reason }, fence);
          log.info("machine stopped", { machineId: action.machineId, reason: action.reason });
          break;
        case "destroy":
          await this.#destroy(action.machineId, action.reason, fence);
          break;
        case "requeue":
          await this.#recover(action, fence);
          break;
        case "republish":
          await this.#republish(action, fence);
          break;
        case "mark_gone":
          await registry.markEnded(action.machineId, "gone", action.reason, undefined, fence);
          break;
        case "note_boot_failure":
          await this.#deps.bootFailures.record({
            machineId: action.machineId,
            exitCode: action.exitCode,
            reason: action.reason,
            source: "exit_event",
          });
          log.debug("boot failure noted from the machine's exit", { machineId: action.machineId, exitCode: action.exitCode });
          break;
      }
      return { ...action, outcome: "done" };
    } catch (err) {
      if (isDeposedError(err)) throw err;
      const message = err instanceof Error ? err.message : String(err);
      log.warn("fleet action failed", { action: action.kind, machineId, error: err });
      await registry.event(
        { machineId: machineId ?? null, kind: `${action.kind}_failed`, reason: action.reason, detail: message.slice(0, 500) },
        fence,
      );
      return { ...action, outcome: "failed", error: message };
    }
  }

  /** Creates one worker, trying each configured region on capacity errors; backs off when all fail. */
  async #create(pool: boolean, limits: FleetLimits, reason: string, fence: Fence | undefined): Promise<Machine | undefined> {
    const { machines, registry, fleetId, log } = this.#deps;
    const regions: Array<string | undefined> = limits.regions.length > 0 ? limits.regions : [undefined];
    for (const region of regions) {
      try {
        fence?.check();
        const machine = await machines.create(this.#request(pool, limits, region, fence));
        await registry.recordCreated(machine, fleetId, pool, reason, fence);
        this.#createFailures = 0;
        this.#createBackoffUntil = 0;
        log.info("machine created", { machineId: machine.id, region: machine.region, pool, reason });
        return machine;
      } catch (err) {
        if (isDeposedError(err)) throw err;
        const capacity = err instanceof CapacityError;
        await registry.event(
          {
            machineId: null,
            kind: "create_failed",
            reason: capacity ? "capacity" : "api_error",
            detail: `${region ?? "default region"}: ${(err as Error).message}`.slice(0, 500),
          },
          fence,
        );
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
    this.#createBackoffUntil = this.#deps.now() + delay;
  }

  #request(pool: boolean, limits: FleetLimits, region: string | undefined, fence: Fence | undefined): CreateMachineRequest {
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
        metadata: {
          ...fleetMetadata(this.#deps.fleetId),
          ...(pool ? { [POOL_METADATA_KEY]: "1" } : {}),
          ...(fence ? { [TERM_METADATA_KEY]: String(fence.term) } : {}),
        },
        stop_config: { signal: "SIGTERM", timeout: `${stop + 5}s` },
      },
    };
  }

  async #destroy(id: string, reason: string, fence: Fence | undefined): Promise<void> {
    try {
      fence?.check();
      await this.#deps.machines.destroy(id, { force: true });
    } catch (err) {
      if (!(err instanceof MachinesApiError && err.status === 404)) throw err;
      await this.#deps.registry.markEnded(id, "gone", reason, "already gone when destroyed", fence);
      return;
    }
    await this.#deps.registry.markEnded(id, "destroy", reason, undefined, fence);
    this.#deps.log.info("machine destroyed", { machineId: id, reason });
  }

  /**
   * Each chunk of a lost holder as the plan decided: published again at its next generation (publish
   * first, record after: if the store update then fails, the new job still wins, its claim being
   * newer), or dead, failing its episode. The store acts only if the holder still holds it.
   */
  async #recover(action: Extract<FleetAction, { kind: "requeue" }>, fence: Fence | undefined): Promise<void> {
    const { store, registry, log } = this.#deps;
    const owner = action.machineId;
    const done: string[] = [];
    for (const chunk of action.chunks) {
      if (chunk.to === "dead") {
        if (await store.failLostChunk(chunk.chunkId, owner, chunk.why, fence))
          log.warn("chunk dead: its machines keep dying", { chunkId: chunk.chunkId, episodeId: chunk.episodeId, reason: chunk.why });
        continue;
      }
      const why = action.lost === "silent" ? `${owner} sent ${action.reason}` : `machine ${owner} died`;
      if (
        (await this.#publish(chunk.chunkId, chunk.episodeId, chunk.generation, fence)) &&
        (await store.requeueLeased(chunk.chunkId, owner, chunk.generation, why, fence))
      )
        done.push(chunk.chunkId);
    }
    await registry.event({ machineId: owner, kind: "requeue", reason: action.reason, detail: done.join(",") || null }, fence);
    if (done.length > 0) log.warn("chunks of a lost holder re-queued", { machineId: owner, reason: action.reason, chunks: done });
  }

  /** Queued chunks whose job the queue lost: published again at the next generation (the lost job, should it come back, is then stale). */
  async #republish(action: Extract<FleetAction, { kind: "republish" }>, fence: Fence | undefined): Promise<void> {
    const republished: string[] = [];
    for (const c of action.chunks) {
      if ((await this.#publish(c.id, c.episodeId, c.next, fence)) && (await this.#deps.store.requeueStranded(c.id, c.generation, c.next, fence)))
        republished.push(c.id);
    }
    if (republished.length > 0) {
      await this.#deps.registry.event(
        { machineId: null, kind: "republish", reason: action.reason, detail: republished.join(",").slice(0, 500) },
        fence,
      );
      this.#deps.log.warn("queued chunks had no job in the queue; published again", { chunks: republished });
    }
  }

  /** Publishes a chunk's job at `generation`; false when its episode or chunk is gone. */
  async #publish(chunkId: string, episodeId: string, generation: number, fence: Fence | undefined): Promise<boolean> {
    const [episode, chunk] = await Promise.all([this.#deps.store.getEpisode(episodeId), this.#deps.store.getChunk(chunkId)]);
    if (!episode || !chunk) return false;
    fence?.check();
    return await this.#deps.queue.publishChunk(episode, chunk, generation);
  }
}
