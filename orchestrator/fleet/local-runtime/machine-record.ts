/**
 * The local runtime's record of one machine: its Fly-shaped JSON plus the process and
 * timers behind it, and the one table of allowed state transitions.
 */
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import type { CreateMachineRequest, Machine, MachineEvent, MachineState } from "../machine.ts";

export interface MachineRecord {
  machine: Machine;
  child?: ChildProcess;
  /** Restarts used by the restart policy since the last explicit start. */
  restarts: number;
  /** Set by stop/destroy so the exit is reported as requested and not restarted. */
  stopRequested: boolean;
  /** Set by a forced destroy: the exit ends in `destroyed`. */
  destroyOnExit: boolean;
  bootTimer?: NodeJS.Timeout;
  killTimer?: NodeJS.Timeout;
}

/** Which state may follow which; anything else is a bug in the runtime. */
const ALLOWED: Readonly<Record<MachineState, readonly MachineState[]>> = {
  creating: ["created", "destroying"],
  created: ["starting", "destroying"],
  starting: ["started", "stopping", "failed", "destroying"],
  started: ["stopping", "restarting", "suspending", "destroying"],
  restarting: ["started", "stopping", "failed", "destroying"],
  stopping: ["stopped", "destroying"],
  stopped: ["starting", "destroying"],
  failed: ["starting", "destroying"],
  destroying: ["destroyed"],
  destroyed: [],
  suspending: ["suspended", "stopped", "destroying"],
  suspended: ["starting", "destroying"],
  launch_failed: ["destroying"],
  updating: [],
  replacing: ["replaced"],
  // A new version replaced this one (an update), or the machine moved hosts: never left.
  replaced: [],
  migrated: [],
};

export function canTransition(from: MachineState, to: MachineState): boolean {
  return ALLOWED[from].includes(to);
}

/** States in which a machine may be deleted without `force`. */
export const DELETABLE_WITHOUT_FORCE: readonly MachineState[] = ["created", "stopped", "failed", "suspended"];

const hex = (bytes: number): string => randomBytes(bytes).toString("hex");

/** A new record in `creating`, ids shaped like Fly's. */
export function newRecord(req: CreateMachineRequest, seq: number): MachineRecord {
  const id = hex(7);
  const now = new Date().toISOString();
  const [repository, tag] = splitImage(req.config.image);
  return {
    restarts: 0,
    stopRequested: false,
    destroyOnExit: false,
    machine: {
      id,
      name: req.name ?? `local-${id.slice(0, 6)}`,
      state: "creating",
      region: typeof req.region === "string" && req.region !== "any" ? req.region : "local",
      instance_id: hex(13).toUpperCase(),
      private_ip: `fdaa:0:1:a7b:1::${(seq % 0xffff).toString(16)}`,
      config: structuredClone(req.config),
      image_ref: { registry: "local", repository, tag, digest: "" },
      created_at: now,
      updated_at: now,
      events: [],
      host_status: "ok",
    },
  };
}

function splitImage(image: string): [string, string] {
  const at = image.lastIndexOf(":");
  return at > image.lastIndexOf("/") ? [image.slice(0, at), image.slice(at + 1)] : [image, "latest"];
}

/** Adds an event, newest first like Fly's listing. */
export function pushEvent(record: MachineRecord, event: Omit<MachineEvent, "id" | "timestamp">): void {
  record.machine.events ??= [];
  record.machine.events.unshift({ id: hex(8).toUpperCase(), timestamp: Date.now(), ...event });
}

/** The JSON view of a record: a deep copy, with `pid` while a process runs. */
export function machineJson(record: MachineRecord, summary = false): Machine {
  const copy = structuredClone(record.machine);
  const pid = record.child?.exitCode === null && record.child.signalCode === null ? record.child.pid : undefined;
  if (pid !== undefined) copy.pid = pid;
  if (summary) {
    const metadata = copy.config?.metadata;
    delete copy.config;
    delete copy.events;
    // Keep metadata visible: list filters on it and callers read it back.
    if (metadata) copy.config = { image: record.machine.config?.image ?? "", metadata };
  }
  return copy;
}

/** True while a child process of this record is alive. */
export function isRunning(record: MachineRecord): boolean {
  const child = record.child;
  return child !== undefined && child.exitCode === null && child.signalCode === null && child.pid !== undefined;
}
