/**
 * parseWorkerEvent (contract/worker-event.ts) must be WorkerEvent.parse exactly: same output, key
 * order included (the store keeps JSON.stringify of the words), and the same errors, on valid
 * events and on every kind of bad word the schema rejects or reshapes.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseWorkerEvent } from "../contract/worker-event.ts";
import { WorkerEvent } from "../contract/wire.ts";

/** A small seeded generator, so a failure repeats. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const base = { v: 1, episodeId: "ep_a", chunkId: "ep_a-0001", attempt: 1, machineId: "m1", at: 5 };
const result = (words: unknown): Record<string, unknown> => ({
  ...base,
  type: "result",
  words,
  wordCount: 2,
  engine: "whisper",
  processingMs: 12.5,
});

/** What the schema says about `value`: its output as JSON (key order shows), or its error message. */
function outcome(parse: (v: unknown) => unknown, value: unknown): { json?: string; error?: string } {
  try {
    return { json: JSON.stringify(parse(value)) };
  } catch (err) {
    return { error: `${(err as Error).name}: ${(err as Error).message}` };
  }
}

function assertSame(value: unknown, why: string): void {
  assert.deepEqual(
    outcome(parseWorkerEvent, value),
    outcome((v) => WorkerEvent.parse(v), value),
    why,
  );
}

test("valid results come out as the schema outputs them, extra keys dropped and key order the schema's", () => {
  const words = [
    { end: 0.5, start: 0, text: "Hello", confidence: 0.25 },
    { text: "wörld 😀", start: 0.6, end: 0.9, speaker: "A", extra: { nested: true } },
    { text: ".", start: 1, end: 1, confidence: 1 },
    { confidence: 0, text: "x", start: -0, end: 2 },
  ];
  const parsed = parseWorkerEvent({ ...result(words), unknownTop: 1 });
  assert.equal(
    JSON.stringify(parsed.type === "result" && parsed.words),
    '[{"text":"Hello","start":0,"end":0.5,"confidence":0.25},{"text":"wörld 😀","start":0.6,"end":0.9},' +
      '{"text":".","start":1,"end":1,"confidence":1},{"text":"x","start":0,"end":2,"confidence":0}]',
  );
  assertSame(result(words), "mixed words");
  assertSame(result([]), "no words");
});

test("every word the schema rejects is rejected with the schema's own error", () => {
  const bad: Array<[string, unknown]> = [
    ["no text", { start: 0, end: 1 }],
    ["empty text", { text: "", start: 0, end: 1 }],
    ["text a number", { text: 5, start: 0, end: 1 }],
    ["negative start", { text: "a", start: -0.001, end: 1 }],
    ["start a string", { text: "a", start: "0", end: 1 }],
    ["end missing", { text: "a", start: 0 }],
    ["end infinite", { text: "a", start: 0, end: Infinity }],
    ["end NaN", { text: "a", start: 0, end: Number.NaN }],
    ["confidence over 1", { text: "a", start: 0, end: 1, confidence: 1.0001 }],
    ["confidence negative", { text: "a", start: 0, end: 1, confidence: -1 }],
    ["confidence a string", { text: "a", start: 0, end: 1, confidence: "high" }],
    ["confidence null", { text: "a", start: 0, end: 1, confidence: null }],
    ["a word that is null", null],
    ["a word that is an array", ["a", 0, 1]],
    ["a word that is a string", "a"],
  ];
  for (const [why, word] of bad) {
    const value = result([{ text: "ok", start: 0, end: 1 }, word]);
    assert.ok(outcome(parseWorkerEvent, value).error, `${why}: rejected`);
    assertSame(value, why);
  }
  // present-but-undefined confidence (not from JSON): the schema decides
  assertSame(result([{ text: "a", start: 0, end: 1, confidence: undefined }]), "undefined confidence");
  // words that are not a list, a result with both or neither of words and resultObject, other event types
  assertSame(result("words"), "words a string");
  assertSame({ ...result([]), resultObject: "o" }, "both words and resultObject");
  assertSame({ ...result([]), words: undefined }, "neither");
  assertSame({ ...result([{ text: "a", start: 0, end: 1 }]), type: "claimed" }, "a claim with words");
  assertSame({ ...result([{ text: "a", start: 0, end: 1 }]), attempt: 0 }, "bad envelope, good words");
  assertSame(null, "null");
  assertSame([result([])], "an array");
});

test("random word lists: parseWorkerEvent and WorkerEvent.parse agree on 2,000 of them", () => {
  const next = rng(15);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
  const numbers = [0, -0, 0.3, 1, 1.5, 59.99, -1, Infinity, Number.NaN, "1", null, undefined];
  const texts = ["a", "word", "", " ", "😀", 7, null, undefined];
  let rejected = 0;
  for (let n = 0; n < 2000; n++) {
    const words = Array.from({ length: Math.floor(next() * 6) }, () => {
      const w: Record<string, unknown> = {};
      // mostly valid words, so that lists of several pass; each field sometimes odd or missing
      if (next() < 0.97) w.text = next() < 0.9 ? "w" : pick(texts);
      if (next() < 0.97) w.start = next() < 0.9 ? next() * 60 : pick(numbers);
      if (next() < 0.97) w.end = next() < 0.9 ? next() * 60 : pick(numbers);
      if (next() < 0.5) w.confidence = next() < 0.8 ? next() : pick(numbers);
      if (next() < 0.1) w.speaker = "S";
      return w;
    });
    const value = result(words);
    if (outcome(parseWorkerEvent, value).error) rejected += 1;
    assertSame(value, `case ${n}: ${JSON.stringify(words)}`);
  }
  // both kinds were exercised
  assert.ok(rejected > 100 && rejected < 1900, `rejected ${rejected} of 2000`);
});
