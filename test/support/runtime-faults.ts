/**
 * Fault injection for the local machines runtime, so autoscaler and client tests can exercise
 * rate limits, capacity errors and slow or wedged boots without a real Fly account. Installed
 * through the runtime's test seam (orchestrator/fleet/local-runtime/runtime-hooks.ts).
 */
import { INSUFFICIENT_CAPACITY, type MachinesErrorBody } from "../../orchestrator/fleet/machine.ts";
import type { CreateRefusal, LocalMachinesRuntime, RuntimeHooks } from "../../orchestrator/fleet/local-runtime.ts";

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

/** The faults of one `setFaults` call; each call replaces the whole set. */
export interface RuntimeFaults {
  /** Answered in order, one per create request, until the list is used up. */
  createFailures?: CreateFailure[];
  /** Time in `starting` before the process spawns after create (overrides the runtime's option). */
  bootDelayMs?: number;
  /** Machines that enter `starting` stay there until stopped or force-destroyed. */
  stuckInStarting?: boolean;
  /** Time in `starting` before the process spawns after a start request or a restart. */
  startDelayMs?: number;
}

/** Fly-like ErrorResponse for an injected failure: capacity errors carry `status: "insufficient_capacity"`. */
export function createFailureBody(failure: CreateFailure): MachinesErrorBody {
  const capacity = failure.capacity ?? (failure.status === 409 || failure.status === 412);
  const status: Pick<MachinesErrorBody, "status"> = capacity ? { status: INSUFFICIENT_CAPACITY } : {};
  switch (failure.status) {
    case 429:
      return { error: "rate limit exceeded", ...status };
    case 409:
      return { error: "insufficient memory available to fulfill request", ...status };
    case 412:
      return { error: "insufficient resources available to fulfill request", ...status };
    default:
      return { error: capacity ? "no host has capacity for this machine (injected fault)" : "internal error (injected fault)", ...status };
  }
}

/** Holds one set of faults and hands out its queued create failures one at a time. */
export class FaultPlan implements RuntimeHooks {
  readonly #faults: RuntimeFaults;
  readonly #createFailures: CreateFailure[];

  constructor(faults: RuntimeFaults) {
    this.#faults = { ...faults };
    this.#createFailures = [...(faults.createFailures ?? [])];
  }

  takeCreateRefusal(): CreateRefusal | undefined {
    const failure = this.#createFailures.shift();
    if (!failure) return undefined;
    return {
      status: failure.status,
      body: createFailureBody(failure),
      ...(failure.retryAfterSec !== undefined ? { retryAfterSec: failure.retryAfterSec } : {}),
    };
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

/** Replaces the runtime's injected faults (`{}` clears them); create failures are consumed in order. */
export function setFaults(runtime: LocalMachinesRuntime, faults: RuntimeFaults): void {
  runtime.setHooks(new FaultPlan(faults));
}
