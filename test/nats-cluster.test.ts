/**
 * The fleet's NATS resources on a real three-node JetStream cluster (test/support/nats-cluster.ts):
 * every stream and bucket gets three replicas there and one on a lone server, an existing stream
 * with fewer is raised in place (its consumers follow), and the orchestrator's connection takes
 * the comma-separated server list.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { parseNatsServers } from "../contract/nats-servers.ts";
import { wireNames, type WireNames } from "../contract/wire.ts";
import { ensureWireResources, replicasFor } from "../orchestrator/queue/jetstream.ts";
import { clusterSize } from "../orchestrator/queue/nats-replicas.ts";
import { startNatsCluster } from "./support/nats-cluster.ts";
import { startTestNats, uniquePrefix } from "./support/nats.ts";

/** Every stream the orchestrator makes for `names`, with its consumers. */
function fleetStreams(names: WireNames): { stream: string; consumers: string[] }[] {
  return [
    { stream: names.jobsStream, consumers: [names.jobsConsumer] },
    { stream: names.eventsStream, consumers: [names.eventsConsumer] },
    { stream: names.keptStream, consumers: [] },
    ...[names.audioBucket, names.resultsBucket, names.transcriptsBucket, names.uploadsBucket].map((b) => ({ stream: `OBJ_${b}`, consumers: [] })),
  ];
}

/** Configured replicas and the peers actually placed (leader + followers), per stream and consumer. */
async function placement(jsm: JetStreamManager, names: WireNames): Promise<Record<string, { config: number; peers: number }>> {
  const out: Record<string, { config: number; peers: number }> = {};
  for (const { stream, consumers } of fleetStreams(names)) {
    const info = await jsm.streams.info(stream);
    out[stream] = { config: info.config.num_replicas, peers: 1 + (info.cluster?.replicas?.length ?? 0) };
    for (const c of consumers) {
      const ci = await jsm.consumers.info(stream, c);
      out[`${stream}/${c}`] = { config: ci.config.num_replicas ?? 0, peers: 1 + (ci.cluster?.replicas?.length ?? 0) };
    }
  }
  return out;
}

test("cluster size is read from the server's INFO: its cluster name and gossiped client URLs", () => {
  assert.equal(clusterSize(undefined), 1);
  assert.equal(clusterSize({ connect_urls: ["a:1", "b:1"] }), 1, "no cluster name: a lone server");
  assert.equal(clusterSize({ cluster: "c", connect_urls: ["a:1", "b:1", "c:1", "a:1"] }), 3);
  assert.deepEqual(replicasFor({ info: { cluster: "c", connect_urls: ["a:1", "b:1", "c:1", "d:1", "e:1"] } as never }).replicas, 3, "at most 3");
  assert.deepEqual(replicasFor({ info: { cluster: "c", connect_urls: ["a:1", "b:1"] } as never }).replicas, 2);
  assert.deepEqual(replicasFor({ info: { cluster: "c", connect_urls: [] } as never }).replicas, 1, "no_advertise: 1 unless told");
  assert.deepEqual(replicasFor({ info: { cluster: "c", connect_urls: [] } as never }, 3), { replicas: 3, why: "PODFLEET_NATS_REPLICAS" });
});

test("on a three-node cluster every stream, consumer and bucket gets three replicas; on one server one", async (t) => {
  const cluster = await startNatsCluster(t, { size: 3 });
  const nc = await connect({ servers: parseNatsServers(cluster.url) });
  t.after(() => nc.close());
  const replicas = replicasFor(nc);
  assert.equal(replicas.replicas, 3, replicas.why);
  const names = wireNames(uniquePrefix("rc"));
  await ensureWireResources(nc, names, { ackWaitMs: 30_000, maxDeliver: 3, replicas: replicas.replicas });
  const jsm = await jetstreamManager(nc);
  for (const [name, p] of Object.entries(await placement(jsm, names))) {
    assert.equal(p.peers, 3, `${name} placed on three servers`);
    assert.ok(p.config === 3 || (name.includes("/") && p.config === 0), `${name}: num_replicas ${p.config}`);
  }

  const single = await startTestNats(t);
  const nc1 = await connect({ servers: single.url });
  t.after(() => nc1.close());
  const one = replicasFor(nc1);
  assert.equal(one.replicas, 1, one.why);
  const names1 = wireNames(uniquePrefix("r1"));
  await ensureWireResources(nc1, names1, { ackWaitMs: 30_000, maxDeliver: 3, replicas: one.replicas });
  for (const [name, p] of Object.entries(await placement(await jetstreamManager(nc1), names1))) {
    assert.equal(p.peers, 1, `${name} on the lone server`);
  }
});

test("streams and buckets made with one replica are raised to three in place, messages kept; consumers follow", async (t) => {
  const cluster = await startNatsCluster(t, { size: 3 });
  const nc = await connect({ servers: cluster.urls as string[] });
  t.after(() => nc.close());
  const names = wireNames(uniquePrefix("ru"));
  const before = await ensureWireResources(nc, names, { ackWaitMs: 30_000, maxDeliver: 3, replicas: 1 });
  await before.audio.putBlob({ name: "kept-me" }, new Uint8Array([1, 2, 3]));
  const jsm = await jetstreamManager(nc);
  for (const [name, p] of Object.entries(await placement(jsm, names))) assert.equal(p.peers, 1, `${name} starts with one`);

  const after = await ensureWireResources(nc, names, { ackWaitMs: 30_000, maxDeliver: 3, replicas: 3 });
  assert.deepEqual([...((await after.audio.getBlob("kept-me")) ?? [])], [1, 2, 3], "the object survives the change");
  // followers catch up on their own; the configured count and the placement are what the update changes
  for (const [name, p] of Object.entries(await placement(jsm, names))) {
    assert.equal(p.peers, 3, `${name} raised to three`);
  }
});
