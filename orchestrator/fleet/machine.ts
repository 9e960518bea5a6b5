/**
 * Types for the subset of the Fly Machines API JSON that podfleet uses, shared by the
 * HTTP client and the local runtime so both speak exactly the same shapes.
 * Field names follow Fly's snake_case wire format on purpose.
 */

/** States a machine can rest in. */
export const PERSISTENT_STATES = ["created", "started", "stopped", "suspended", "failed"] as const;
/** States a machine passes through on its way to a persistent or terminal state. */
export const TRANSIENT_STATES = [
  "creating",
  "starting",
  "stopping",
  "restarting",
  "suspending",
  "destroying",
  "launch_failed",
  "updating",
  "replacing",
] as const;
/**
 * States a machine never leaves: destroyed, or replaced by a new version of itself (an update),
 * or migrated to another host (the machine id lives on there, this instance does not).
 */
export const TERMINAL_STATES = ["destroyed", "replaced", "migrated"] as const;
/** Every state name, in one list. */
export const MACHINE_STATES = [...PERSISTENT_STATES, ...TRANSIENT_STATES, ...TERMINAL_STATES] as const;

export type PersistentState = (typeof PERSISTENT_STATES)[number];
export type TransientState = (typeof TRANSIENT_STATES)[number];
export type TerminalState = (typeof TERMINAL_STATES)[number];
export type MachineState = PersistentState | TransientState | TerminalState;

/** States `GET .../wait` accepts. */
export const WAITABLE_STATES = ["started", "stopped", "suspended", "destroyed"] as const;
export type WaitableState = (typeof WAITABLE_STATES)[number];

const has = (list: readonly string[], value: unknown): boolean => typeof value === "string" && list.includes(value);

/** True for any state name Fly documents. */
export function isMachineState(value: unknown): value is MachineState {
  return has(MACHINE_STATES, value);
}
export function isPersistentState(value: unknown): value is PersistentState {
  return has(PERSISTENT_STATES, value);
}
export function isTransientState(value: unknown): value is TransientState {
  return has(TRANSIENT_STATES, value);
}
export function isTerminalState(value: unknown): value is TerminalState {
  return has(TERMINAL_STATES, value);
}
export function isWaitableState(value: unknown): value is WaitableState {
  return has(WAITABLE_STATES, value);
}

/** CPU/GPU sizing; `memory_mb` must be a multiple of 256 on Fly. */
export interface GuestConfig {
  cpu_kind: "shared" | "performance";
  cpus: number;
  memory_mb: number;
  gpu_kind?: string;
  gpus?: number;
}

/**
 * Fly's CPU size presets as explicit guests: Fly deprecated `config.size` in favour of `guest`, so
 * a preset an operator names is sent as the CPUs and memory it stands for (Fly's defaults:
 * 256 MB per shared CPU, 2048 MB per performance CPU).
 */
export const GUEST_PRESETS: Readonly<Record<string, GuestConfig>> = Object.fromEntries<GuestConfig>([
  ...[1, 2, 4, 8].map((n) => [`shared-cpu-${n}x`, { cpu_kind: "shared", cpus: n, memory_mb: 256 * n }] as const),
  ...[1, 2, 4, 8, 16].map((n) => [`performance-${n}x`, { cpu_kind: "performance", cpus: n, memory_mb: 2048 * n }] as const),
]);

/** True for a size preset podfleet can turn into a guest. */
export function isGuestPreset(name: string): boolean {
  return Object.hasOwn(GUEST_PRESETS, name);
}

export type RestartPolicy = "no" | "on-failure" | "always";

export interface RestartConfig {
  policy: RestartPolicy;
  /** Restarts allowed for on-failure/always before the machine stays stopped. */
  max_retries?: number;
}

export interface InitConfig {
  exec?: string[];
  entrypoint?: string[];
  cmd?: string[];
}

export interface StopConfig {
  signal?: string;
  /** A Go duration string ("10s"), or a number of nanoseconds (Fly's `fly.Duration`); at most 300 s. */
  timeout?: string | number;
}

/** Fly's longest stop (kill) timeout: `stop_config.timeout` and a stop request's `timeout`. */
export const MAX_STOP_TIMEOUT_SEC = 300;

/**
 * Parses Fly's `fly.Duration`: a Go duration string ("5s", "1m30s", "500ms") or a number of
 * nanoseconds, as Fly's Go code reads it. Returns milliseconds, or undefined when not a duration.
 */
export function durationMs(value: unknown): number | undefined {
  if (typeof value === "number") return Number.isFinite(value) && value >= 0 ? value / 1e6 : undefined;
  if (typeof value !== "string" || value.trim() === "") return undefined;
  const unitMs: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  let rest = value;
  const part = /^(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/;
  while (rest.length > 0) {
    const match = part.exec(rest);
    if (!match) return undefined;
    total += Number(match[1]) * (unitMs[match[2] ?? ""] ?? 0);
    rest = rest.slice(match[0].length);
  }
  return total;
}

/** `config` of a machine: what to run and how. */
export interface MachineConfig {
  image: string;
  env?: Record<string, string>;
  /** CPUs and memory; podfleet always sends `guest` (Fly deprecated the `size` preset field). */
  guest?: GuestConfig;
  /** Deprecated by Fly in favour of `guest`; never sent by podfleet, accepted by the local runtime. */
  size?: string;
  restart?: RestartConfig;
  /** Destroy the machine once its process exits. */
  auto_destroy?: boolean;
  /** String map; `list` filters on it. */
  metadata?: Record<string, string>;
  init?: InitConfig;
  stop_config?: StopConfig;
}

/** `request.exit_event` of an exit event. */
export interface ExitEvent {
  exit_code: number;
  oom_killed: boolean;
  requested_stop: boolean;
  signal?: number;
  exited_at?: string;
}

export interface MachineEvent {
  id?: string;
  type: string;
  status: string;
  source: string;
  /** Milliseconds since the epoch. */
  timestamp: number;
  request?: { exit_event?: ExitEvent } & Record<string, unknown>;
}

export type HostStatus = "ok" | "unknown" | "unreachable";

export interface Machine {
  id: string;
  name: string;
  state: MachineState;
  region: string;
  instance_id: string;
  private_ip: string;
  /** Absent in `summary=true` listings. */
  config?: MachineConfig;
  image_ref?: { registry?: string; repository?: string; tag?: string; digest?: string };
  created_at: string;
  updated_at: string;
  events?: MachineEvent[];
  host_status?: HostStatus;
  /** Local runtime only: the child process id while one runs. */
  pid?: number;
}

/** Body of `POST /apps/{app}/machines`. */
export interface CreateMachineRequest {
  name?: string;
  region?: string;
  config: MachineConfig;
  /** Create without starting: the machine rests in `created`. */
  skip_launch?: boolean;
}

/** Fly's error body. */
export interface MachinesErrorBody {
  error: string;
  /** Fly's `main.statusCode`: "insufficient_capacity" on capacity errors, whatever the HTTP status. */
  status?: "unknown" | "insufficient_capacity";
}

/** The `status` Fly puts in an ErrorResponse when no host has room (retry later or elsewhere). */
export const INSUFFICIENT_CAPACITY = "insufficient_capacity" as const;
