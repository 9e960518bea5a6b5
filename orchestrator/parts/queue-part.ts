/**
 * The queue part: NATS, embedded (a nats-server child with an orchestrator user and a worker user
 * that has only the worker's permissions) or external (NATS_URL), the orchestrator's connection,
 * and the JetStream work queue on it.
 */
import path from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { WireNames } from "../../contract/wire.ts";
import type { Config } from "../config.ts";
import { registerSecret, type Logger } from "../log.ts";
import { replicasFor, type StoreReplicas } from "../queue/nats-replicas.ts";
import { startNatsServer } from "../queue/nats-server.ts";
import { connectAuth, ensureEmbeddedNatsCredentials, type NatsAuth } from "../queue/nats-credentials.ts";
import { NatsWorkQueue } from "../queue/nats-work-queue.ts";
import { Closer } from "./closer.ts";

export interface QueuePart {
  nc: NatsConnection;
  queue: NatsWorkQueue;
  natsUrl: string;
  /** How to connect as the orchestrator, and as a worker (what the machines get in their env). */
  natsAuth: { orchestrator: NatsAuth; worker: NatsAuth };
  embedded: boolean;
  /** Replicas of every stream and bucket (min(3, cluster size), or PODFLEET_NATS_REPLICAS): the lease bucket uses the same. */
  replicas: StoreReplicas;
  close(): Promise<void>;
}

export async function openQueuePart(config: Config, names: WireNames, logDir: string, log: Logger): Promise<QueuePart> {
  const closer = new Closer(log);
  return closer.guard(async () => {
    let natsUrl = config.nats.url;
    let natsAuth: { orchestrator: NatsAuth; worker: NatsAuth };
    if (!natsUrl) {
      const creds = ensureEmbeddedNatsCredentials(config.dataDir, names, "token" in config.nats.auth ? config.nats.auth.token : undefined);
      natsAuth = { orchestrator: creds.orchestrator, worker: creds.worker };
      registerSecret(creds.orchestrator.password);
      registerSecret(creds.worker.password);
      const natsServer = await startNatsServer({
        storeDir: path.join(config.dataDir, "nats"),
        logFile: path.join(logDir, "nats-server.log"),
        // a server left behind by a SIGKILLed orchestrator is killed through this file before ours starts
        pidFile: path.join(config.dataDir, "nats-server.pid"),
        users: creds.users,
      });
      closer.add(() => natsServer.stop());
      natsUrl = natsServer.url;
    } else {
      natsAuth = { orchestrator: config.nats.auth, worker: config.nats.workerAuth ?? config.nats.auth };
      if (!config.nats.workerAuth && Object.keys(config.nats.auth).length > 0) {
        log.warn(
          "workers get the orchestrator's NATS credentials; give them their own account with PODFLEET_WORKER_NATS_USER/PASSWORD (see `podfleet nats permissions`)",
        );
      }
    }
    const nc = await connect({
      // NATS_URL may list a cluster's servers: the client connects to one and fails over to the others
      servers: config.nats.servers.length > 0 ? config.nats.servers : [natsUrl],
      ...connectAuth(natsAuth.orchestrator),
      name: "podfleet-orchestrator",
      maxReconnectAttempts: -1,
      reconnectTimeWait: config.tuning.natsReconnectWaitMs,
    });
    // a drain that fails (a request cut short by it) must still close: a connection left open reconnects forever
    closer.add(() => nc.drain().finally(() => (nc.isClosed() ? undefined : nc.close())));
    const replicas = replicasFor(nc, config.nats.replicas);
    log.info("nats streams and buckets", { replicas: replicas.replicas, why: replicas.why });
    const queue = await NatsWorkQueue.open(nc, names, {
      ackWaitMs: config.ackWaitSec * 1000,
      maxDeliver: config.maxAttempts,
      replicas: replicas.replicas,
      audioDir: path.join(config.dataDir, "audio"),
      // with NATS_URL another orchestrator may re-publish a chunk: its audio is kept in NATS
      keep: config.nats.url ? "nats" : "local",
      onRetry: (error, attempt) => log.warn("NATS is not answering JetStream requests yet; trying again", { attempt, error }),
    });
    return { nc, queue, natsUrl, natsAuth, embedded: !config.nats.url, replicas, close: closer.close };
  });
}
