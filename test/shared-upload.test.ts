/**
 * Uploads and chunk audio that any orchestrator can use (episodes/upload-store.ts,
 * queue/kept-audio.ts): orchestrator A's episode service receives an upload (its bytes kept in the
 * uploads bucket before the episode is recorded) and "dies" with its data directory; a second
 * service with its own data directory, on the same nats-server and the same libSQL file, resumes
 * the ingest from the bucket and completes it, the chunks' audio kept in NATS and the upload's
 * copy deleted. Without the upload store the same resume fails the episode with a clear reason.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { test, type TestContext } from "node:test";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { wireNames, type WireNames } from "../contract/wire.ts";
import { EpisodeService } from "../orchestrator/episodes/episode-service.ts";
import { NatsUploadStore } from "../orchestrator/episodes/upload-store.ts";
import { createLogger } from "../orchestrator/log.ts";
import { NatsWorkQueue } from "../orchestrator/queue/nats-work-queue.ts";
import { Database } from "../orchestrator/store/database.ts";
import { EpisodeStore } from "../orchestrator/store/episode-store.ts";
import { silentWav } from "./support/ingest-stack.ts";
import { startTestNats, uniquePrefix } from "./support/nats.ts";
import { stopProcess } from "./support/stopped-process.ts";

/** One orchestrator's episode service: its own data directory, NATS connection and database handle. */
async function orchestratorService(t: TestContext, natsUrl: string, names: WireNames, dbFile: string, opts: { uploadStore: boolean }) {
  const dataDir = await mkdtemp(path.join(tmpdir(), "podfleet-shared-"));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const nc = await connect({ servers: natsUrl });
  t.after(() => nc.close());
  const queue = await NatsWorkQueue.open(nc, names, { ackWaitMs: 30_000, maxDeliver: 3, audioDir: path.join(dataDir, "audio"), keep: "nats" });
  const database = await Database.open(`file:${dbFile}`);
  t.after(() => database.close());
  const store = new EpisodeStore(database);
  const episodes = new EpisodeService({
    store,
    queue,
    ingest: { workDir: path.join(dataDir, "work"), fetch: { allowPrivate: true, maxBytes: 50_000_000, timeoutMs: 10_000 } },
    uploadDir: path.join(dataDir, "uploads"),
    uploads: opts.uploadStore ? NatsUploadStore.on(nc, names.uploadsBucket, queue.resources.uploads) : undefined,
    defaultChunkSeconds: 2,
    maxConcurrentIngests: 1,
    maxConcurrentDownloads: 1,
    log: createLogger("silent"),
  });
  t.after(() => episodes.drain());
  return { dataDir, episodes, store, queue, nc };
}

async function setup(t: TestContext, opts: { uploadStoreOnB: boolean }) {
  const nats = await startTestNats(t);
  const names = wireNames(uniquePrefix("up"));
  const dbDir = await mkdtemp(path.join(tmpdir(), "podfleet-shared-db-"));
  t.after(() => rm(dbDir, { recursive: true, force: true }));
  const dbFile = path.join(dbDir, "podfleet.db");
  const a = await orchestratorService(t, nats.url, names, dbFile, { uploadStore: true });
  const b = await orchestratorService(t, nats.url, names, dbFile, { uploadStore: opts.uploadStoreOnB });
  return { names, a, b };
}

/** A's half: receive the upload (kept, recorded, 202), then lose the data directory before any ingest runs. */
async function receiveOnAThenDie(s: Awaited<ReturnType<typeof setup>>, audio: Buffer): Promise<string> {
  const row = await s.a.episodes.receiveUpload({ body: Readable.from([audio]), maxBytes: 50_000_000 });
  fs.rmSync(path.join(s.a.dataDir, "uploads"), { recursive: true, force: true });
  return row.id;
}

