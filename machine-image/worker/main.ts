/**
 * Entry point of a worker machine: `node --import tsx machine-image/worker/main.ts`.
 * Reads the environment, runs the pull loop until idle, lifetime or SIGTERM/SIGINT, and exits:
 * 0 after a normal stop, 1 on a fatal error, 2 on bad configuration, 3 when the engine cannot
 * start (whisper-server or the model missing or corrupt). Logs one JSON line per event
 * on stdout; a fatal or configuration error also prints one plain line on stderr. A worker that
 * ends non-zero before it claimed any chunk publishes WorkerBootFailed first (boot-report.ts).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { wireNames } from "../../contract/wire.ts";
import { bootReportTarget, reportBootFailure } from "./boot-report.ts";
import type { SpeechEngine } from "./engine.ts";
import { EngineUnavailableError } from "./errors.ts";
import { PocketsphinxEngine } from "./pocketsphinx-engine.ts";
import { SyntheticEngine } from "./synthetic-engine.ts";
import { WhisperEngine } from "./whisper-engine.ts";
import { resolveModelPath } from "./whisper-model.ts";
import { parseWorkerConfig, WorkerConfigError, type WorkerConfig } from "./worker-config.ts";
import { runWorker, type WorkerLog } from "./worker.ts";

const log: WorkerLog = (event, fields = {}) => {
  process.stdout.write(`${JSON.stringify({ t: new Date().toISOString(), event, ...fields })}\n`);
};

function createEngine(config: WorkerConfig): SpeechEngine {
  switch (config.engine) {
    case "pocketsphinx":
      return new PocketsphinxEngine();
    case "whisper": {
      const w = config.whisper!;
      return new WhisperEngine({
        modelPath: resolveModelPath(w.modelsDir, w.model),
        serverBinary: w.serverBinary,
        threads: w.threads,
        timeoutMs: w.timeoutMs,
      });
    }
    case "synthetic": // benchmark-only: sleeps for audio length × PODFLEET_SYNTHETIC_RTF
      return new SyntheticEngine({ realTimeFactor: config.syntheticRtf ?? 0.1 });
  }
}

async function main(): Promise<number> {
  let config: WorkerConfig;
  try {
    config = parseWorkerConfig(process.env);
  } catch (err) {
    if (err instanceof WorkerConfigError) {
      process.stderr.write(`podfleet-worker: invalid configuration: ${err.message}\n`);
      // quietly: a configuration error's output is its one line on stderr
      await reportBootFailure(bootReportTarget(process.env), 2, `invalid worker configuration: ${err.message}`, () => undefined);
      return 2;
    }
    throw err;
  }

  const stop = new AbortController();
  const onSignal = (sig: NodeJS.Signals): void => {
    log("worker.signal", { signal: sig });
    stop.abort(new Error(`received ${sig}`));
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);

  // Load the model before taking work: a missing or corrupt model is a start-up failure (exit 3).
  const engine = createEngine(config);
  try {
    await engine.open?.();
  } catch (err) {
    if (err instanceof EngineUnavailableError) {
      log("worker.engine_unavailable", { engine: engine.name, error: err.message });
      process.stderr.write(`podfleet-worker: engine ${engine.name} unavailable: ${err.message}\n`);
      await reportBootFailure(bootReportTarget(process.env), 3, err.message, log);
      return 3;
    }
    throw err;
  }

  const workDir = await mkdtemp(join(tmpdir(), "podfleet-worker-"));
  let claimed = false;
  try {
    const result = await runWorker({
      natsUrl: config.natsUrl,
      natsToken: config.natsToken,
      natsUser: config.natsUser,
      natsPassword: config.natsPassword,
      names: wireNames(config.natsPrefix),
      engine,
      machineId: config.machineId,
      idleTimeoutMs: config.idleTimeoutMs,
      ...(config.maxLifetimeMs !== undefined ? { maxLifetimeMs: config.maxLifetimeMs } : {}),
      ...(config.stopTimeoutMs !== undefined ? { stopTimeoutMs: config.stopTimeoutMs } : {}),
      heartbeatEventMs: config.heartbeatMs,
      onClaim: () => (claimed = true),
      workDir,
      signal: stop.signal,
      log,
    });
    log("worker.stopped", { ...result });
    return 0;
  } catch (err) {
    const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    log("worker.fatal", { error: message });
    process.stderr.write(`podfleet-worker: fatal: ${message}\n`);
    if (!claimed) await reportBootFailure(bootReportTarget(process.env), 1, message, log);
    return 1;
  } finally {
    await engine.close?.();
    await rm(workDir, { recursive: true, force: true });
  }
}

main().then(
  // exit explicitly: a machine must not linger on a forgotten timer or socket
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`podfleet-worker: fatal: ${String(err)}\n`);
    process.exit(1);
  },
);
