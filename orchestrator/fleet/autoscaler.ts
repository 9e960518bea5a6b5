/**
 * The autoscaler: a pure decision (`planScale`) plus one pass that observes the queue and the
 * machines, decides, and creates workers. The cap is enforced by counting machines that exist
 * (from the Machines API, tagged with this fleet's id), never by remembering what was created,
 * so it holds across orchestrator restarts.
 */
import type { QueueDepth } from "../episodes/work-queue.ts";
import type { Logger } from "../log.ts";
import type { CreateMachineRequest, Machine } from "./machine.ts";

/** Machine states that count against the cap: anything that is or may soon be running. */
export const LIVE_STATES = ["creating", "created", "starting", "started", "restarting", "updating", "replacing"] as const;

export interface ScaleObservation {
  /** Chunks waiting or being processed. */
  backlog: number;
  /** Worker machines that are live (LIVE_STATES). */
  live: number;
}

export interface ScaleLimits {
  maxMachines: number;
}

/** How many machines to create now: enough for one chunk each, never past the cap. */
export function planScale(observed: ScaleObservation, limits: ScaleLimits): { create: number } {
  const wanted = Math.min(observed.backlog, limits.maxMachines);
  return { create: Math.max(0, wanted - observed.live) };
}

/** The Machines API calls the autoscaler makes (MachinesClient satisfies this). */
export interface MachinesPort {
  list(query: { metadata?: Record<string, string> }): Promise<Machine[]>;
  create(req: CreateMachineRequest): Promise<Machine>;
}

export interface WorkerTemplate {
  image: string;
  env: Record<string, string>;
  region?: string;
}

export const FLEET_METADATA_KEY = "podfleet_fleet";
export const ROLE_METADATA_KEY = "podfleet_role";

export function fleetMetadata(fleetId: string): Record<string, string> {
  return { [ROLE_METADATA_KEY]: "worker", [FLEET_METADATA_KEY]: fleetId };
}

export interface AutoscalerDeps {
  machines: MachinesPort;
  depth: () => Promise<QueueDepth>;
  limits: () => ScaleLimits;
  template: () => WorkerTemplate;
  fleetId: string;
  log: Logger;
  onCreated?: (m: Machine) => Promise<void> | void;
}

/** One pass: observe, decide, act. Returns the number of machines created. */
export async function autoscalePass(deps: AutoscalerDeps): Promise<number> {
  const depth = await deps.depth();
  const machines = await deps.machines.list({ metadata: fleetMetadata(deps.fleetId) });
  const live = machines.filter((m) => (LIVE_STATES as readonly string[]).includes(m.state)).length;
  const { create } = planScale({ backlog: depth.pending + depth.inFlight, live }, deps.limits());
  const template = deps.template();
  let created = 0;
  for (let i = 0; i < create; i++) {
    const machine = await deps.machines.create({
      ...(template.region ? { region: template.region } : {}),
      config: {
        image: template.image,
        env: template.env,
        restart: { policy: "no" },
        auto_destroy: true,
        metadata: fleetMetadata(deps.fleetId),
      },
    });
    created++;
    deps.log.info("machine created", { machineId: machine.id, reason: "backlog", backlog: depth.pending + depth.inFlight, live: live + created });
    await deps.onCreated?.(machine);
  }
  return created;
}