test("an upload received by one orchestrator is ingested by another from the uploads bucket", async (t) => {
  const s = await setup(t, { uploadStoreOnB: true });
  const audio = silentWav(7);
  const id = await receiveOnAThenDie(s, audio);
  const object = await s.a.queue.resources.uploads.getBlob(NatsUploadStore.objectName(id));
  assert.ok(object && Buffer.from(object).equals(audio), "the bytes are in the bucket once the upload is acknowledged");

  assert.equal(await s.b.episodes.resumeIngest(id), true);
  await s.b.episodes.drain();
  const row = await s.b.store.getEpisode(id);
  assert.equal(row?.error, null);
  assert.equal(row?.status, "transcribing", "planned and queued");
  assert.ok(row.chunkCount !== null && row.chunkCount >= 3, `7 s in 2 s chunks: ${row.chunkCount}`);

  const jsm = await jetstreamManager(s.b.nc);
  assert.equal((await jsm.streams.info(s.names.jobsStream)).state.messages, row.chunkCount, "every chunk's job is queued");
  const kept = await jsm.streams.info(s.names.keptStream, { subjects_filter: `${s.names.keptSubjectPrefix}.${id}.>` });
  assert.equal(Object.keys(kept.state.subjects ?? {}).length, row.chunkCount, "every chunk's audio is kept in NATS");
  assert.equal(fs.existsSync(path.join(s.b.dataDir, "audio")), false, "and no PCM in B's data directory");
  const info = await s.b.queue.resources.uploads.info(NatsUploadStore.objectName(id));
  assert.equal(info === null || info.deleted, true, "the upload's copy is deleted once its ingest ended");
  assert.deepEqual(fs.readdirSync(path.join(s.b.dataDir, "work")), [], "the fetched copy is gone too");

  // A re-publishes a chunk it never saw: its audio comes from the kept-audio stream
  const chunk = (await s.a.store.listChunks(id))[1]!;
  assert.equal(await s.a.queue.publishChunk(row, chunk, 2), true);
  assert.equal((await jsm.streams.info(s.names.jobsStream)).state.messages, row.chunkCount + 1);
});

test("without the upload store, the other orchestrator cannot find the upload and fails the episode saying so", async (t) => {
  const s = await setup(t, { uploadStoreOnB: false });
  const id = await receiveOnAThenDie(s, silentWav(3));
  assert.equal(await s.b.episodes.resumeIngest(id), true);
  await s.b.episodes.drain();
  const row = await s.b.store.getEpisode(id);
  assert.equal(row?.status, "failed");
  assert.match(row.error ?? "", /uploaded file is gone/);
});

test("an upload kept while NATS stops answering for 7 s is stored once NATS is back: whole, readable, no stray pieces", async (t) => {
  const nats = await startTestNats(t);
  const names = wireNames(uniquePrefix("upout"));
  const nc = await connect({ servers: nats.url, maxReconnectAttempts: -1 });
  t.after(() => nc.close());
  const queue = await NatsWorkQueue.open(nc, names, { ackWaitMs: 30_000, maxDeliver: 3, audioDir: tmpdir(), keep: "nats" });
  const store = NatsUploadStore.on(nc, names.uploadsBucket, queue.resources.uploads);
  const dir = await mkdtemp(path.join(tmpdir(), "podfleet-upout-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, "upload.bin");
  const bytes = Buffer.from(Array.from({ length: 3 * 1024 * 1024 + 123 }, (_, i) => (i * 31) % 251));
  fs.writeFileSync(file, bytes);

  const pid = nats.server.pid!;
  stopProcess(pid); // returns once every thread is stopped (support/stopped-process.ts)
  let stopped = true;
  t.after(() => {
    if (stopped) process.kill(pid, "SIGCONT");
  });
  const keeping = store.keep("ep_outage", file);
  // longer than a publish's 5 s ack timeout: the first piece's publish fails and is made again
  await new Promise((r) => setTimeout(r, 7_000));
  process.kill(pid, "SIGCONT");
  stopped = false;
  await keeping;

  const back = path.join(dir, "back.bin");
  assert.equal(await store.fetchTo("ep_outage", back), true);
  assert.ok(fs.readFileSync(back).equals(bytes), "the stored upload is the file, byte for byte");
  const jsm = await jetstreamManager(nc);
  const info = await queue.resources.uploads.info(NatsUploadStore.objectName("ep_outage"));
  const stream = await jsm.streams.info(`OBJ_${names.uploadsBucket}`);
  assert.equal(stream.state.messages, info!.chunks + 1, "the object's pieces and its metadata, nothing else");
});
