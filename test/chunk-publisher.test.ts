/**
 * The output end of streaming ingest (ingest/chunk-publisher.ts) on a real nats-server and libSQL
 * file: the cutting runs ahead of a publish that is waiting on NATS (up to PUBLISH_AHEAD chunks,
 * then the decode waits), every chunk is still recorded and published once and in order with its
 * audio kept, and a failure in the queue behind the cut is what the next push or `end` throws.
 * With chunk audio kept in NATS (NATS_URL), keeping a chunk's WAV waits out a stream nobody
 * answers for (a cluster node lost, its stream's new leader not elected yet) like the job publish.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test, type TestContext } from "node:test";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { InlineChunkJob, JOB_HEADER, wireNames } from "../contract/wire.ts";
import { ChunkPublisher, PUBLISH_AHEAD } from "../orchestrator/ingest/chunk-publisher.ts";
import { ChunkStream } from "../orchestrator/ingest/chunk-stream.ts";
import { createLogger } from "../orchestrator/log.ts";
import { NatsWorkQueue } from "../orchestrator/queue/nats-work-queue.ts";
import { Database } from "../orchestrator/store/database.ts";
import { EpisodeStore, IngestStoppedError } from "../orchestrator/store/episode-store.ts";
import { startTestNats, uniquePrefix } from "./support/nats.ts";
import { stopProcess } from "./support/stopped-process.ts";
import { ensureWireResources } from "../orchestrator/queue/jetstream.ts";
import { until } from "./support/until.ts";
import { createUrlEpisode } from "./support/url-episode.ts";

const RATE = 16_000;
const PAD_SEC = 2;

/** `seconds` of PCM with no silence (so cuts fall at the targets), in one-second pieces. */
function pieces(seconds: number): Buffer[] {
  return Array.from({ length: seconds }, (_, s) => {
    const b = Buffer.alloc(RATE * 2);
    for (let i = 0; i < RATE; i++) b.writeInt16LE(Math.round(6000 * Math.sin((s * RATE + i) * 0.07)), i * 2);
    return b;
  });
}

/** For each chunk the planner cuts from `audio`, the index of the piece whose push completes it. */
function readyAt(audio: readonly Buffer[], chunkSeconds: number): number[] {
  const planner = new ChunkStream(chunkSeconds, {}, { index: 0, startSample: 0 }, PAD_SEC);
  const out: number[] = [];
  audio.forEach((piece, i) => planner.push(piece).forEach(() => out.push(i)));
  planner.end().forEach(() => out.push(audio.length - 1));
  return out;
}

