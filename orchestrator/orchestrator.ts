/**
 * Assembles a running orchestrator from a Config, one part at a time (orchestrator/parts/):
 * queue (NATS: embedded nats-server child, or NATS_URL), store (libSQL: a file in the data
 * directory, or DATABASE_URL), machines (Fly, or the embedded local runtime, loaded only then),
 * leader (the lease in NATS KV), fleet (autoscaler and sweeper), episodes (ingest, worker events,
 * feeds, callbacks, webhooks) and http. The autoscaler, sweeper, feed poller and callbacks are
 * singleton duties: they run only while this orchestrator holds the leader lease. Each part hands
 * back what it opened and its `close`; `close()` shuts everything down in the reverse order.
 */
import fs from "node:fs";
import path from "node:path";
import { wireNames, type WireNames } from "../contract/wire.ts";
import type { Config } from "./config.ts";
import type { StateEvents } from "./events/state-events.ts";
import { newInstanceId } from "./cluster/instance-id.ts";
import { lockDataDir, secureDataDir } from "./data-dir.ts";
import type { FleetController } from "./fleet/fleet-controller.ts";
import type { FleetLimitsStore } from "./fleet/fleet-limits.ts";
import type { LocalMachinesRuntime } from "./fleet/local-runtime.ts";
import type { MachineRegistry } from "./fleet/machine-registry.ts";
import type { MachinesClient } from "./fleet/machines-client.ts";
import { registerSecret, type Logger } from "./log.ts";
import { authSecrets, type NatsAuth } from "./queue/nats-credentials.ts";
import type { EpisodeStore } from "./store/episode-store.ts";
import { Closer } from "./parts/closer.ts";
import { openEpisodesPart } from "./parts/episodes-part.ts";
import { buildFleetPart } from "./parts/fleet-part.ts";
import type { Api } from "./http/api.ts";
import { openHttpPart } from "./parts/http-part.ts";
import { openLeaderPart, type LeaderInfo } from "./parts/leader-part.ts";
import { killLeftoverLocalMachines, openMachinesPart, type LaunchHook } from "./parts/machines-part.ts";
import { openQueuePart } from "./parts/queue-part.ts";
import { openStorePart } from "./parts/store-part.ts";

export { defaultFleetLimits } from "./parts/fleet-part.ts";
export { DataDirLockedError, runningOrchestratorUrl } from "./data-dir.ts";

export interface Orchestrator {
  /** Base URL of the HTTP API, e.g. http://127.0.0.1:8080 */
  url: string;
  config: Config;
  names: WireNames;
  store: EpisodeStore;
  /**
   * State events, emitted after commit: episode, chunk and machine transitions, callback attempts,
   * feed polls (the event map is documented in events/state-events.ts).
   */
  events: StateEvents;
  machines: MachinesClient;
  /** Present when the embedded local runtime runs the machines. */
  localRuntime: LocalMachinesRuntime | undefined;
  natsUrl: string;
  /** How to connect to that NATS as the orchestrator, and as a worker (what the machines get in their env). */
  natsAuth: { orchestrator: NatsAuth; worker: NatsAuth };
  /** The admin API token kept in `<data-dir>/admin-token` (mode 600); send it as `Authorization: Bearer`. */
  adminToken: string;
  /** The HTTP API in process: `api.app.request(path)` without a socket, and its OpenAPI document. */
  api: Api;
  /** The fleet: one pass on demand (`controller.pass`), limits, and the machine records and events. */
  fleet: { controller: FleetController; limits: FleetLimitsStore; registry: MachineRegistry };
  /**
   * This orchestrator's instance id and leadership (`leadership.isLeader()`, `.term`, `.since`,
   * `.fence()`), and `current()`: who leads according to the lease key.
   */
  leader: LeaderInfo;
  close(): Promise<void>;
}

/** Test and embedding hooks: how the embedded local runtime runs a machine's image (default: the worker). */
export interface OrchestratorHooks {
  /** `defaultSpec` is how the orchestrator would run the worker (its bundle): adjust it or replace it. */
  launch?: LaunchHook;
}

