/**
 * Chunk jobs on a real three-node JetStream cluster with the worker's own account: a worker given
 * the comma-separated server list and the worker credentials pulls jobs (inline and through the
 * audio bucket) and writes results; a chunk's kept audio (queue/kept-audio.ts, NATS keeping) lives
 * in the replicated kept-audio stream, so after the jobs stream's leader node is SIGKILLed the job
 * is still consumed and a second orchestrator's ChunkJobs re-publishes the chunk with the same bytes.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { parseNatsServers } from "../contract/nats-servers.ts";
import { ChunkEvent, InlineChunkJob, JOB_HEADER, wireNames, workerInboxPrefix, workerPermissions, type WireNames } from "../contract/wire.ts";
import { SyntheticEngine } from "../machine-image/worker/synthetic-engine.ts";
import { runWorker } from "../machine-image/worker/worker.ts";
import { ChunkJobs } from "../orchestrator/queue/chunk-jobs.ts";
import { ensureWireResources, replicasFor } from "../orchestrator/queue/jetstream.ts";
import { NatsKeptAudio } from "../orchestrator/queue/kept-audio.ts";
import { silentWav } from "./support/ingest-stack.ts";
import { startNatsCluster } from "./support/nats-cluster.ts";
import { uniquePrefix } from "./support/nats.ts";

const ADMIN = { user: "orchestrator", password: "admin-pw-123" };
const WORKER = { user: "worker", password: "worker-pw-456" };
const SECOND = 16_000;

/** A cluster whose worker user has exactly workerPermissions(names), and an orchestrator's ChunkJobs on it. */
async function clusterStack(t: TestContext) {
  const names = wireNames(uniquePrefix("cl"));
  const cluster = await startNatsCluster(t, { size: 3, users: [ADMIN, { ...WORKER, permissions: workerPermissions(names) }] });
  const orchestrator = async (): Promise<{ nc: NatsConnection; jobs: ChunkJobs; jsm: JetStreamManager }> => {
    const nc = await connect({ servers: parseNatsServers(cluster.url), user: ADMIN.user, pass: ADMIN.password, maxReconnectAttempts: -1 });
    t.after(() => nc.close());
    const buckets = await ensureWireResources(nc, names, { ackWaitMs: 30_000, maxDeliver: 5, replicas: replicasFor(nc).replicas });
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    const jobs = new ChunkJobs(js, jsm, names, buckets.audio, new NatsKeptAudio(js, jsm, names), () => nc.info!.max_payload);
    return { nc, jobs, jsm };
  };
  const workDir = await mkdtemp(join(tmpdir(), "podfleet-cluster-work-"));
  t.after(() => rm(workDir, { recursive: true, force: true }));
  const log: string[] = [];
  const work = () =>
    runWorker({
      log: (event, fields) => log.push(`${event} ${JSON.stringify(fields ?? {})}`),
      natsUrl: cluster.url,
      natsUser: WORKER.user,
      natsPassword: WORKER.password,
      names,
      engine: new SyntheticEngine({ realTimeFactor: 0 }),
      machineId: "m-cluster",
      idleTimeoutMs: 2_000,
      workDir,
      inlineResultMaxBytes: 0, // results go through the results bucket, write-only for the worker
    });
  return { names, cluster, orchestrator, work, log };
}

/** A WAV whose samples are not all equal, so a copy is checked byte for byte. */
function patternWav(seconds: number): Buffer {
  const wav = silentWav(seconds);
  for (let i = 44; i < wav.length; i += 2) wav.writeInt16LE(((i * 7919) % 2000) - 1000, i);
  return wav;
}

async function takeEvents(nc: NatsConnection, names: WireNames, n: number): Promise<ChunkEvent[]> {
  const events = await jetstream(nc).consumers.get(names.eventsStream, names.eventsConsumer);
  const out: ChunkEvent[] = [];
  while (out.length < n) {
    const m = await events.next({ expires: 5_000 });
    assert.ok(m, `event ${out.length + 1} of ${n}`);
    out.push(ChunkEvent.parse(m.json()));
    m.ack();
  }
  return out;
}

