/**
 * Chunk jobs as queue/chunk-jobs.ts publishes them, run by the real worker loop on a real
 * nats-server: the job carries its WAV (and the worker gets the words back inside the result
 * event), purging an episode cancels its queued jobs for workers, a chunk too big for max_payload
 * and an episode ingested before this format go through the audio bucket as JSON jobs.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { ChunkEvent, ChunkJob, InlineChunkJob, JOB_HEADER, chunkAudioObjectName, episodeLiveObjectName, wireNames } from "../contract/wire.ts";
import { SyntheticEngine } from "../machine-image/worker/synthetic-engine.ts";
import { runWorker } from "../machine-image/worker/worker.ts";
import { wavHeader } from "../orchestrator/ingest/audio-decode.ts";
import { ChunkJobs } from "../orchestrator/queue/chunk-jobs.ts";
import { LocalKeptAudio } from "../orchestrator/queue/kept-audio.ts";
import { ensureWireResources, putObject } from "../orchestrator/queue/jetstream.ts";
import { startTestNats, uniquePrefix } from "./support/nats.ts";

const SECOND = 16_000;

async function setup(t: TestContext, maxPayload?: number) {
  const { url } = await startTestNats(t);
  const nc = await connect({ servers: url });
  t.after(() => nc.close());
  const names = wireNames(uniquePrefix("cj"));
  const buckets = await ensureWireResources(nc, names, { ackWaitMs: 30_000, maxDeliver: 5 });
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const dir = await mkdtemp(join(tmpdir(), "podfleet-chunk-jobs-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const kept = new LocalKeptAudio(join(dir, "audio"));
  const jobs = new ChunkJobs(js, jsm, names, buckets.audio, kept, () => maxPayload ?? nc.info!.max_payload);
  const events = await js.consumers.get(names.eventsStream, names.eventsConsumer);
  const jobsConsumer = await js.consumers.get(names.jobsStream, names.jobsConsumer);
  /** Keeps `seconds` of PCM for `episodeId` as ingest would. */
  const keep = async (episodeId: string, seconds: number): Promise<void> => {
    const pcm = join(dir, `${episodeId}.pcm`);
    const samples = Buffer.alloc(seconds * SECOND * 2);
    for (let i = 0; i < samples.length; i += 2) samples.writeInt16LE(((i * 7919) % 2000) - 1000, i);
    fs.writeFileSync(pcm, samples);
    await kept.keepPcmFile(episodeId, pcm);
  };
  const work = (opts: { idleTimeoutMs?: number } = {}) =>
    runWorker({
      nc,
      names,
      engine: new SyntheticEngine({ realTimeFactor: 0 }),
      machineId: "m-cj",
      idleTimeoutMs: opts.idleTimeoutMs ?? 1_000,
      workDir: join(dir, "work"),
    });
  const takeEvents = async (n: number): Promise<ChunkEvent[]> => {
    const out: ChunkEvent[] = [];
    for (let i = 0; i < n; i++) {
      const m = await events.next({ expires: 5_000 });
      assert.ok(m, `event ${i + 1} of ${n}`);
      out.push(ChunkEvent.parse(m.json()));
      m.ack();
    }
    return out;
  };
  const jobsLeft = async (): Promise<number> => (await jsm.streams.info(names.jobsStream)).state.messages;
  return { nc, names, buckets, jobs, jobsConsumer, dir, keep, work, takeEvents, jobsLeft, events };
}

test("an inline job carries its WAV and the worker answers with the words inside the result event", async (t) => {
  const s = await setup(t);
  await s.keep("ep1", 3);
  assert.equal(await s.jobs.publish({ id: "ep1", language: "de-DE" }, { index: 0, startSample: SECOND, endSample: 3 * SECOND }, 1), true);

  // what is on the wire: the job in the header, the chunk's samples as a WAV payload
  const msg = await s.jobsConsumer.next({ expires: 5_000 });
  assert.ok(msg);
  const job = InlineChunkJob.parse(JSON.parse(msg.headers!.get(JOB_HEADER)));
  assert.deepEqual(
    { chunkId: job.chunkId, start: job.startSample, end: job.endSample, generation: job.generation, live: job.liveObject, language: job.language },
    { chunkId: "ep1-c0000", start: SECOND, end: 3 * SECOND, generation: 1, live: episodeLiveObjectName("ep1"), language: "de-DE" },
  );
  assert.equal(msg.data.length, 44 + 2 * SECOND * 2, "the WAV of samples [1 s, 3 s)");
  assert.equal(Buffer.from(msg.data.subarray(0, 4)).toString("latin1"), "RIFF");
  msg.nak(); // give it back to the worker

  assert.deepEqual(await s.work(), { processed: 1, failed: 0, reason: "idle" });
  const [claimed, result] = await s.takeEvents(2);
  assert.equal(claimed?.type, "claimed");
  assert.equal(result?.type, "result");
  assert.equal(result.resultObject, undefined, "no results object for a small result");
  assert.deepEqual(
    result.words?.map((w) => w.text),
    ["synthetic"],
  );
  assert.equal(result.attempt, 2, "the second delivery (the first was naked above)");
  assert.equal(await s.jobsLeft(), 0);
});

