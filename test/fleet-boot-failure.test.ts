/**
 * End to end on the local runtime: workers that cannot start (PODFLEET_ENGINE=whisper, no model
 * file) no longer make the autoscaler create machine after machine. `podfleet transcribe` says why
 * it waits, `fleet show --json`, `jobs show`, /metrics and the log name the reason, and placing the
 * model file lets the same episode finish without restarting anything.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { api, suiteCleanup } from "./support/ingest-stack.ts";
import { authHeaders } from "./support/auth.ts";
import { runCli } from "./support/cli.ts";
import { RuntimeRecorder, speechEpisode, startFleetStack, until } from "./support/fleet-stack.ts";
import { writeRandomWhisperModel } from "./support/whisper-model-fixture.ts";

const SERVER = fileURLToPath(new URL("../.cache/whisper/whisper-server", import.meta.url));
const BIN = fileURLToPath(new URL("../bin/podfleet.js", import.meta.url));
/** How long the crash loop is watched before the fix. */
const OBSERVE_MS = 45_000;

const suite = suiteCleanup();
let audio: string;
let dir: string;
before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-bootfail-"));
  suite.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  audio = await speechEpisode(dir, 2);
});
after(() => suite.run());

test(
  "a worker that cannot start: a handful of machines a minute, the reason everywhere; placing the model finishes the same episode",
  { skip: fs.existsSync(SERVER) ? false : "no whisper-server in .cache/whisper (scripts/setup.sh builds it)" },
  async (t) => {
    const models = path.join(dir, "models");
    fs.mkdirSync(models);
    const modelFile = path.join(models, "ggml-tiny.en.bin");
    const logLines: string[] = [];
    const orch = await startFleetStack(
      t,
      {
        PODFLEET_ENGINE: "whisper",
        PODFLEET_WHISPER_MODEL: "tiny.en",
        PODFLEET_MODELS_DIR: models,
        PODFLEET_CHUNK_SECONDS: "0",
        PODFLEET_MAX_MACHINES: "4",
        PODFLEET_AUTOSCALE_INTERVAL_MS: "2000",
        PODFLEET_LOG_LEVEL: "info",
      },
      { workerEnv: { WHISPER_SERVER_BIN: SERVER, WHISPER_THREADS: "1" }, logLines },
    );
    const recorder = new RuntimeRecorder(orch.localRuntime!);
    t.after(() => recorder.stop());
    const cliEnv = { PODFLEET_URL: orch.url, PODFLEET_TOKEN: authHeaders(orch.url).authorization!.replace(/^Bearer /, "") };

    // `podfleet transcribe` submits the episode and follows it; it must say why it waits.
    const out = path.join(dir, "out");
    const cli = spawn(process.execPath, [BIN, "transcribe", audio, "--out", out, "--json"], {
      env: { PATH: process.env.PATH ?? "", HOME: os.tmpdir(), ...cliEnv },
      stdio: ["ignore", "pipe", "pipe"],
    });
    t.after(() => {
      if (cli.exitCode === null && cli.signalCode === null) cli.kill("SIGKILL");
    });
    let cliErr = "";
    let cliOut = "";
    cli.stderr.on("data", (b: Buffer) => (cliErr += b.toString()));
    cli.stdout.on("data", (b: Buffer) => (cliOut += b.toString()));
    const cliExit = new Promise<number | null>((resolve) => cli.on("close", resolve));

    const firstCreate = await until("the first machine", () => recorder.firstAt("creating") ?? recorder.firstAt("created"), 180_000);
    await until(
      "transcribe to name the reason",
      () => (/waiting: workers fail to start: whisper model \S+ggml-tiny\.en\.bin not found/.test(cliErr) ? true : undefined),
      90_000,
    ).catch(async (err: Error) => {
      const { body } = await api(orch.url, "GET", "/v1/fleet");
      throw new Error(`${err.message}; transcribe wrote: ${JSON.stringify(cliErr)}; ${recorder.created} machines; fleet: ${JSON.stringify(body)}`);
    });

    // Watch the crash loop.
    await new Promise((r) => setTimeout(r, Math.max(0, firstCreate + OBSERVE_MS - Date.now())));
    const created = recorder.created;
    const perMinute = (created / OBSERVE_MS) * 60_000;
    t.diagnostic(`${created} machines created in ${OBSERVE_MS / 1000} s of boot failures (${perMinute.toFixed(1)} per minute)`);
    assert.ok(created >= 2 && created <= 5, `${created} machines in ${OBSERVE_MS / 1000} s`);

    const show = await runCli(["fleet", "show", "--json"], cliEnv, 60_000);
    assert.equal(show.code, 0, show.stderr);
    const view = JSON.parse(show.stdout) as {
      bootFailure: { reason: string; exitCode: number; failures: number } | null;
      waiting: { detail: string } | null;
    };
    assert.match(view.bootFailure?.reason ?? "", /^whisper model \S+ggml-tiny\.en\.bin not found/);
    assert.equal(view.bootFailure?.exitCode, 3);
    assert.ok((view.bootFailure?.failures ?? 0) >= 2);
    assert.match(view.waiting?.detail ?? "", /workers fail to start: whisper model .* \(\d+ boot failures, (next try in \d+ s|trying again now)\)/);
    const human = await runCli(["fleet", "show"], cliEnv, 60_000);
    assert.match(human.stdout, /status +(blocked \(boot_failure\)|degraded): workers fail to start: whisper model/);

    const { body: list } = await api(orch.url, "GET", "/v1/episodes");
    const id = (list.episodes as Array<{ id: string }>)[0]!.id;
    const jobs = await runCli(["jobs", "show", id], cliEnv, 60_000);
    assert.match(jobs.stdout, /waiting +workers fail to start: whisper model \S+ not found/);
    const metrics = await fetch(new URL("/metrics", orch.url), { headers: authHeaders(orch.url) }).then((r) => r.text());
    const total = Number(/^podfleet_boot_failures_total (\d+)$/m.exec(metrics)?.[1]);
    assert.ok(total >= 2 && total <= recorder.created, `podfleet_boot_failures_total ${total} of ${recorder.created} machines`);
    assert.match(metrics, /^podfleet_boot_backoff_seconds \d+$/m);
    const warned = logLines.filter((l) => l.includes('"workers fail to start; machine creation backs off"'));
    assert.equal(warned.length, 1, "logged at warn once for the one reason");
    assert.match(warned[0]!, /"level":"warn".*"reason":"whisper model \S+ not found/);

    // The fix: pull the model (here a small random-weight one). The same episode finishes.
    await writeRandomWhisperModel(modelFile);
    const fixedAt = Date.now();
    const code = await cliExit;
    t.diagnostic(`episode done ${Date.now() - fixedAt} ms after the model was placed; ${recorder.created} machines created in all`);
    assert.equal(code, 0, cliErr);
    const summary = JSON.parse(cliOut) as { episodeId: string; status: string };
    assert.equal(summary.episodeId, id);
    assert.equal(summary.status, "done");
    assert.ok(
      logLines.some((l) => l.includes("workers start again")),
      "the recovery is logged",
    );
  },
);
