/**
 * Starts the local process behind a machine: the launch spec's command with the env a Fly
 * machine would see, output appended to the machine's log file.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { join } from "node:path";
import type { Machine } from "../machine.ts";
import { RUNTIME_OWNER_ENV } from "./leftover-machines.ts";

/** What to run for a machine: the local stand-in for its image. */
export interface LaunchSpec {
  command: string;
  args: string[];
  env: Record<string, string>;
  cwd?: string;
}

/** Where a machine runs: the app, and the runtime owner's tag (see leftover-machines.ts). */
export interface MachineHost {
  app: string;
  owner?: string;
  /** When set, stdout/stderr are appended to `<logDir>/<machineId>.log`. */
  logDir?: string;
}

/** Env precedence: launch spec < machine config.env < platform variables (FLY_*, the owner tag). */
export function machineEnv(spec: LaunchSpec, machine: Machine, { app, owner }: MachineHost): Record<string, string> {
  const platform: Record<string, string> = {
    FLY_MACHINE_ID: machine.id,
    FLY_APP_NAME: app,
    FLY_REGION: "local",
    FLY_IMAGE_REF: machine.config?.image ?? "",
    FLY_PRIVATE_IP: machine.private_ip,
  };
  const memory = machine.config?.guest?.memory_mb;
  if (memory) platform.FLY_VM_MEMORY_MB = String(memory);
  if (owner !== undefined) platform[RUNTIME_OWNER_ENV] = owner;
  return { ...spec.env, ...machine.config?.env, ...platform };
}

/**
 * Sends `signal` to a machine's whole process tree. Each machine runs in its own process group
 * (as a VM holds all its processes), so an engine subprocess such as pocketsphinx dies with the
 * worker instead of running on as an orphan.
 */
export function signalMachine(child: ChildProcess | undefined, signal: NodeJS.Signals): void {
  const pid = child?.pid;
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

/**
 * Spawns the machine's process in a process group of its own. stdout/stderr go to `<logDir>/<id>.log` (appended) when
 * `logDir` is set, else nowhere. Spawn failures arrive as the child's 'error' event.
 */
export function spawnMachineProcess(spec: LaunchSpec, machine: Machine, host: MachineHost): ChildProcess {
  const { logDir } = host;
  const logFd = logDir ? openSync(join(logDir, `${machine.id}.log`), "a", 0o600) : undefined;
  try {
    const out = logFd ?? "ignore";
    return spawn(spec.command, spec.args, {
      env: machineEnv(spec, machine, host),
      cwd: spec.cwd,
      stdio: ["ignore", out, out],
      // Its own process group: signalMachine reaches the whole tree, and a Ctrl-C at the
      // orchestrator's terminal does not hit workers behind the orchestrator's back.
      detached: true,
    });
  } finally {
    // The child holds its own copy of the descriptor.
    if (logFd !== undefined) closeSync(logFd);
  }
}
