/**
 * Context padding (ingest/chunk-context.ts) and stitching by core (transcript/stitch.ts): the
 * padded span is clamped to the episode, a padded plan's cores tile the episode, and over many
 * generated episodes, with words straddling core boundaries and chunks that hear fragments of
 * words at their audio edges, stitching keeps every word exactly once.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Word } from "../contract/wire.ts";
import { coreSides, padCores, paddedSpan, padPlan } from "../orchestrator/ingest/chunk-context.ts";
import type { PlannedChunk } from "../orchestrator/store/episode-store.ts";
import { StitchError, stitchChunks, type StitchChunk } from "../orchestrator/transcript/stitch.ts";

const RATE = 16_000;

/** mulberry32: a seeded generator, so a failing case can be replayed from its seed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe("paddedSpan", () => {
  test("widens the core by the padding on both sides", () => {
    assert.deepEqual(paddedSpan({ start: 100_000, end: 200_000 }, 32_000, 1_000_000), { start: 68_000, end: 232_000 });
  });

  test("clamps at the episode's start and end", () => {
    assert.deepEqual(paddedSpan({ start: 0, end: 50_000 }, 32_000, 60_000), { start: 0, end: 60_000 });
    assert.deepEqual(paddedSpan({ start: 10_000, end: 50_000 }, 32_000, 70_000), { start: 0, end: 70_000 });
    assert.deepEqual(paddedSpan({ start: 40_000, end: 70_000 }, 32_000, 70_000), { start: 8_000, end: 70_000 });
  });

  test("pads the two sides by their own amounts", () => {
    assert.deepEqual(paddedSpan({ start: 100_000, end: 200_000 }, { before: 64_000, after: 0 }, 1_000_000), { start: 36_000, end: 200_000 });
    assert.deepEqual(paddedSpan({ start: 100_000, end: 200_000 }, { before: 8_000, after: 16_000 }, 210_000), { start: 92_000, end: 210_000 });
    assert.throws(() => paddedSpan({ start: 0, end: 10 }, { before: 1, after: -1 }, 100), RangeError);
  });

  test("zero padding leaves the core as it is", () => {
    assert.deepEqual(paddedSpan({ start: 5, end: 9 }, 0, 10), { start: 5, end: 9 });
  });

  test("refuses an empty core, a core outside the episode and a negative or fractional padding", () => {
    assert.throws(() => paddedSpan({ start: 5, end: 5 }, 10, 100), RangeError);
    assert.throws(() => paddedSpan({ start: 50, end: 101 }, 10, 100), RangeError);
    assert.throws(() => paddedSpan({ start: -1, end: 10 }, 10, 100), RangeError);
    assert.throws(() => paddedSpan({ start: 0, end: 10 }, -1, 100), RangeError);
    assert.throws(() => paddedSpan({ start: 0, end: 10 }, 1.5, 100), RangeError);
  });
});

describe("padPlan", () => {
  const tiled: PlannedChunk[] = [
    { index: 0, startSample: 0, endSample: 480_000, reason: "a" },
    { index: 1, startSample: 480_000, endSample: 950_000, reason: "b" },
    { index: 2, startSample: 950_000, endSample: 1_000_000, reason: "c" },
  ];

  test("keeps each cut as the core and widens the audio, clamped", () => {
    const plan = padPlan(tiled, 2, 1_000_000, RATE);
    assert.deepEqual(
      plan.map((c) => [c.startSample, c.endSample, c.coreStartSample, c.coreEndSample]),
      [
        [0, 512_000, 0, 480_000],
        [448_000, 982_000, 480_000, 950_000],
        [918_000, 1_000_000, 950_000, 1_000_000],
      ],
    );
    assert.deepEqual(
      plan.map((c) => c.reason),
      ["a", "b", "c"],
    );
  });

  test("pads before and after each core by their own amounts", () => {
    const plan = padPlan(tiled, { before: 4, after: 0.5 }, 1_000_000, RATE);
    assert.deepEqual(
      plan.map((c) => [c.startSample, c.endSample, c.coreStartSample, c.coreEndSample]),
      [
        [0, 488_000, 0, 480_000],
        [416_000, 958_000, 480_000, 950_000],
        [886_000, 1_000_000, 950_000, 1_000_000],
      ],
    );
    assert.throws(() => padPlan(tiled, { before: 2, after: Number.NaN }, 1_000_000, RATE), RangeError);
  });

  test("refuses a plan whose chunks overlap, leave a gap or stop short", () => {
    const overlapping = [tiled[0]!, { ...tiled[1]!, startSample: 470_000 }, tiled[2]!];
    assert.throws(() => padPlan(overlapping, 2, 1_000_000, RATE), /starts at sample 470000, not 480000/);
    assert.throws(() => padPlan(tiled, 2, 1_100_000, RATE), /not at the episode's end/);
    assert.throws(() => padPlan(tiled, -1, 1_000_000, RATE), RangeError);
  });
});

/** An episode of words: lengths 0.1-1.2 s, gaps of 0 to 0.3 s (a quarter of them none), on a 1 ms grid. */
function generateWords(rand: () => number, totalSec: number): Array<{ text: string; start: number; end: number }> {
  const words = [];
  let t = 0.2 + Math.round(rand() * 500) / 1000;
  while (true) {
    const len = Math.round((0.1 + rand() * 1.1) * 1000) / 1000;
    if (t + len > totalSec - 0.1) break;
    words.push({ text: `w${words.length}`, start: t, end: t + len });
    t = Math.round((t + len + (rand() < 0.25 ? 0 : rand() * 0.3)) * 1000) / 1000;
  }
  return words;
}

