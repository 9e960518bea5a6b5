/**
 * The worker's configuration, parsed once from the environment the orchestrator gives a machine
 * (names in contract/wire.ts WORKER_ENV). A bad value fails fast with the variable's name.
 */
import { availableParallelism, hostname } from "node:os";
import { z } from "zod";
import { NatsServerListError, parseNatsServers } from "../../contract/nats-servers.ts";
import { DEFAULT_HEARTBEAT_MS, WORKER_ENV, wireNames } from "../../contract/wire.ts";

/** Engines this image can run; anything else is refused at startup. */
/** "synthetic" is benchmark-only (synthetic-engine.ts): it sleeps instead of recognising speech. */
export const IMPLEMENTED_ENGINES = ["pocketsphinx", "whisper", "synthetic"] as const;
export type EngineName = (typeof IMPLEMENTED_ENGINES)[number];

export interface WorkerConfig {
  readonly natsUrl: string;
  /** Present only when set; never logged. */
  readonly natsToken: string | undefined;
  /** The worker's NATS user and password (never logged); the orchestrator passes them to the machines it starts. */
  readonly natsUser: string | undefined;
  readonly natsPassword: string | undefined;
  readonly natsPrefix: string;
  readonly engine: EngineName;
  readonly idleTimeoutMs: number;
  readonly maxLifetimeMs: number | undefined;
  /** After SIGTERM, how long the current chunk may still run before it is handed back; undefined = the worker's default. */
  readonly stopTimeoutMs: number | undefined;
  readonly machineId: string;
  /** Interval of WorkerHeartbeat messages while a chunk runs (PODFLEET_HEARTBEAT_SEC). */
  readonly heartbeatMs: number;
  /** Present when `engine` is "whisper". */
  readonly whisper: WhisperSettings | undefined;
  /** Present when `engine` is "synthetic" (benchmarks only): seconds of sleep per second of audio. */
  readonly syntheticRtf: number | undefined;
}

/** Benchmark-only: real-time factor of the synthetic engine (default 0.1). */
export const SYNTHETIC_RTF_ENV = "PODFLEET_SYNTHETIC_RTF";

/**
 * Environment names of the whisper.cpp engine's settings. They are not in contract/wire.ts
 * because the orchestrator only passes WHISPER_MODEL; the image sets the rest (Dockerfile ENV).
 */
export const WHISPER_ENV = {
  model: WORKER_ENV.whisperModel,
  modelsDir: "PODFLEET_MODELS_DIR",
  threads: "WHISPER_THREADS",
  serverBinary: "WHISPER_SERVER_BIN",
  timeoutSec: "WHISPER_TIMEOUT_SEC",
} as const;

export interface WhisperSettings {
  /** Catalog name (`base.en`) or a path to a ggml file. */
  readonly model: string;
  readonly modelsDir: string;
  readonly threads: number;
  readonly serverBinary: string;
  readonly timeoutMs: number;
}

/** Defaults the image relies on; a GPU box running the image mounts its models at /models. */
export const WHISPER_DEFAULTS = { model: "base.en", modelsDir: "/models", serverBinary: "whisper-server", timeoutSec: 900 } as const;

/** A variable is missing or malformed; `variable` names it. */
export class WorkerConfigError extends Error {
  override readonly name = "WorkerConfigError";
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
  }
}

const seconds = z
  .string()
  .trim()
  .regex(/^\d+(\.\d+)?$/, "must be a number of seconds")
  .transform(Number)
  .refine((n) => n > 0, "must be greater than 0");

/** One NATS URL or a comma-separated list of a cluster's servers; the message names the bad entry. */
const natsServer = z
  .string()
  .trim()
  .superRefine((value, ctx) => {
    try {
      parseNatsServers(value);
    } catch (err) {
      if (!(err instanceof NatsServerListError)) throw err;
      ctx.addIssue({ code: "custom", message: `${err.message} (a NATS server URL such as nats://host:4222; comma-separate several)` });
    }
  });

const prefix = z.string().refine((p) => {
  try {
    wireNames(p);
    return true;
  } catch {
    return false;
  }
}, "must be lowercase letters, digits, '-' or '_', starting with a letter (at most 32)");

const engine = z.string().trim();

