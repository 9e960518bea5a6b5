/**
 * Assembles a running orchestrator from a Config: NATS (embedded nats-server child, or NATS_URL),
 * libSQL (a file in the data directory, or DATABASE_URL), the Machines API (the embedded local
 * runtime, or Fly), the ingest service, the worker-event consumer, the autoscaler, and the HTTP
 * server. `close()` shuts everything down in the reverse order.
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import { createServer } from "node:net";
import path from "node:path";
import { serve } from "@hono/node-server";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { wireNames, WORKER_ENV, type WireNames } from "../contract/wire.ts";
import type { Config } from "./config.ts";
import { applyChunkEvent } from "./episodes/chunk-events.ts";
import { EpisodeService } from "./episodes/episode-service.ts";
import { finishEpisode } from "./episodes/finish-episode.ts";
import { autoscalePass, fleetMetadata } from "./fleet/autoscaler.ts";
import { LocalMachinesRuntime } from "./fleet/local-runtime.ts";
import type { Machine } from "./fleet/machine.ts";
import { MachinesClient } from "./fleet/machines-client.ts";
import { createApp } from "./http/app.ts";
import { registerSecret, type Logger } from "./log.ts";
import { PassRunner } from "./pass-runner.ts";
import { startNatsServer, type NatsServerHandle } from "./queue/nats-server.ts";
import { consumeChunkEvents, NatsWorkQueue } from "./queue/nats-work-queue.ts";
import { Database } from "./store/database.ts";
import { EpisodeStore } from "./store/episode-store.ts";
import { workerLaunchSpec } from "./fleet/worker-launch.ts";

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
  close(): Promise<void>;
}

export class DataDirLockedError extends Error {
  override name = "DataDirLockedError";
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

async function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, host, () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

export async function startOrchestrator(config: Config, log: Logger): Promise<Orchestrator> {
  registerSecret(config.nats.token);
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

    // 1. NATS
    let natsServer: NatsServerHandle | undefined;
    let natsUrl = config.nats.url;
    if (!natsUrl) {
      natsServer = await startNatsServer({ storeDir: path.join(config.dataDir, "nats"), logFile: path.join(logDir, "nats-server.log") });
      cleanups.push(() => natsServer!.stop());
      natsUrl = natsServer.url;
    }
    const nc: NatsConnection = await connect({
      servers: natsUrl,
      ...(config.nats.token ? { token: config.nats.token } : {}),
      name: "podfleet-orchestrator",
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
    });
    cleanups.push(() => nc.drain());
    const names = wireNames(config.nats.prefix);
    const queue = await NatsWorkQueue.open(nc, names, { ackWaitMs: config.ackWaitSec * 1000, maxDeliver: config.maxAttempts });

    // 2. Database
    const database = await Database.open(config.database.url, config.database.authToken);
    cleanups.push(() => database.close());
    const store = new EpisodeStore(database);
    const fleetId = await store.setSettingIfAbsent("fleet_id", `fl_${randomBytes(6).toString("hex")}`);

    // 3. Machines API: the embedded local runtime unless Fly is configured.
    let localRuntime: LocalMachinesRuntime | undefined;
    let machines: MachinesClient;
    if (config.machines.kind === "fly") {
      machines = new MachinesClient({ baseUrl: config.machines.apiUrl, app: config.machines.app, token: config.machines.token });
    } else {
      localRuntime = new LocalMachinesRuntime({
        app: "podfleet-local",
        launch: () => workerLaunchSpec(),
        logDir: path.join(logDir, "machines"),
      });
      const { url, token } = await localRuntime.start();
      cleanups.push(() => localRuntime!.close());
      machines = new MachinesClient({ baseUrl: url, app: "podfleet-local", token });
    }
    const workerEnv: Record<string, string> = {
      [WORKER_ENV.natsUrl]: config.nats.workerUrl ?? natsUrl,
      [WORKER_ENV.natsPrefix]: config.nats.prefix,
      [WORKER_ENV.engine]: config.engine,
      [WORKER_ENV.idleTimeoutSec]: String(config.idleTimeoutSec),
      ...(config.nats.token ? { [WORKER_ENV.natsToken]: config.nats.token } : {}),
    };

    // 4. Autoscaler
    const autoscaler = new PassRunner(
      "autoscaler",
      () =>
        autoscalePass({
          machines,
          depth: () => queue.depth(),
          limits: () => ({ maxMachines: config.maxMachines }),
          template: () => ({ image: config.machines.image, env: workerEnv }),
          fleetId,
          log,
        }),
      { intervalMs: config.autoscaleIntervalMs, timeoutMs: 60_000, log },
    );

    // 5. Episodes: ingest service and the worker-event consumer.
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
    });
    const eventsAbort = new AbortController();
    const eventDeps = { store, queue, log, maxAttempts: config.maxAttempts };
    const eventsLoop = consumeChunkEvents(nc, names, (e) => applyChunkEvent(e, eventDeps), { signal: eventsAbort.signal, log });
    cleanups.push(async () => {
      eventsAbort.abort();
      await eventsLoop;
    });
    cleanups.push(() => episodes.drain());
    autoscaler.start();
    cleanups.push(() => autoscaler.stop());

    // Resume what a previous run left unfinished.
    const resumed = await episodes.resumeIngests();
    for (const ep of await store.episodesInStates(["transcribing", "stitching"])) {
      await finishEpisode(ep.id, eventDeps);
    }
    if (resumed > 0) log.info("resumed ingests", { count: resumed });

    // 6. HTTP
    const app = createApp({
      episodes,
      maxUploadBytes: config.maxAudioBytes,
      log,
      machines: async () =>
        (await machines.list({ metadata: fleetMetadata(fleetId) })).map((m: Machine) => ({
          id: m.id,
          state: m.state,
          region: m.region,
          createdAt: m.created_at,
          ...(m.pid !== undefined ? { pid: m.pid } : {}),
        })),
    });
    const port = config.port === 0 ? await freePort(config.host) : config.port;
    const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
      const s = serve({ fetch: app.fetch, hostname: config.host, port }, () => resolve(s));
      s.once("error", reject);
    });
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    const url = `http://${config.host.includes(":") ? `[${config.host}]` : config.host}:${port}`;
    log.info("orchestrator listening", { url, dataDir: config.dataDir, nats: natsServer ? "embedded" : "external", machines: config.machines.kind });

    return { url, config, names, store, machines, localRuntime, natsUrl, close: closeAll };
  } catch (err) {
    await closeAll();
    throw err;
  }
}
