/**
 * A local stand-in for the Fly Machines API: an HTTP server on 127.0.0.1 that speaks the
 * same routes and JSON as Fly, and runs every started machine as a local child process.
 * Dev runs and tests point a MachinesClient at it; tests also read its own record of
 * states (`snapshot()`, `'state'` events) to check fleet limits.
 *
 * As strict as Fly where Fly documents it: create bodies are type-checked (400), requests are
 * rate-limited per action (429 + Retry-After), waiting for `stopped` needs `instance_id`, and
 * capacity errors carry `status: "insufficient_capacity"`.
 * Choices where Fly's behaviour is not pinned down: deleting a live machine without
 * `force=true` answers 412; waiting on a machine that gets destroyed answers 412;
 * the default restart policy is on-failure with 10 retries; stop defaults to SIGINT + 5 s.
 */
import { randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import type { AddressInfo } from "node:net";
import { serve, type ServerType } from "@hono/node-server";
import type { Machine } from "./machine.ts";
import { ActionRateLimiter, FLY_RATE_LIMITS, type ApiRateLimits } from "./local-runtime/api-rate-limits.ts";
import { machineJson } from "./local-runtime/machine-record.ts";
import type { LaunchSpec } from "./local-runtime/machine-process.ts";
import { MachineSupervisor } from "./local-runtime/machine-supervisor.ts";
import { createMachinesRoutes } from "./local-runtime/machines-routes.ts";
import type { RuntimeHooks } from "./local-runtime/runtime-hooks.ts";

export type { LaunchSpec } from "./local-runtime/machine-process.ts";
export type { CreateRefusal, RuntimeHooks } from "./local-runtime/runtime-hooks.ts";
export { FLY_RATE_LIMITS, type ApiRateLimits } from "./local-runtime/api-rate-limits.ts";
export { killLeftoverMachines } from "./local-runtime/leftover-machines.ts";

export interface LocalMachinesRuntimeOptions {
  /** The only app name the runtime answers for. */
  app: string;
  /** Bearer token clients must send; a random one when absent. */
  token?: string;
  /** Maps a machine (its image, env, metadata) onto the local command to run. */
  launch: (machine: Machine) => LaunchSpec;
  /** When set, each machine's stdout/stderr is appended to `<logDir>/<machineId>.log`. */
  logDir?: string;
  /** Time a created machine spends in `starting` before its process spawns (default 0). */
  bootDelayMs?: number;
  /** Grace between SIGTERM and SIGKILL on close (default 2000 ms). */
  closeGraceMs?: number;
  /**
   * Who runs this runtime (the orchestrator passes its data directory). Every machine process
   * carries it in its env, so the next owner can kill what a runtime that died without close()
   * left running (killLeftoverMachines in local-runtime/leftover-machines.ts).
   */
  owner?: string;
  /**
   * Per-action request limits answered with 429 + Retry-After, as Fly does. Default Fly's own
   * numbers (FLY_RATE_LIMITS); `false` turns them off.
   */
  rateLimits?: ApiRateLimits | false;
  /** 127.0.0.1 port to listen on; default 0 (any free one). A fixed port lets a standalone runtime keep its URL across restarts. */
  port?: number;
}

/** Supervisors with children to SIGKILL if this process exits without close(); one listener for all. */
const openSupervisors = new Set<MachineSupervisor>();
let exitHookInstalled = false;
function killChildrenOnExit(supervisor: MachineSupervisor): void {
  openSupervisors.add(supervisor);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const open of openSupervisors) open.killAllNow();
  });
}

/** Events: `'state'` with a copy of the machine after every state change. */
export type LocalRuntimeEvents = { state: [machine: Machine] };

/**
 * The local Machines API: `start()` to listen, a MachinesClient to drive it, `close()` to
 * stop every machine process and the server. Read-only views for tests: `snapshot()` and
 * `on('state', machine => …)`.
 */
export class LocalMachinesRuntime extends EventEmitter<LocalRuntimeEvents> {
  readonly #options: LocalMachinesRuntimeOptions;
  readonly #token: string;
  #hooks: RuntimeHooks | undefined;
  readonly #supervisor: MachineSupervisor;
  #server: ServerType | undefined;
  #rateLimited = 0;

  constructor(options: LocalMachinesRuntimeOptions) {
    super();
    this.#options = options;
    this.#token = options.token ?? randomBytes(24).toString("base64url");
    this.#supervisor = new MachineSupervisor({
      app: options.app,
      launch: options.launch,
      logDir: options.logDir,
      owner: options.owner,
      bootDelayMs: options.bootDelayMs,
      hooks: () => this.#hooks,
      onState: (machine) => this.emit("state", machine),
    });
  }

  /** Listens on 127.0.0.1 (options.port, else a free port); `url` is the API base (ends in `/v1`). */
  async start(): Promise<{ url: string; token: string }> {
    if (this.#server) throw new Error("LocalMachinesRuntime already started");
    const routes = createMachinesRoutes({
      app: this.#options.app,
      token: this.#token,
      supervisor: this.#supervisor,
      hooks: () => this.#hooks,
      rateLimiter: this.#options.rateLimits === false ? undefined : new ActionRateLimiter(this.#options.rateLimits ?? FLY_RATE_LIMITS),
      onRateLimited: () => (this.#rateLimited += 1),
    });
    const port = await new Promise<number>((resolve, reject) => {
      const server = serve({ fetch: routes.fetch, hostname: "127.0.0.1", port: this.#options.port ?? 0 }, (info: AddressInfo) => resolve(info.port));
      server.once("error", reject);
      this.#server = server;
    });
    killChildrenOnExit(this.#supervisor);
    return { url: `http://127.0.0.1:${port}/v1`, token: this.#token };
  }

  /** Stops every machine process (SIGTERM, then SIGKILL after the grace) and the server. */
  async close(): Promise<void> {
    await this.#supervisor.close(this.#options.closeGraceMs ?? 2_000);
    openSupervisors.delete(this.#supervisor);
    const server = this.#server;
    this.#server = undefined;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      if ("closeAllConnections" in server) server.closeAllConnections();
    });
  }

  /** Every machine the runtime knows, destroyed ones included (copies). */
  snapshot(): Machine[] {
    return this.#supervisor.all().map((record) => machineJson(record));
  }

  /** Requests answered 429 by the per-action rate limits so far. */
  get rateLimitedCount(): number {
    return this.#rateLimited;
  }

  /** Installs (or with undefined removes) a test's hooks (local-runtime/runtime-hooks.ts), replacing any before. */
  setHooks(hooks: RuntimeHooks | undefined): void {
    this.#hooks = hooks;
  }
}