async function setup(t: TestContext, keep: "local" | "nats" = "local") {
  const nats = await startTestNats(t);
  const nc = await connect({ servers: nats.url, maxReconnectAttempts: -1 });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-publisher-"));
  const database = await Database.open(`file:${path.join(dir, "t.db")}`);
  t.after(async () => {
    await nc.close();
    database.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const names = wireNames(uniquePrefix("pub"));
  const queueOptions = { ackWaitMs: 30_000, maxDeliver: 3, audioDir: path.join(dir, "audio"), keep };
  const queue = await NatsWorkQueue.open(nc, names, queueOptions);
  const store = new EpisodeStore(database);
  const id = await createUrlEpisode(store, "ep_publisher");
  await store.transitionEpisode(id, "ingesting");
  const row = (await store.getEpisode(id))!;
  const jsm = await jetstreamManager(nc);
  /** The chunk indexes of the jobs on the jobs stream, in stream order. */
  const publishedIndexes = async (): Promise<number[]> => {
    const info = await jsm.streams.info(names.jobsStream);
    const out: number[] = [];
    for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
      const msg = await jsm.streams.getMessage(names.jobsStream, { seq });
      out.push(InlineChunkJob.parse(JSON.parse(msg!.header.get(JOB_HEADER))).index);
    }
    return out;
  };
  return { nc, jsm, names, queueOptions, nats, queue, store, row, id, publishedIndexes, audioPath: queue.episodeAudioPath(id) };
}

test("the cut runs ahead of a publish waiting on NATS, up to PUBLISH_AHEAD chunks, then every chunk goes out once and in order", async (t) => {
  const { nats, queue, store, row, id, publishedIndexes, audioPath } = await setup(t);
  assert.ok(audioPath !== undefined, "the embedded default keeps the episode's PCM");
  const audio = pieces(300);
  const ready = readyAt(audio, row.chunkSeconds);
  assert.ok(ready.length > PUBLISH_AHEAD + 2, `the audio makes ${ready.length} chunks, more than the publisher runs ahead`);

  let stalled = false;
  const log = createLogger("silent");
  log.warn = () => (stalled = true); // the first chunk's publish timed out on the stopped server
  const publisher = new ChunkPublisher(row, { store, queue, padSec: PAD_SEC, log });
  const pid = nats.server.pid!;
  stopProcess(pid); // returns once every thread is stopped (support/stopped-process.ts)
  let stopped = true;
  t.after(() => {
    if (stopped) process.kill(pid, "SIGCONT");
  });

  let taken = 0;
  const feeding = (async () => {
    for (const piece of audio) {
      await publisher.push(piece);
      taken += 1;
    }
  })();
  await until("the first publish to time out on the stopped server", () => stalled || undefined, 30_000);
  const recordedWhileStalled = (await store.listChunks(id)).length;
  const takenWhileStalled = taken;
  process.kill(pid, "SIGCONT");
  stopped = false;
  await feeding;
  await publisher.end();
  await publisher.close();

  assert.equal(recordedWhileStalled, 1, "chunk 0 was recorded; the chunks behind it wait for its publish");
  // the decode went on past the chunks cut behind the stalled one, and stopped at PUBLISH_AHEAD of them
  assert.equal(takenWhileStalled, ready[PUBLISH_AHEAD - 1], `pieces taken while chunk 0's publish waited (chunks ready at ${ready.join(",")})`);
  const chunks = await store.listChunks(id);
  assert.deepEqual(
    chunks.map((c) => c.index),
    ready.map((_, i) => i),
  );
  assert.deepEqual(
    await publishedIndexes(),
    ready.map((_, i) => i),
    "each chunk's job went out once, in order",
  );
  assert.equal(fs.statSync(audioPath).size, audio.length * RATE * 2, "every decoded sample is kept");
  // the pieces go to the file in gathered writes (about 1 MiB each): all of them, in order
  assert.ok(fs.readFileSync(audioPath).equals(Buffer.concat(audio)), "the kept PCM is the decoded PCM, byte for byte");
});

test("a chunk refused behind the cut (the episode cancelled) stops the ingest: push or end throws it, and nothing after it is recorded", async (t) => {
  const { queue, store, row, id, publishedIndexes } = await setup(t);
  const audio = pieces(300);
  const ready = readyAt(audio, row.chunkSeconds);
  const publisher = new ChunkPublisher(row, { store, queue, padSec: PAD_SEC });
  for (const piece of audio.slice(0, ready[0]! + 1)) await publisher.push(piece);
  await until("chunk 0 recorded", async () => (await store.listChunks(id)).length === 1 || undefined, 10_000);
  await store.transitionEpisode(id, "cancelled");

  const rest = (async () => {
    for (const piece of audio.slice(ready[0]! + 1)) await publisher.push(piece);
    await publisher.end();
  })();
  await assert.rejects(rest, IngestStoppedError);
  await publisher.close();
  assert.equal((await store.listChunks(id)).length, 1, "no chunk was recorded after the cancel");
  assert.deepEqual(await publishedIndexes(), [0]);
});

test("with chunk audio kept in NATS, a kept-audio stream nobody answers for is waited out: every chunk is kept, recorded and published once", async (t) => {
  const { nc, jsm, names, queueOptions, queue, store, row, id, publishedIndexes } = await setup(t, "nats");
  const audio = pieces(120);
  const ready = readyAt(audio, row.chunkSeconds);
  // what a publish meets while the stream's leader is being elected: nobody answers its subject
  await jsm.streams.delete(names.keptStream);
  const retried: string[] = [];
  const log = createLogger("silent");
  log.warn = (message: string) => void retried.push(message);
  const publisher = new ChunkPublisher(row, { store, queue, padSec: PAD_SEC, log });
  const feeding = (async () => {
    for (const piece of audio) await publisher.push(piece);
    await publisher.end();
  })();
  await until("a kept-audio write to be retried", () => retried.length > 0 || undefined, 30_000);
  assert.equal((await store.listChunks(id)).length, 0, "no chunk is recorded before its audio is kept");
  await ensureWireResources(nc, names, queueOptions); // the stream is back
  await feeding;
  await publisher.close();

  assert.match(retried[0]!, /keeping a chunk's audio/);
  const indexes = ready.map((_, i) => i);
  assert.deepEqual(
    (await store.listChunks(id)).map((c) => c.index),
    indexes,
  );
  assert.deepEqual(await publishedIndexes(), indexes, "each chunk's job went out once, in order");
  const kept = await jsm.streams.info(names.keptStream, { subjects_filter: `${names.keptSubjectPrefix}.${id}.>` });
  assert.equal(Object.keys(kept.state.subjects ?? {}).length, ready.length, "every chunk's WAV is kept");
});
