/**
 * Seams through the real engine: a synthesized episode is planned like ingest plans it (cores cut
 * without overlap, then widened by the context padding of chunk-context.ts), every
 * chunk's WAV is cut from the decoded PCM like ingest cuts it, pocketsphinx (the worker's engine
 * class) transcribes each chunk, and stitchChunks joins them. The unchunked run of the same audio
 * is the yardstick: no word lost or duplicated at a seam, word times within 50 ms of it.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { SAMPLE_RATE, type Word } from "../contract/wire.ts";
import { PocketsphinxEngine } from "../machine-image/worker/pocketsphinx-engine.ts";
import { decodeToPcm, readWavSlice } from "../orchestrator/ingest/audio-decode.ts";
import { DEFAULT_CHUNK_PAD, padCores } from "../orchestrator/ingest/chunk-context.ts";
import { planCores } from "../orchestrator/ingest/chunk-plan.ts";
import { findSilences, frameEnergies, type Silence } from "../orchestrator/ingest/silence.ts";
import type { PlannedChunk } from "../orchestrator/store/episode-store.ts";
import { stitchChunks, type TimedWord } from "../orchestrator/transcript/stitch.ts";
import { measureSeams, seamTimes } from "../bench/seam-metrics.ts";
import { SHORT_TEXT } from "./support/corpus.ts";
import { synthesizeEpisode } from "./support/speech.ts";

const engine = new PocketsphinxEngine();
const signal = new AbortController().signal;
const TOLERANCE_MS = 50;

describe("seams through pocketsphinx", () => {
  let dir: string;
  let pcmPath: string;
  let samples: number;
  let direct: Word[];
  let silences: Silence[];

  async function transcribeRange(start: number, end: number): Promise<Word[]> {
    const wav = path.join(dir, `${start}-${end}.wav`);
    fs.writeFileSync(wav, await readWavSlice(pcmPath, start, end));
    return engine.transcribe(wav, { language: "en", signal });
  }

  async function runPlan(plan: PlannedChunk[]): Promise<TimedWord[]> {
    const chunks = [];
    for (const c of plan) chunks.push({ ...c, words: await transcribeRange(c.startSample, c.endSample) });
    return stitchChunks(chunks, SAMPLE_RATE, { expectedChunks: plan.length });
  }

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-seams-"));
    const episode = await synthesizeEpisode({ paragraphs: SHORT_TEXT.paragraphs, pauseSec: 1.2, dir });
    pcmPath = path.join(dir, "episode.pcm");
    samples = await decodeToPcm(episode.path, pcmPath);
    silences = findSilences(await frameEnergies(pcmPath, SAMPLE_RATE), SAMPLE_RATE);
    direct = await transcribeRange(0, samples);
    assert.ok(direct.length > 30, `the unchunked run found ${direct.length} words`);
  });
  // node:test's suite-level `after` runs even when `before` fails.
  after(() => dir && fs.rmSync(dir, { recursive: true, force: true }));

  test("a word straddling the target cut, with no silence near it, comes out whole and once", async () => {
    // The longest word in the middle third of the episode whose span holds no silence at all.
    const quietNear = (t: number): boolean => silences.some((s) => Math.abs(s.quietest / SAMPLE_RATE - t) < 0.5);
    const middle = direct.filter((w) => w.start > samples / SAMPLE_RATE / 3 && w.end < (2 * samples) / SAMPLE_RATE / 3);
    const straddler = middle.filter((w) => !quietNear((w.start + w.end) / 2)).sort((a, b) => b.end - b.start - (a.end - a.start))[0];
    assert.ok(straddler, "a candidate word exists");
    const target = (straddler.start + straddler.end) / 2;

    // Target the word's midpoint; a narrow window finds no silence, so the core boundary cuts the
    // word in two, and both chunks hear it whole inside their padding (as ingest plans it).
    const plan = padCores(planCores(samples, target, silences, { windowSec: 0.3 }), DEFAULT_CHUNK_PAD, samples, SAMPLE_RATE);
    assert.equal(plan.length, 2);
    const cut = plan[1]!.coreStartSample! / SAMPLE_RATE;
    assert.ok(straddler.start < cut && cut < straddler.end, "the core boundary cuts through the word");
    assert.ok(
      plan[0]!.endSample / SAMPLE_RATE >= straddler.end && plan[1]!.startSample / SAMPLE_RATE <= straddler.start,
      "both chunks hear the whole word",
    );

    const stitched = await runPlan(plan);
    const copies = stitched.filter((w) => w.start < straddler.end && straddler.start < w.end && w.text === straddler.text);
    assert.equal(copies.length, 1, `"${straddler.text}" appears once, whole`);
    assert.ok(Math.abs(copies[0]!.start - straddler.start) * 1000 <= TOLERANCE_MS);
    assert.ok(Math.abs(copies[0]!.end - straddler.end) * 1000 <= TOLERANCE_MS);

    const report = measureSeams(direct, stitched, seamTimes(plan, SAMPLE_RATE));
    assert.equal(report.lost, 0, "no word lost at the seam");
    assert.equal(report.duplicated, 0, "no word duplicated at the seam");
    assert.ok(report.maxTimeErrorMs <= TOLERANCE_MS, `seam words within ${TOLERANCE_MS} ms (worst ${report.maxTimeErrorMs} ms)`);
  });

  test("cut at silences, every chunk's words land within 50 ms of the unchunked run", async () => {
    const plan = padCores(planCores(samples, 5, silences, { windowSec: 3 }), DEFAULT_CHUNK_PAD, samples, SAMPLE_RATE);
    assert.ok(plan.length >= 3, `planned ${plan.length} chunks`);
    for (const c of plan.slice(0, -1)) assert.match(c.reason, /^silence of/);
    const stitched = await runPlan(plan);

    const report = measureSeams(direct, stitched, seamTimes(plan, SAMPLE_RATE));
    assert.equal(report.lost, 0);
    assert.equal(report.duplicated, 0);

    // Match every word of every chunk to the same word of the unchunked run (same text, overlapping).
    let matched = 0;
    let worst = 0;
    for (const w of stitched) {
      const d = direct.find((x) => x.text === w.text && x.start < w.end && w.start < x.end);
      if (!d) continue;
      matched++;
      worst = Math.max(worst, Math.abs(d.start - w.start) * 1000, Math.abs(d.end - w.end) * 1000);
    }
    assert.ok(matched >= stitched.length * 0.9, `${matched} of ${stitched.length} words matched the unchunked run`);
    assert.ok(worst <= TOLERANCE_MS, `worst word time error ${worst.toFixed(0)} ms`);
  });
});
