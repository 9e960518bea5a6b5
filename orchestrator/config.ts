/**
 * Orchestrator configuration, parsed once from an environment record. Every variable is listed in
 * the README's settings table; a bad value fails at startup with the variable's name.
 */
import os from "node:os";
import path from "node:path";
import { z } from "zod";
import { NatsServerListError, parseNatsServers } from "../contract/nats-servers.ts";
import { parseTrustProxy, type TrustProxy } from "./http/client-address.ts";
import { GUEST_PRESETS, isGuestPreset, MAX_STOP_TIMEOUT_SEC } from "./fleet/machine.ts";
import { chunkPadding, MAX_CHUNK_PAD_SECONDS, type SidePadding } from "./ingest/chunk-context.ts";
import { CHUNK_SECONDS, describeBounds, withinBounds } from "./input-bounds.ts";
import type { NatsAuth } from "./queue/nats-credentials.ts";

/**
 * Leader lease TTL (cluster/leader-lease.ts): a SIGKILLed leader's key ages out after at most this,
 * and a follower retries every quarter of it, so a successor leads within about 1.25 × this (7.5 s).
 */
export const DEFAULT_LEADER_LEASE_SEC = 6;

/** The fleet controller stops a worker machine with stop_config.timeout = worker stop timeout + this. */
export const STOP_TIMEOUT_MARGIN_SEC = 5;

const flag = z.enum(["0", "1", "true", "false", "yes", "no"]).transform((v) => v === "1" || v === "true" || v === "yes");

const positiveInt = z.coerce.number().int().positive();
const nonNegativeInt = z.coerce.number().int().nonnegative();

/** One NATS URL or a comma-separated list of a cluster's servers (contract/nats-servers.ts); the error names the bad entry. */
const natsUrl = z.string().superRefine((value, ctx) => {
  try {
    parseNatsServers(value);
  } catch (err) {
    if (!(err instanceof NatsServerListError)) throw err;
    ctx.addIssue({ code: "custom", message: `${err.message} (a nats://host:port URL, or several separated by commas)` });
  }
});
const databaseUrl = z
  .string()
  .regex(/^(file:|libsql:\/\/|https?:\/\/|wss?:\/\/)\S+$/, "must be file:PATH, libsql://HOST, or http(s)://HOST of a sqld server");

