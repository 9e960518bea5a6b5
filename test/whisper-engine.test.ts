/**
 * The whisper.cpp engine's plumbing against a real `whisper-server` and a ggml model with random
 * weights written by the test: start-up checks, load once and reuse, word times, errors, timeout.
 * Needs a whisper-server binary: WHISPER_SERVER_BIN, the one scripts/setup.sh builds
 * (.cache/whisper/whisper-server), or `whisper-server` on PATH (the image builds one; see
 * machine-image/Dockerfile). Without one only the binary-independent cases run.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { EngineUnavailableError, TransientChunkError } from "../machine-image/worker/errors.ts";
import { WhisperEngine, wordsFromVerboseJson } from "../machine-image/worker/whisper-engine.ts";
import { checkModelFile, checksumSidecar, resolveModelPath } from "../machine-image/worker/whisper-model.ts";
import { parseWorkerConfig } from "../machine-image/worker/worker-config.ts";
import { writeRandomWhisperModel } from "./support/whisper-model-fixture.ts";

function findServer(): string | undefined {
  const env = process.env.WHISPER_SERVER_BIN;
  if (env) return env;
  const built = new URL("../.cache/whisper/whisper-server", import.meta.url).pathname;
  if (fs.existsSync(built)) return built;
  try {
    return execFileSync("sh", ["-c", "command -v whisper-server"], { encoding: "utf8" }).trim() || undefined;
  } catch {
    return undefined;
  }
}
const SERVER = findServer();

describe("whisper.cpp engine", () => {
  let tmp: string;
  let model: string;
  let wav: string;
  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-whisper-"));
    model = path.join(tmp, "ggml-random.bin");
    await writeRandomWhisperModel(model);
    wav = path.join(tmp, "tone.wav");
    execFileSync("ffmpeg", [
      "-loglevel",
      "error",
      "-f",
      "lavfi",
      "-i",
      "sine=frequency=300:duration=6",
      "-ar",
      "16000",
      "-ac",
      "1",
      "-c:a",
      "pcm_s16le",
      wav,
    ]);
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  test("config: ENGINE=whisper is accepted with its settings; bad threads are refused by name", () => {
    const c = parseWorkerConfig({ NATS_URL: "nats://127.0.0.1:4222", ENGINE: "whisper", WHISPER_MODEL: "tiny.en", WHISPER_THREADS: "3" });
    assert.equal(c.engine, "whisper");
    assert.deepEqual(
      { model: c.whisper?.model, threads: c.whisper?.threads, dir: c.whisper?.modelsDir },
      { model: "tiny.en", threads: 3, dir: "/models" },
    );
    assert.equal(parseWorkerConfig({ NATS_URL: "nats://x:4222", ENGINE: "whisper" }).whisper?.threads, os.availableParallelism());
    assert.throws(() => parseWorkerConfig({ NATS_URL: "nats://x:4222", ENGINE: "whisper", WHISPER_THREADS: "0" }), /WHISPER_THREADS/);
    assert.equal(parseWorkerConfig({ NATS_URL: "nats://x:4222" }).whisper, undefined);
    assert.equal(resolveModelPath("/models", "base.en"), "/models/ggml-base.en.bin");
    assert.equal(resolveModelPath("/models", "/x/m.bin"), "/x/m.bin");
  });

  test("a missing, foreign or truncated model fails the start-up check", async () => {
    await assert.rejects(
      checkModelFile(path.join(tmp, "nope.bin")),
      (e: Error) => e instanceof EngineUnavailableError && /not found/.test(e.message),
    );
    const foreign = path.join(tmp, "foreign.bin");
    fs.writeFileSync(foreign, Buffer.alloc(4096, 7));
    await assert.rejects(checkModelFile(foreign), (e: Error) => e instanceof EngineUnavailableError && /corrupt/.test(e.message));
    const header = await checkModelFile(model);
    assert.equal(header.nMels, 80);
    const truncated = path.join(tmp, "truncated.bin");
    fs.copyFileSync(model, truncated);
    fs.writeFileSync(checksumSidecar(truncated), `${"0".repeat(64)}  ${fs.statSync(model).size + 10}\n`);
    await assert.rejects(checkModelFile(truncated), /corrupt/);
  });

  test("a missing whisper-server binary is EngineUnavailableError at open()", async () => {
    const engine = new WhisperEngine({ modelPath: model, serverBinary: path.join(tmp, "no-such-whisper-server") });
    await assert.rejects(engine.open(), (e: Error) => e instanceof EngineUnavailableError && /not found/.test(e.message));
  });

  test("token pieces join into words with times", () => {
    const words = wordsFromVerboseJson({
      segments: [
        {
          start: 0,
          end: 2,
          words: [
            { word: "[_BEG_]", start: 0, end: 0 },
            { word: " Hel", start: 0.1, end: 0.3, probability: 0.8 },
            { word: "lo", start: 0.3, end: 0.5, probability: 0.6 },
            { word: " world", start: 0.6, end: 1.0, probability: 0.9 },
          ],
        },
      ],
    });
    assert.deepEqual(
      words.map((w) => [w.text, w.start, w.end]),
      [
        ["Hello", 0.1, 0.5],
        ["world", 0.6, 1.0],
      ],
    );
    assert.ok(Math.abs(words[0]!.confidence! - 0.7) < 1e-9);
  });

  test(
    "with whisper-server: load once, transcribe twice on the same process, time out and recover",
    { skip: SERVER ? false : "no whisper-server binary (set WHISPER_SERVER_BIN)" },
    async (t) => {
      const engine = new WhisperEngine({ modelPath: model, serverBinary: SERVER!, threads: 2, extraArgs: ["-bs", "1", "-bo", "1"] });
      t.after(() => engine.close());
      const started = Date.now();
      await engine.open();
      t.diagnostic(`server up with model loaded in ${Date.now() - started} ms`);
      const signal = new AbortController().signal;
      const pidsBefore = serverPids();
      for (let i = 0; i < 2; i++) {
        const t0 = Date.now();
        const words = await engine.transcribe(wav, { language: "en", signal });
        t.diagnostic(`call ${i + 1}: ${words.length} words in ${Date.now() - t0} ms (6 s of audio)`);
        for (const w of words) assert.ok(w.start >= 0 && w.end >= w.start && w.end <= 6.5, `word ${JSON.stringify(w)} lies inside the audio`);
      }
      assert.deepEqual(serverPids(), pidsBefore, "the same server process served both calls (model loaded once)");

      const hasty = new WhisperEngine({ modelPath: model, serverBinary: SERVER!, threads: 2, timeoutMs: 1 });
      t.after(() => hasty.close());
      await hasty.open();
      await assert.rejects(
        hasty.transcribe(wav, { language: "en", signal }),
        (e: Error) => e instanceof TransientChunkError && /timed out/.test(e.message),
      );
      await hasty.open(); // the timed-out server was killed; the engine starts a fresh one
      await hasty.close();
    },
  );

  function serverPids(): number[] {
    return fs
      .readdirSync("/proc")
      .filter((p) => /^\d+$/.test(p))
      .filter((p) => {
        try {
          return fs.readFileSync(`/proc/${p}/cmdline`, "utf8").includes(model);
        } catch {
          return false;
        }
      })
      .map(Number);
  }
});
