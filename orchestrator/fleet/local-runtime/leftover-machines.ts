/**
 * Machine processes left behind by a local runtime that died without close() (its owner was
 * SIGKILLed, so no exit hook ran). A Fly machine outlives its orchestrator and the next one lists
 * it; a local machine of a dead runtime is listed by no one, yet would go on pulling chunks
 * outside the fleet cap. So every machine process carries its runtime's owner tag in its env, and the
 * next owner (the orchestrator starting again on the same data directory) kills what is left before
 * it starts anything: to the fleet those machines are then simply gone, as after a host failure.
 *
 * Linux only (it reads /proc); elsewhere it finds nothing.
 */
import { readdirSync, readFileSync } from "node:fs";
import { isLiveProcess } from "../../live-process.ts";

/** Env variable naming the runtime owner a machine process belongs to. */
export const RUNTIME_OWNER_ENV = "PODFLEET_LOCAL_RUNTIME";

/** Processes (pids) whose environment carries `owner`'s tag, this process excluded. */
export function leftoverMachineProcesses(owner: string): number[] {
  const wanted = `${RUNTIME_OWNER_ENV}=${owner}`;
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return [];
  }
  const found: number[] = [];
  for (const entry of entries) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) continue;
    try {
      // another user's process (EACCES) or one that just exited (ENOENT) is not ours
      if (readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").includes(wanted)) found.push(pid);
    } catch {
      continue;
    }
  }
  return found;
}

/**
 * SIGKILLs every leftover machine process of `owner` (each with its process group, so an engine
 * subprocess dies with its worker) and waits up to `waitMs` for them to be gone. Returns the pids
 * it killed.
 */
export async function killLeftoverMachines(owner: string, waitMs = 5_000): Promise<number[]> {
  const pids = leftoverMachineProcesses(owner);
  for (const pid of pids) {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // exited meanwhile
      }
    }
  }
  const deadline = Date.now() + waitMs;
  while (pids.some(isLiveProcess) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
  return pids;
}
