/**
 * Fault injection for the local machines runtime, so autoscaler tests can exercise rate
 * limits, capacity errors and slow or wedged boots without a real Fly account.
 */

/** One canned failure answered to a create request instead of creating a machine. */
export interface CreateFailure {
  status: 429 | 500 | 503 | 409 | 412;
  /** Sent as Retry-After (seconds), normally with 429. */
  retryAfterSec?: number;
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

/** Fly-like error text for each injected status. */
export function createFailureBody(status: CreateFailure['status']): { error: string } {
  switch (status) {
    case 429:
      return { error: 'rate limit exceeded' };
    case 409:
      return { error: 'insufficient memory available to fulfill request' };
    case 412:
      return { error: 'insufficient resources available to fulfill request' };
    default:
      return { error: 'internal error (injected fault)' };
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
