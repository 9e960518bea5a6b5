/**
 * Workers run with a NATS user that has only workerPermissions() (contract/wire.ts): against a real
 * nats-server 2.9 with an orchestrator user and a worker user, a worker processes a chunk and
 * cancellation still reaches it, while everything outside its job is refused: publishing jobs,
 * writing or deleting audio, reading results or transcripts, reading another deployment's queue.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Objm } from "@nats-io/obj";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { headers as natsHeaders } from "@nats-io/transport-node";
import {
  ChunkEvent,
  ChunkTranscript,
  episodeLiveObjectName,
  wireNames,
  workerInboxPrefix,
  workerPermissions,
  type ChunkJob,
} from "../contract/wire.ts";
import { ensureWireResources, getObjectJson, publishChunkJob, putObject } from "../orchestrator/queue/jetstream.ts";
import { ResultWriter } from "../machine-image/worker/result-writer.ts";
import { ChunkJobs } from "../orchestrator/queue/chunk-jobs.ts";
import { LocalKeptAudio } from "../orchestrator/queue/kept-audio.ts";
import { SyntheticEngine } from "../machine-image/worker/synthetic-engine.ts";
import { runWorker } from "../machine-image/worker/worker.ts";
import { buildWorkerBundle } from "../machine-image/build-worker.ts";
import { silentWav } from "./support/ingest-stack.ts";
import { startTestNats, type CleanupContext } from "./support/nats.ts";

const ADMIN = { user: "orchestrator", password: "admin-pw-123" };
const WORKER = { user: "worker", password: "worker-pw-456" };

async function securedNats(t: CleanupContext, prefix: string): Promise<{ url: string; admin: NatsConnection }> {
  const { url } = await startTestNats(t, { users: [ADMIN, { ...WORKER, permissions: workerPermissions(wireNames(prefix)) }] });
  const admin = await connect({ servers: url, user: ADMIN.user, pass: ADMIN.password });
  t.after(() => admin.close());
  return { url, admin };
}

async function workerConnection(t: CleanupContext, url: string, prefix: string): Promise<NatsConnection> {
  const nc = await connect({ servers: url, user: WORKER.user, pass: WORKER.password, inboxPrefix: workerInboxPrefix(wireNames(prefix)) });
  t.after(() => (nc.isClosed() ? undefined : nc.close()));
  return nc;
}

function job(chunkId: string, seconds: number): ChunkJob {
  return {
    v: 1,
    episodeId: "ep1",
    chunkId,
    index: 0,
    startSample: 0,
    endSample: seconds * 16_000,
    sampleRate: 16_000,
    audioObject: `ep1/${chunkId}.wav`,
    language: "en",
  };
}

/** Resolves to the error a promise rejects with, or fails the test if it resolves. */
async function refused(p: Promise<unknown>, what: string): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  assert.fail(`${what} was allowed`);
}

