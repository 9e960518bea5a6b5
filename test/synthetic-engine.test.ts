/**
 * The benchmark-only synthetic engine: it sleeps audio length × RTF (read from the WAV header),
 * refuses non-WAV input like a real engine, stops on abort, and the worker config selects it.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { SyntheticEngine } from "../machine-image/worker/synthetic-engine.ts";
import { parseWorkerConfig, WorkerConfigError } from "../machine-image/worker/worker-config.ts";
import { PermanentChunkError } from "../machine-image/worker/errors.ts";
import { wavHeader } from "../orchestrator/ingest/audio-decode.ts";

function tempWav(t: { after(fn: () => void): void }, seconds: number): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-synth-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, "a.wav");
  const samples = seconds * 16_000;
  fs.writeFileSync(file, Buffer.concat([wavHeader(samples), Buffer.alloc(samples * 2)]));
  return file;
}

test("sleeps audio length × real-time factor", async (t) => {
  const file = tempWav(t, 4);
  const t0 = performance.now();
  const words = await new SyntheticEngine({ realTimeFactor: 0.1 }).transcribe(file, { language: "en", signal: new AbortController().signal });
  const ms = performance.now() - t0;
  assert.ok(ms >= 395 && ms < 2_000, `took ${ms} ms, want about 400`);
  assert.equal(words[0]?.text, "synthetic");
});

test("rejects a non-WAV file and stops on abort", async (t) => {
  const file = tempWav(t, 10);
  const bad = `${file}.txt`;
  fs.writeFileSync(bad, "not audio");
  const engine = new SyntheticEngine({ realTimeFactor: 1 });
  await assert.rejects(engine.transcribe(bad, { language: "en", signal: new AbortController().signal }), PermanentChunkError);
  const ac = new AbortController();
  const p = engine.transcribe(file, { language: "en", signal: ac.signal });
  setTimeout(() => ac.abort(new Error("stop")), 50);
  await assert.rejects(p, /stop/);
});

test("worker config: ENGINE=synthetic with PODFLEET_SYNTHETIC_RTF", () => {
  const base = { NATS_URL: "nats://127.0.0.1:4222", ENGINE: "synthetic" };
  assert.equal(parseWorkerConfig(base).syntheticRtf, 0.1);
  assert.equal(parseWorkerConfig({ ...base, PODFLEET_SYNTHETIC_RTF: "0.02" }).syntheticRtf, 0.02);
  assert.throws(() => parseWorkerConfig({ ...base, PODFLEET_SYNTHETIC_RTF: "fast" }), WorkerConfigError);
  assert.equal(parseWorkerConfig({ ...base, ENGINE: "pocketsphinx" }).syntheticRtf, undefined);
});
