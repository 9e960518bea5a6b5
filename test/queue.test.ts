/**
 * orchestrator/queue against a real nats-server 2.9: the supervised server, the JetStream
 * resources, job publication with de-duplication, queue depth and Object Store helpers.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { AckPolicy, JetStreamApiError, jetstream, jetstreamManager, RetentionPolicy } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { wireNames, type ChunkJob } from "../contract/wire.ts";
import {
  afterCreateRaces,
  ensureWireResources,
  getObjectBytes,
  getObjectJson,
  publishChunkJob,
  putObject,
  putObjectJson,
  queueDepth,
} from "../orchestrator/queue/jetstream.ts";
import { NatsServerStartError, startNatsServer } from "../orchestrator/queue/nats-server.ts";
import { startTestNats, uniquePrefix, type CleanupContext } from "./support/nats.ts";

async function connectTo(t: CleanupContext, url: string, token?: string): Promise<NatsConnection> {
  const nc = await connect({ servers: url, ...(token ? { token } : {}) });
  t.after(async () => {
    if (!nc.isClosed()) await nc.close();
  });
  return nc;
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function job(chunkId: string): ChunkJob {
  return {
    v: 1,
    episodeId: "ep1",
    chunkId,
    index: 0,
    startSample: 0,
    endSample: 16_000,
    sampleRate: 16_000,
    audioObject: `${chunkId}.wav`,
    language: "en",
  };
}

test("nats-server starts with JetStream, stops, and leaves no process behind", async (t) => {
  const { url, server } = await startTestNats(t);
  assert.match(url, /^nats:\/\/127\.0\.0\.1:\d+$/);
  const pid = server.pid;
  assert.ok(pid !== undefined && isRunning(pid));
  const nc = await connectTo(t, url);
  const jsm = await jetstreamManager(nc);
  assert.ok((await jsm.getAccountInfo()).limits !== undefined, "JetStream is enabled");
  await nc.close();
  await server.stop();
  assert.equal(isRunning(pid), false);
  assert.equal(server.pid, undefined);
});

test("restart() keeps port and JetStream data; a crash is restarted by the supervisor", async (t) => {
  const { url, server, storeDir } = await startTestNats(t, { logFile: "server.log" });
  const names = wireNames(uniquePrefix());
  {
    const nc = await connectTo(t, url);
    await ensureWireResources(nc, names, { ackWaitMs: 30_000, maxDeliver: 5 });
    await publishChunkJob(jetstream(nc), names, job("c1"));
    await nc.close();
  }
  const firstPid = server.pid;
  await server.restart();
  assert.notEqual(server.pid, firstPid);
  {
    const nc = await connectTo(t, url);
    assert.equal((await queueDepth(await jetstreamManager(nc), names)).pending, 1, "message survived restart()");
    await nc.close();
  }
  const restarted = once(server, "restart");
  const crashedPid = server.pid;
  server.kill("SIGKILL");
  await restarted;
  assert.ok(server.pid !== undefined && server.pid !== crashedPid);
  const nc = await connectTo(t, url);
  assert.equal((await queueDepth(await jetstreamManager(nc), names)).pending, 1, "message survived a crash");
  const log = await readFile(join(storeDir, "server.log"), "utf8");
  assert.equal(log.match(/Server is ready/g)?.length, 3, "log appended across restarts");
});

test("supervision is bounded: past maxRestarts the handle reports failed", async (t) => {
  const storeDir = await mkdtemp(join(tmpdir(), "podfleet-nats-"));
  t.after(() => rm(storeDir, { recursive: true, force: true }));
  const server = await startNatsServer({ storeDir, maxRestarts: 0 });
  t.after(() => server.stop());
  const failed = once(server, "failed");
  const pid = server.pid;
  server.kill("SIGKILL");
  const [err] = (await failed) as [Error];
  assert.match(err.message, /giving up/);
  assert.equal(server.pid, undefined);
  assert.ok(pid !== undefined && !isRunning(pid));
});

test("token auth: clients without the token are refused", async (t) => {
  const { url } = await startTestNats(t, { token: "s3cret-token" });
  await assert.rejects(connect({ servers: url, reconnect: false }));
  const nc = await connectTo(t, url, "s3cret-token");
  assert.equal(nc.isClosed(), false);
});

test("a missing nats-server binary fails with an install hint", async (t) => {
  const storeDir = await mkdtemp(join(tmpdir(), "podfleet-nats-"));
  t.after(() => rm(storeDir, { recursive: true, force: true }));
  await assert.rejects(startNatsServer({ storeDir, binary: "nats-server-does-not-exist" }), (err: unknown) => {
    assert.ok(err instanceof NatsServerStartError);
    assert.match(err.message, /nats-server-does-not-exist/);
    assert.match(err.message, /apt-get install nats-server/);
    return true;
  });
});

test("a taken port fails with the server's own complaint", async (t) => {
  const blocker = createServer();
  blocker.listen(0, "127.0.0.1");
  await once(blocker, "listening");
  t.after(() => new Promise<void>((resolve) => blocker.close(() => resolve())));
  const addr = blocker.address();
  assert.ok(addr && typeof addr === "object");
  const storeDir = await mkdtemp(join(tmpdir(), "podfleet-nats-"));
  t.after(() => rm(storeDir, { recursive: true, force: true }));
  await assert.rejects(startNatsServer({ storeDir, port: addr.port }), (err: unknown) => {
    assert.ok(err instanceof NatsServerStartError);
    assert.match(err.message, /exited|did not accept/);
    return true;
  });
});

test("ensureWireResources is idempotent and applies changed settings", async (t) => {
  const { url } = await startTestNats(t);
  const nc = await connectTo(t, url);
  const names = wireNames(uniquePrefix());
  await ensureWireResources(nc, names, { ackWaitMs: 30_000, maxDeliver: 5 });
  const js = jetstream(nc);
  await publishChunkJob(js, names, job("keep-me"));
  const again = await ensureWireResources(nc, names, { ackWaitMs: 30_000, maxDeliver: 5 });
  await again.audio.putBlob({ name: "x" }, new Uint8Array([1]));

  const jsm = await jetstreamManager(nc);
  const jobs = await jsm.streams.info(names.jobsStream);
  assert.equal(jobs.config.retention, RetentionPolicy.Workqueue);
  assert.deepEqual(jobs.config.subjects, [names.jobsSubject]);
  assert.equal(jobs.config.duplicate_window, 120_000_000_000);
  assert.equal(jobs.state.messages, 1, "existing jobs are kept");
  const consumer = await jsm.consumers.info(names.jobsStream, names.jobsConsumer);
  assert.equal(consumer.config.ack_policy, AckPolicy.Explicit);
  assert.equal(consumer.config.ack_wait, 30_000_000_000);
  assert.equal(consumer.config.max_deliver, 5);
  assert.equal(consumer.config.inactive_threshold ?? 0, 0, "jobs consumer must survive an empty fleet");
  const events = await jsm.streams.info(names.eventsStream);
  assert.equal(events.config.retention, RetentionPolicy.Limits);
  assert.deepEqual(events.config.subjects, [`${names.eventsSubjectPrefix}.>`]);
  const ev = await jsm.consumers.info(names.eventsStream, names.eventsConsumer);
  assert.equal(ev.config.ack_policy, AckPolicy.Explicit);

  const streams: string[] = [];
  for await (const s of jsm.streams.list()) streams.push(s.config.name);
  for (const b of [names.audioBucket, names.resultsBucket, names.transcriptsBucket]) {
    assert.ok(streams.includes(`OBJ_${b}`), `bucket ${b} exists`);
  }

  await ensureWireResources(nc, names, { ackWaitMs: 10_000, maxDeliver: 3, duplicateWindowMs: 60_000 });
  const updated = await jsm.consumers.info(names.jobsStream, names.jobsConsumer);
  assert.equal(updated.config.ack_wait, 10_000_000_000);
  assert.equal(updated.config.max_deliver, 3);
  assert.equal((await jsm.streams.info(names.jobsStream)).config.duplicate_window, 60_000_000_000);
});

test("a setup whose create lost a race (the server's subjects-overlap or name-in-use answer) runs again; another refusal is thrown at once", async () => {
  const apiError = (err_code: number, description: string) => new JetStreamApiError({ code: 400, err_code, description });
  let runs = 0;
  const made = await afterCreateRaces(async () => {
    runs += 1;
    if (runs === 1) throw apiError(10065, "subjects overlap with an existing stream");
    if (runs === 2) throw apiError(10058, "stream name already in use with a different configuration");
    return "made";
  });
  assert.deepEqual({ made, runs }, { made: "made", runs: 3 });

  let otherRuns = 0;
  await assert.rejects(
    afterCreateRaces(async () => {
      otherRuns += 1;
      throw apiError(10052, "replicas > 1 not supported in non-clustered mode");
    }),
    /replicas > 1/,
  );
  assert.equal(otherRuns, 1, "a create refused for its own settings is not repeated");
});

test("orchestrators starting at once (each finding the streams missing, each adding them) all get the same resources", async (t) => {
  const { url } = await startTestNats(t);
  // one connection each, as separate orchestrators have; several rounds on fresh names, since the
  // window in which two creates of one stream meet is narrow
  const conns = await Promise.all(Array.from({ length: 8 }, () => connectTo(t, url)));
  const jsm = await jetstreamManager(conns[0]!);
  for (let round = 0; round < 15; round++) {
    const names = wireNames(uniquePrefix(`race${round}`));
    const outcomes = await Promise.allSettled(conns.map((nc) => ensureWireResources(nc, names, { ackWaitMs: 30_000, maxDeliver: 5 })));
    const refused = outcomes.flatMap((o) => (o.status === "rejected" ? [String(o.reason)] : []));
    assert.deepEqual(refused, [], `round ${round}: no start is refused by another one's create`);
    assert.equal((await jsm.streams.info(names.jobsStream)).config.subjects?.length, 1);
    assert.equal((await jsm.consumers.info(names.jobsStream, names.jobsConsumer)).config.max_deliver, 5);
  }
});

test("publishing the same job and generation twice stores it once; a new generation requeues", async (t) => {
  const { url } = await startTestNats(t);
  const nc = await connectTo(t, url);
  const names = wireNames(uniquePrefix());
  await ensureWireResources(nc, names, { ackWaitMs: 30_000, maxDeliver: 5 });
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);

  const first = await publishChunkJob(js, names, job("c1"));
  const second = await publishChunkJob(js, names, job("c1"));
  assert.equal(first.duplicate, false);
  assert.equal(second.duplicate, true);
  assert.equal(second.seq, first.seq);
  assert.deepEqual(await queueDepth(jsm, names), { pending: 1, inFlight: 0, waiting: 0 });

  const third = await publishChunkJob(js, names, { ...job("c1"), generation: 2 });
  assert.equal(third.duplicate, false);
  assert.equal((await queueDepth(jsm, names)).pending, 2);
});

test("queueDepth counts pending, in-flight and waiting pulls", async (t) => {
  const { url } = await startTestNats(t);
  const nc = await connectTo(t, url);
  const names = wireNames(uniquePrefix());
  await ensureWireResources(nc, names, { ackWaitMs: 30_000, maxDeliver: 5 });
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  for (const id of ["a", "b", "c"]) await publishChunkJob(js, names, job(id));
  const consumer = await js.consumers.get(names.jobsStream, names.jobsConsumer);
  const msg = await consumer.next({ expires: 2_000 });
  assert.ok(msg);
  assert.deepEqual(await queueDepth(jsm, names), { pending: 2, inFlight: 1, waiting: 0 });
  await msg.ackAck();
  assert.deepEqual(await queueDepth(jsm, names), { pending: 2, inFlight: 0, waiting: 0 });

  // drain the queue, then leave one pull waiting: that is an idle worker
  for (let i = 0; i < 2; i++) await (await consumer.next({ expires: 2_000 }))?.ackAck();
  const idlePull = consumer.next({ expires: 1_500 });
  let waiting = 0;
  for (let i = 0; i < 40 && waiting === 0; i++) {
    waiting = (await queueDepth(jsm, names)).waiting;
    if (waiting === 0) await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(waiting, 1);
  assert.equal(await idlePull, null);
});

test("object helpers round-trip bytes and JSON; a missing object is null", async (t) => {
  const { url } = await startTestNats(t);
  const nc = await connectTo(t, url);
  const names = wireNames(uniquePrefix());
  // (JSON through the transcripts bucket: the results bucket takes no rollup, so only workers' write-only puts go there)
  const { audio, transcripts } = await ensureWireResources(nc, names, { ackWaitMs: 30_000, maxDeliver: 5 });
  const big = new Uint8Array(300_000).map((_, i) => i % 251);
  await putObject(audio, "ep1/c1.wav", big);
  const bytes = async (name: string): Promise<Buffer | null> => {
    const b = await getObjectBytes(audio, name);
    return b === null ? null : Buffer.from(b);
  };
  assert.deepEqual(await bytes("ep1/c1.wav"), Buffer.from(big));
  await putObject(audio, "ep1/c1.wav", new Uint8Array([1, 2, 3]));
  assert.deepEqual(await bytes("ep1/c1.wav"), Buffer.from([1, 2, 3]));
  await putObjectJson(transcripts, "r.json", { a: 1, b: ["x"] });
  assert.deepEqual(await getObjectJson(transcripts, "r.json"), { a: 1, b: ["x"] });
  assert.equal(await getObjectBytes(audio, "nope"), null);
  assert.equal(await getObjectJson(transcripts, "nope"), null);
});
