/**
 * The local runtime's engine: keeps every machine record, runs each started machine as a
 * child process and drives the Fly lifecycle (create → start → exit/stop → restart policy →
 * auto_destroy). The HTTP routes call it; it knows nothing about HTTP except the status a
 * refused request should get.
 */
import { mkdirSync } from "node:fs";
import { constants as osConstants } from "node:os";
import { durationMs, MAX_STOP_TIMEOUT_SEC, type CreateMachineRequest, type Machine, type MachineEvent, type MachineState } from "../machine.ts";
import type { RuntimeHooks } from "./runtime-hooks.ts";
import { signalMachine, spawnMachineProcess, type LaunchSpec } from "./machine-process.ts";
import { DELETABLE_WITHOUT_FORCE, canTransition, isRunning, machineJson, newRecord, pushEvent, type MachineRecord } from "./machine-record.ts";

export interface SupervisorOptions {
  app: string;
  launch: (machine: Machine) => LaunchSpec;
  logDir?: string;
  /** The runtime owner's tag, put in every machine's env (see leftover-machines.ts). */
  owner?: string;
  bootDelayMs?: number;
  /** The hooks a test set (runtime-hooks.ts), if any. */
  hooks: () => RuntimeHooks | undefined;
  onState: (machine: Machine) => void;
}

/** A request the runtime refuses, with the HTTP status Fly would answer. */
export class RuntimeRequestError extends Error {
  override name = "RuntimeRequestError";
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

type Waiter = { target: MachineState; settle: (outcome: "reached" | "gone" | "timeout") => void };

const DEFAULT_STOP_TIMEOUT_MS = 5_000;
const DEFAULT_MAX_RETRIES = 10;

export class MachineSupervisor {
  readonly #records = new Map<string, MachineRecord>();
  readonly #waiters = new Map<string, Set<Waiter>>();
  readonly #options: SupervisorOptions;
  #seq = 0;
  #closing = false;

  constructor(options: SupervisorOptions) {
    this.#options = options;
    if (options.logDir) mkdirSync(options.logDir, { recursive: true, mode: 0o700 });
  }