test("the worker user can process a chunk, and is refused everything else", { timeout: 60_000 }, async (t) => {
  const prefix = "permtest";
  const names = wireNames(prefix);
  const { url, admin } = await securedNats(t, prefix);
  const buckets = await ensureWireResources(admin, names, { ackWaitMs: 30_000, maxDeliver: 5 });
  const adminJs = jetstream(admin);
  const first = job("c1", 2);
  await putObject(buckets.audio, first.audioObject, silentWav(2));
  await publishChunkJob(adminJs, names, first);
  // and a job that carries its audio, behind its episode's live marker (queue/chunk-jobs.ts)
  const audioDir = await mkdtemp(join(tmpdir(), "podfleet-perm-audio-"));
  t.after(() => rm(audioDir, { recursive: true, force: true }));
  const chunkJobs = new ChunkJobs(
    adminJs,
    await jetstreamManager(admin),
    names,
    buckets.audio,
    new LocalKeptAudio(audioDir),
    () => admin.info!.max_payload,
  );
  assert.equal(await chunkJobs.publish({ id: "ep2", language: "en" }, { index: 0, startSample: 0, endSample: 32_000 }, 1, silentWav(2)), true);
  await putObject(buckets.transcripts, "ep1/transcript.txt", new TextEncoder().encode("secret transcript"));

  // The worker runs its whole loop on the worker user's own connection.
  const workDir = await mkdtemp(join(tmpdir(), "podfleet-perm-work-"));
  t.after(() => rm(workDir, { recursive: true, force: true }));
  const result = await runWorker({
    natsUrl: url,
    natsUser: WORKER.user,
    natsPassword: WORKER.password,
    names,
    engine: new SyntheticEngine({ realTimeFactor: 0.05 }),
    machineId: "m-perm",
    idleTimeoutMs: 1_500,
    workDir,
    inlineResultMaxBytes: 0, // its result goes to the results bucket, write-only
  });
  assert.deepEqual(result, { processed: 2, failed: 0, reason: "idle" });
  const events = await jetstream(admin).consumers.get(names.eventsStream, names.eventsConsumer);
  const seen: ChunkEvent[] = [];
  for (let i = 0; i < 4; i++) {
    const m = await events.next({ expires: 5_000 });
    assert.ok(m, "event published by the worker");
    seen.push(ChunkEvent.parse(m.json()));
    m.ack();
  }
  assert.deepEqual(
    seen.map((e) => e.type),
    ["claimed", "result", "claimed", "result"],
  );
  assert.deepEqual(
    seen.map((e) => e.chunkId),
    ["c1", "c1", "ep2-c0000", "ep2-c0000"],
  );
  // the result the worker wrote without read access is a whole Object Store object to the orchestrator
  const resultObject = (seen[1]!.type === "result" ? seen[1]!.resultObject : undefined) ?? assert.fail("no result object");
  assert.equal(ChunkTranscript.parse(await getObjectJson(buckets.results, resultObject)).chunkId, "c1");

  // Everything a worker has no business doing.
  const nc = await workerConnection(t, url, prefix);
  const js = jetstream(nc);
  const objm = new Objm(js);
  const sneaky = job("evil", 1);
  const pubErr = await refused(js.publish(names.jobsSubject, JSON.stringify(sneaky), { timeout: 2_000 }), "publishing a job");
  assert.match(String(pubErr), /permission|timeout|no responders/i);
  await refused(
    objm.open(names.transcriptsBucket).then((os) => os.get("ep1/transcript.txt")),
    "reading a transcript",
  );
  await refused(
    objm.open(names.audioBucket).then((os) => os.put({ name: "ep1/forged.wav" }, new Response(new Uint8Array(10)).body!)),
    "writing audio",
  );
  await refused(
    objm.open(names.audioBucket).then((os) => os.delete(first.audioObject)),
    "deleting audio",
  );
  await refused(
    objm.open(names.resultsBucket).then((os) => os.get(resultObject).then((r) => r?.data)),
    "reading results",
  );
  // Other deployments' resources on the same server (another prefix) are out of reach too.
  const other = wireNames("otherdeploy");
  await ensureWireResources(admin, other, { ackWaitMs: 30_000, maxDeliver: 5 });
  await refused(
    js.consumers.get(other.jobsStream, other.jobsConsumer).then((c) => c.next({ expires: 1_000 })),
    "pulling another prefix's jobs",
  );

  // And the permissions were really enforced by the server, not only a client error: the admin
  // still sees exactly the one (processed) audio object, the live marker, and no job in the queue.
  const audioNames = (await buckets.audio.list()).map((i) => i.name).sort();
  assert.deepEqual(audioNames, [first.audioObject, episodeLiveObjectName("ep2")].sort());
});

test("a worker can neither read another episode's results nor purge or delete any stream, message or result", { timeout: 90_000 }, async (t) => {
  const prefix = "permpurge";
  const names = wireNames(prefix);
  const { url, admin } = await securedNats(t, prefix);
  const adminJsm = await jetstreamManager(admin);
  // a results bucket made by an older version, as the Object Store client makes it: rollups allowed
  await new Objm(admin).create(names.resultsBucket);
  assert.equal((await adminJsm.streams.info(`OBJ_${names.resultsBucket}`)).config.allow_rollup_hdrs, true);
  const buckets = await ensureWireResources(admin, names, { ackWaitMs: 30_000, maxDeliver: 5 });
  assert.equal((await adminJsm.streams.info(`OBJ_${names.resultsBucket}`)).config.allow_rollup_hdrs, false, "turned off at start");
  // another episode's chunk: audio, a queued job, an event, and a result written by "another worker"
  const other = job("other", 1);
  await putObject(buckets.audio, other.audioObject, silentWav(1));
  await publishChunkJob(jetstream(admin), names, other);
  await jetstream(admin).publish(`${names.eventsSubjectPrefix}.claimed.ep1`, JSON.stringify({ v: 1 }));
  const otherResult = "other/AAAAAAAAAAAAAAAAAAAAAA/attempt-1.json";
  await new ResultWriter(jetstream(await workerConnection(t, url, prefix)), names.resultsBucket).put(
    otherResult,
    new TextEncoder().encode('{"secret":true}'),
  );
  const streams = [names.jobsStream, names.eventsStream, `OBJ_${names.audioBucket}`, `OBJ_${names.resultsBucket}`, `OBJ_${names.transcriptsBucket}`];
  const counts = async () => Promise.all(streams.map(async (s) => (await adminJsm.streams.info(s)).state.messages));
  const before = await counts();

  const nc = await workerConnection(t, url, prefix);
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const resultsStream = `OBJ_${names.resultsBucket}`;
  const metaSubject = `$O.${names.resultsBucket}.M.${Buffer.from(otherResult).toString("base64url")}`;
  // reading it, by every route the JetStream API has
  await refused(jsm.streams.getMessage(resultsStream, { last_by_subj: metaSubject }), "a direct/message get of a result's metadata");
  await refused(jsm.streams.getMessage(resultsStream, { seq: 1 }), "a message get by sequence");
  await refused(jsm.consumers.add(resultsStream, { filter_subject: `$O.${names.resultsBucket}.>` }), "a consumer on the results stream");
  await refused(jsm.streams.info(resultsStream), "the results stream's info");
  // purging or deleting: the results stream, every other stream, single messages
  for (const stream of streams) {
    await refused(jsm.streams.purge(stream), `purging ${stream}`);
    await refused(jsm.streams.delete(stream), `deleting ${stream}`);
    await refused(jsm.streams.deleteMessage(stream, 1), `deleting message 1 of ${stream}`);
  }
  // a publish into the results bucket (which the worker may do) that asks the server to roll the stream up
  const rollup = natsHeaders();
  rollup.set("Nats-Rollup", "all");
  await refused(js.publish(`$O.${names.resultsBucket}.M.eA==`, "{}", { headers: rollup }), "a Nats-Rollup: all publish (a purge)");
  // overwriting the result under its name, were it known: refused, a result is written once
  await refused(new ResultWriter(js, names.resultsBucket).put(otherResult, new TextEncoder().encode('{"forged":true}')), "overwriting a result");

  // the server did none of it: every stream holds what it held (plus the data chunk the overwrite
  // sent before its metadata was refused, which no metadata points at), and the result reads as written
  assert.deepEqual(
    await counts(),
    before.map((n, i) => (streams[i] === resultsStream ? n + 1 : n)),
  );
  assert.deepEqual(await getObjectJson(buckets.results, otherResult), { secret: true });
});

