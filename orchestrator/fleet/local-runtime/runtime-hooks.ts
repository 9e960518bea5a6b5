/**
 * The seam through which a test makes the local runtime behave like a struggling Fly: refused
 * creates (rate limits, capacity), slow boots, machines wedged in `starting`. Production never
 * sets it; the fault plans that fill it live with the tests (test/support/runtime-faults.ts).
 */
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { MachinesErrorBody } from "../machine.ts";

/** An error answered to a create request instead of creating a machine. */
export interface CreateRefusal {
  status: ContentfulStatusCode;
  body: MachinesErrorBody;
  /** Sent as Retry-After (seconds). */
  retryAfterSec?: number;
}

/** Set with `LocalMachinesRuntime.setHooks`; read on every request and state change. */
export interface RuntimeHooks {
  /** The refusal for this create request, or undefined to create the machine. */
  takeCreateRefusal(): CreateRefusal | undefined;
  /** Time in `starting` before the process spawns after create (overrides the runtime's `bootDelayMs`). */
  readonly bootDelayMs: number | undefined;
  /** Time in `starting` before the process spawns after a start request or a restart. */
  readonly startDelayMs: number | undefined;
  /** Machines that enter `starting` stay there until stopped or force-destroyed. */
  readonly stuckInStarting: boolean;
}