/** Each entry: environment variable → schema. Defaults that depend on the machine are applied after parsing. */
const EnvSchema = z.object({
  PODFLEET_DATA_DIR: z.string().min(1).optional(),
  PODFLEET_HOST: z.string().min(1).default("127.0.0.1"),
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  PODFLEET_PUBLIC_URL: z.url().optional(),
  NATS_URL: natsUrl.optional(),
  NATS_TOKEN: z.string().min(1).optional(),
  NATS_USER: z.string().min(1).optional(),
  NATS_PASSWORD: z.string().min(1).optional(),
  PODFLEET_WORKER_NATS_URL: natsUrl.optional(),
  PODFLEET_WORKER_NATS_USER: z.string().min(1).optional(),
  PODFLEET_WORKER_NATS_PASSWORD: z.string().min(1).optional(),
  // JetStream replicas of every stream and bucket; absent = min(3, cluster size) (queue/nats-replicas.ts)
  PODFLEET_NATS_REPLICAS: z.coerce.number().int().min(1, "must be 1 to 5").max(5, "must be 1 to 5").optional(),
  PODFLEET_ADMIN_TOKEN: z.string().min(32, "must be at least 32 characters (e.g. openssl rand -hex 32)").optional(),
  PODFLEET_NATS_PREFIX: z
    .string()
    .regex(/^[a-z][a-z0-9_-]{0,31}$/, "lowercase letters, digits, - or _ (max 32)")
    .default("podfleet"),
  DATABASE_URL: databaseUrl.optional(),
  DATABASE_AUTH_TOKEN: z.string().min(1).optional(),
  FLY_API_TOKEN: z.string().min(1).optional(),
  FLY_APP: z.string().min(1).optional(),
  FLY_API_URL: z.url().default("https://api.machines.dev/v1"),
  PODFLEET_WORKER_IMAGE: z.string().min(1).optional(),
  PODFLEET_ENGINE: z.enum(["pocketsphinx", "whisper", "synthetic"]).default("pocketsphinx"),
  PODFLEET_SYNTHETIC_RTF: z.coerce.number().min(0).max(1000).optional(),
  PODFLEET_WHISPER_MODEL: z
    .string()
    .regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, "a model name such as base.en or large-v3-turbo-q5_0")
    .optional(),
  PODFLEET_MAX_MACHINES: nonNegativeInt.optional(),
  PODFLEET_CHUNK_SECONDS: z.coerce
    .number()
    .refine((n) => withinBounds(n, CHUNK_SECONDS), `must be ${describeBounds(CHUNK_SECONDS)}`)
    // 30 s had the lowest seam cost on the six-voice set, with padding only at cuts in speech (BENCHMARKS.md, "Seams")
    .default(30),
  PODFLEET_CHUNK_PAD_SECONDS: z.coerce.number().min(0).max(MAX_CHUNK_PAD_SECONDS).optional(),
  PODFLEET_CHUNK_PAD_AFTER_SECONDS: z.coerce.number().min(0).max(MAX_CHUNK_PAD_SECONDS).optional(),
  PODFLEET_CHUNK_PAD_SPEECH_SECONDS: z.coerce.number().min(0).max(MAX_CHUNK_PAD_SECONDS).optional(),
  PODFLEET_IDLE_TIMEOUT_SEC: positiveInt.default(30),
  PODFLEET_ACK_WAIT_SEC: positiveInt.default(60),
  PODFLEET_MAX_ATTEMPTS: positiveInt.default(5),
  PODFLEET_MAX_AUDIO_BYTES: positiveInt.default(2 * 1024 ** 3),
  PODFLEET_UPLOAD_IDLE_SEC: positiveInt.max(3600).default(60),
  PODFLEET_FETCH_TIMEOUT_SEC: positiveInt.default(600),
  PODFLEET_FETCH_RETRY_WINDOW_SEC: z.coerce
    .number()
    .min(0)
    .max(7 * 24 * 3600)
    .default(3600),
  PODFLEET_FETCH_RETRY_DELAY_SEC: z.coerce.number().min(0.01).max(3600).default(30),
  PODFLEET_MAX_DOWNLOADS: positiveInt.default(4),
  PODFLEET_MAX_STREAMED_UPLOADS: positiveInt.default(4),
  PODFLEET_FEED_ITEM_ATTEMPTS: positiveInt.max(100).default(3),
  PODFLEET_CLAIM_TTL_SEC: z.coerce.number().min(1).max(600).default(15),
  PODFLEET_FETCH_MIN_BYTES_PER_SEC: nonNegativeInt.default(8192),
  PODFLEET_FETCH_MIN_RATE_WINDOW_SEC: positiveInt.default(30),
  PODFLEET_ALLOW_PRIVATE_URLS: flag.default(false),
  PODFLEET_MAX_JSON_BYTES: positiveInt.default(1024 * 1024),
  PODFLEET_RATE_LIMIT_PER_MIN: nonNegativeInt.default(60),
  PODFLEET_RATE_LIMIT_BURST: positiveInt.default(30),
  PODFLEET_TRUST_PROXY: z
    .string()
    .transform((v, ctx) => {
      try {
        return parseTrustProxy(v);
      } catch (err) {
        ctx.addIssue({ code: "custom", message: (err as Error).message });
        return z.NEVER;
      }
    })
    .optional(),
  PODFLEET_AUTOSCALE_INTERVAL_MS: positiveInt.default(2000),
  PODFLEET_SWEEP_INTERVAL_MS: positiveInt.default(10_000),
  PODFLEET_LEADER_LEASE_SEC: z.coerce.number().int().min(2).max(600).default(DEFAULT_LEADER_LEASE_SEC),
  PODFLEET_MAX_STARTING: positiveInt.default(4),
  PODFLEET_MAX_LIFETIME_SEC: z.coerce.number().int().min(10).default(3600),
  PODFLEET_REGIONS: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{1,19}(,[a-z0-9][a-z0-9-]{1,19})*$/, "comma-separated region codes, e.g. iad,ord")
    .optional(),
  PODFLEET_WORKER_SIZE: z
    .string()
    .refine(isGuestPreset, `a Fly CPU size preset: ${Object.keys(GUEST_PRESETS).join(", ")}`)
    .optional(),
  PODFLEET_WARM_POOL: nonNegativeInt.default(0),
  PODFLEET_DAILY_BUDGET_MACHINE_SECONDS: z.coerce.number().positive().optional(),
  PODFLEET_WEDGED_SEC: positiveInt.default(300),
  PODFLEET_BOOT_DEADLINE_SEC: positiveInt.default(120),
  PODFLEET_STRANDED_SEC: positiveInt.optional(),
  // The machine's stop_config.timeout is this + 5 s, and Fly's longest kill timeout is 300 s.
  PODFLEET_WORKER_STOP_TIMEOUT_SEC: positiveInt
    .max(
      MAX_STOP_TIMEOUT_SEC - STOP_TIMEOUT_MARGIN_SEC,
      `at most ${MAX_STOP_TIMEOUT_SEC - STOP_TIMEOUT_MARGIN_SEC} (a machine's stop timeout is this + ${STOP_TIMEOUT_MARGIN_SEC} s, and Fly allows at most ${MAX_STOP_TIMEOUT_SEC} s)`,
    )
    .default(10),
  PODFLEET_LOCAL_MACHINES_RATE_LIMIT: flag.default(true),
  PODFLEET_HEARTBEAT_SEC: positiveInt.default(10),
  PODFLEET_HEARTBEAT_LIMIT_SEC: positiveInt.optional(),
  PODFLEET_BOOT_BACKOFF_SEC: positiveInt.default(5),
  PODFLEET_BOOT_BACKOFF_MAX_SEC: positiveInt.default(300),
  PODFLEET_MODELS_DIR: z.string().min(1).optional(),
  PODFLEET_LOCAL_MACHINE_ENV: z
    .string()
    .regex(/^\s*[A-Za-z_][A-Za-z0-9_]*(\s*,\s*[A-Za-z_][A-Za-z0-9_]*)*\s*$/, "must be a comma-separated list of variable names")
    .optional(),
  PODFLEET_LOG_LEVEL: z.enum(["debug", "info", "warn", "error", "silent"]).default("info"),
  PODFLEET_PRICE_PER_MACHINE_SECOND: z.coerce.number().min(0).max(1).optional(),
});

