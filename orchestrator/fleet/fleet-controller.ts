/**
 * Runs the fleet, one pass at a time: observe (fleet-observation.ts), decide (the pure `plan` of
 * fleet-plan.ts), act (fleet-actions.ts carries out exactly what was decided). Passes never
 * overlap: one lock serialises the autoscaler timer, the sweeper timer and `machines reap`, so two
 * decisions can never both spend the same free slot under the cap. A pass stops between actions
 * when the pass runner's timeout signal fires.
 */
import type { Fence } from "../cluster/fence.ts";
import type { WorkQueue } from "../episodes/work-queue.ts";
import type { Logger } from "../log.ts";
import type { ChunkHeartbeats } from "../store/chunk-heartbeats.ts";
import type { EpisodeStore } from "../store/episode-store.ts";
import { bootBackoff, describeBootBackoff, type BootBackoff } from "./boot-backoff.ts";
import type { BootFailureLog } from "./boot-failure-log.ts";
import { FleetActions, type ActionOutcome, type FleetMachinesPort } from "./fleet-actions.ts";
import type { FleetLimitsStore } from "./fleet-limits.ts";
import { FleetObserver, type Observation } from "./fleet-observation.ts";
import { plan } from "./fleet-plan.ts";
import { DEFAULT_BOOT_BACKOFF, isLive, type BootBackoffTuning, type FleetAction, type SweepTuning } from "./fleet-state.ts";
import type { Machine } from "./machine.ts";
import type { MachineRegistry } from "./machine-registry.ts";

export type { ActionOutcome, FleetMachinesPort };

export interface FleetControllerDeps {
  machines: FleetMachinesPort;
  registry: MachineRegistry;
  bootFailures: BootFailureLog;
  limits: FleetLimitsStore;
  store: Pick<EpisodeStore, "requeueLeased" | "failLostChunk" | "getEpisode" | "getChunk" | "queuedSince" | "requeueStranded">;
  heartbeats: Pick<ChunkHeartbeats, "silentSince">;
  queue: Pick<WorkQueue, "publishChunk" | "depth" | "eventsProgress">;
  fleetId: string;
  /** Env every worker gets (NATS URL, prefix, engine, token); timeouts are added from the limits. */
  workerEnv: Record<string, string>;
  /** What besides the limits decides whether a worker boots (see FleetObserverDeps.workerSettings); default: workerEnv. */
  workerSettings?: () => Promise<string> | string;
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
  /** A holder that promised heartbeats and sent none for this long has its chunks re-queued. */
  heartbeatLimitMs: number;
  /** Since when heartbeats are received (epoch ms), null when they are not. */
  heartbeatsSince: () => number | null;
  bootBackoff?: BootBackoffTuning;
  /** Demand hint from ingest (FleetObserverDeps.expectedChunks). */
  expectedChunks?: () => number;
  tuning: SweepTuning;
  log: Logger;
  now?: () => number;
}

/** Why queued work waits for a machine. */
export interface FleetWaiting {
  cause: string;
  detail: string;
}

export interface PassOptions {
  sweep: boolean;
  scale: boolean;
  /** Decide and report, change nothing. */
  dryRun?: boolean;
  /** The pass runner's timeout: no further action starts once it fires. */
  signal?: AbortSignal | undefined;
  /**
   * The leader's fence (cluster/fence.ts): machines are created tagged with its term, every
   * machine action checks it first, and the pass's writes are fenced. Absent: unfenced (tests, tools).
   */
  fence?: Fence | undefined;
}

export class FleetController {
  readonly #deps: FleetControllerDeps;
  readonly #now: () => number;
  readonly #observer: FleetObserver;
  readonly #actions: FleetActions;
  readonly #boot: BootBackoffTuning;
  #lock: Promise<unknown> = Promise.resolve();
  #blocked: { reason: string; detail: string; since: number } | null = null;
  #failing: BootBackoff | null = null;
  #lastPassAt: number | null = null;