/** Cuts every ~`chunkSec`, half of them placed exactly on a word's midpoint or edge, or inside it. */
function generateCores(rand: () => number, words: ReadonlyArray<{ start: number; end: number }>, total: number, chunkSec: number): PlannedChunk[] {
  const cuts: number[] = [];
  let target = chunkSec;
  while (target * RATE < total - RATE) {
    const near = words.find((w) => w.end >= target);
    let at = target;
    if (near && rand() < 0.5) {
      const where = rand();
      at =
        where < 0.4 ? (near.start + near.end) / 2 : where < 0.6 ? near.start : where < 0.8 ? near.end : near.start + rand() * (near.end - near.start);
    }
    const sample = Math.round(at * RATE);
    if (sample > (cuts.at(-1) ?? 0) && sample < total) cuts.push(sample);
    target += chunkSec * (0.6 + rand() * 0.8);
  }
  const bounds = [0, ...cuts, total];
  return bounds.slice(1).map((end, i) => ({ index: i, startSample: bounds[i]!, endSample: end, reason: "generated" }));
}

/**
 * What a recogniser hears in [startSample, endSample): every word that overlaps it, times relative
 * to the chunk; a word cut by the audio's edge comes back as the fragment that is inside.
 */
function hear(words: ReadonlyArray<{ text: string; start: number; end: number }>, c: PlannedChunk): Word[] {
  const a = c.startSample / RATE;
  const b = c.endSample / RATE;
  return words.filter((w) => w.start < b && w.end > a).map((w) => ({ text: w.text, start: Math.max(w.start, a) - a, end: Math.min(w.end, b) - a }));
}

