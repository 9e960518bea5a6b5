/**
 * The episode store on a real libSQL file: lifecycle checks and result fencing. A result counts
 * only from the lease holder of the current attempt, and the same result twice is stored once.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test, type TestContext } from "node:test";
import type { ChunkClaimed, ChunkFailed, ChunkResult } from "../contract/wire.ts";
import { IllegalTransitionError } from "../orchestrator/episodes/lifecycle.ts";
import { Database } from "../orchestrator/store/database.ts";
import { chunkId, EpisodeStore } from "../orchestrator/store/episode-store.ts";
import { createUrlEpisode } from "./support/url-episode.ts";

async function openStore(t: TestContext): Promise<EpisodeStore> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-store-"));
  const db = await Database.open(`file:${path.join(dir, "t.db")}`);
  t.after(() => {
    db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return new EpisodeStore(db);
}

async function transcribingEpisode(store: EpisodeStore, id = "ep_test"): Promise<string> {
  await createUrlEpisode(store, id);
  await store.transitionEpisode(id, "ingesting");
  await store.recordPlan(
    id,
    [
      { index: 0, startSample: 0, endSample: 100, reason: "t" },
      { index: 1, startSample: 100, endSample: 200, reason: "t" },
    ],
    { durationSec: 200 / 16000, sampleCount: 200 },
  );
  return id;
}

const claim = (episodeId: string, attempt: number, machineId: string): ChunkClaimed => ({
  v: 1,
  type: "claimed",
  episodeId,
  chunkId: chunkId(episodeId, 0),
  attempt,
  machineId,
  at: Date.now(),
});
const result = (episodeId: string, attempt: number, machineId: string): ChunkResult => ({
  ...claim(episodeId, attempt, machineId),
  type: "result",
  resultObject: `${chunkId(episodeId, 0)}/attempt-${attempt}.json`,
  wordCount: 3,
  engine: "pocketsphinx",
  processingMs: 10,
});

test("a second identical result for a chunk is ignored", async (t) => {
  const store = await openStore(t);
  const ep = await transcribingEpisode(store);
  assert.equal(await store.applyClaim(claim(ep, 1, "m1")), "accepted");
  assert.equal(await store.applyResult(result(ep, 1, "m1")), "accepted");
  const first = await store.getChunk(chunkId(ep, 0));
  assert.equal(await store.applyResult(result(ep, 1, "m1")), "duplicate");
  assert.deepEqual(await store.getChunk(chunkId(ep, 0)), first, "the row did not change");
  assert.deepEqual(await store.chunkCounts(ep), { total: 2, queued: 1, leased: 0, done: 1, failed: 0, cancelled: 0 });
});

test("results are fenced: only the current attempt's lease holder is heard", async (t) => {
  const store = await openStore(t);
  const ep = await transcribingEpisode(store);
  await store.applyClaim(claim(ep, 1, "m1"));
  // The job was redelivered to m2 (m1 looked dead): attempt 2 takes the lease over.
  assert.equal(await store.applyClaim(claim(ep, 2, "m2")), "accepted");
  // m1 was only slow; its late claim and result are stale.
  assert.equal(await store.applyClaim(claim(ep, 1, "m1")), "stale");
  assert.equal(await store.applyResult(result(ep, 1, "m1")), "stale");
  // A result claiming the current attempt from the wrong machine is stale too.
  assert.equal(await store.applyResult(result(ep, 2, "m3")), "stale");
  assert.equal((await store.getChunk(chunkId(ep, 0)))!.state, "leased");
  assert.equal(await store.applyResult(result(ep, 2, "m2")), "accepted");
  const row = (await store.getChunk(chunkId(ep, 0)))!;
  assert.equal(row.state, "done");
  assert.equal(row.resultObject, `${chunkId(ep, 0)}/attempt-2.json`);
});

test("a result for an unknown chunk changes nothing", async (t) => {
  const store = await openStore(t);
  assert.equal(await store.applyResult(result("ep_nope", 1, "m1")), "unknown");
});

test("illegal lifecycle moves throw, terminal states stay terminal", async (t) => {
  const store = await openStore(t);
  const ep = await transcribingEpisode(store);
  await assert.rejects(store.transitionEpisode(ep, "ingesting"), IllegalTransitionError);
  await store.transitionEpisode(ep, "failed", { error: "boom" });
  await assert.rejects(store.transitionEpisode(ep, "done"), IllegalTransitionError);
  assert.equal((await store.getEpisode(ep))!.status, "failed");
});

test("a permanent chunk failure fails the chunk; a transient one re-queues it until maxAttempts", async (t) => {
  const store = await openStore(t);
  const ep = await transcribingEpisode(store);
  const failed = (attempt: number, permanent: boolean) => ({
    ...claim(ep, attempt, "m1"),
    type: "failed" as const,
    code: permanent ? ("bad_audio" as const) : ("transient" as const),
    permanent,
    message: "x",
  });
  await store.applyClaim(claim(ep, 1, "m1"));
  assert.deepEqual(await store.applyFailure(failed(1, false), 3), { outcome: "accepted", chunkFailed: false });
  assert.equal((await store.getChunk(chunkId(ep, 0)))!.state, "queued");
  await store.applyClaim(claim(ep, 3, "m1"));
  assert.deepEqual(await store.applyFailure(failed(3, false), 3), { outcome: "accepted", chunkFailed: true });
  assert.equal((await store.getChunk(chunkId(ep, 0)))!.state, "failed");
});

test("a re-queued chunk is fenced by (generation, attempt): the dead machine's old attempt is stale", async (t) => {
  const store = await openStore(t);
  const ep = await transcribingEpisode(store);
  const id = chunkId(ep, 0);
  assert.equal(await store.applyClaim(claim(ep, 3, "dead")), "accepted");
  assert.deepEqual(
    (await store.leasedBy(["dead"])).map((c) => c.id),
    [id],
  );
  // The sweeper re-published the job at generation 2; the chunk is queued again at attempt 0.
  assert.equal(await store.requeueLeased(id, "dead", 2), true);
  assert.equal(await store.requeueLeased(id, "dead", 2), false, "only once");
  // The new message starts again at delivery count 1, which is still newer: (2, 1) > (1, 3).
  assert.equal(await store.applyClaim({ ...claim(ep, 1, "m2"), generation: 2 }), "accepted");
  // The old generation's late events change nothing.
  assert.equal(await store.applyClaim(claim(ep, 4, "dead")), "stale");
  assert.equal(await store.applyResult(result(ep, 3, "dead")), "stale");
  assert.equal(await store.applyResult({ ...result(ep, 1, "m2"), generation: 2, resultObject: `${id}/g2-attempt-1.json` }), "accepted");
  const row = await store.getChunk(id);
  assert.equal(row?.state, "done");
  assert.equal(row?.generation, 2);
  assert.equal(row?.resultObject, `${id}/g2-attempt-1.json`);
});

test("retry: a dead chunk goes back to queued at the next generation; old-generation events stay stale", async (t) => {
  const store = await openStore(t);
  const ep = await transcribingEpisode(store);
  const id = chunkId(ep, 0);
  const failed = { ...claim(ep, 3, "m1"), type: "failed" as const, code: "transient" as const, permanent: false, message: "timeout" };
  await store.applyClaim(claim(ep, 3, "m1"));
  assert.equal((await store.applyFailure(failed, 3)).chunkFailed, true);
  await store.transitionEpisode(ep, "failed", { error: "chunk failed" });
  assert.deepEqual((await store.retryFailed("ep_nope")).outcome, "not_found");

  const r = await store.retryFailed(ep);
  assert.equal(r.outcome, "retried");
  assert.deepEqual(
    r.chunks.map((c) => [c.id, c.generation, c.attempt, c.state]),
    [[id, 2, 0, "queued"]],
  );
  const row = (await store.getEpisode(ep))!;
  assert.deepEqual([row.status, row.error, row.finishedAt], ["transcribing", null, null]);
  assert.equal(await store.applyClaim(claim(ep, 3, "m1")), "stale", "the dead attempt of generation 1");
  assert.equal(await store.applyClaim({ ...claim(ep, 1, "m2"), generation: 2 }), "accepted");
  assert.equal((await store.retryFailed(ep)).outcome, "refused", "only failed episodes");
});

test("cancel: open chunks are cancelled and fenced; a cancelled episode can never be done, retried or cancelled again", async (t) => {
  const store = await openStore(t);
  const ep = await transcribingEpisode(store);
  await store.applyClaim(claim(ep, 1, "m1"));
  const r = await store.cancelEpisode(ep);
  assert.equal(r.outcome, "cancelled");
  assert.deepEqual(r.chunks.map((c) => c.index).sort(), [0, 1]);
  assert.deepEqual(await store.chunkCounts(ep), { total: 2, queued: 0, leased: 0, done: 0, failed: 0, cancelled: 2 });
  assert.equal(await store.applyResult(result(ep, 1, "m1")), "stale");
  assert.equal(await store.applyClaim(claim(ep, 2, "m2")), "duplicate");
  await assert.rejects(store.transitionEpisode(ep, "stitching"), IllegalTransitionError);
  assert.deepEqual((await store.cancelEpisode(ep)).outcome, "refused");
  assert.equal((await store.retryFailed(ep)).outcome, "refused");
  assert.equal((await store.getEpisode(ep))!.status, "cancelled");
});

test("a pull batch of events is applied in one transaction: outcomes in order, inline words kept, all or nothing", async (t) => {
  const store = await openStore(t);
  const ep = await transcribingEpisode(store);
  const words = [{ text: "hello", start: 0.1, end: 0.4, confidence: 0.9 }];
  const inline: ChunkResult = { ...claim(ep, 1, "m1"), type: "result", words, wordCount: 1, engine: "synthetic", processingMs: 5 };
  const dead: ChunkFailed = {
    ...claim(ep, 1, "m2"),
    chunkId: chunkId(ep, 1),
    type: "failed",
    code: "bad_audio",
    permanent: true,
    message: "not a RIFF/WAVE file",
  };
  const applied = await store.applyEvents([claim(ep, 1, "m1"), inline, inline, { ...claim(ep, 1, "m2"), chunkId: chunkId(ep, 1) }, dead], 3);
  assert.deepEqual(applied, [
    { outcome: "accepted", chunkFailed: false },
    { outcome: "accepted", chunkFailed: false },
    { outcome: "duplicate", chunkFailed: false },
    { outcome: "accepted", chunkFailed: false },
    { outcome: "accepted", chunkFailed: true },
  ]);
  const done = (await store.getChunk(chunkId(ep, 0)))!;
  assert.deepEqual([done.state, done.resultObject, JSON.parse(done.resultWords ?? "null")], ["done", null, words]);
  assert.equal((await store.getChunk(chunkId(ep, 1)))!.state, "failed");

  // one event that cannot be applied (a transient failure of a chunk nobody holds: queued → queued)
  // rolls the whole batch back, so the caller can apply its events one by one
  const other = await transcribingEpisode(store, "ep_two");
  const stray: ChunkFailed = { ...dead, episodeId: other, chunkId: chunkId(other, 1), permanent: false, code: "transient" };
  await assert.rejects(store.applyEvents([claim(other, 1, "m1"), stray], 3), IllegalTransitionError);
  assert.equal((await store.getChunk(chunkId(other, 0)))!.state, "queued", "the claim before it was rolled back");
});

test("a plan dropped by a failed ingest is planned again past every generation it used, across a restart", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-store-"));
  const file = `file:${path.join(dir, "t.db")}`;
  let db = await Database.open(file);
  t.after(() => {
    db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  let store = new EpisodeStore(db);
  const id = await createUrlEpisode(store, "ep_replan");
  const span = (index: number) => ({
    index,
    startSample: index * 100,
    endSample: (index + 1) * 100,
    coreStartSample: index * 100,
    coreEndSample: (index + 1) * 100,
    reason: "t",
  });
  /** One ingest run: ingesting, then `n` chunks recorded; returns the generation each was queued at. */
  const ingestRun = async (n: number): Promise<number[]> => {
    await store.transitionEpisode(id, "ingesting", { planJson: null });
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push(await store.recordChunk(id, span(i)));
    return out;
  };

  assert.deepEqual(await ingestRun(2), [1, 1], "an episode's first plan is at generation 1");
  // chunk 1's job was lost and published again at generation 2; then the download fails
  assert.equal(await store.requeueStranded(chunkId(id, 1), 1, 2), true);
  assert.equal((await store.failIngest(id, { error: "download cut" }))?.length, 2);

  // restart: the generation to start at is in the database, not in this process
  db.close();
  db = await Database.open(file);
  store = new EpisodeStore(db);
  assert.equal((await store.retryFailed(id)).outcome, "retried");
  assert.deepEqual(await ingestRun(3), [4, 4, 4], "past generation 2, and one more for a re-queue published before the drop");
  assert.deepEqual(
    (await store.listChunks(id)).map((c) => c.generation),
    [4, 4, 4],
  );

  // fails again: the next plan starts past this one
  await store.failIngest(id, { error: "download cut again" });
  assert.equal((await store.retryFailed(id)).outcome, "retried");
  assert.deepEqual(await ingestRun(1), [6]);
  await store.completePlan(id, { durationSec: 100 / 16000, sampleCount: 100 });
  assert.equal((await store.getEpisode(id))?.planGeneration, 6, "the episode's row keeps where its plan started");
  assert.equal((await store.getChunk(chunkId(id, 0)))?.generation, 6);
});