/** Parses the worker environment; throws WorkerConfigError naming the first bad variable. */
export function parseWorkerConfig(env: Readonly<Record<string, string | undefined>>): WorkerConfig {
  const get = (name: string): string | undefined => {
    const v = env[name];
    return v === undefined || v.trim() === "" ? undefined : v;
  };
  const field = <T>(name: string, schema: z.ZodType<T>, value: string | undefined): T => {
    if (value === undefined) throw new WorkerConfigError(name, "is required");
    const r = schema.safeParse(value);
    if (!r.success) throw new WorkerConfigError(name, r.error.issues[0]?.message ?? "is invalid");
    return r.data;
  };

  const natsUrl = field(WORKER_ENV.natsUrl, natsServer, get(WORKER_ENV.natsUrl));
  const natsPrefix = field(WORKER_ENV.natsPrefix, prefix, get(WORKER_ENV.natsPrefix) ?? "podfleet");
  const engineName = field(WORKER_ENV.engine, engine, get(WORKER_ENV.engine) ?? "pocketsphinx");
  if (!(IMPLEMENTED_ENGINES as readonly string[]).includes(engineName)) {
    throw new WorkerConfigError(WORKER_ENV.engine, `engine ${engineName} is not implemented (available: ${IMPLEMENTED_ENGINES.join(", ")})`);
  }
  const idleSec = field(WORKER_ENV.idleTimeoutSec, seconds, get(WORKER_ENV.idleTimeoutSec) ?? "30");
  const lifetimeRaw = get(WORKER_ENV.maxLifetimeSec);
  const lifetimeSec = lifetimeRaw === undefined ? undefined : field(WORKER_ENV.maxLifetimeSec, seconds, lifetimeRaw);
  const stopRaw = get(WORKER_ENV.stopTimeoutSec);
  const stopSec = stopRaw === undefined ? undefined : field(WORKER_ENV.stopTimeoutSec, seconds, stopRaw);
  const heartbeatSec = field(WORKER_ENV.heartbeatSec, seconds, get(WORKER_ENV.heartbeatSec) ?? String(DEFAULT_HEARTBEAT_MS / 1000));
  let whisper: WhisperSettings | undefined;
  if (engineName === "whisper") {
    const threadsRaw = get(WHISPER_ENV.threads);
    const threads =
      threadsRaw === undefined
        ? availableParallelism()
        : field(
            WHISPER_ENV.threads,
            z
              .string()
              .trim()
              .regex(/^[1-9]\d{0,3}$/, "must be a whole number of threads (1-9999)")
              .transform(Number),
            threadsRaw,
          );
    whisper = {
      model: get(WHISPER_ENV.model)?.trim() ?? WHISPER_DEFAULTS.model,
      modelsDir: get(WHISPER_ENV.modelsDir)?.trim() ?? WHISPER_DEFAULTS.modelsDir,
      threads,
      serverBinary: get(WHISPER_ENV.serverBinary)?.trim() ?? WHISPER_DEFAULTS.serverBinary,
      timeoutMs: Math.round(field(WHISPER_ENV.timeoutSec, seconds, get(WHISPER_ENV.timeoutSec) ?? String(WHISPER_DEFAULTS.timeoutSec)) * 1000),
    };
  }
  if ((get(WORKER_ENV.natsUser) === undefined) !== (get(WORKER_ENV.natsPassword) === undefined)) {
    throw new WorkerConfigError(WORKER_ENV.natsPassword, `${WORKER_ENV.natsUser} and ${WORKER_ENV.natsPassword} must be set together`);
  }
  const syntheticRtf =
    engineName === "synthetic"
      ? field(
          SYNTHETIC_RTF_ENV,
          z
            .string()
            .trim()
            .regex(/^\d+(\.\d+)?$/, "must be a non-negative number")
            .transform(Number),
          get(SYNTHETIC_RTF_ENV) ?? "0.1",
        )
      : undefined;
  return {
    whisper,
    syntheticRtf,
    natsUrl,
    natsToken: get(WORKER_ENV.natsToken),
    natsUser: get(WORKER_ENV.natsUser),
    natsPassword: get(WORKER_ENV.natsPassword),
    natsPrefix,
    engine: engineName as EngineName,
    idleTimeoutMs: Math.round(idleSec * 1000),
    maxLifetimeMs: lifetimeSec === undefined ? undefined : Math.round(lifetimeSec * 1000),
    stopTimeoutMs: stopSec === undefined ? undefined : Math.round(stopSec * 1000),
    machineId: get(WORKER_ENV.machineId)?.trim() ?? `${hostname()}-${process.pid}`,
    heartbeatMs: Math.round(heartbeatSec * 1000),
  };
}
