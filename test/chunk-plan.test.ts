/**
 * Chunk planning: silences are found where they are, cuts land in the silence nearest the target,
 * a stretch without silence is cut with an overlap, and a plan always covers every sample.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { DEFAULT_CHUNK_PAD, padCores } from "../orchestrator/ingest/chunk-context.ts";
import { planChunks, planCores } from "../orchestrator/ingest/chunk-plan.ts";
import { ChunkStream } from "../orchestrator/ingest/chunk-stream.ts";
import { findSilences, frameEnergies, SilenceDetector, type Silence } from "../orchestrator/ingest/silence.ts";
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
  assert.deepEqual(planChunks(1000, 0, []), [
    {
      index: 0,
      startSample: 0,
      endSample: 1000,
      reason: "whole episode",
    },
  ]);
  const plan = planChunks(66 * RATE, 30, [{ start: 30 * RATE, end: 30.5 * RATE, quietest: 30.2 * RATE }]);
  assert.equal(plan.length, 2, "35.8 s of remainder stays one chunk");
  assertCovers(plan, 66 * RATE);
  assert.throws(() => planChunks(0, 30, []), /cannot plan/);
  assert.throws(() => planChunks(1000, 0.5, []), /too short/);
});

/** PCM of tone segments with pauses of every length from 0.05 s to 1.4 s (deterministic). */
function gappedPcm(seconds: number): Buffer {
  const parts: Buffer[] = [];
  let t = 0;
  for (let k = 0; t < seconds; k++) {
    const tone = 2 + (k % 7) * 0.9;
    const gap = 0.05 + ((k * 37) % 28) * 0.05;
    for (const [secs, amp] of [
      [tone, 0.3 + (k % 3) * 0.2],
      [gap, 0.002],
    ] as const) {
      const n = Math.round(secs * RATE);
      const b = Buffer.alloc(n * 2);
      for (let i = 0; i < n; i++) b.writeInt16LE(Math.round(amp * 20000 * Math.sin((2 * Math.PI * (180 + k * 5) * i) / RATE)), i * 2);
      parts.push(b);
      t += secs;
    }
  }
  return Buffer.concat(parts);
}

test("streaming: cuts and chunk audio do not depend on how the PCM arrives, and chunks come out before the end", () => {
  const pcm = gappedPcm(400);
  const total = pcm.length / 2;
  // the reference: the detector over everything, then planChunks
  const detector = new SilenceDetector(RATE);
  const silences = [...detector.push(pcm), ...detector.end()];
  assert.ok(silences.length > 50);
  // cores cut without overlap, padded as ingest pads them
  const reference = padCores(planCores(total, 30, silences), DEFAULT_CHUNK_PAD, total, RATE);

  let seed = 7;
  const random = () => (seed = (seed * 1_103_515_245 + 12_345) & 0x7fffffff) / 0x7fffffff;
  for (const maxPiece of [1_001, 4_001, 64 * 1024, 3_000_000]) {
    const stream = new ChunkStream(30);
    const out: Array<{ chunk: PlannedChunk; wav: Buffer; pushedBytes: number }> = [];
    let at = 0;
    while (at < pcm.length) {
      const n = Math.max(1, Math.floor(random() * maxPiece));
      const piece = pcm.subarray(at, at + n);
      at += piece.length;
      for (const r of stream.push(piece)) out.push({ ...r, pushedBytes: at });
    }
    for (const r of stream.end()) out.push({ ...r, pushedBytes: at });
    assert.deepEqual(
      out.map((r) => r.chunk),
      reference,
      `pieces up to ${maxPiece} bytes`,
    );
    for (const r of out) {
      assert.deepEqual(r.wav.subarray(44), pcm.subarray(r.chunk.startSample * 2, r.chunk.endSample * 2), `chunk ${r.chunk.index}'s audio`);
      // emitted as soon as its cut is fixed: once the audio passes its target + the search window (7.5 s), plus the
      // pause open there (< 1.5 s), the detector's 1 s block, and the piece that carried it (by then the padding past
      // its core's end, at most target + 7.5 s + 2 s, is decoded too)
      const fixedBy = r.chunk.coreStartSample! + (30 + 7.5 + 1.5 + 1) * RATE + maxPiece / 2;
      if (r.chunk.index < reference.length - 1)
        assert.ok(r.pushedBytes / 2 < fixedBy, `chunk ${r.chunk.index} came out ${(r.pushedBytes / 2 - fixedBy) / RATE} s late`);
    }
  }
});

