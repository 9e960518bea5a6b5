/**
 * How many JetStream replicas the streams, consumers and buckets of a deployment get:
 * `min(3, cluster size)`, or PODFLEET_NATS_REPLICAS when the operator says. One node (the embedded
 * nats-server, or any server not in a cluster) gets 1.
 *
 * The cluster size comes from the INFO the server sends every client: a clustered server names
 * its `cluster` and gossips `connect_urls`, the client URLs of every server routed to it, itself
 * included (checked on nats-server 2.9.10 with three nodes: three entries). It is the count of
 * servers up now, which is also what a stream can be placed on now: an R3 stream cannot be created
 * while only two of three nodes run ("no suitable peers for placement"). On 2.9 a client account
 * cannot see the JetStream meta group itself ($JS.API.INFO is account info only; /jsz is the
 * monitoring port, $SYS needs the system account). A cluster with `no_advertise` sends no URLs:
 * then replicas stay 1 unless PODFLEET_NATS_REPLICAS is set, and `replicasFor` says so in `why`.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";

/** More copies than three buy little and cost a write to each: the usual JetStream ceiling. */
export const MAX_AUTO_REPLICAS = 3;

/** The replica count of a deployment and how it was decided (logged at start). */
export interface StoreReplicas {
  readonly replicas: number;
  readonly why: string;
}

/** What the server's INFO says of its cluster (the fields of nats-core's ServerInfo used here). */
export interface ClusterInfo {
  readonly cluster?: string | undefined;
  readonly connect_urls?: readonly string[] | undefined;
}

/** Servers in the cluster the INFO describes: 1 outside a cluster. */
export function clusterSize(info: ClusterInfo | undefined): number {
  if (!info?.cluster) return 1;
  return Math.max(1, new Set(info.connect_urls ?? []).size);
}

/**
 * The replicas every stream and bucket of this deployment is created with: `override`
 * (PODFLEET_NATS_REPLICAS) when given, else min(3, cluster size) from the connection's INFO.
 * Computed once when the queue opens (QueuePart.replicas); the leader lease's KV bucket uses it too.
 */
export function replicasFor(nc: Pick<NatsConnection, "info">, override?: number): StoreReplicas {
  if (override !== undefined) return { replicas: override, why: "PODFLEET_NATS_REPLICAS" };
  const info = nc.info as ClusterInfo | undefined;
  if (!info?.cluster) return { replicas: 1, why: "one nats-server (no cluster)" };
  const size = clusterSize(info);
  if ((info.connect_urls ?? []).length === 0) {
    return { replicas: 1, why: `cluster ${info.cluster} advertises no servers (no_advertise?): set PODFLEET_NATS_REPLICAS` };
  }
  return { replicas: Math.min(MAX_AUTO_REPLICAS, size), why: `cluster ${info.cluster} of ${size} servers` };
}

/**
 * Raises a stream (an Object Store or KV bucket's too: `OBJ_<bucket>`, `KV_<bucket>`) made with
 * fewer replicas than `replicas`, and waits until it is placed; never lowers one (an operator who
 * gave it more meant it). For every bucket an orchestrator makes, the leader lease's included.
 */
export async function ensureReplicas(jsm: JetStreamManager, stream: string, replicas: number): Promise<void> {
  const current = (await jsm.streams.info(stream)).config;
  if ((current.num_replicas ?? 1) >= replicas) return;
  await jsm.streams.update(stream, { ...current, num_replicas: replicas });
  await waitPlaced(jsm, stream, replicas);
}

/** How long a raised stream and its consumers may take to elect leaders on their new peers. */
const PLACEMENT_TIMEOUT_MS = 30_000;

/**
 * Waits until a stream just raised has a leader on `replicas` peers, and so have its consumers.
 * Until then JetStream API calls on them time out (seen on 2.9.10 right after an R1 → R3 update),
 * which would otherwise fail the orchestrator's start.
 */
export async function waitPlaced(jsm: JetStreamManager, stream: string, replicas: number): Promise<void> {
  const deadline = Date.now() + PLACEMENT_TIMEOUT_MS;
  const placed = async (): Promise<boolean> => {
    const info = await jsm.streams.info(stream);
    if (!info.cluster?.leader || 1 + (info.cluster.replicas?.length ?? 0) < replicas) return false;
    for await (const c of jsm.consumers.list(stream)) {
      const ci = await jsm.consumers.info(stream, c.name);
      if (!ci.cluster?.leader) return false;
    }
    return true;
  };
  for (;;) {
    try {
      if (await placed()) return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
    if (Date.now() > deadline) throw new Error(`stream ${stream} was not placed on ${replicas} servers within ${PLACEMENT_TIMEOUT_MS / 1000} s`);
    await sleep(200);
  }
}
