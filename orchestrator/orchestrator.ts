/**
 * Assembles a running orchestrator from a Config: NATS (embedded nats-server child, or NATS_URL),
 * libSQL (a file in the data directory, or DATABASE_URL), the Machines API (the embedded local
 * runtime, or Fly), the ingest service, the worker-event consumer, the autoscaler, and the HTTP
 * server. `close()` shuts everything down in the reverse order.
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { serve } from "@hono/node-server";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { wireNames, WORKER_ENV, type WireNames, type WorkerEvent } from "../contract/wire.ts";
import type { Config } from "./config.ts";
import { applyChunkEvent } from "./episodes/chunk-events.ts";
import { EpisodeService } from "./episodes/episode-service.ts";
import { finishEpisode } from "./episodes/finish-episode.ts";
import { BootFailureLog } from "./fleet/boot-failure-log.ts";
import { FleetController } from "./fleet/fleet-controller.ts";
import { workerSettingsProbe } from "./fleet/worker-settings.ts";
import { HeartbeatListener } from "./queue/heartbeat-listener.ts";
import { ChunkHeartbeats } from "./store/chunk-heartbeats.ts";
import { FleetLimitsStore, type FleetLimits } from "./fleet/fleet-limits.ts";
import { FleetViews } from "./fleet/fleet-view.ts";
import { killLeftoverMachines, LocalMachinesRuntime, type LaunchSpec } from "./fleet/local-runtime.ts";
import type { Machine } from "./fleet/machine.ts";
import { MachineRegistry } from "./fleet/machine-registry.ts";
import { MachinesClient } from "./fleet/machines-client.ts";
import { mountFleetRoutes } from "./http/fleet-routes.ts";
import { mountMetricsRoutes } from "./http/metrics-routes.ts";
import { createApp } from "./http/app.ts";
import { mountTokenRoutes } from "./http/auth.ts";
import { TokenStore } from "./auth/token-store.ts";
import { registerSecret, type Logger } from "./log.ts";
import { PassRunner } from "./pass-runner.ts";
import { startNatsServer, type NatsServerHandle } from "./queue/nats-server.ts";
import { authSecrets, connectAuth, ensureEmbeddedNatsCredentials, workerAuthEnv, type NatsAuth } from "./queue/nats-credentials.ts";
import { consumeChunkEvents, NatsWorkQueue } from "./queue/nats-work-queue.ts";
import { Database } from "./store/database.ts";
import { EpisodeStore } from "./store/episode-store.ts";
import { workerLaunchSpec } from "./fleet/worker-launch.ts";
import { buildWorkerBundle } from "../machine-image/build-worker.ts";
import { DeliveryService } from "./delivery/delivery-service.ts";
import { FeedService } from "./feeds/feed-service.ts";
import { DEFAULT_FEED_FETCH } from "./feeds/feed-fetch.ts";
import { FeedStore } from "./feeds/feed-store.ts";
import { mountFeedRoutes } from "./http/feeds-routes.ts";
import { mountHookRoutes } from "./http/hooks-routes.ts";
import { EpisodeLinks } from "./sources/episode-links.ts";
import { SourceStore } from "./sources/source-store.ts";
import { WebhookService } from "./sources/webhook-service.ts";
import { newSecret } from "./sources/webhook-signature.ts";

export interface Orchestrator {
  /** Base URL of the HTTP API, e.g. http://127.0.0.1:8080 */
  url: string;
  config: Config;
  names: WireNames;
  store: EpisodeStore;
  machines: MachinesClient;
  /** Present when the embedded local runtime runs the machines. */
  localRuntime: LocalMachinesRuntime | undefined;
  natsUrl: string;
  /** How to connect to that NATS as the orchestrator, and as a worker (what the machines get in their env). */
  natsAuth: { orchestrator: NatsAuth; worker: NatsAuth };
  /** The admin API token kept in `<data-dir>/admin-token` (mode 600); send it as `Authorization: Bearer`. */
  adminToken: string;
  /** The fleet: one pass on demand (`controller.pass`), limits, and the machine records and events. */
  fleet: { controller: FleetController; limits: FleetLimitsStore; registry: MachineRegistry };
  close(): Promise<void>;
}

