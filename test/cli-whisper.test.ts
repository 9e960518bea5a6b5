/**
 * Whisper on one's own machine with no configuration beyond PODFLEET_ENGINE: `podfleet transcribe`
 * on the local runtime finds the whisper-server that scripts/setup.sh builds under .cache/whisper/
 * (nothing on PATH, no WHISPER_SERVER_BIN), loads the model from `<data-dir>/models` (where
 * `podfleet models pull` puts it), and passes WHISPER_THREADS through (PODFLEET_LOCAL_MACHINE_ENV's
 * default). The model is the random-weight fixture: the words are gibberish, the plumbing is real.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { BUILT_WHISPER_SERVER, onPath } from "../orchestrator/fleet/local-worker-env.ts";
import { processesMentioning, runCli } from "./support/cli.ts";
import { synthesizeEpisode } from "./support/speech.ts";
import { writeRandomWhisperModel } from "./support/whisper-model-fixture.ts";

const skip = !fs.existsSync(BUILT_WHISPER_SERVER)
  ? "no whisper-server in .cache/whisper (scripts/setup.sh builds it)"
  : onPath("whisper-server")
    ? "a whisper-server on PATH would be found first"
    : false;

test(
  "PODFLEET_ENGINE=whisper transcribes end to end on the local runtime, finding the built server and the data directory's model",
  { skip },
  async (t) => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-cli-whisper-"));
    t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
    const dataDir = path.join(tmp, "data");
    fs.mkdirSync(path.join(dataDir, "models"), { recursive: true });
    await writeRandomWhisperModel(path.join(dataDir, "models", "ggml-tiny.en.bin"));
    const audio = await synthesizeEpisode({ paragraphs: ["Whisper runs on this machine with the model the data directory holds."], dir: tmp });

    const r = await runCli(
      ["transcribe", audio.path, "--out", path.join(tmp, "out"), "--chunk-seconds", "0", "--json"],
      { PODFLEET_DATA_DIR: dataDir, PODFLEET_ENGINE: "whisper", PODFLEET_WHISPER_MODEL: "tiny.en", PODFLEET_MAX_MACHINES: "1", WHISPER_THREADS: "1" },
      400_000,
    );
    assert.equal(
      r.code,
      0,
      `${r.stderr}\n${
        fs.existsSync(path.join(dataDir, "logs", "machines"))
          ? fs
              .readdirSync(path.join(dataDir, "logs", "machines"))
              .map((f) => fs.readFileSync(path.join(dataDir, "logs", "machines", f), "utf8").slice(-2000))
              .join("\n")
          : ""
      }`,
    );
    const summary = JSON.parse(r.stdout) as { status: string; engine: string; files: Record<string, string> };
    assert.equal(summary.status, "done");
    assert.equal(summary.engine, "whisper");
    for (const f of Object.values(summary.files)) assert.ok(fs.existsSync(f), f);
    // the worker really ran whisper-server with that model and thread count
    const machineLogs = fs
      .readdirSync(path.join(dataDir, "logs", "machines"))
      .map((f) => fs.readFileSync(path.join(dataDir, "logs", "machines", f), "utf8"))
      .join("\n");
    assert.match(machineLogs, /"event":"worker\.started"[^\n]*"engine":"whisper"/);
    assert.deepEqual(processesMentioning(dataDir), [], "nothing outlives the command");

    // jobs logs, with no orchestrator running: the tail of the machine log that did the chunk
    const logs = await runCli(
      ["jobs", "logs", (JSON.parse(r.stdout) as { episodeId: string }).episodeId, "--json"],
      { PODFLEET_DATA_DIR: dataDir },
      120_000,
    );
    assert.equal(logs.code, 0, logs.stderr);
    const { machines } = JSON.parse(logs.stdout) as { machines: Array<{ machineId: string; chunks: number[]; tail: string[] | null }> };
    assert.deepEqual(
      machines.flatMap((m) => m.chunks),
      [0],
    );
    assert.match(machines[0]!.tail!.join("\n"), /"event":"worker\./);
  },
);