test("streaming with uneven padding: the chunks padCores makes, a side cut in speech padded by the larger amount or its own", () => {
  // pauses of 0.6 s between tones of 2-41 s: some cuts find no silence within their window
  const parts: Buffer[] = [];
  for (let k = 0; k < 24; k++) {
    const tone = Math.round((2 + ((k * 13) % 40)) * RATE);
    const b = Buffer.alloc((tone + Math.round(0.6 * RATE)) * 2);
    for (let i = 0; i < tone; i++) b.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * (200 + k * 7) * i) / RATE)), i * 2);
    parts.push(b);
  }
  const pcm = Buffer.concat(parts);
  const total = pcm.length / 2;
  const detector = new SilenceDetector(RATE);
  const cores = planCores(total, 30, [...detector.push(pcm), ...detector.end()]);
  assert.ok(cores.filter((c) => c.endsInSpeech).length >= 3, "some cuts fall in speech");
  assert.ok(cores.filter((c) => !c.endsInSpeech).length >= 3, "some cuts fall in a pause");
  // uneven sides (the larger one on a side cut in speech), and padding only where the cut is in speech (the default)
  const cases = [
    { pad: { before: 3, after: 0.5 }, inSpeech: 3, inPause: 0.5 },
    { pad: { before: 0, after: 0, speech: 2 }, inSpeech: 2, inPause: 0 },
  ];
  for (const { pad, inSpeech, inPause } of cases) {
    const reference = padCores(cores, pad, total, RATE);
    for (const [i, c] of reference.entries()) {
      const after = c.endSample - c.coreEndSample!;
      if (i < reference.length - 1) assert.equal(after, (cores[i]!.endsInSpeech ? inSpeech : inPause) * RATE, `chunk ${i}'s padding after its core`);
    }
    for (const maxPiece of [3_001, 256 * 1024]) {
      const stream = new ChunkStream(30, {}, undefined, pad);
      const out = [];
      for (let at = 0; at < pcm.length; at += maxPiece) out.push(...stream.push(pcm.subarray(at, at + maxPiece)));
      out.push(...stream.end());
      assert.deepEqual(
        out.map((r) => r.chunk),
        reference,
        `${JSON.stringify(pad)}: pieces of ${maxPiece} bytes`,
      );
      for (const r of out)
        assert.deepEqual(r.wav.subarray(44), pcm.subarray(r.chunk.startSample * 2, r.chunk.endSample * 2), `chunk ${r.chunk.index}'s audio`);
    }
  }
});

test("streaming: a planner resumed after the last published core goes on with the same cuts", () => {
  const pcm = gappedPcm(300);
  const whole = new ChunkStream(25);
  const reference = [...whole.push(pcm), ...whole.end()].map((r) => r.chunk);
  const last = reference[3]!;
  const resumed = new ChunkStream(25, {}, { index: 4, startSample: last.coreEndSample! });
  const rest = [...resumed.push(pcm), ...resumed.end()].map((r) => r.chunk);
  assert.deepEqual(rest, reference.slice(4));
});

test("streaming: the silence detector finds the same pauses whatever the pieces", () => {
  const pcm = gappedPcm(120);
  const whole = new SilenceDetector(RATE);
  const reference = [...whole.push(pcm), ...whole.end()];
  const pieces = new SilenceDetector(RATE);
  const found: Silence[] = [];
  for (let at = 0; at < pcm.length; at += 777) found.push(...pieces.push(pcm.subarray(at, at + 777)));
  found.push(...pieces.end());
  assert.deepEqual(found, reference);
  // the 0.1 s pauses are too short; every pause of 0.3 s or more is found
  assert.ok(reference.every((s) => s.end - s.start >= 0.25 * RATE));
});
