/**
 * Fault injection for the local machines runtime, so autoscaler tests can exercise rate
 * limits, capacity errors and slow or wedged boots without a real Fly account.
 */
import { INSUFFICIENT_CAPACITY, type MachinesErrorBody } from '../machine.ts';

/** One canned failure answered to a create request instead of creating a machine. */
export interface CreateFailure {
  status: 429 | 500 | 503 | 409 | 412;
  /** Sent as Retry-After (seconds), normally with 429. */
  retryAfterSec?: number;
  /**
   * Whether the ErrorResponse says `status: "insufficient_capacity"`. Default: true for 409 and
   * 412 (Fly's "insufficient memory/resources"), false otherwise; set it to send a capacity error
   * on any HTTP status, as Fly may.
   */
  capacity?: boolean;
}

/** Settable at runtime with `LocalMachinesRuntime.setFaults`; each call replaces the whole set. */
export interface RuntimeFaults {
  /** Answered in order, one per create request, until the list is used up. */
  createFailures?: CreateFailure[];
  /** Time in `starting` before the process spawns after create (overrides the option). */
  bootDelayMs?: number;
  /** Machines that enter `starting` stay there until stopped or force-destroyed. */
  stuckInStarting?: boolean;
  /** Time in `starting` before the process spawns after a start request or a restart. */
  startDelayMs?: number;
}

/** Fly-like ErrorResponse for an injected failure: capacity errors carry `status: "insufficient_capacity"`. */
export function createFailureBody(failure: CreateFailure): MachinesErrorBody {
  const capacity = failure.capacity ?? (failure.status === 409 || failure.status === 412);
  const status: Pick<MachinesErrorBody, 'status'> = capacity ? { status: INSUFFICIENT_CAPACITY } : {};
  switch (failure.status) {
    case 429:
      return { error: 'rate limit exceeded', ...status };
    case 409:
      return { error: 'insufficient memory available to fulfill request', ...status };
    case 412:
      return { error: 'insufficient resources available to fulfill request', ...status };
    default:
      return { error: capacity ? 'no host has capacity for this machine (injected fault)' : 'internal error (injected fault)', ...status };
  }
}

/** Holds the current faults and hands out queued create failures one at a time. */
export class FaultPlan {
  #faults: RuntimeFaults = {};
  #createFailures: CreateFailure[] = [];

  set(faults: RuntimeFaults): void {
    this.#faults = { ...faults };
    this.#createFailures = [...(faults.createFailures ?? [])];
  }

  /** The next queued create failure, or undefined once none are left. */
  takeCreateFailure(): CreateFailure | undefined {
    return this.#createFailures.shift();
  }

  get bootDelayMs(): number | undefined {
    return this.#faults.bootDelayMs;
  }
  get startDelayMs(): number | undefined {
    return this.#faults.startDelayMs;
  }
  get stuckInStarting(): boolean {
    return this.#faults.stuckInStarting === true;
  }
}