export interface Config {
  dataDir: string;
  /**
   * The PODFLEET_* variables this config was parsed from, secrets (names with TOKEN, SECRET,
   * PASSWORD or KEY) as "(set)": what `GET /v1/admin/settings` shows, so a CLI command can warn
   * when its own environment differs from the running orchestrator's.
   */
  settings: Record<string, string>;
  host: string;
  port: number;
  publicUrl: string | undefined;
  /** What one machine-second costs (any currency), for the dashboard's cost estimate; undefined: not shown. */
  pricePerMachineSecond: number | undefined;
  nats: {
    /** NATS_URL as given: one URL or a comma-separated server list; undefined = the embedded nats-server. */
    url: string | undefined;
    /** The same split into entries (each checked), what the client connects with; empty = embedded. */
    servers: string[];
    workerUrl: string | undefined;
    /** PODFLEET_NATS_REPLICAS: replicas of every stream and bucket; undefined = min(3, cluster size). */
    replicas: number | undefined;
    prefix: string;
    /** How the orchestrator authenticates: NATS_USER/NATS_PASSWORD or NATS_TOKEN. With the embedded server, NATS_TOKEN is the orchestrator user's password. */
    auth: NatsAuth;
    /** The workers' own account on an external NATS (PODFLEET_WORKER_NATS_USER/PASSWORD); the embedded server makes its own. */
    workerAuth: NatsAuth | undefined;
  };
  /** An admin API token given by the environment (PODFLEET_ADMIN_TOKEN), e.g. a Fly secret; accepted besides the data-dir token. */
  adminToken: string | undefined;
  database: { url: string; authToken: string | undefined };
  /** Fly Machines API when FLY_API_TOKEN and FLY_APP are set; otherwise the embedded local runtime. */
  machines:
    | { kind: "fly"; apiUrl: string; token: string; app: string; image: string }
    | { kind: "local"; image: string; /** Fly's per-action API rate limits (429 + Retry-After) in the local runtime. */ rateLimit: boolean };
  /** "synthetic" is benchmark-only (machine-image/worker/synthetic-engine.ts). */
  engine: "pocketsphinx" | "whisper" | "synthetic";
  /** Whisper model the workers load (their WHISPER_MODEL); undefined = the worker image's default. */
  whisperModel: string | undefined;
  /** Benchmark engine only: seconds of sleep per second of audio the synthetic workers use; undefined = the worker's default (0.1). */
  syntheticRtf: number | undefined;
  /**
   * Where workers find whisper models (their PODFLEET_MODELS_DIR): the variable, else on the local
   * runtime `<data-dir>/models` (where `podfleet models pull` puts them); undefined on Fly = the image's (/models).
   */
  modelsDir: string | undefined;
  /**
   * Local runtime only: the variables of the orchestrator's environment that reach local machines,
   * as named by PODFLEET_LOCAL_MACHINE_ENV (default: the whisper.cpp engine's WHISPER_SERVER_BIN,
   * WHISPER_THREADS, WHISPER_TIMEOUT_SEC), with their values; besides PATH, HOME, TMPDIR and LANG.
   */
  localMachineEnv: Record<string, string>;
  maxMachines: number;
  chunkSeconds: number;
  /** Context padding each chunk is transcribed with before and after its core, seconds (ingest/chunk-context.ts). */
  chunkPadSec: SidePadding;
  idleTimeoutSec: number;
  ackWaitSec: number;
  maxAttempts: number;
  maxAudioBytes: number;
  /** An upload (or any request body) that sends nothing for this long is refused (408); the whole request has no time limit. */
  uploadIdleSec: number;
  fetchTimeoutSec: number;
  /**
   * Transient download failures (5xx, 429, timeouts, DNS, refused connections) are retried with
   * back-off from `delaySec` (doubling, with jitter, at least the server's Retry-After) while the
   * next try starts within `windowSec` of the first failure; windowSec 0 = fail at once.
   */
  fetchRetry: { windowSec: number; delaySec: number };
  /** Downloads at once, in slots of their own (uploads never wait behind a slow download). */
  maxDownloads: number;
  /** Uploads decoded while they arrive, at once: slots of their own (ingest-slots.ts); more wait and catch up from their file. */
  maxStreamedUploads: number;
  /** Runs of a feed item's episode (first + retries by later polls) before the poller gives up on it. */
  feedItemAttempts: number;
  /**
   * How long an orchestrator's claim on an ingest or a stitch lasts without renewal (renewed every
   * third of it): after this, another orchestrator takes the work over (cluster/work-claims.ts).
   */
  claimTtlSec: number;
  /** A download averaging less than bytesPerSec over any windowSec is aborted as too slow; bytesPerSec 0 = no check. */
  fetchMinRate: { bytesPerSec: number; windowSec: number };
  allowPrivateUrls: boolean;
  /** Largest JSON/webhook request body; bigger → 413. */
  maxJsonBytes: number;
  /** Token bucket per client address on submit and hook endpoints; perMinute 0 = off. */
  rateLimit: { perMinute: number; burst: number };
  /** Whose forwarding headers name the client for the rate limit (PODFLEET_TRUST_PROXY); default none. */
  trustProxy: TrustProxy;
  autoscaleIntervalMs: number;
  /** TTL of the leader lease (PODFLEET_LEADER_LEASE_SEC): singleton duties run on the orchestrator holding it. */
  leaderLeaseSec: number;
  /** Fleet defaults: operator changes through PUT /v1/fleet/limits override them at runtime. */
  fleet: {
    maxStarting: number;
    maxLifetimeSec: number;
    regions: string[];
    workerSize: string | undefined;
    warmPool: number;
    dailyBudgetMachineSeconds: number | undefined;
    sweepIntervalMs: number;
    wedgedSec: number;
    bootDeadlineSec: number;
    stopTimeoutSec: number;
    /** A queued chunk with no job left in the queue after this long is published again; default 2 × ack wait + 60 s (the longest nak back-off). */
    strandedSec: number;
    /** Workers publish a heartbeat this often while they run a chunk (their PODFLEET_HEARTBEAT_SEC). */
    heartbeatSec: number;
    /** A chunk whose holder sent no heartbeat for this long is re-queued, whoever the holder is; default 3 × heartbeatSec. */
    heartbeatLimitSec: number;
    /** After consecutive boot failures machine creation waits this long, doubling up to bootBackoffMaxSec. */
    bootBackoffSec: number;
    bootBackoffMaxSec: number;
  };
  logLevel: "debug" | "info" | "warn" | "error" | "silent";
  /** Fixed tuning numbers of the orchestrator's parts (no variable sets them): kept here so every number lives in one place. */
  tuning: Tuning;
}