describe("stitching padded chunks", () => {
  test("keeps every word exactly once, in order, with its own times (300 generated episodes)", () => {
    let straddling = 0;
    for (let seed = 1; seed <= 300; seed++) {
      const rand = random(seed);
      const totalSec = 20 + rand() * 180;
      const total = Math.round(totalSec * RATE);
      const words = generateWords(rand, totalSec);
      const cores = generateCores(rand, words, total, 3 + rand() * 40);
      // Padding at least half the longest word (0.6 s): a fragment at an audio edge then has its midpoint in the padding.
      const pad = 0.6 + rand() * 2.4;
      const plan = padPlan(cores, pad, total, RATE);
      straddling += cores.slice(1).filter((c) => words.some((w) => w.start * RATE < c.startSample && c.startSample < w.end * RATE)).length;
      const chunks: StitchChunk[] = plan.map((c) => ({ ...c, words: hear(words, c) }));
      const out = stitchChunks(chunks.reverse(), RATE, { expectedChunks: plan.length });
      assert.deepEqual(
        out.map((w) => w.text),
        words.map((w) => w.text),
        `seed ${seed}: every word once, in order`,
      );
      out.forEach((w, i) => {
        assert.ok(Math.abs(w.start - words[i]!.start) < 1e-6 && Math.abs(w.end - words[i]!.end) < 1e-6, `seed ${seed}: ${w.text} keeps its times`);
      });
    }
    assert.ok(straddling > 300, `the generated plans cut through ${straddling} words`);
  });

  test("uneven padding, even none after a core, keeps every word once when cuts in speech are flagged (300 generated episodes)", () => {
    let inWord = 0;
    for (let seed = 1; seed <= 300; seed++) {
      const rand = random(seed);
      const totalSec = 20 + rand() * 180;
      const total = Math.round(totalSec * RATE);
      const words = generateWords(rand, totalSec);
      // flagged as the planner flags a cut that found no silence: here, a cut inside a word
      const speech = (at: number): boolean => words.some((w) => w.start * RATE < at && at < w.end * RATE);
      const cores = generateCores(rand, words, total, 3 + rand() * 40).map((c) => ({
        ...c,
        startsInSpeech: speech(c.startSample),
        endsInSpeech: speech(c.endSample),
      }));
      inWord += cores.filter((c) => c.endsInSpeech).length;
      // a third of the plans pad nothing after a core; before, at least half the longest word (0.6 s)
      const pad = { before: 0.6 + rand() * 5.4, after: rand() < 0.33 ? 0 : rand() * 3 };
      const plan = padCores(cores, pad, total, RATE);
      const out = stitchChunks(
        plan.map((c) => ({ ...c, words: hear(words, c) })),
        RATE,
        { expectedChunks: plan.length },
      );
      const where = `seed ${seed} (padding ${pad.before.toFixed(2)}/${pad.after.toFixed(2)} s)`;
      assert.deepEqual(
        out.map((w) => w.text),
        words.map((w) => w.text),
        `${where}: every word once, in order`,
      );
      out.forEach((w, i) =>
        assert.ok(Math.abs(w.start - words[i]!.start) < 1e-6 && Math.abs(w.end - words[i]!.end) < 1e-6, `${where}: ${w.text} whole`),
      );
    }
    assert.ok(inWord > 300, `the generated plans cut through ${inWord} words`);
  });

  test("a side cut in speech gets the larger padding; a side cut in silence its own", () => {
    const cores = [
      { index: 0, startSample: 0, endSample: 480_000, reason: "", startsInSpeech: false, endsInSpeech: true },
      { index: 1, startSample: 480_000, endSample: 960_000, reason: "", startsInSpeech: true, endsInSpeech: false },
      { index: 2, startSample: 960_000, endSample: 1_000_000, reason: "", startsInSpeech: false, endsInSpeech: false },
    ];
    assert.deepEqual(
      padCores(cores, { before: 3, after: 0 }, 1_000_000, RATE).map((c) => [c.startSample, c.endSample]),
      [
        [0, 528_000],
        [432_000, 960_000],
        [912_000, 1_000_000],
      ],
    );
    assert.deepEqual(coreSides({ startsInSpeech: true, endsInSpeech: false }, { before: 1, after: 2 }), { before: 2, after: 2 });
    // a padding of its own for sides cut in speech: none at silences, 2 s where a word may be cut
    assert.deepEqual(coreSides({ startsInSpeech: true, endsInSpeech: false }, { before: 0, after: 0, speech: 2 }), { before: 2, after: 0 });
    assert.deepEqual(
      padCores(cores, { before: 0, after: 0, speech: 2 }, 1_000_000, RATE).map((c) => [c.startSample, c.endSample]),
      [
        [0, 512_000],
        [448_000, 960_000],
        [960_000, 1_000_000],
      ],
    );
    assert.throws(() => padCores([{ ...cores[0]!, endSample: 400_000 }, cores[1]!, cores[2]!], 2, 1_000_000, RATE), /not 400000/);
  });

  test("a cut exactly at a word's midpoint gives the word to the later chunk, once", () => {
    const words = [
      { text: "a", start: 0.5, end: 1.5 },
      { text: "long", start: 1.6, end: 2.6 },
      { text: "b", start: 2.7, end: 3.2 },
    ];
    const total = 4 * RATE;
    const cores = [
      { index: 0, startSample: 0, endSample: 2.1 * RATE, reason: "" },
      { index: 1, startSample: 2.1 * RATE, endSample: total, reason: "" },
    ];
    const plan = padPlan(cores, 1, total, RATE);
    const chunks = plan.map((c) => ({ ...c, words: hear(words, c) }));
    assert.deepEqual(
      chunks.map((c) => c.words.map((w) => w.text)),
      [
        ["a", "long", "b"],
        ["a", "long", "b"],
      ],
      "both chunks hear all three words",
    );
    const out = stitchChunks(chunks, RATE);
    assert.deepEqual(
      out.map((w) => w.text),
      ["a", "long", "b"],
    );
    assert.equal(out[1]!.start, 1.6);
  });

  test("a word the cut goes through, timed a little differently by the two chunks, comes out once", () => {
    // Seen with pocketsphinx at 15 s: "the" at 123.74-123.81 s in the earlier chunk and 123.73-123.80 s in the later
    // one, the cut at 123.77 s. Each chunk put its midpoint on the other's side.
    const w = (text: string, start: number, end: number): Word => ({ text, start, end });
    const cut = 4 * RATE;
    const pair = (early: Word, late: Word): StitchChunk[] => [
      {
        index: 0,
        startSample: 0,
        endSample: 6 * RATE,
        coreStartSample: 0,
        coreEndSample: cut,
        words: [w("schools", 3.35, 3.73), early, w("next", 4.1, 4.4)],
      },
      // the later chunk's audio starts at 2 s: its times are 2 s less
      {
        index: 1,
        startSample: 2 * RATE,
        endSample: 8 * RATE,
        coreStartSample: cut,
        coreEndSample: 8 * RATE,
        words: [w("schools", 1.34, 1.72), { ...late, start: late.start - 2, end: late.end - 2 }, w("next", 2.1, 2.4)],
      },
    ];
    const texts = (chunks: StitchChunk[]): string[] => stitchChunks(chunks, RATE).map((x) => x.text);
    // dropped by both: the earlier chunk's copy is kept
    const lost = stitchChunks(pair(w("the", 3.98, 4.05), w("the", 3.96, 4.03)), RATE);
    assert.deepEqual(
      lost.map((x) => [x.text, x.start]),
      [
        ["schools", 3.35],
        ["the", 3.98],
        ["next", 4.1],
      ],
    );
    // kept by both: once, the earlier chunk's copy
    const twice = stitchChunks(pair(w("the", 3.96, 4.03), w("the", 3.98, 4.05)), RATE);
    assert.deepEqual(
      twice.map((x) => [x.text, x.start]),
      [
        ["schools", 3.35],
        ["the", 3.96],
        ["next", 4.1],
      ],
    );
    // the chunks agree: as before
    assert.deepEqual(texts(pair(w("the", 3.98, 4.05), w("the", 3.98, 4.05))), ["schools", "the", "next"]);
    // a different word on each side of the cut, overlapping: each kept by its own chunk, nothing added
    assert.deepEqual(texts(pair(w("a", 3.9, 3.99), w("the", 4.0, 4.1))), ["schools", "a", "the", "next"]);
    // a word only one chunk heard, its midpoint on the other side: the other chunk heard nothing there, so it stays
    const oneSided = pair(w("the", 3.98, 4.05), w("the", 3.96, 4.03));
    oneSided[1] = { ...oneSided[1]!, words: oneSided[1]!.words.filter((x) => x.text !== "the") };
    assert.deepEqual(texts(oneSided), ["schools", "the", "next"]);
    // …unless the later chunk is only pending (a partial transcript's next chunk): the word waits for its result
    const pending = { ...oneSided[1], words: [], pending: true };
    assert.deepEqual(texts([oneSided[0]!, pending]), ["schools"]);
  });

  test("the core boundary decides, not the middle of the audio overlap", () => {
    // Audio overlaps 1.5-3.5 s (middle 2.5 s) but the cores meet at 2 s: a word at 2.1-2.5 s is chunk 1's.
    const w = (text: string, start: number, end: number): Word => ({ text, start, end });
    const chunks = [
      {
        index: 0,
        startSample: 0,
        endSample: 3.5 * RATE,
        coreStartSample: 0,
        coreEndSample: 2 * RATE,
        words: [w("one", 1, 1.8), w("heard-by-0", 2.1, 2.5)],
      },
      {
        index: 1,
        startSample: 1.5 * RATE,
        endSample: 5 * RATE,
        coreStartSample: 2 * RATE,
        coreEndSample: 5 * RATE,
        words: [w("one", -0.5, 0.3), w("heard-by-1", 0.6, 1.0)],
      },
    ];
    assert.deepEqual(
      stitchChunks(chunks, RATE).map((x) => x.text),
      ["one", "heard-by-1"],
    );
  });

  test("chunks stored before padding (no core) still stitch by the middle of their overlap", () => {
    const w = (text: string, start: number, end: number): Word => ({ text, start, end });
    const old = [
      { index: 0, startSample: 0, endSample: 3 * RATE, coreStartSample: null, coreEndSample: null, words: [w("one", 1, 1.8), w("two", 2.1, 2.7)] },
      // overlap 2..3 s, seam at 2.5 s: "two" (mid 2.4) belongs to chunk 0, "three" (mid 2.9) to chunk 1
      {
        index: 1,
        startSample: 2 * RATE,
        endSample: 5 * RATE,
        coreStartSample: null,
        coreEndSample: null,
        words: [w("two", 0.1, 0.7), w("three", 0.8, 1.0), w("four", 1.5, 2)],
      },
    ];
    assert.deepEqual(
      stitchChunks(old, RATE).map((x) => x.text),
      ["one", "two", "three", "four"],
    );
  });

  test("cores that do not join up, or lie outside the audio, are a StitchError", () => {
    const base = { words: [] as Word[], reason: "" };
    const gap = [
      { ...base, index: 0, startSample: 0, endSample: 120, coreStartSample: 0, coreEndSample: 100 },
      { ...base, index: 1, startSample: 90, endSample: 200, coreStartSample: 110, coreEndSample: 200 },
    ];
    assert.throws(
      () => stitchChunks(gap, RATE),
      (e: unknown) => e instanceof StitchError && /core ends at sample 100/.test(e.message),
    );
    const outside = [{ ...base, index: 0, startSample: 10, endSample: 200, coreStartSample: 0, coreEndSample: 200 }];
    assert.throws(() => stitchChunks(outside, RATE), StitchError);
    const half = [{ ...base, index: 0, startSample: 0, endSample: 200, coreStartSample: 0, coreEndSample: null }];
    assert.throws(() => stitchChunks(half, RATE), StitchError);
  });
});