  constructor(deps: FleetControllerDeps) {
    this.#deps = deps;
    this.#now = deps.now ?? Date.now;
    this.#boot = deps.bootBackoff ?? DEFAULT_BOOT_BACKOFF;
    this.#actions = new FleetActions({ ...deps, now: this.#now });
    const settings = deps.workerSettings ?? (() => JSON.stringify(deps.workerEnv));
    this.#observer = new FleetObserver({
      ...deps,
      workerSettings: settings,
      createBackoffUntil: () => this.#actions.createBackoffUntil,
      now: this.#now,
    });
  }

  /** Why no machine can start right now (drain, budget, boot failures, backoff), or null. */
  get blocked(): { reason: string; detail: string; since: number } | null {
    return this.#blocked;
  }

  /** The boot-failure back-off as of the last pass, or null while workers boot. */
  get bootBackoff(): BootBackoff | null {
    return this.#failing;
  }

  /**
   * Why queued work waits (blocked, or workers failing to boot), or null: `cause` stays the same
   * while the reason does (for "say it once"), `detail` is the line to show (with the countdown).
   */
  waitingReason(now = this.#now()): FleetWaiting | null {
    if (this.#failing && (!this.#blocked || this.#blocked.reason === "boot_failure")) {
      return { cause: `boot_failure: ${this.#failing.reason}`, detail: describeBootBackoff(this.#failing, now) };
    }
    return this.#blocked ? { cause: this.#blocked.reason, detail: this.#blocked.detail } : null;
  }

  get createBackoffUntil(): number {
    return this.#actions.createBackoffUntil;
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

  /** The fleet as a pass would see it, for views; records nothing. */
  observe(): Promise<Observation> {
    return this.#observer.observe({ record: false, sweep: false });
  }

  async #pass(options: PassOptions): Promise<ActionOutcome[]> {
    const fence = options.dryRun ? undefined : options.fence;
    const { fleet, limits } = await this.#observer.observe({ record: !options.dryRun, sweep: options.sweep, signal: options.signal, fence });
    const now = this.#now();
    const { tuning, maxMachineLosses, strandedAfterMs } = this.#deps;
    const actions = plan(fleet, limits, now, {
      sweep: options.sweep,
      scale: options.scale,
      tuning,
      recovery: { maxMachineLosses, strandedAfterMs },
      boot: this.#boot,
    });
    this.#lastPassAt = now;
    if (options.dryRun) return actions.map((a) => ({ ...a, outcome: "planned" as const }));
    if (options.scale) {
      const notes = actions.flatMap((a) =>
        a.kind === "note_boot_failure" ? [{ machineId: a.machineId, at: now, exitCode: a.exitCode, reason: a.reason }] : [],
      );
      this.#noteFailing(bootBackoff({ ...fleet, bootFailures: [...notes, ...fleet.bootFailures] }, this.#boot));
      await this.#noteBlocked(
        actions.find((a) => a.kind === "blocked"),
        fence,
      );
    }
    const outcomes: ActionOutcome[] = [];
    for (const action of actions) {
      if (action.kind === "blocked") continue;
      options.signal?.throwIfAborted();
      outcomes.push(await this.#actions.run(action, limits, fence));
    }
    return outcomes;
  }

  /** Logs at warn once per new boot-failure reason, and once when workers boot again. */
  #noteFailing(failing: BootBackoff | null): void {
    const previous = this.#failing;
    this.#failing = failing;
    if (failing && failing.reason !== previous?.reason) {
      this.#deps.log.warn("workers fail to start; machine creation backs off", {
        reason: failing.reason,
        exitCode: failing.exitCode,
        failures: failing.failures,
      });
    } else if (!failing && previous) {
      this.#deps.log.info("workers start again: boot-failure back-off cleared (settings changed, or a machine claimed work)", {
        lastReason: previous.reason,
      });
    }
  }

  async #noteBlocked(action: Extract<FleetAction, { kind: "blocked" }> | undefined, fence: Fence | undefined): Promise<void> {
    const previous = this.#blocked;
    if (!action) {
      this.#blocked = null;
      return;
    }
    if (previous?.reason === action.reason) {
      this.#blocked = { ...previous, detail: action.detail };
      return;
    }
    this.#blocked = { reason: action.reason, detail: action.detail, since: this.#now() };
    await this.#deps.registry.event({ machineId: null, kind: "blocked", reason: action.reason, detail: action.detail }, fence);
    // a boot failure is logged by #noteFailing, once per reason
    if (action.reason !== "boot_failure") this.#deps.log.warn("fleet blocked", { reason: action.reason, detail: action.detail });
  }

  /** Live machines by the last observation helper, for views. */
  static liveCount(listed: Machine[]): number {
    return listed.filter((m) => isLive(m.state)).length;
  }
}