export interface Tuning {
  /** Longest autoscaler / sweeper pass before the pass runner gives up on it. */
  autoscalePassTimeoutMs: number;
  sweepPassTimeoutMs: number;
  /** The sweeper destroys at most this many machines per pass. */
  maxDestroysPerPass: number;
  /** A worker past its max lifetime is destroyed after its stop timeout plus this grace. */
  lifetimeGraceSec: number;
  /** Episodes ingested (fetched, decoded, cut) at once. */
  maxConcurrentIngests: number;
  /** Feed poller: period, pass timeout, feeds fetched at once. */
  feedPollIntervalMs: number;
  feedPollTimeoutMs: number;
  maxFeedFetches: number;
  /** Completion callbacks: backstop period (finished episodes and due retries wake the pass) and pass timeout. */
  callbackIntervalMs: number;
  callbackTimeoutMs: number;
  /** The orchestrator's NATS connection retries forever, this far apart. */
  natsReconnectWaitMs: number;
}

export const DEFAULT_TUNING: Readonly<Tuning> = {
  autoscalePassTimeoutMs: 60_000,
  sweepPassTimeoutMs: 120_000,
  maxDestroysPerPass: 20,
  lifetimeGraceSec: 60,
  maxConcurrentIngests: 2,
  feedPollIntervalMs: 10_000,
  feedPollTimeoutMs: 300_000,
  maxFeedFetches: 4,
  callbackIntervalMs: 30_000,
  callbackTimeoutMs: 120_000,
  natsReconnectWaitMs: 500,
};

