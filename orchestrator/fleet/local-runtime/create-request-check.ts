/**
 * Type checks of a create-machine body, as strict as Fly: Fly decodes the body into Go structs,
 * so a field of the wrong JSON type (`"memory_mb": "2048"`, an env value that is a number) is a
 * 400 before anything else happens. The field table below follows the swagger definitions
 * `CreateMachineRequest`, `fly.MachineConfig`, `fly.MachineGuest`, `fly.MachineInit`,
 * `fly.MachineRestart` and `fly.StopConfig` (../shared/reference/fly-machines-swagger.json).
 * Like Go, unknown fields and `null` values are accepted (left at their zero value).
 */
import { durationMs, MAX_STOP_TIMEOUT_SEC } from "../machine.ts";

type FieldType =
  | "string"
  | "integer"
  | "boolean"
  /** `fly.Duration`: a Go duration string or an integer number of nanoseconds. */
  | "duration"
  | { enum: readonly string[] }
  | { map: "string" }
  | { array: "string" }
  | { object: Fields };
type Fields = Readonly<Record<string, FieldType>>;

const STRINGS = { array: "string" } as const;

const GUEST: Fields = {
  cpu_kind: "string",
  cpus: "integer",
  memory_mb: "integer",
  gpu_kind: "string",
  gpus: "integer",
  host_dedication_id: "string",
  kernel_args: STRINGS,
};
const INIT: Fields = {
  cmd: STRINGS,
  entrypoint: STRINGS,
  exec: STRINGS,
  kernel_args: STRINGS,
  swap_size_mb: "integer",
  tty: "boolean",
};
const RESTART: Fields = { policy: { enum: ["no", "always", "on-failure"] }, max_retries: "integer" };
const STOP: Fields = { signal: "string", timeout: "duration" };
const CONFIG: Fields = {
  image: "string",
  env: { map: "string" },
  metadata: { map: "string" },
  guest: { object: GUEST },
  size: "string",
  init: { object: INIT },
  restart: { object: RESTART },
  stop_config: { object: STOP },
  auto_destroy: "boolean",
  schedule: "string",
  standbys: STRINGS,
};
const CREATE: Fields = {
  config: { object: CONFIG },
  name: "string",
  region: "string",
  skip_launch: "boolean",
  skip_service_registration: "boolean",
  lease_ttl: "integer",
  lsvd: "boolean",
};

function kindOf(value: unknown): string {
  if (Array.isArray(value)) return "array";
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
  return typeof value;
}

/** The first type problem under `path`, as "path: expected X, got Y", or undefined. */
function check(value: unknown, type: FieldType, path: string): string | undefined {
  if (value === null) return undefined;
  const got = kindOf(value);
  const wrong = (expected: string) => `${path}: expected ${expected}, got ${got}`;
  if (type === "string" || type === "boolean") return got === type ? undefined : wrong(type);
  if (type === "integer") return got === "integer" ? undefined : wrong("integer");
  if (type === "duration") {
    if (got !== "string" && got !== "integer") return wrong('a duration ("10s") or integer nanoseconds');
    const ms = durationMs(value);
    if (ms === undefined) return `${path}: not a duration: ${JSON.stringify(value)}`;
    if (ms > MAX_STOP_TIMEOUT_SEC * 1000) return `${path}: ${JSON.stringify(value)} is longer than the maximum of ${MAX_STOP_TIMEOUT_SEC}s`;
    return undefined;
  }
  if ("enum" in type) {
    if (got !== "string") return wrong("string");
    return type.enum.includes(value as string) ? undefined : `${path}: must be one of ${type.enum.join(", ")}`;
  }
  if ("array" in type) {
    if (got !== "array") return wrong("array of strings");
    const items = value as unknown[];
    for (let i = 0; i < items.length; i += 1) {
      const problem = check(items[i], "string", `${path}[${i}]`);
      if (problem) return problem;
    }
    return undefined;
  }
  if (got !== "object") return wrong("object");
  const record = value as Record<string, unknown>;
  if ("map" in type) {
    for (const [key, item] of Object.entries(record)) {
      // Go decodes null into a map[string]string entry as ""; a number or object is an error.
      const problem = check(item, "string", `${path}.${key}`);
      if (problem) return problem;
    }
    return undefined;
  }
  for (const [key, fieldType] of Object.entries(type.object)) {
    if (!(key in record)) continue;
    const problem = check(record[key], fieldType, path ? `${path}.${key}` : key);
    if (problem) return problem;
  }
  return undefined;
}

/** The first type error in a create-machine body (e.g. "config.guest.memory_mb: expected integer, got string"). */
export function createRequestProblem(body: unknown): string | undefined {
  return check(body, { object: CREATE }, "");
}