export async function startOrchestrator(config: Config, log: Logger, hooks: OrchestratorHooks = {}): Promise<Orchestrator> {
  for (const secret of [...authSecrets(config.nats.auth), ...authSecrets(config.nats.workerAuth ?? {})]) registerSecret(secret);
  registerSecret(config.adminToken);
  registerSecret(config.database.authToken);
  if (config.machines.kind === "fly") registerSecret(config.machines.token);

  // umask 077 and a 0700 directory before anything is written (data-dir.ts)
  const tightened = secureDataDir(config.dataDir);
  if (tightened > 0)
    log.warn("the data directory was readable by other users: tightened to owner-only", { dataDir: config.dataDir, entries: tightened });
  // who this process is among the orchestrators sharing the database and NATS (work claims' owner)
  const instanceId = newInstanceId();
  const closer = new Closer(log);
  return closer.guard(async () => {
    closer.add(lockDataDir(config.dataDir));
    const logDir = path.join(config.dataDir, "logs");
    fs.mkdirSync(logDir, { recursive: true, mode: 0o700 });

    // 0. Local machines a SIGKILLed run left behind go before our NATS comes up.
    await killLeftoverLocalMachines(config, log);

    // 1. NATS and the work queue.
    const names = wireNames(config.nats.prefix);
    const queue = await openQueuePart(config, names, logDir, log);
    closer.add(() => queue.close());

    // 2. Database, tokens, fleet id.
    const store = await openStorePart(config, log);
    closer.add(() => store.close());

    // 2b. The leader lease (started once everything the duties need is up).
    const leader = await openLeaderPart(config, { queue, names, store, log });

    // 3. Machines API: the embedded local runtime unless Fly is configured.
    const machines = await openMachinesPart(config, logDir, log, hooks.launch);
    closer.add(() => machines.close());

    // 4. Fleet: the autoscaler and the sweeper are passes of one controller (fleet/fleet-controller.ts).
    // the demand hint reads the episode service, built after the fleet
    let expectedChunks = (): number => 0;
    const fleet = buildFleetPart(config, { store, queue, names, machines: machines.machines, log, expectedChunks: () => expectedChunks() });

    // 5. Episodes: ingest service and the worker-event consumer.
    let publicUrl = config.publicUrl;
    const episodes = await openEpisodesPart(config, {
      store,
      queue,
      names,
      log,
      instanceId,
      onQueued: () => fleet.autoscaler.wake(),
      onBootFailed: async (e) => {
        await fleet.bootFailures.record({ machineId: e.machineId, exitCode: e.exitCode, reason: e.reason, source: "worker" });
        fleet.autoscaler.wake();
      },
      publicUrl: () => publicUrl ?? "http://localhost",
    });
    expectedChunks = () => episodes.episodes.expectedChunks();
    closer.add(() => episodes.close());

    // Resume what a previous run, or a dead orchestrator, left unfinished (and keep looking: the takeover pass).
    await episodes.resume();

    // 6. HTTP; then leadership, whose duties (the fleet's passes, the feed poller and callbacks,
    // which need the public URL) start on election: at once when nobody else leads.
    const http = await openHttpPart(config, { store, queue, fleet, episodes, leader, log });
    closer.add(() => http.close());
    publicUrl ??= http.url;
    closer.add(() => leader.close());
    await leader.start([(fence) => fleet.start(fence), (fence) => episodes.startPasses(fence)]);
    log.info("orchestrator listening", {
      url: http.url,
      dataDir: config.dataDir,
      nats: queue.embedded ? "embedded" : "external",
      machines: config.machines.kind,
      instance: leader.instance,
      leader: leader.leadership.isLeader(),
    });

    return {
      url: http.url,
      api: http.api,
      config,
      names,
      store: store.store,
      events: store.database.events,
      machines: machines.machines,
      localRuntime: machines.localRuntime,
      natsUrl: queue.natsUrl,
      natsAuth: queue.natsAuth,
      adminToken: store.adminToken,
      fleet: { controller: fleet.controller, limits: fleet.limits, registry: fleet.registry },
      leader: { instance: leader.instance, leadership: leader.leadership, current: () => leader.current() },
      close: closer.close,
    };
  });
}
