/**
 * The chunk attempt log (dashboard timeline) on a real libSQL file, fed by the store's own
 * transition events: the transitions of one pull batch are recorded together, and each attempt's
 * row still opens with its claim and closes with its outcome, a second claim superseding the first.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import type { ChunkEvent } from "../contract/wire.ts";
import { ChunkAttemptLog } from "../orchestrator/dashboard/chunk-attempt-log.ts";
import { createLogger } from "../orchestrator/log.ts";
import { Database } from "../orchestrator/store/database.ts";
import { chunkId, EpisodeStore } from "../orchestrator/store/episode-store.ts";
import { until } from "./support/until.ts";
import { createUrlEpisode } from "./support/url-episode.ts";

test("a batch's transitions are logged as attempts: opened by claims, closed by outcomes, superseded by a newer claim", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-attempts-"));
  const database = await Database.open(`file:${path.join(dir, "t.db")}`);
  const attempts = new ChunkAttemptLog(database, createLogger("silent"));
  const unfollow = attempts.follow(database.events);
  t.after(() => {
    unfollow();
    database.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const store = new EpisodeStore(database);
  const ep = await createUrlEpisode(store, "ep_attempts");
  await store.transitionEpisode(ep, "ingesting");
  const span = (index: number) => ({ index, startSample: index * 100, endSample: (index + 1) * 100, reason: "t" });
  await store.recordPlan(ep, [span(0), span(1)], { durationSec: 200 / 16000, sampleCount: 200 });

  const at = Date.now();
  const base = (index: number, attempt: number, machineId: string) => ({
    v: 1 as const,
    episodeId: ep,
    chunkId: chunkId(ep, index),
    attempt,
    machineId,
    at,
  });
  const result = (index: number, attempt: number, machineId: string): ChunkEvent => ({
    ...base(index, attempt, machineId),
    type: "result",
    words: [{ text: "hello", start: 0, end: 0.5 }],
    wordCount: 1,
    engine: "synthetic",
    processingMs: 5,
  });
  // one pull batch: chunk 0 claimed and done; chunk 1 claimed by m1, then its redelivery claimed by m2
  await store.applyEvents(
    [
      { ...base(0, 1, "m1"), type: "claimed" },
      result(0, 1, "m1"),
      { ...base(1, 1, "m1"), type: "claimed" },
      { ...base(1, 2, "m2"), type: "claimed" },
    ],
    3,
  );
  // the next batch: m2 fails chunk 1 for now (transient: back to the queue)
  await store.applyEvents([{ ...base(1, 2, "m2"), type: "failed", code: "transient", permanent: false, message: "engine busy" }], 3);

  const rows = await until("every attempt closed", async () => {
    const all = await attempts.forEpisode(ep);
    return all.length === 3 && all.every((r) => r.outcome !== "running") ? all : undefined;
  });
  const byChunk = (index: number) => rows.filter((r) => r.chunkIndex === index).map((r) => [r.machineId, r.attempt, r.outcome, r.error]);
  assert.deepEqual(byChunk(0), [["m1", 1, "done", null]]);
  assert.deepEqual(byChunk(1), [
    ["m1", 1, "superseded", null],
    ["m2", 2, "requeued", "transient: engine busy"],
  ]);
  assert.ok(rows.every((r) => r.endedAt !== null && r.endedAt >= r.startedAt));
});
