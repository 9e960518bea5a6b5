/**
 * The fleet part: limits (env defaults, operator overrides in libSQL), the machine registry, and
 * the one controller whose passes are the autoscaler and the sweeper, each on its own runner.
 * They are singleton duties: the runners (and the heartbeat listener the sweeper reads) run only
 * while this orchestrator leads, from `start(fence)` on election to the stop it returns.
 */
import { localWorkerEnv } from "../fleet/local-worker-env.ts";
import { WORKER_ENV, type WireNames } from "../../contract/wire.ts";
import type { Fence } from "../cluster/fence.ts";
import type { Config } from "../config.ts";
import { BootFailureLog } from "../fleet/boot-failure-log.ts";
import { FleetController } from "../fleet/fleet-controller.ts";
import { workerSettingsProbe } from "../fleet/worker-settings.ts";
import { HeartbeatListener } from "../queue/heartbeat-listener.ts";
import { ChunkHeartbeats } from "../store/chunk-heartbeats.ts";
import { FleetLimitsStore, type FleetLimits } from "../fleet/fleet-limits.ts";
import type { MachinesApi } from "../fleet/machines-client.ts";
import { MachineRegistry } from "../fleet/machine-registry.ts";
import type { Logger } from "../log.ts";
import { PassRunner } from "../pass-runner.ts";
import { workerAuthEnv } from "../queue/nats-credentials.ts";
import type { QueuePart } from "./queue-part.ts";
import type { StorePart } from "./store-part.ts";

export interface FleetPart {
  controller: FleetController;
  limits: FleetLimitsStore;
  registry: MachineRegistry;
  /** Machines that ended before claiming work (fed by workers' boot_failed events and exit events). */
  bootFailures: BootFailureLog;
  /** `wake()` runs a pass now (a no-op while this orchestrator does not lead). */
  autoscaler: Pick<PassRunner, "wake">;
  sweeper: Pick<PassRunner, "wake">;
  /** Starts the heartbeat listener and both runners, their writes and machine actions under `fence`; returns what stops them. */
  start(fence?: Fence): () => Promise<void>;
}

/** Fleet limits from settings: the defaults until an operator changes them at runtime. */
export function defaultFleetLimits(config: Config): FleetLimits {
  return {
    maxMachines: config.maxMachines,
    maxStarting: config.fleet.maxStarting,
    idleTimeoutSec: config.idleTimeoutSec,
    maxLifetimeSec: config.fleet.maxLifetimeSec,
    regions: config.fleet.regions,
    guest: config.fleet.workerSize ? { size: config.fleet.workerSize } : { cpuKind: "shared", cpus: 2, memoryMb: 2048 },
    image: config.machines.image,
    warmPool: config.fleet.warmPool,
    dailyBudgetMachineSeconds: config.fleet.dailyBudgetMachineSeconds ?? null,
  };
}

export function buildFleetPart(
  config: Config,
  deps: { store: StorePart; queue: QueuePart; names: WireNames; machines: MachinesApi; log: Logger; expectedChunks?: () => number },
): FleetPart {
  const { store, queue, log } = deps;
  const fleetLog = log.child({ component: "fleet" });
  const workerEnv: Record<string, string> = {
    [WORKER_ENV.natsUrl]: config.nats.workerUrl ?? queue.natsUrl,
    [WORKER_ENV.natsPrefix]: config.nats.prefix,
    [WORKER_ENV.engine]: config.engine,
    ...workerAuthEnv(queue.natsAuth.worker),
    ...(config.whisperModel ? { [WORKER_ENV.whisperModel]: config.whisperModel } : {}),
    ...(config.syntheticRtf !== undefined ? { [WORKER_ENV.syntheticRtf]: String(config.syntheticRtf) } : {}),
    ...(config.modelsDir && config.machines.kind === "local" ? { PODFLEET_MODELS_DIR: config.modelsDir } : {}),
    // local machines: the variables PODFLEET_LOCAL_MACHINE_ENV names, and the whisper-server setup built
    ...(config.machines.kind === "local" ? localWorkerEnv(config) : {}),
    [WORKER_ENV.heartbeatSec]: String(config.fleet.heartbeatSec),
  };
  const limits = new FleetLimitsStore(store.database, defaultFleetLimits(config));
  const registry = new MachineRegistry(store.database);
  const bootFailures = new BootFailureLog(store.database);
  const chunkHeartbeats = new ChunkHeartbeats(store.database);
  // a fresh listener per term: since() must count from when this leader started listening
  let heartbeats = new HeartbeatListener(chunkHeartbeats, fleetLog);
  let fence: Fence | undefined;
  const controller = new FleetController({
    machines: deps.machines,
    registry,
    bootFailures,
    limits,
    store: store.store,
    heartbeats: chunkHeartbeats,
    heartbeatLimitMs: config.fleet.heartbeatLimitSec * 1000,
    heartbeatsSince: () => heartbeats.since(),
    bootBackoff: { baseMs: config.fleet.bootBackoffSec * 1000, maxMs: config.fleet.bootBackoffMaxSec * 1000 },
    workerSettings: workerSettingsProbe(config),
    ...(deps.expectedChunks ? { expectedChunks: deps.expectedChunks } : {}),
    queue: queue.queue,
    fleetId: store.fleetId,
    workerEnv,
    stopTimeoutSec: config.fleet.stopTimeoutSec,
    maxMachineLosses: config.maxAttempts,
    strandedAfterMs: config.fleet.strandedSec * 1000,
    tuning: {
      wedgedSec: config.fleet.wedgedSec,
      bootDeadlineSec: config.fleet.bootDeadlineSec,
      lifetimeGraceSec: config.fleet.stopTimeoutSec + config.tuning.lifetimeGraceSec,
      maxDestroysPerPass: config.tuning.maxDestroysPerPass,
    },
    log: fleetLog,
  });
  const autoscaler = new PassRunner("autoscaler", (signal) => controller.pass({ sweep: false, scale: true, signal, fence }), {
    intervalMs: config.autoscaleIntervalMs,
    timeoutMs: config.tuning.autoscalePassTimeoutMs,
    log,
  });
  const sweeper = new PassRunner("sweeper", (signal) => controller.pass({ sweep: true, scale: false, signal, fence }), {
    intervalMs: config.fleet.sweepIntervalMs,
    timeoutMs: config.tuning.sweepPassTimeoutMs,
    log,
  });
  return {
    controller,
    limits,
    registry,
    bootFailures,
    autoscaler,
    sweeper,
    start: (termFence) => {
      fence = termFence;
      const listener = new HeartbeatListener(chunkHeartbeats, fleetLog);
      heartbeats = listener;
      listener.start(queue.nc, deps.names);
      autoscaler.start();
      sweeper.start();
      return async () => {
        await sweeper.stop();
        await autoscaler.stop();
        await listener.close();
      };
    },
  };
}