test("purging an episode cancels its queued jobs: the worker drops them without an event, and the audio is gone", async (t) => {
  const s = await setup(t);
  await s.keep("ep2", 2);
  for (const index of [0, 1])
    await s.jobs.publish({ id: "ep2", language: "en" }, { index, startSample: index * SECOND, endSample: (index + 1) * SECOND }, 1);
  assert.ok(await s.buckets.audio.info(episodeLiveObjectName("ep2")), "the live marker is put before the first job");
  await s.jobs.purge("ep2", [
    { index: 0, startSample: 0, endSample: SECOND },
    { index: 1, startSample: SECOND, endSample: 2 * SECOND },
  ]);
  assert.equal(await s.buckets.audio.info(episodeLiveObjectName("ep2")), null, "one purge removes the marker");
  assert.equal(fs.existsSync(s.jobs.audioPath("ep2")!), false, "and the kept PCM");
  assert.deepEqual(await s.work(), { processed: 0, failed: 2, reason: "idle" });
  assert.equal(await s.jobsLeft(), 0, "both jobs termed");
  assert.equal(await s.events.next({ expires: 1_000 }), null, "no event: the store fences cancelled chunks anyway");
  assert.equal(
    await s.jobs.publish({ id: "ep2", language: "en", status: "cancelled" }, { index: 0, startSample: 0, endSample: SECOND }, 2),
    false,
    "a cancelled episode is never published again",
  );
});

test("a chunk too big for max_payload goes through the audio bucket as a JSON job, and the purge deletes its object", async (t) => {
  const s = await setup(t, 16 * 1024);
  await s.keep("ep3", 1);
  await s.jobs.publish({ id: "ep3", language: "en" }, { index: 0, startSample: 0, endSample: SECOND }, 3);
  const msg = await s.jobsConsumer.next({ expires: 5_000 });
  assert.ok(msg);
  assert.equal(msg.headers?.get(JOB_HEADER) ?? "", "");
  const job = ChunkJob.parse(msg.json());
  assert.equal(job.audioObject, chunkAudioObjectName("ep3", 0));
  assert.equal(job.generation, 3);
  assert.equal((await s.buckets.audio.info(job.audioObject))?.size, 44 + SECOND * 2);
  msg.nak();
  assert.deepEqual(await s.work(), { processed: 1, failed: 0, reason: "idle" });
  await s.jobs.purge("ep3", [{ index: 0, startSample: 0, endSample: SECOND }]);
  assert.equal((await s.buckets.audio.info(job.audioObject))?.deleted ?? true, true, "its object is deleted");
});

test("an episode ingested before jobs carried audio is re-published as JSON jobs naming its objects, and still runs", async (t) => {
  const s = await setup(t);
  // what an older orchestrator left: the chunk's WAV in the bucket, no kept PCM
  await putObject(s.buckets.audio, chunkAudioObjectName("ep4", 2), Buffer.concat([wavHeader(SECOND), Buffer.alloc(SECOND * 2)]));
  await s.jobs.publish({ id: "ep4", language: "en" }, { index: 2, startSample: 4 * SECOND, endSample: 5 * SECOND }, 2);
  assert.deepEqual(await s.work(), { processed: 1, failed: 0, reason: "idle" });
  const [claimed, result] = await s.takeEvents(2);
  assert.equal(claimed?.generation, 2);
  assert.equal(result?.type, "result");
  await s.jobs.purge("ep4", [{ index: 2, startSample: 4 * SECOND, endSample: 5 * SECOND }]);
  assert.equal((await s.buckets.audio.info(chunkAudioObjectName("ep4", 2)))?.deleted ?? true, true, "its object is purged with the episode");
});