test("a worker with the worker account and the server list runs inline and bucket jobs on the cluster", async (t) => {
  const s = await clusterStack(t);
  const o = await s.orchestrator();
  const small = { index: 0, startSample: 0, endSample: 2 * SECOND };
  await o.jobs.keepChunk("ep1", small, patternWav(2));
  assert.equal(await o.jobs.publish({ id: "ep1", language: "en" }, small, 1, patternWav(2)), true);
  // a chunk whose job names its object in the audio bucket (what an oversized chunk gets)
  const big = { index: 1, startSample: 2 * SECOND, endSample: 3 * SECOND };
  const bucketJobs = new ChunkJobs(
    jetstream(o.nc),
    o.jsm,
    s.names,
    (await ensureWireResources(o.nc, s.names, { ackWaitMs: 30_000, maxDeliver: 5, replicas: 3 })).audio,
    new NatsKeptAudio(jetstream(o.nc), o.jsm, s.names),
    () => 16 * 1024,
  );
  await bucketJobs.keepChunk("ep1", big, patternWav(1));
  assert.equal(await bucketJobs.publish({ id: "ep1", language: "en" }, big, 1), true, "published from the object kept in the bucket");

  assert.deepEqual(await s.work(), { processed: 2, failed: 0, reason: "idle" });
  const events = await takeEvents(o.nc, s.names, 4);
  assert.deepEqual(events.map((e) => `${e.chunkId}:${e.type}`).sort(), [
    "ep1-c0000:claimed",
    "ep1-c0000:result",
    "ep1-c0001:claimed",
    "ep1-c0001:result",
  ]);
  assert.ok(
    events.filter((e) => e.type === "result").every((e) => e.resultObject),
    "results written to the results bucket",
  );

  // the worker account cannot read the kept audio (orchestrators only)
  const wnc = await connect({
    servers: s.cluster.urls as string[],
    user: WORKER.user,
    pass: WORKER.password,
    inboxPrefix: workerInboxPrefix(s.names),
  });
  t.after(() => wnc.close());
  await assert.rejects(
    (await jetstreamManager(wnc, { checkAPI: false })).streams.getMessage(s.names.keptStream, { last_by_subj: `${s.names.keptSubjectPrefix}.ep1.0` }),
  );
});

test("with the jobs stream's leader node SIGKILLed, the job is consumed and another orchestrator re-publishes its kept audio", async (t) => {
  const s = await clusterStack(t);
  const a = await s.orchestrator();
  const chunk = { index: 0, startSample: 0, endSample: 2 * SECOND };
  const wav = patternWav(2);
  await a.jobs.keepChunk("ep1", chunk, wav);
  assert.equal(await a.jobs.publish({ id: "ep1", language: "en" }, chunk, 1, wav), true);

  const leader = (await a.jsm.streams.info(s.names.jobsStream)).cluster?.leader;
  const node = s.cluster.servers.find((n) => n.name === leader);
  assert.ok(node, `the jobs stream has a leader (${leader})`);
  node.kill("SIGKILL");
  // the surviving two elect a new leader for the stream and its work-queue consumer (the worker
  // pulls for only 2 s of idleness; its claim and result publishes ride out the events stream's election)
  for (;;) {
    const info = await a.jsm.streams.info(s.names.jobsStream).catch(() => undefined);
    const consumer = await a.jsm.consumers.info(s.names.jobsStream, s.names.jobsConsumer).catch(() => undefined);
    if (info?.cluster?.leader && info.cluster.leader !== leader && consumer?.cluster?.leader && consumer.cluster.leader !== leader) break;
    await sleep(200);
  }
  assert.deepEqual(await s.work(), { processed: 1, failed: 0, reason: "idle" }, `the job survived its leader; worker log:\n${s.log.join("\n")}`);

  // another orchestrator (its own connection, no local files) publishes the chunk again from the kept audio
  const b = await s.orchestrator();
  assert.equal(await b.jobs.publish({ id: "ep1", language: "en" }, chunk, 2), true);
  const consumer = await jetstream(b.nc).consumers.get(s.names.jobsStream, s.names.jobsConsumer);
  const msg = await consumer.next({ expires: 10_000 });
  assert.ok(msg, "the re-published job");
  const job = InlineChunkJob.parse(JSON.parse(msg.headers!.get(JOB_HEADER)));
  assert.equal(job.generation, 2);
  assert.ok(Buffer.from(msg.data).equals(wav), "the same WAV, byte for byte, read back from the kept-audio stream");
  msg.ack();

  // the purge frees it: nothing kept, a later re-publish falls back to (absent) bucket objects
  await b.jobs.purge("ep1", [chunk]);
  const kept = new NatsKeptAudio(jetstream(b.nc), b.jsm, s.names);
  assert.equal(await kept.holds("ep1"), false);
  assert.equal(await kept.readChunk("ep1", chunk), null);
});
