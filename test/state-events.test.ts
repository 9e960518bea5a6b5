/**
 * State events on a real libSQL file: every episode, chunk and machine state change is announced
 * after its commit (a listener reading the row sees the new state), in commit order, once; a
 * change the lifecycle refuses, or a write the database refuses, throws and announces nothing;
 * a change that does not happen (a duplicate or stale worker event) announces nothing; a listener
 * that throws never reaches the writer. Feed polls are announced once recorded.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test, type TestContext } from "node:test";
import type { ChunkClaimed, ChunkResult } from "../contract/wire.ts";
import { IllegalTransitionError } from "../orchestrator/episodes/lifecycle.ts";
import { machineTransition } from "../orchestrator/events/state-transitions.ts";
import { FeedStore } from "../orchestrator/feeds/feed-store.ts";
import type { Machine } from "../orchestrator/fleet/machine.ts";
import { MachineRegistry } from "../orchestrator/fleet/machine-registry.ts";
import { Database } from "../orchestrator/store/database.ts";
import { chunkId, EpisodeStore } from "../orchestrator/store/episode-store.ts";
import { watchEvents } from "./support/state-events.ts";

async function openDatabase(t: TestContext): Promise<Database> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-events-"));
  const db = await Database.open(`file:${path.join(dir, "t.db")}`);
  t.after(() => {
    db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return db;
}

const newEpisode = {
  title: null,
  sourceKind: "url" as const,
  sourceUrl: "https://example.com/a.mp3",
  uploadPath: null,
  chunkSeconds: 30,
  language: "en",
};
const plan = [0, 1, 2].map((i) => ({ index: i, startSample: i * 100, endSample: (i + 1) * 100, reason: "t" }));
const claim = (ep: string, index: number, attempt: number, machineId: string): ChunkClaimed => ({
  v: 1,
  type: "claimed",
  episodeId: ep,
  chunkId: chunkId(ep, index),
  attempt,
  machineId,
  at: Date.now(),
});
const result = (ep: string, index: number, attempt: number, machineId: string): ChunkResult => ({
  ...claim(ep, index, attempt, machineId),
  type: "result",
  resultObject: `${chunkId(ep, index)}/attempt-${attempt}.json`,
  wordCount: 3,
  engine: "pocketsphinx",
  processingMs: 10,
});

test("episode and chunk transitions are announced after commit, in order, and only when they happen", async (t) => {
  const db = await openDatabase(t);
  const store = new EpisodeStore(db);
  const watch = watchEvents(t, db.events);
  // what a listener reads from the database the moment each event arrives
  const seenByListener: Array<Promise<string | undefined>> = [];
  db.events.on("episode:transition", (e) => void seenByListener.push(store.getEpisode(e.episodeId).then((r) => r?.status)));
  db.events.on("chunk:transition", (e) => void seenByListener.push(store.getChunk(e.chunkId).then((r) => r?.state)));

  await store.createEpisode({ id: "ep_a", ...newEpisode });
  await store.transitionEpisode("ep_a", "ingesting");
  await store.recordPlan("ep_a", plan, { durationSec: 300 / 16000, sampleCount: 300 });
  assert.deepEqual(
    watch.seen.map((e) =>
      e.type === "episode:transition" ? `ep ${e.from}→${e.to}` : e.type === "chunk:transition" ? `c${e.index} ${e.from}→${e.to}` : e.type,
    ),
    ["ep null→received", "ep received→ingesting", "ep ingesting→transcribing", "c0 null→queued", "c1 null→queued", "c2 null→queued"],
  );

  assert.equal(await store.applyClaim(claim("ep_a", 0, 1, "m1")), "accepted");
  assert.equal(await store.applyClaim(claim("ep_a", 0, 1, "m1")), "duplicate");
  assert.equal(await store.applyResult(result("ep_a", 0, 1, "m2")), "stale", "only the lease holder's result counts");
  assert.equal(await store.applyResult(result("ep_a", 0, 1, "m1")), "accepted");
  assert.equal(await store.applyResult(result("ep_a", 0, 1, "m1")), "duplicate");
  const chunk0 = watch.all("chunk:transition", (e) => e.index === 0 && e.from !== null);
  assert.deepEqual(
    chunk0.map((e) => [e.from, e.to, e.machineId, e.attempt]),
    [
      ["queued", "leased", "m1", 1],
      ["leased", "done", "m1", 1],
    ],
    "one event per change that happened; duplicates and stale results announce nothing",
  );

  const before = watch.seen.length;
  await assert.rejects(store.transitionEpisode("ep_a", "done"), IllegalTransitionError, "transcribing → done skips stitching");
  await assert.rejects(store.createEpisode({ id: "ep_a", ...newEpisode }), "a second episode with the same id is refused by the database");
  assert.equal(watch.seen.length, before, "a refused change announces nothing");
  assert.equal((await store.getEpisode("ep_a"))?.status, "transcribing");

  const cancelled = await store.cancelEpisode("ep_a");
  assert.equal(cancelled.outcome, "cancelled");
  assert.deepEqual(
    watch.seen
      .slice(before)
      .map((e) =>
        e.type === "episode:transition"
          ? `ep ${e.from}→${e.to} ${e.error}`
          : e.type === "chunk:transition"
            ? `c${e.index} ${e.from}→${e.to}`
            : e.type,
      ),
    ["ep transcribing→cancelled cancelled by an operator", "c1 queued→cancelled", "c2 queued→cancelled"],
  );
  await assert.rejects(store.transitionEpisode("ep_a", "done"), IllegalTransitionError);
  assert.equal(watch.seen.length, before + 3);

  // every listener read the state its event announced: the change was committed before the event
  const states = await Promise.all(seenByListener);
  const announced = watch.seen.map((e) => (e.type === "episode:transition" || e.type === "chunk:transition" ? e.to : undefined));
  assert.deepEqual(states.slice(0, 3), announced.slice(0, 3));
  for (const [i, e] of watch.seen.entries()) {
    if (e.type === "chunk:transition" && e.from === null) assert.equal(states[i], "queued");
  }
  assert.equal(states.at(-1), "cancelled");
});

test("concurrent writers: events arrive in commit order, each after its own commit", async (t) => {
  const db = await openDatabase(t);
  const store = new EpisodeStore(db);
  const watch = watchEvents(t, db.events);
  const ids = Array.from({ length: 20 }, (_, i) => `ep_${String(i).padStart(2, "0")}`);
  await Promise.all(ids.map((id) => store.createEpisode({ id, ...newEpisode })));
  await Promise.all(ids.map((id) => store.transitionEpisode(id, "ingesting")));
  const order = watch.all("episode:transition").map((e) => `${e.episodeId}:${e.to}`);
  assert.deepEqual(order, [...ids.map((id) => `${id}:received`), ...ids.map((id) => `${id}:ingesting`)]);
  const rows = await Promise.all(ids.map((id) => store.getEpisode(id)));
  assert.deepEqual(
    watch.all("episode:transition", (e) => e.to === "ingesting").map((e) => e.at),
    rows.map((r) => r!.updatedAt),
    "each event carries its commit's time",
  );
});

test("a listener that throws, or rejects, is reported and never reaches the writer", async (t) => {
  const db = await openDatabase(t);
  const store = new EpisodeStore(db);
  const reported: string[] = [];
  db.events.setErrorHandler((err, e) => reported.push(`${e.type}: ${(err as Error).message}`));
  db.events.on("episode:transition", () => {
    throw new Error("listener bug");
  });
  db.events.onAny(async () => {
    throw new Error("async listener bug");
  });
  const watch = watchEvents(t, db.events);
  await store.createEpisode({ id: "ep_l", ...newEpisode });
  const moved = await store.transitionEpisode("ep_l", "ingesting");
  assert.equal(moved.status, "ingesting");
  await watch.episode("ep_l", "ingesting", { timeoutMs: 1000 });
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(reported.sort(), [
    "episode:transition: async listener bug",
    "episode:transition: async listener bug",
    "episode:transition: listener bug",
    "episode:transition: listener bug",
  ]);
});

test("machine transitions: created, observed, ended, announced after commit; a destroyed machine never comes back", async (t) => {
  const db = await openDatabase(t);
  const registry = new MachineRegistry(db);
  const watch = watchEvents(t, db.events);
  const now = new Date().toISOString();
  const m: Machine = {
    id: "m_1",
    name: "m_1",
    state: "created",
    region: "local",
    instance_id: "i",
    private_ip: "::1",
    created_at: now,
    updated_at: now,
  };
  await registry.recordCreated(m, "fleet", false, "backlog");
  await registry.recordCreated(m, "fleet", false, "backlog");
  await registry.observe([{ ...m, state: "started" }]);
  await registry.observe([{ ...m, state: "started" }]);
  await registry.markEnded("m_1", "destroy", "idle");
  await registry.observe([{ ...m, state: "started" }]);
  assert.deepEqual(
    watch.all("machine:transition").map((e) => `${e.from}→${e.to} ${e.kind} ${e.reason}`),
    ["null→created create backlog", "created→started state null", "started→destroyed destroy idle"],
  );
  const rows = await registry.recent();
  assert.equal(rows[0]?.state, "destroyed");
  assert.throws(() => machineTransition("m_1", "destroyed", "started", Date.now(), "state"), IllegalTransitionError);
});

test("a recorded feed poll is announced with its outcome and next poll", async (t) => {
  const db = await openDatabase(t);
  const feeds = new FeedStore(db);
  const watch = watchEvents(t, db.events);
  const now = Date.now();
  const feed = await feeds.add({ url: "https://example.com/feed.xml", intervalSec: 3600, backfill: 0, retranscribe: false, callbackUrl: null }, now);
  await feeds.recordPoll(
    feed.id,
    { lastPolledAt: now, errorCount: 1, lastError: "HTTP 503", lastStatus: "503", nextPollAt: now + 60_000 },
    [],
    now,
    "error",
  );
  await feeds.recordPoll(
    feed.id,
    { lastPolledAt: now + 1, errorCount: 0, lastError: null, lastStatus: "304", nextPollAt: now + 3_600_000 },
    [],
    now + 1,
    "not_modified",
  );
  assert.deepEqual(
    watch.all("feed:poll").map((e) => [e.feedId, e.outcome, e.error, e.nextPollAt, e.newItems]),
    [
      [feed.id, "error", "HTTP 503", now + 60_000, 0],
      [feed.id, "not_modified", null, now + 3_600_000, 0],
    ],
  );
  assert.equal((await feeds.get(feed.id))?.lastStatus, "304", "announced after it was recorded");
});