  /** Every machine ever created, destroyed ones included. */
  all(): MachineRecord[] {
    return [...this.#records.values()];
  }

  find(id: string): MachineRecord {
    const record = this.#records.get(id);
    if (!record) throw new RuntimeRequestError(404, "machine not found");
    return record;
  }

  create(req: CreateMachineRequest): Machine {
    if (this.#closing) throw new RuntimeRequestError(503, "runtime is shutting down");
    if (!req || typeof req !== "object" || !req.config || typeof req.config.image !== "string" || !req.config.image) {
      throw new RuntimeRequestError(422, "invalid machine config: config.image is required");
    }
    if (req.name && this.all().some((r) => r.machine.name === req.name && r.machine.state !== "destroyed")) {
      throw new RuntimeRequestError(422, `a machine with name "${req.name}" already exists`);
    }
    const record = newRecord(req, ++this.#seq);
    this.#records.set(record.machine.id, record);
    this.#options.onState(machineJson(record));
    this.#transition(record, "created", { type: "launch", status: "created", source: "user" });
    const reply = machineJson(record);
    if (!req.skip_launch) this.#beginStart(record, this.#options.hooks()?.bootDelayMs ?? this.#options.bootDelayMs ?? 0);
    return reply;
  }

  start(id: string): { previous_state: MachineState } {
    const record = this.find(id);
    const previous = record.machine.state;
    if (previous === "started" || previous === "starting" || previous === "restarting") {
      return { previous_state: previous };
    }
    if (!canTransition(previous, "starting")) {
      throw new RuntimeRequestError(412, `failed_precondition: unable to start machine from state ${previous}`);
    }
    record.restarts = 0;
    this.#beginStart(record, this.#options.hooks()?.startDelayMs ?? 0);
    return { previous_state: previous };
  }

  /** Sends `signal` (default stop_config.signal or SIGINT), then SIGKILL after the timeout. */
  stop(id: string, body: { signal?: unknown; timeout?: unknown }): void {
    const record = this.find(id);
    const config = record.machine.config;
    const signal = body.signal ?? config?.stop_config?.signal ?? "SIGINT";
    if (typeof signal !== "string" || !(signal in osConstants.signals)) {
      throw new RuntimeRequestError(400, `invalid signal: ${JSON.stringify(signal)}`);
    }
    const rawTimeout = body.timeout ?? config?.stop_config?.timeout;
    const timeoutMs = rawTimeout === undefined ? DEFAULT_STOP_TIMEOUT_MS : durationMs(rawTimeout);
    if (timeoutMs === undefined) throw new RuntimeRequestError(400, `invalid timeout: ${JSON.stringify(rawTimeout)}`);
    if (timeoutMs > MAX_STOP_TIMEOUT_SEC * 1000) {
      throw new RuntimeRequestError(400, `invalid timeout: ${JSON.stringify(rawTimeout)} is longer than ${MAX_STOP_TIMEOUT_SEC}s`);
    }
    const state = record.machine.state;
    if (state === "destroyed" || state === "destroying") {
      throw new RuntimeRequestError(412, `failed_precondition: machine is ${state}`);
    }
    if (state === "stopped" || state === "stopping" || state === "created" || state === "failed") return;
    record.stopRequested = true;
    this.#transition(record, "stopping", { type: "stop", status: "stopping", source: "user" });
    if (!isRunning(record)) {
      // Still booting: nothing to signal.
      clearTimeout(record.bootTimer);
      this.#settleStopped(record, undefined);
      return;
    }
    signalMachine(record.child, signal as NodeJS.Signals);
    record.killTimer = setTimeout(() => signalMachine(record.child, "SIGKILL"), timeoutMs);
  }

  /** Deletes a machine; a live one only with `force` (412 otherwise, as Fly does). */
  destroy(id: string, force: boolean): void {
    const record = this.find(id);
    const state = record.machine.state;
    if (state === "destroyed" || state === "destroying") return;
    if (!force && !DELETABLE_WITHOUT_FORCE.includes(state)) {
      throw new RuntimeRequestError(
        412,
        `failed_precondition: unable to destroy machine, not currently stopped, suspended or failed (state ${state})`,
      );
    }
    record.stopRequested = true;
    clearTimeout(record.bootTimer);
    this.#transition(record, "destroying", { type: "destroy", status: "destroying", source: "user" });
    if (isRunning(record)) {
      record.destroyOnExit = true;
      signalMachine(record.child, "SIGKILL");
      return;
    }
    this.#transition(record, "destroyed", { type: "destroy", status: "destroyed", source: "flyd" });
  }

  /** Resolves when the machine is in `target`, `gone` once it is destroyed, `timeout` otherwise. */
  wait(id: string, target: MachineState, timeoutMs: number): Promise<"reached" | "gone" | "timeout"> {
    const record = this.find(id);
    if (record.machine.state === target) return Promise.resolve("reached");
    if (record.machine.state === "destroyed") return Promise.resolve("gone");
    return new Promise((resolve) => {
      const set = this.#waiters.get(id) ?? new Set<Waiter>();
      this.#waiters.set(id, set);
      const timer = setTimeout(() => waiter.settle("timeout"), timeoutMs);
      const waiter: Waiter = {
        target,
        settle: (outcome) => {
          clearTimeout(timer);
          set.delete(waiter);
          resolve(outcome);
        },
      };
      set.add(waiter);
    });
  }

  /** SIGTERMs every child, SIGKILLs the rest after `graceMs`, and waits for all exits. */
  async close(graceMs: number): Promise<void> {
    this.#closing = true;
    for (const record of this.all()) {
      clearTimeout(record.bootTimer);
      for (const waiter of this.#waiters.get(record.machine.id) ?? []) waiter.settle("timeout");
    }
    const live = this.all().filter(isRunning);
    const exits = live.map((record) => new Promise<void>((resolve) => record.child?.once("exit", () => resolve())));
    for (const record of live) {
      record.stopRequested = true;
      signalMachine(record.child, "SIGTERM");
    }
    const killer = setTimeout(() => {
      for (const record of live) if (isRunning(record)) signalMachine(record.child, "SIGKILL");
    }, graceMs);
    await Promise.all(exits);
    clearTimeout(killer);
    for (const record of this.all()) clearTimeout(record.killTimer);
  }

  /** Synchronous last resort for process exit: SIGKILL whatever still runs. */
  killAllNow(): void {
    for (const record of this.all()) {
      if (isRunning(record)) signalMachine(record.child, "SIGKILL");
    }
  }

  #beginStart(record: MachineRecord, delayMs: number): void {
    if (record.machine.state !== "restarting") {
      this.#transition(record, "starting", { type: "start", status: "starting", source: "user" });
    }
    if (this.#options.hooks()?.stuckInStarting) return;
    record.bootTimer = setTimeout(() => this.#spawn(record), delayMs);
  }

  #spawn(record: MachineRecord): void {
    record.bootTimer = undefined;
    const state = record.machine.state;
    if (this.#closing || (state !== "starting" && state !== "restarting")) return;
    record.stopRequested = false;
    try {
      const machine = machineJson(record);
      const spec = this.#options.launch(machine);
      const child = spawnMachineProcess(spec, machine, { app: this.#options.app, owner: this.#options.owner, logDir: this.#options.logDir });
      record.child = child;
      child.on("error", (error) => {
        if (child.pid === undefined && record.child === child) this.#launchFailed(record, error);
      });
      child.once("exit", (code, signal) => {
        if (record.child === child) this.#onExit(record, code, signal);
      });
      if (child.pid === undefined) return; // 'error' follows
      this.#transition(record, "started", { type: "start", status: "started", source: "flyd" });
    } catch (error) {
      this.#launchFailed(record, error);
    }
  }

  #launchFailed(record: MachineRecord, error: unknown): void {
    record.child = undefined;
    const message = error instanceof Error ? error.message : String(error);
    this.#transition(record, "failed", { type: "launch", status: "failed", source: "flyd", request: { error: message } });
  }

  #onExit(record: MachineRecord, code: number | null, signal: NodeJS.Signals | null): void {
    clearTimeout(record.killTimer);
    const signum = signal ? osConstants.signals[signal] : undefined;
    const exitEvent = {
      exit_code: code ?? 128 + (signum ?? 0),
      oom_killed: false,
      requested_stop: record.stopRequested,
      exited_at: new Date().toISOString(),
      ...(signum !== undefined ? { signal: signum } : {}),
    };
    const event: Omit<MachineEvent, "id" | "timestamp"> = {
      type: "exit",
      status: "stopped",
      source: "flyd",
      request: { exit_event: exitEvent },
    };
    if (record.destroyOnExit || record.machine.state === "destroying") {
      pushEvent(record, event);
      this.#transition(record, "destroyed", { type: "destroy", status: "destroyed", source: "flyd" });
      return;
    }
    if (!record.stopRequested && !this.#closing && this.#shouldRestart(record, exitEvent.exit_code)) {
      record.restarts += 1;
      pushEvent(record, event);
      this.#transition(record, "restarting", { type: "restart", status: "restarting", source: "flyd" });
      this.#beginStart(record, this.#options.hooks()?.startDelayMs ?? 0);
      return;
    }
    if (record.machine.state !== "stopping") this.#transition(record, "stopping");
    this.#settleStopped(record, event);
  }

  #shouldRestart(record: MachineRecord, exitCode: number): boolean {
    const restart = record.machine.config?.restart;
    const policy = restart?.policy ?? "on-failure";
    const maxRetries = restart?.max_retries ?? DEFAULT_MAX_RETRIES;
    if (policy === "no" || record.restarts >= maxRetries) return false;
    return policy === "always" || exitCode !== 0;
  }

  /** stopping → stopped, then auto_destroy → destroyed. */
  #settleStopped(record: MachineRecord, exitEvent: Omit<MachineEvent, "id" | "timestamp"> | undefined): void {
    this.#transition(record, "stopped", exitEvent ?? { type: "stop", status: "stopped", source: "flyd" });
    if (record.machine.config?.auto_destroy) {
      this.#transition(record, "destroying", { type: "destroy", status: "destroying", source: "flyd" });
      this.#transition(record, "destroyed", { type: "destroy", status: "destroyed", source: "flyd" });
    }
  }

  /** The one place a state changes: checks the table, records the event, notifies. */
  #transition(record: MachineRecord, to: MachineState, event?: Omit<MachineEvent, "id" | "timestamp">): void {
    const from = record.machine.state;
    if (!canTransition(from, to)) throw new Error(`local runtime bug: ${from} → ${to} is not allowed`);
    record.machine.state = to;
    record.machine.updated_at = new Date().toISOString();
    if (event) pushEvent(record, event);
    this.#options.onState(machineJson(record));
    for (const waiter of [...(this.#waiters.get(record.machine.id) ?? [])]) {
      if (waiter.target === to) waiter.settle("reached");
      else if (to === "destroyed") waiter.settle("gone");
    }
  }
}
