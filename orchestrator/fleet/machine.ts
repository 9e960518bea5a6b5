/**
 * Types for the subset of the Fly Machines API JSON that podfleet uses, shared by the
 * HTTP client and the local runtime so both speak exactly the same shapes.
 * Field names follow Fly's snake_case wire format on purpose.
 */

/** States a machine can rest in. */
export const PERSISTENT_STATES = ['created', 'started', 'stopped', 'suspended', 'failed'] as const;
/** States a machine passes through on its way to a persistent or terminal state. */
export const TRANSIENT_STATES = [
  'creating',
  'starting',
  'stopping',
  'restarting',
  'destroying',
  'launch_failed',
  'updating',
  'replacing',
] as const;
/** The state a machine never leaves. */
export const TERMINAL_STATES = ['destroyed'] as const;
/** Every state name, in one list. */
export const MACHINE_STATES = [...PERSISTENT_STATES, ...TRANSIENT_STATES, ...TERMINAL_STATES] as const;

export type PersistentState = (typeof PERSISTENT_STATES)[number];
export type TransientState = (typeof TRANSIENT_STATES)[number];
export type TerminalState = (typeof TERMINAL_STATES)[number];
export type MachineState = PersistentState | TransientState | TerminalState;

/** States `GET .../wait` accepts. */
export const WAITABLE_STATES = ['started', 'stopped', 'suspended', 'destroyed'] as const;
export type WaitableState = (typeof WAITABLE_STATES)[number];

const has = (list: readonly string[], value: unknown): boolean =>
  typeof value === 'string' && list.includes(value);

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
  cpu_kind: 'shared' | 'performance';
  cpus: number;
  memory_mb: number;
  gpu_kind?: string;
  gpus?: number;
}

export type RestartPolicy = 'no' | 'on-failure' | 'always';

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
  /** Go duration string ("10s") on Fly; the local runtime also accepts seconds as a number. */
  timeout?: string | number;
}

/** `config` of a machine: what to run and how. */
export interface MachineConfig {
  image: string;
  env?: Record<string, string>;
  /** Either `guest` or a `size` preset such as "performance-16x". */
  guest?: GuestConfig;
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

export type HostStatus = 'ok' | 'unknown' | 'unreachable';

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
  status?: string;
}
