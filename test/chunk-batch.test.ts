/**
 * store/chunk-batch.ts sends applyEvents' two statements to libSQL without drizzle's builder: its
 * rows must be exactly what drizzle's select maps, and its update must write the event columns of
 * each given row and nothing else, on a real libSQL file.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { asc, inArray } from "drizzle-orm";
import { chunks } from "../db/schema.ts";
import { readChunkRows, writeEventColumns } from "../orchestrator/store/chunk-batch.ts";
import { EVENT_COLUMNS } from "../orchestrator/store/chunk-event-effect.ts";
import { Database } from "../orchestrator/store/database.ts";
import { chunkId, EpisodeStore, type ChunkRow } from "../orchestrator/store/episode-store.ts";

async function plannedEpisode(t: { after: (fn: () => void) => void }): Promise<{ db: Database; ids: string[] }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-chunk-batch-"));
  const db = await Database.open(`file:${path.join(dir, "t.db")}`);
  t.after(() => {
    db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const store = new EpisodeStore(db);
  const id = "ep_batch";
  await store.createEpisode({ id, title: null, sourceKind: "upload", sourceUrl: null, uploadPath: null, chunkSeconds: 60, language: "en" });
  await store.transitionEpisode(id, "ingesting");
  const plan = [0, 1, 2].map((index) => ({
    index,
    startSample: index * 16_000,
    endSample: (index + 1) * 16_000 + 800,
    coreStartSample: index * 16_000,
    coreEndSample: (index + 1) * 16_000,
    reason: "bench",
  }));
  await store.recordPlan(id, plan, { durationSec: 3, sampleCount: 48_000 });
  // chunk 0 done with words, chunk 1 leased with a heartbeat, chunk 2 untouched (nulls)
  const base = (i: number) => ({ v: 1 as const, episodeId: id, chunkId: chunkId(id, i), attempt: 1, machineId: "m1", at: 1234 });
  await store.applyEvents(
    [
      { ...base(0), type: "claimed" },
      { ...base(0), type: "result", words: [{ text: "é😀", start: 0.5, end: 0.75 }], wordCount: 1, engine: "synthetic", processingMs: 7.6 },
      { ...base(1), type: "claimed", heartbeatMs: 5000 },
    ],
    3,
  );
  return { db, ids: [0, 1, 2].map((i) => chunkId(id, i)) };
}

async function drizzleRows(db: Database, ids: string[]): Promise<ChunkRow[]> {
  return db.db.select().from(chunks).where(inArray(chunks.id, ids)).orderBy(asc(chunks.index)).all();
}

test("readChunkRows maps rows exactly as drizzle's select does, nulls and key order included", async (t) => {
  const { db, ids } = await plannedEpisode(t);
  const tx = await db.client.transaction("read");
  try {
    const rows = (await readChunkRows(tx, [...ids, "ep_batch-c9999"])).sort((a, b) => a.index - b.index);
    const expected = await drizzleRows(db, ids);
    assert.equal(rows.length, 3, "a missing id is simply absent");
    assert.deepEqual(rows, expected);
    assert.deepEqual(
      rows.map((r) => Object.keys(r)),
      expected.map((r) => Object.keys(r)),
    );
    assert.equal(rows[0]!.resultWords, '[{"text":"é😀","start":0.5,"end":0.75}]');
    assert.deepEqual(await readChunkRows(tx, []), []);
  } finally {
    tx.close();
  }
});

test("writeEventColumns writes each row's event columns and leaves every other column alone", async (t) => {
  const { db, ids } = await plannedEpisode(t);
  const before = await drizzleRows(db, ids);
  // new values for every event column of chunks 1 and 2 (nulls to values and back), and other columns changed too
  const changed: ChunkRow[] = [before[1]!, before[2]!].map((row, k) => ({
    ...row,
    state: k === 0 ? "done" : "failed",
    generation: 3 + k,
    attempt: 2,
    leaseOwner: k === 0 ? null : "m9",
    leasedAt: 99 + k,
    heartbeatAt: k === 0 ? null : 5,
    lastError: k === 0 ? null : 'engine_error: it\'s "broken"',
    resultObject: k === 0 ? "obj/x" : null,
    resultWords: k === 0 ? null : "[]",
    wordCount: 10 + k,
    processingMs: 20 + k,
    doneAt: 30 + k,
    updatedAt: 40 + k,
    // not event columns: must not be written
    startSample: 1,
    machineLosses: 7,
    createdAt: 1,
  }));
  const tx = await db.client.transaction("write");
  try {
    await writeEventColumns(tx, changed);
    await tx.commit();
  } finally {
    tx.close();
  }
  const after = await drizzleRows(db, ids);
  assert.deepEqual(after[0], before[0], "a row not given is untouched");
  for (const k of [0, 1]) {
    const expected: Record<string, unknown> = { ...before[k + 1]! };
    for (const c of EVENT_COLUMNS) expected[c] = changed[k]![c];
    assert.deepEqual(after[k + 1], expected, `chunk ${k + 1}`);
  }
});
