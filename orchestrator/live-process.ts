/**
 * Whether a pid names a live process, read from /proc (Linux): a zombie, already exited but not
 * yet reaped by its parent, still answers kill(pid, 0) yet is done. False where /proc is absent.
 */
import { readFileSync } from "node:fs";

export function isLiveProcess(pid: number): boolean {
  try {
    // `<pid> (<comm>) <state> …`: comm may hold spaces and parentheses, so the state is after the last ") "
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.charAt(stat.lastIndexOf(") ") + 2) !== "Z";
  } catch {
    return false;
  }
}