/** Test and embedding hooks: how the embedded local runtime runs a machine's image (default: the worker). */
export interface OrchestratorHooks {
  /** `defaultSpec` is how the orchestrator would run the worker (its bundle): adjust it or replace it. */
  launch?: (machine: Machine, defaultSpec: LaunchSpec) => LaunchSpec;
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

export class DataDirLockedError extends Error {
  override name = "DataDirLockedError";
}

/** The URL of the orchestrator running on `dataDir`, if one is. */
export function runningOrchestratorUrl(dataDir: string): string | undefined {
  try {
    const pid = Number(fs.readFileSync(path.join(dataDir, "orchestrator.pid"), "utf8"));
    process.kill(pid, 0);
    return fs.readFileSync(path.join(dataDir, "orchestrator.url"), "utf8").trim() || undefined;
  } catch {
    return undefined;
  }
}

/** One orchestrator per data directory: a second one would run a second nats-server on the same store. */
function lockDataDir(dataDir: string): () => void {
  const lockPath = path.join(dataDir, "orchestrator.pid");
  try {
    const pid = Number(fs.readFileSync(lockPath, "utf8"));
    if (pid && pid !== process.pid) {
      try {
        process.kill(pid, 0);
        throw new DataDirLockedError(`another podfleet orchestrator (pid ${pid}) is using ${dataDir}; stop it or use another --data-dir`);
      } catch (err) {
        if (err instanceof DataDirLockedError) throw err; // ESRCH: a stale lock from a crash, take it over
      }
    }
  } catch (err) {
    if (err instanceof DataDirLockedError) throw err;
  }
  fs.writeFileSync(lockPath, String(process.pid));
  return () => fs.rmSync(lockPath, { force: true });
}

export async function startOrchestrator(config: Config, log: Logger, hooks: OrchestratorHooks = {}): Promise<Orchestrator> {
  for (const secret of [...authSecrets(config.nats.auth), ...authSecrets(config.nats.workerAuth ?? {})]) registerSecret(secret);
  registerSecret(config.adminToken);
  registerSecret(config.database.authToken);
  if (config.machines.kind === "fly") registerSecret(config.machines.token);

  fs.mkdirSync(config.dataDir, { recursive: true });
  const cleanups: Array<() => Promise<void> | void> = [];
  const closeAll = async () => {
    for (const fn of cleanups.splice(0).reverse()) {
      try {
        await fn();
      } catch (err) {
        log.warn("shutdown step failed", { error: err });
      }
    }
  };

  try {
    cleanups.push(lockDataDir(config.dataDir));
    const logDir = path.join(config.dataDir, "logs");
    fs.mkdirSync(logDir, { recursive: true });

    // 0. The data directory is ours, so whoever ran on it before is dead. Local machines of a run
    // that was SIGKILLed would run on unseen by our runtime, outside the cap: they go before our NATS
    // comes up (its nats-server goes the same way, through its pid file).
    const localRuntimeOwner = path.resolve(config.dataDir);
    if (config.machines.kind !== "fly") {
      const killed = await killLeftoverMachines(localRuntimeOwner);
      if (killed.length > 0) log.warn("killed worker processes a previous run left behind (it did not shut down)", { pids: killed });
    }

    // 1. NATS: embedded (an orchestrator user and a worker user with only the worker's permissions) or external.
    const names = wireNames(config.nats.prefix);
    let natsServer: NatsServerHandle | undefined;
    let natsUrl = config.nats.url;
    let natsAuth: { orchestrator: NatsAuth; worker: NatsAuth };
    if (!natsUrl) {
      const creds = ensureEmbeddedNatsCredentials(config.dataDir, names, "token" in config.nats.auth ? config.nats.auth.token : undefined);
      natsAuth = { orchestrator: creds.orchestrator, worker: creds.worker };
      registerSecret(creds.orchestrator.password);
      registerSecret(creds.worker.password);
      natsServer = await startNatsServer({
        storeDir: path.join(config.dataDir, "nats"),
        logFile: path.join(logDir, "nats-server.log"),
        // a server left behind by a SIGKILLed orchestrator is killed through this file before ours starts
        pidFile: path.join(config.dataDir, "nats-server.pid"),
        users: creds.users,
      });
      cleanups.push(() => natsServer!.stop());
      natsUrl = natsServer.url;
    } else {
      natsAuth = { orchestrator: config.nats.auth, worker: config.nats.workerAuth ?? config.nats.auth };
      if (!config.nats.workerAuth && Object.keys(config.nats.auth).length > 0) {
        log.warn("workers get the orchestrator's NATS credentials; give them their own account with PODFLEET_WORKER_NATS_USER/PASSWORD (see `podfleet nats permissions`)");
      }
    }
    const nc: NatsConnection = await connect({
      servers: natsUrl,
      ...connectAuth(natsAuth.orchestrator),
      name: "podfleet-orchestrator",
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
    });
    cleanups.push(() => nc.drain());
    const queue = await NatsWorkQueue.open(nc, names, { ackWaitMs: config.ackWaitSec * 1000, maxDeliver: config.maxAttempts });

    // 2. Database
    const database = await Database.open(config.database.url, config.database.authToken);
    cleanups.push(() => database.close());
    const store = new EpisodeStore(database);
    const tokens = new TokenStore(database);
    const adminToken = await tokens.ensureAdminTokenFile(config.dataDir);
    registerSecret(adminToken);
    if (config.adminToken && !(await tokens.ensureEnvAdminToken(config.adminToken))) {
      log.warn("PODFLEET_ADMIN_TOKEN was revoked through the API and is not accepted; set a new value");
    }
    const fleetId = await store.setSettingIfAbsent("fleet_id", `fl_${randomBytes(6).toString("hex")}`);

    // 3. Machines API: the embedded local runtime unless Fly is configured.
    let localRuntime: LocalMachinesRuntime | undefined;
    let machines: MachinesClient;
    if (config.machines.kind === "fly") {
      machines = new MachinesClient({ baseUrl: config.machines.apiUrl, app: config.machines.app, token: config.machines.token });
    } else {
      let defaultLaunch = workerLaunchSpec();
      try {
        defaultLaunch = workerLaunchSpec(await buildWorkerBundle(path.join(config.dataDir, "worker", "worker.mjs")));
      } catch (err) {
        log.warn("could not compile the worker bundle; local machines run the TypeScript sources through tsx (slower to start)", { error: err });
      }
      localRuntime = new LocalMachinesRuntime({
        app: "podfleet-local",
        launch: (machine) => (hooks.launch ? hooks.launch(machine, defaultLaunch) : defaultLaunch),
        logDir: path.join(logDir, "machines"),
        owner: localRuntimeOwner,
      });
      const { url, token } = await localRuntime.start();
      cleanups.push(() => localRuntime!.close());
      machines = new MachinesClient({ baseUrl: url, app: "podfleet-local", token });
    }
    const workerEnv: Record<string, string> = {
      [WORKER_ENV.natsUrl]: config.nats.workerUrl ?? natsUrl,
      [WORKER_ENV.natsPrefix]: config.nats.prefix,
      [WORKER_ENV.engine]: config.engine,
      ...workerAuthEnv(natsAuth.worker),
      ...(config.whisperModel ? { [WORKER_ENV.whisperModel]: config.whisperModel } : {}),
      ...(config.modelsDir && config.machines.kind === "local" ? { PODFLEET_MODELS_DIR: config.modelsDir } : {}),
      [WORKER_ENV.heartbeatSec]: String(config.fleet.heartbeatSec),
    };

    // 4. Fleet: the autoscaler and the sweeper are passes of one controller (fleet/fleet-controller.ts).
    const fleetLog = log.child({ component: "fleet" });
    const fleetLimits = new FleetLimitsStore(database, defaultFleetLimits(config));
    const registry = new MachineRegistry(database);
    const bootFailures = new BootFailureLog(database);
    const chunkHeartbeats = new ChunkHeartbeats(database);
    const heartbeats = new HeartbeatListener(chunkHeartbeats, fleetLog);
    heartbeats.start(nc, names);
    cleanups.push(() => heartbeats.close());
    const fleet = new FleetController({
      machines,
      registry,
      bootFailures,
      limits: fleetLimits,
      store,
      heartbeats: chunkHeartbeats,
      heartbeatLimitMs: config.fleet.heartbeatLimitSec * 1000,
      heartbeatsSince: () => heartbeats.since(),
      bootBackoff: { baseMs: config.fleet.bootBackoffSec * 1000, maxMs: config.fleet.bootBackoffMaxSec * 1000 },
      workerSettings: workerSettingsProbe(config),
      queue,
      fleetId,
      workerEnv,
      stopTimeoutSec: config.fleet.stopTimeoutSec,
      maxMachineLosses: config.maxAttempts,
      strandedAfterMs: config.fleet.strandedSec * 1000,
      tuning: {
        wedgedSec: config.fleet.wedgedSec,
        bootDeadlineSec: config.fleet.bootDeadlineSec,
        lifetimeGraceSec: config.fleet.stopTimeoutSec + 60,
        maxDestroysPerPass: 20,
      },
      log: fleetLog,
    });
    const autoscaler = new PassRunner("autoscaler", (signal) => fleet.pass({ sweep: false, scale: true, signal }), {
      intervalMs: config.autoscaleIntervalMs,
      timeoutMs: 60_000,
      log,
    });
    const sweeper = new PassRunner("sweeper", (signal) => fleet.pass({ sweep: true, scale: false, signal }), {
      intervalMs: config.fleet.sweepIntervalMs,
      timeoutMs: 120_000,
      log,
    });

    // 5. Episodes: ingest service and the worker-event consumer.
    const links = new EpisodeLinks(database, { allowPrivateUrls: config.allowPrivateUrls });
    const episodes = new EpisodeService({
      store,
      queue,
      ingest: {
        workDir: path.join(config.dataDir, "work"),
        fetch: { allowPrivate: config.allowPrivateUrls, maxBytes: config.maxAudioBytes, timeoutMs: config.fetchTimeoutSec * 1000 },
      },
      uploadDir: path.join(config.dataDir, "uploads"),
      defaultChunkSeconds: config.chunkSeconds,
      maxConcurrentIngests: 2,
      log,
      onQueued: () => autoscaler.wake(),
      beforeCreate: links.beforeCreate,
    });
    const eventsAbort = new AbortController();
    const eventDeps = { store, queue, log, maxAttempts: config.maxAttempts };
    const onWorkerEvent = async (e: WorkerEvent): Promise<unknown> => {
      if (e.type !== "boot_failed") return applyChunkEvent(e, eventDeps);
      fleetLog.debug("worker boot failure", { machineId: e.machineId, exitCode: e.exitCode, reason: e.reason });
      await bootFailures.record({ machineId: e.machineId, exitCode: e.exitCode, reason: e.reason, source: "worker" });
      autoscaler.wake();
      return undefined;
    };
    const eventsLoop = consumeChunkEvents(nc, names, onWorkerEvent, { signal: eventsAbort.signal, log });
    cleanups.push(async () => {
      eventsAbort.abort();
      await eventsLoop;
    });
    cleanups.push(() => episodes.drain());
    autoscaler.start();
    cleanups.push(() => autoscaler.stop());
    sweeper.start();
    cleanups.push(() => sweeper.stop());

    // 5b. Ingest and delivery: feed poller and signed completion callbacks (background passes).
    let publicUrl = config.publicUrl;
    const feedStore = new FeedStore(database);
    const feeds = new FeedService({
      store: feedStore,
      episodes,
      fetch: { ...DEFAULT_FEED_FETCH, allowPrivate: config.allowPrivateUrls },
      maxInFlight: 4,
      log: log.child({ component: "feeds" }),
    });
    const feedRunner = new PassRunner("feed poller", (signal) => feeds.pass(signal), { intervalMs: 10_000, timeoutMs: 300_000, log });
    const callbackSecret = await store.setSettingIfAbsent("callback_signing_secret", newSecret("standard")!);
    registerSecret(callbackSecret);
    const deliveries = new DeliveryService({
      database,
      secret: callbackSecret,
      publicUrl: () => publicUrl ?? "http://localhost",
      allowPrivateUrls: config.allowPrivateUrls,
      log: log.child({ component: "callbacks" }),
    });
    const deliveryRunner = new PassRunner("callbacks", (signal) => deliveries.pass(signal), { intervalMs: 2_000, timeoutMs: 120_000, log });
    const sources = new SourceStore(database);
    const webhooks = new WebhookService({ sources, episodes, feeds, feedStore, log: log.child({ component: "webhooks" }) });

    // Resume what a previous run left unfinished.
    const resumed = await episodes.resumeIngests();
    for (const ep of await store.episodesInStates(["transcribing", "stitching"])) {
      await episodes.republishUnclaimed(ep.id);
      await finishEpisode(ep.id, eventDeps);
    }
    if (resumed > 0) log.info("resumed ingests", { count: resumed });

    // 6. HTTP
    const fleetViews = new FleetViews({ controller: fleet, registry, limits: fleetLimits, depth: () => queue.depth(), fleetId });
    const app = createApp({
      episodes,
      maxUploadBytes: config.maxAudioBytes,
      maxJsonBytes: config.maxJsonBytes,
      rateLimit: config.rateLimit,
      log,
      machines: () => fleetViews.machines(),
      fleetWaiting: () => fleet.waitingReason(),
      authenticate: (token) => tokens.verify(token),
    });
    mountTokenRoutes(app, tokens);
    mountHookRoutes(app, {
      webhooks,
      sources,
      deliveries,
      episodes: store,
      publicUrl: config.publicUrl,
      callbackSecret,
      allowPrivateUrls: config.allowPrivateUrls,
    });
    mountFeedRoutes(app, { feeds, store: feedStore });
    mountMetricsRoutes(app, { database, depth: () => queue.depth(), bootFailures, fleet });
    mountFleetRoutes(app, { controller: fleet, limits: fleetLimits, views: fleetViews, registry, onLimitsChanged: () => autoscaler.wake() });
    // Port 0 lets the kernel pick; the port actually bound is read back from the server.
    const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
      const s = serve({ fetch: app.fetch, hostname: config.host, port: config.port }, () => resolve(s));
      s.once("error", reject);
    });
    const port = (server.address() as AddressInfo).port;
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    const url = `http://${config.host.includes(":") ? `[${config.host}]` : config.host}:${port}`;
    // CLI commands on the same data directory find this orchestrator here instead of starting their own.
    const urlFile = path.join(config.dataDir, "orchestrator.url");
    fs.writeFileSync(urlFile, url);
    cleanups.push(() => fs.rmSync(urlFile, { force: true }));
    publicUrl ??= url;
    feedRunner.start();
    cleanups.push(() => feedRunner.stop());
    deliveryRunner.start();
    cleanups.push(() => deliveryRunner.stop());
    log.info("orchestrator listening", { url, dataDir: config.dataDir, nats: natsServer ? "embedded" : "external", machines: config.machines.kind });

    return { url, config, names, store, machines, localRuntime, natsUrl, natsAuth, adminToken, fleet: { controller: fleet, limits: fleetLimits, registry }, close: closeAll };
  } catch (err) {
    await closeAll();
    throw err;
  }
}
