/**
 * Reading a finished chunk's words back for a stitch (transcript/chunk-words.ts): words kept in the
 * chunk row were validated when their result event arrived, so they are read with JSON.parse and a
 * shape check; a row that is not a word list (damaged, or written by hand) is a StoredWordsError
 * naming the chunk and what is wrong, and words in a results object come through the queue's port.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import type { ChunkTranscript, Word } from "../contract/wire.ts";
import { Database } from "../orchestrator/store/database.ts";
import { chunkId, EpisodeStore } from "../orchestrator/store/episode-store.ts";
import { AcceptedWords, StoredWordsError, chunkWords, type ChunkResults } from "../orchestrator/transcript/chunk-words.ts";
import { chunks } from "../db/schema.ts";
import { eq } from "drizzle-orm";

/** A results port that has no objects: the stored-words path must never ask it. */
const noObjects: ChunkResults = {
  getChunkTranscript: (name) => Promise.reject(new Error(`asked for result object ${name}`)),
};

test("words kept in a chunk row by a result event read back exactly as the worker sent them", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-chunk-words-"));
  const db = await Database.open(`file:${path.join(dir, "t.db")}`);
  t.after(() => {
    db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const store = new EpisodeStore(db);
  const id = "ep_words";
  await store.createEpisode({ id, title: null, sourceKind: "upload", sourceUrl: null, uploadPath: null, chunkSeconds: 60, language: "en" });
  await store.transitionEpisode(id, "ingesting");
  await store.recordPlan(id, [{ index: 0, startSample: 0, endSample: 16_000, reason: "end" }], { durationSec: 1, sampleCount: 16_000 });
  const words: Word[] = [
    { text: "Hello", start: 0, end: 0.25, confidence: 0.5 },
    { text: "wörld 😀", start: 0.3, end: 0.3 },
    { text: ".", start: 0.31, end: 0.32, confidence: 1 },
  ];
  const base = { v: 1 as const, episodeId: id, chunkId: chunkId(id, 0), attempt: 1, machineId: "m1", at: Date.now() };
  await store.applyEvents(
    [
      { ...base, type: "claimed" },
      { ...base, type: "result", words, wordCount: words.length, engine: "synthetic", processingMs: 1 },
    ],
    3,
  );
  const row = (await store.getChunk(chunkId(id, 0)))!;
  assert.equal(row.state, "done");
  assert.deepEqual(await chunkWords(row, noObjects), words);
});

test("a stored row that is not a word list is a StoredWordsError naming the chunk and the problem", async () => {
  const cases: Array<[string, string, RegExp]> = [
    ["not JSON", "[{", /chunk ep_x-0003's stored words are not JSON/],
    ["not an array", '{"text":"a","start":0,"end":1}', /malformed.*expected array/s],
    ["a word without text", '[{"start":0,"end":1}]', /malformed.*text/s],
    ["empty text", '[{"text":"","start":0,"end":1}]', /malformed.*text/s],
    ["a negative start", '[{"text":"a","start":-1,"end":1}]', /malformed.*start/s],
    ["an end that is a string", '[{"text":"a","start":0,"end":"1"}]', /malformed.*end/s],
    ["an end past any number", '[{"text":"a","start":0,"end":1e999}]', /malformed.*end/s],
    ["a confidence above 1", '[{"text":"a","start":0,"end":1,"confidence":2}]', /malformed.*confidence/s],
    ["null in the list", '[{"text":"a","start":0,"end":1},null]', /malformed/],
  ];
  for (const [what, stored, message] of cases) {
    await assert.rejects(
      chunkWords({ id: "ep_x-0003", resultWords: stored, resultObject: null }, noObjects),
      (err: unknown) => err instanceof StoredWordsError && message.test(err.message) && err.message.includes("ep_x-0003"),
      what,
    );
  }
});

test("a chunk whose words are a results object reads them through the port; one with neither has no result", async () => {
  const asked: string[] = [];
  const transcript: ChunkTranscript = { v: 1, chunkId: "ep_x-0001", attempt: 2, engine: "synthetic", words: [{ text: "big", start: 1, end: 2 }] };
  const results: ChunkResults = {
    getChunkTranscript: (name) => {
      asked.push(name);
      return Promise.resolve(transcript);
    },
  };
  assert.deepEqual(await chunkWords({ id: "ep_x-0001", resultWords: null, resultObject: "ep_x-0001/n/attempt-2.json" }, results), transcript.words);
  assert.deepEqual(asked, ["ep_x-0001/n/attempt-2.json"]);
  await assert.rejects(chunkWords({ id: "ep_x-0002", resultWords: null, resultObject: null }, results), /chunk ep_x-0002 has no result/);
});

test("a stitch in the accepting process takes the words its events carried, only while the row still holds them", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-chunk-words-"));
  const db = await Database.open(`file:${path.join(dir, "t.db")}`);
  t.after(() => {
    db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const store = new EpisodeStore(db);
  const id = "ep_kept";
  await store.createEpisode({ id, title: null, sourceKind: "upload", sourceUrl: null, uploadPath: null, chunkSeconds: 60, language: "en" });
  await store.transitionEpisode(id, "ingesting");
  const plan = [0, 1].map((index) => ({ index, startSample: index * 16_000, endSample: (index + 1) * 16_000, reason: "end" }));
  await store.recordPlan(id, plan, { durationSec: 2, sampleCount: 32_000 });
  const sent = [0, 1].map((i) => [{ text: `chunk${i}`, start: 0.1, end: 0.4, confidence: 0.5 }]);
  for (const i of [0, 1]) {
    const base = { v: 1 as const, episodeId: id, chunkId: chunkId(id, i), attempt: 1, machineId: "m1", at: Date.now() };
    await store.applyEvents(
      [
        { ...base, type: "claimed" },
        { ...base, type: "result", words: sent[i]!, wordCount: 1, engine: "synthetic", processingMs: 1 },
      ],
      3,
    );
  }
  assert.equal(store.acceptedWords.size, 2);
  // chunk 0: the row holds what this process wrote, so the event's own array comes back (not a parse of the row)
  const row0 = (await store.getChunk(chunkId(id, 0)))!;
  assert.equal(await chunkWords(row0, noObjects, store.acceptedWords), sent[0]);
  // taken once: a second read parses the row, to equal words in a new array
  const again = await chunkWords(row0, noObjects, store.acceptedWords);
  assert.notEqual(again, sent[0]);
  assert.deepEqual(again, sent[0]);
  // chunk 1: another writer (another orchestrator, a later attempt) changed the row since: the row wins
  const other = [{ text: "other", start: 0.2, end: 0.3 }];
  await db.write((d) =>
    d
      .update(chunks)
      .set({ resultWords: JSON.stringify(other) })
      .where(eq(chunks.id, chunkId(id, 1))),
  );
  const row1 = (await store.getChunk(chunkId(id, 1)))!;
  assert.deepEqual(await chunkWords(row1, noObjects, store.acceptedWords), other);
  assert.equal(store.acceptedWords.size, 0);
});

test("kept words are bounded by a word count, the oldest dropped first", () => {
  const kept = new AcceptedWords(5);
  const words = (n: number) => Array.from({ length: n }, (_, i) => ({ text: `w${i}`, start: i, end: i + 0.5 }));
  const a = words(2);
  const b = words(2);
  const c = words(2);
  kept.remember("a", "A", a);
  kept.remember("b", "B", b);
  kept.remember("c", "C", c); // 6 words > 5: "a" goes
  assert.equal(kept.size, 2);
  assert.equal(kept.take("a", "A"), undefined);
  assert.equal(kept.take("b", "B"), b);
  kept.remember("big", "BIG", words(6)); // larger than the bound: not kept, and nothing else dropped for it
  assert.equal(kept.take("big", "BIG"), undefined);
  assert.equal(kept.take("c", "C"), c);
  kept.remember("c", "C1", c);
  kept.remember("c", "C2", b); // a newer result of the same chunk replaces the entry
  assert.equal(kept.take("c", "C1"), undefined);
  assert.equal(kept.size, 0);
});
