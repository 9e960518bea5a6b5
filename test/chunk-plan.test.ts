/**
 * Chunk planning: silences are found where they are, cuts land in the silence nearest the target,
 * a stretch without silence is cut with an overlap, and a plan always covers every sample.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { planChunks } from "../orchestrator/ingest/chunk-plan.ts";
import { findSilences, frameEnergies } from "../orchestrator/ingest/silence.ts";
import type { PlannedChunk } from "../orchestrator/store/episode-store.ts";

const RATE = 16_000;

/** PCM of alternating segments: [seconds, amplitude 0..1] — a 220 Hz tone, or silence at 0. */
function writePcm(segments: Array<[number, number]>): { file: string; samples: number } {
  const parts: Buffer[] = [];
  for (const [secs, amp] of segments) {
    const n = Math.round(secs * RATE);
    const b = Buffer.alloc(n * 2);
    for (let i = 0; i < n; i++) b.writeInt16LE(Math.round(amp * 20000 * Math.sin((2 * Math.PI * 220 * i) / RATE)), i * 2);
    parts.push(b);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-plan-"));
  const file = path.join(dir, "a.pcm");
  fs.writeFileSync(file, Buffer.concat(parts));
  return { file, samples: parts.reduce((s, b) => s + b.length / 2, 0) };
}

function assertCovers(plan: PlannedChunk[], total: number): void {
  assert.equal(plan[0]!.startSample, 0);
  assert.equal(plan.at(-1)!.endSample, total);
  plan.forEach((c, i) => {
    assert.equal(c.index, i);
    assert.ok(c.endSample > c.startSample);
    if (i > 0) assert.ok(c.startSample <= plan[i - 1]!.endSample, `gap before chunk ${i}`);
  });
}

test("silences are found at their true positions", async (t) => {
  const { file } = writePcm([
    [5, 0.5],
    [0.8, 0],
    [6, 0.5],
    [0.1, 0],
    [4, 0.5],
    [1.2, 0],
    [3, 0.5],
  ]);
  t.after(() => fs.rmSync(path.dirname(file), { recursive: true, force: true }));
  const silences = findSilences(await frameEnergies(file, RATE), RATE);
  // The 0.1 s gap is too short to count; the two longer ones are found within a frame.
  assert.equal(silences.length, 2);
  assert.ok(Math.abs(silences[0]!.start - 5 * RATE) <= 320 && Math.abs(silences[0]!.end - 5.8 * RATE) <= 320);
  assert.ok(Math.abs(silences[1]!.start - 15.9 * RATE) <= 320 && Math.abs(silences[1]!.end - 17.1 * RATE) <= 320);
  for (const s of silences) assert.ok(s.quietest >= s.start && s.quietest < s.end);
});

test("a cut goes into the silence nearest the target, never into speech", () => {
  const total = 100 * RATE;
  const silences = [
    { start: 26 * RATE, end: 26.5 * RATE, quietest: 26.25 * RATE },
    { start: 31 * RATE, end: 31.4 * RATE, quietest: 31.2 * RATE },
    { start: 62 * RATE, end: 62.6 * RATE, quietest: 62.3 * RATE },
  ];
  const plan = planChunks(total, 30, silences);
  assertCovers(plan, total);
  assert.equal(plan[0]!.endSample, 31.2 * RATE, "31.2 s is nearer to 30 s than 26.25 s");
  assert.equal(plan[1]!.endSample, 62.3 * RATE);
  assert.match(plan[0]!.reason, /silence/);
});

test("without silence in the window, chunks overlap by 1.5 s", () => {
  const total = 95 * RATE;
  const plan = planChunks(total, 30, []);
  assertCovers(plan, total);
  assert.equal(plan.length, 3);
  assert.equal(plan[0]!.endSample - plan[1]!.startSample, 1.5 * RATE);
  assert.match(plan[0]!.reason, /overlapping/);
});

test("0 s means one chunk; a short tail joins the last chunk", () => {
  assert.deepEqual(planChunks(1000, 0, []), [{ index: 0, startSample: 0, endSample: 1000, reason: "whole episode" }]);
  const plan = planChunks(66 * RATE, 30, [{ start: 30 * RATE, end: 30.5 * RATE, quietest: 30.2 * RATE }]);
  assert.equal(plan.length, 2, "35.8 s of remainder stays one chunk");
  assertCovers(plan, 66 * RATE);
  assert.throws(() => planChunks(0, 30, []), /cannot plan/);
  assert.throws(() => planChunks(1000, 0.5, []), /too short/);
});
