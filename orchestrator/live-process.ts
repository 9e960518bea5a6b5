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

/**
 * The kernel's start time of a process (clock ticks since boot, /proc/<pid>/stat field 22), or
 * undefined when there is no such process. With the pid it names one process for good: a pid
 * reused later belongs to a process that started later.
 */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // fields after "<pid> (<comm>) " start at field 3 (state); field 22 is index 19 of them
    return stat.slice(stat.lastIndexOf(") ") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}