test("cancellation (deleting the chunk audio) still reaches a worker that runs with limited permissions", { timeout: 60_000 }, async (t) => {
  const prefix = "permcancel";
  const names = wireNames(prefix);
  const { url, admin } = await securedNats(t, prefix);
  const buckets = await ensureWireResources(admin, names, { ackWaitMs: 3_000, maxDeliver: 5 });
  const long = job("slow", 40);
  await putObject(buckets.audio, long.audioObject, silentWav(40));
  await publishChunkJob(jetstream(admin), names, long);
  const events = await jetstream(admin).consumers.get(names.eventsStream, names.eventsConsumer);

  const workDir = await mkdtemp(join(tmpdir(), "podfleet-perm-work-"));
  t.after(() => rm(workDir, { recursive: true, force: true }));
  const started = Date.now();
  const run = runWorker({
    natsUrl: url,
    natsUser: WORKER.user,
    natsPassword: WORKER.password,
    names,
    engine: new SyntheticEngine({ realTimeFactor: 1 }), // 40 s of work
    machineId: "m-perm",
    idleTimeoutMs: 1_500,
    heartbeatMs: 300,
    workDir,
  });
  const claimed = await events.next({ expires: 10_000 });
  assert.equal(claimed && ChunkEvent.parse(claimed.json()).type, "claimed");
  claimed?.ack();
  await buckets.audio.delete(long.audioObject);
  const result = await run;
  assert.equal(result.processed, 0);
  assert.ok(Date.now() - started < 20_000, "the chunk was abandoned long before its 40 s of work");
  const info = await (await jetstreamManager(admin)).streams.info(names.jobsStream);
  assert.equal(info.state.messages, 0, "the abandoned job was termed, not left to redeliver");
});

test(
  "the image's entrypoint: the worker bundle, alone in a directory without node_modules, runs a chunk with the worker account",
  { timeout: 90_000 },
  async (t) => {
    const prefix = "permbundle";
    const names = wireNames(prefix);
    const { url, admin } = await securedNats(t, prefix);
    const buckets = await ensureWireResources(admin, names, { ackWaitMs: 30_000, maxDeliver: 5 });
    const only = job("b1", 3);
    await putObject(buckets.audio, only.audioObject, silentWav(3));
    await publishChunkJob(jetstream(admin), names, only);

    const dir = await mkdtemp(join(tmpdir(), "podfleet-image-"));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const bundle = await buildWorkerBundle(join(dir, "worker.mjs")); // as the Dockerfile's worker-build stage
    const child = spawn(process.execPath, [bundle], {
      cwd: dir,
      env: {
        PATH: process.env.PATH ?? "",
        NATS_URL: url,
        NATS_USER: WORKER.user,
        NATS_PASSWORD: WORKER.password,
        PODFLEET_NATS_PREFIX: prefix,
        ENGINE: "synthetic",
        PODFLEET_SYNTHETIC_RTF: "0.05",
        PODFLEET_IDLE_TIMEOUT_SEC: "2",
        FLY_MACHINE_ID: "m-bundle",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    t.after(() => void child.kill("SIGKILL"));
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const [code] = (await once(child, "exit")) as [number | null];
    assert.equal(code, 0, out);
    assert.match(out, /"event":"chunk.done"/);
    assert.match(out, /"reason":"idle"/);
    const jsm = await jetstreamManager(admin);
    assert.equal((await jsm.streams.info(names.jobsStream)).state.messages, 0, "the job was acked");
  },
);