export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Flags from the command line win over the environment. */
export interface ConfigOverrides {
  dataDir?: string | undefined;
  port?: number | undefined;
  host?: string | undefined;
}

/** What PODFLEET_LOCAL_MACHINE_ENV names when unset: the whisper.cpp engine's own settings. */
export const DEFAULT_LOCAL_MACHINE_ENV = "WHISPER_SERVER_BIN,WHISPER_THREADS,WHISPER_TIMEOUT_SEC";

const SECRET_NAME = /TOKEN|SECRET|PASSWORD|KEY/;

/** PODFLEET_* variables as given, secret ones reduced to "(set)" (see Config.settings). */
export function launchSettings(env: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith("PODFLEET_") || value === undefined || value === "") continue;
    out[name] = SECRET_NAME.test(name) ? "(set)" : value;
  }
  return out;
}

export function parseConfig(env: Record<string, string | undefined>, overrides: ConfigOverrides = {}): Config {
  // Empty strings mean "unset": a blank `NATS_URL=` in a .env file must not turn into a bad URL.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ""));
  const parsed = EnvSchema.safeParse(cleaned);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const name = String(issue.path[0] ?? "environment");
    throw new ConfigError(`invalid ${name}: ${issue.message}`);
  }
  const e = parsed.data;
  const dataDir = path.resolve(overrides.dataDir ?? e.PODFLEET_DATA_DIR ?? ".podfleet");

  if (Boolean(e.FLY_API_TOKEN) !== Boolean(e.FLY_APP)) {
    throw new ConfigError(`invalid ${e.FLY_API_TOKEN ? "FLY_APP" : "FLY_API_TOKEN"}: FLY_API_TOKEN and FLY_APP must be set together`);
  }
  const fly = e.FLY_API_TOKEN && e.FLY_APP;
  if (fly && !e.PODFLEET_WORKER_IMAGE) {
    throw new ConfigError("invalid PODFLEET_WORKER_IMAGE: required with FLY_API_TOKEN (e.g. registry.fly.io/APP:TAG)");
  }
  const pair = (user: string, password: string): void => {
    if (Boolean(cleaned[user]) !== Boolean(cleaned[password])) {
      throw new ConfigError(`invalid ${cleaned[user] ? password : user}: ${user} and ${password} must be set together`);
    }
  };
  pair("NATS_USER", "NATS_PASSWORD");
  pair("PODFLEET_WORKER_NATS_USER", "PODFLEET_WORKER_NATS_PASSWORD");
  if (e.NATS_USER && e.NATS_TOKEN) throw new ConfigError("invalid NATS_TOKEN: set NATS_TOKEN or NATS_USER/NATS_PASSWORD, not both");
  if (e.PODFLEET_WORKER_NATS_USER && !e.NATS_URL) {
    throw new ConfigError("invalid PODFLEET_WORKER_NATS_USER: the embedded nats-server makes its own worker account; set it only with NATS_URL");
  }
  if (e.PODFLEET_NATS_REPLICAS !== undefined && e.PODFLEET_NATS_REPLICAS > 1 && !e.NATS_URL) {
    throw new ConfigError("invalid PODFLEET_NATS_REPLICAS: the embedded nats-server is one node (replicas 1); more need a NATS cluster in NATS_URL");
  }
  if (e.PODFLEET_HEARTBEAT_LIMIT_SEC !== undefined && e.PODFLEET_HEARTBEAT_LIMIT_SEC <= e.PODFLEET_HEARTBEAT_SEC) {
    throw new ConfigError(
      "invalid PODFLEET_HEARTBEAT_LIMIT_SEC: must be longer than PODFLEET_HEARTBEAT_SEC (e.g. 3 × it), or a live worker loses its chunk",
    );
  }
  if (e.PODFLEET_SYNTHETIC_RTF !== undefined && e.PODFLEET_ENGINE !== "synthetic") {
    throw new ConfigError("invalid PODFLEET_SYNTHETIC_RTF: it sets the benchmark-only synthetic engine; set it only with PODFLEET_ENGINE=synthetic");
  }
  if (fly && !e.NATS_URL) {
    throw new ConfigError("invalid NATS_URL: Fly workers cannot reach an embedded nats-server; set NATS_URL");
  }

  return {
    dataDir,
    settings: launchSettings(cleaned),
    host: overrides.host ?? e.PODFLEET_HOST,
    port: overrides.port ?? e.PORT,
    publicUrl: e.PODFLEET_PUBLIC_URL,
    pricePerMachineSecond: e.PODFLEET_PRICE_PER_MACHINE_SECOND,
    nats: {
      url: e.NATS_URL,
      servers: e.NATS_URL ? parseNatsServers(e.NATS_URL) : [],
      workerUrl: e.PODFLEET_WORKER_NATS_URL,
      replicas: e.PODFLEET_NATS_REPLICAS,
      prefix: e.PODFLEET_NATS_PREFIX,
      auth: e.NATS_USER ? { user: e.NATS_USER, password: e.NATS_PASSWORD! } : e.NATS_TOKEN ? { token: e.NATS_TOKEN } : {},
      workerAuth: e.PODFLEET_WORKER_NATS_USER ? { user: e.PODFLEET_WORKER_NATS_USER, password: e.PODFLEET_WORKER_NATS_PASSWORD! } : undefined,
    },
    adminToken: e.PODFLEET_ADMIN_TOKEN,
    database: { url: e.DATABASE_URL ?? `file:${path.join(dataDir, "podfleet.db")}`, authToken: e.DATABASE_AUTH_TOKEN },
    machines: fly
      ? { kind: "fly", apiUrl: e.FLY_API_URL, token: e.FLY_API_TOKEN!, app: e.FLY_APP!, image: e.PODFLEET_WORKER_IMAGE! }
      : { kind: "local", image: e.PODFLEET_WORKER_IMAGE ?? "podfleet-worker:local", rateLimit: e.PODFLEET_LOCAL_MACHINES_RATE_LIMIT },
    engine: e.PODFLEET_ENGINE,
    whisperModel: e.PODFLEET_WHISPER_MODEL,
    syntheticRtf: e.PODFLEET_SYNTHETIC_RTF,
    modelsDir: e.PODFLEET_MODELS_DIR !== undefined ? path.resolve(e.PODFLEET_MODELS_DIR) : fly ? undefined : path.join(dataDir, "models"),
    localMachineEnv: Object.fromEntries(
      (e.PODFLEET_LOCAL_MACHINE_ENV ?? DEFAULT_LOCAL_MACHINE_ENV)
        .split(",")
        .map((n) => n.trim())
        .flatMap((n) => (cleaned[n] !== undefined ? [[n, cleaned[n]]] : [])),
    ),
    maxMachines: e.PODFLEET_MAX_MACHINES ?? (fly ? 10 : os.availableParallelism()),
    chunkSeconds: e.PODFLEET_CHUNK_SECONDS,
    chunkPadSec: chunkPadding(e.PODFLEET_CHUNK_PAD_SECONDS, e.PODFLEET_CHUNK_PAD_AFTER_SECONDS, e.PODFLEET_CHUNK_PAD_SPEECH_SECONDS),
    idleTimeoutSec: e.PODFLEET_IDLE_TIMEOUT_SEC,
    ackWaitSec: e.PODFLEET_ACK_WAIT_SEC,
    maxAttempts: e.PODFLEET_MAX_ATTEMPTS,
    maxAudioBytes: e.PODFLEET_MAX_AUDIO_BYTES,
    uploadIdleSec: e.PODFLEET_UPLOAD_IDLE_SEC,
    fetchTimeoutSec: e.PODFLEET_FETCH_TIMEOUT_SEC,
    fetchRetry: { windowSec: e.PODFLEET_FETCH_RETRY_WINDOW_SEC, delaySec: e.PODFLEET_FETCH_RETRY_DELAY_SEC },
    maxDownloads: e.PODFLEET_MAX_DOWNLOADS,
    maxStreamedUploads: e.PODFLEET_MAX_STREAMED_UPLOADS,
    feedItemAttempts: e.PODFLEET_FEED_ITEM_ATTEMPTS,
    claimTtlSec: e.PODFLEET_CLAIM_TTL_SEC,
    fetchMinRate: { bytesPerSec: e.PODFLEET_FETCH_MIN_BYTES_PER_SEC, windowSec: e.PODFLEET_FETCH_MIN_RATE_WINDOW_SEC },
    allowPrivateUrls: e.PODFLEET_ALLOW_PRIVATE_URLS,
    maxJsonBytes: e.PODFLEET_MAX_JSON_BYTES,
    rateLimit: { perMinute: e.PODFLEET_RATE_LIMIT_PER_MIN, burst: e.PODFLEET_RATE_LIMIT_BURST },
    trustProxy: e.PODFLEET_TRUST_PROXY ?? { kind: "none" },
    autoscaleIntervalMs: e.PODFLEET_AUTOSCALE_INTERVAL_MS,
    leaderLeaseSec: e.PODFLEET_LEADER_LEASE_SEC,
    fleet: {
      maxStarting: e.PODFLEET_MAX_STARTING,
      maxLifetimeSec: e.PODFLEET_MAX_LIFETIME_SEC,
      regions: e.PODFLEET_REGIONS ? e.PODFLEET_REGIONS.split(",") : [],
      workerSize: e.PODFLEET_WORKER_SIZE,
      warmPool: e.PODFLEET_WARM_POOL,
      dailyBudgetMachineSeconds: e.PODFLEET_DAILY_BUDGET_MACHINE_SECONDS,
      sweepIntervalMs: e.PODFLEET_SWEEP_INTERVAL_MS,
      wedgedSec: e.PODFLEET_WEDGED_SEC,
      bootDeadlineSec: e.PODFLEET_BOOT_DEADLINE_SEC,
      stopTimeoutSec: e.PODFLEET_WORKER_STOP_TIMEOUT_SEC,
      strandedSec: e.PODFLEET_STRANDED_SEC ?? 2 * e.PODFLEET_ACK_WAIT_SEC + 60,
      heartbeatSec: e.PODFLEET_HEARTBEAT_SEC,
      heartbeatLimitSec: e.PODFLEET_HEARTBEAT_LIMIT_SEC ?? 3 * e.PODFLEET_HEARTBEAT_SEC,
      bootBackoffSec: e.PODFLEET_BOOT_BACKOFF_SEC,
      bootBackoffMaxSec: Math.max(e.PODFLEET_BOOT_BACKOFF_MAX_SEC, e.PODFLEET_BOOT_BACKOFF_SEC),
    },
    logLevel: e.PODFLEET_LOG_LEVEL,
    tuning: { ...DEFAULT_TUNING },
  };
}
