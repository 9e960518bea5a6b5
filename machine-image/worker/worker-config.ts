/**
 * The worker's configuration, parsed once from the environment the orchestrator gives a machine
 * (names in contract/wire.ts WORKER_ENV). A bad value fails fast with the variable's name.
 */
import { hostname } from "node:os";
import { z } from "zod";
import { WORKER_ENV, wireNames } from "../../contract/wire.ts";

/** Engines this image can run; anything else is refused at startup. */
export const IMPLEMENTED_ENGINES = ["pocketsphinx"] as const;
export type EngineName = (typeof IMPLEMENTED_ENGINES)[number];

export interface WorkerConfig {
  readonly natsUrl: string;
  /** Present only when set; never logged. */
  readonly natsToken: string | undefined;
  readonly natsPrefix: string;
  readonly engine: EngineName;
  readonly idleTimeoutMs: number;
  readonly maxLifetimeMs: number | undefined;
  readonly machineId: string;
}

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

const natsServer = z
  .string()
  .trim()
  .refine(
    (s) => s.split(",").every((part) => /^((nats|tls|ws|wss):\/\/)?(\[[0-9a-fA-F:.]+\]|[^\s/:@[\]]+)(:\d+)?\/?$/.test(part.replace(/\/\/[^@/]*@/, "//").trim())),
    "must be a NATS server URL such as nats://host:4222 (comma-separate several)",
  );

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
  return {
    natsUrl,
    natsToken: get(WORKER_ENV.natsToken),
    natsPrefix,
    engine: engineName as EngineName,
    idleTimeoutMs: Math.round(idleSec * 1000),
    maxLifetimeMs: lifetimeSec === undefined ? undefined : Math.round(lifetimeSec * 1000),
    machineId: get(WORKER_ENV.machineId)?.trim() ?? `${hostname()}-${process.pid}`,
  };
}
