/**
 * The data directory holds secrets (the libSQL file with webhook and callback secrets, the admin
 * token, the NATS credentials, uploads): it is the owner's alone, and one orchestrator's at a time.
 *
 * Modes: the process umask becomes 077 before anything is written, so every file made here (by
 * the orchestrator, nats-server, libSQL, ffmpeg and local workers, which inherit it) is 0600 and
 * every directory 0700. A directory left by an older version with looser modes is tightened at
 * start: the directory itself, and everything podfleet keeps in it (DATA_DIR_ENTRIES), never
 * other files an operator may keep there.
 *
 * Lock: `orchestrator.pid` holds the pid, the kernel's start time of that process and the boot id,
 * so a pid reused by an unrelated process (after a crash, or a reboot) does not keep the
 * directory locked; only the very process that wrote it does.
 */
import fs from "node:fs";
import path from "node:path";
import { isLiveProcess, processStartTime } from "./live-process.ts";

/** What podfleet keeps at the top of a data directory (tightened on start, recursively). */
export const DATA_DIR_ENTRIES = [
  "podfleet.db",
  "podfleet.db-wal",
  "podfleet.db-shm",
  "podfleet.db-journal",
  "admin-token",
  "nats-credentials.json",
  "orchestrator.pid",
  "orchestrator.url",
  "nats-server.pid",
  "nats",
  "logs",
  "uploads",
  "work",
  "worker",
] as const;

const LOCK_FILE = "orchestrator.pid";

/**
 * Sets the process umask to 077, creates `dataDir` (0700) and tightens what an older version left
 * readable by others. Returns how many entries it had to tighten (the caller warns once).
 */
export function secureDataDir(dataDir: string): number {
  process.umask(0o077);
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  let tightened = tighten(dataDir, 0o700);
  for (const name of DATA_DIR_ENTRIES) tightened += tightenTree(path.join(dataDir, name));
  return tightened;
}

/** chmod to `mode` when the entry grants anything to group or others; 1 if it did. */
function tighten(p: string, mode: number): number {
  const st = fs.lstatSync(p);
  if ((st.mode & 0o077) === 0) return 0;
  fs.chmodSync(p, mode);
  return 1;
}

function tightenTree(p: string): number {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(p);
  } catch {
    return 0; // not there (yet)
  }
  if (st.isSymbolicLink()) return 0; // never follow a link out of the directory
  if (!st.isDirectory()) return tighten(p, 0o600);
  let n = tighten(p, 0o700);
  for (const entry of fs.readdirSync(p)) n += tightenTree(path.join(p, entry));
  return n;
}

export class DataDirLockedError extends Error {
  override name = "DataDirLockedError";
}

interface LockRecord {
  pid: number;
  /** Start time of the process in clock ticks since boot (/proc/<pid>/stat field 22); absent in locks of older versions. */
  startTime?: string | undefined;
  bootId?: string | undefined;
}

function bootId(): string | undefined {
  try {
    return fs.readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
  } catch {
    return undefined;
  }
}

function readLock(dataDir: string): LockRecord | undefined {
  try {
    const [pid, startTime, boot] = fs.readFileSync(path.join(dataDir, LOCK_FILE), "utf8").trim().split(/\s+/);
    const n = Number(pid);
    return Number.isInteger(n) && n > 0 ? { pid: n, startTime, bootId: boot } : undefined;
  } catch {
    return undefined;
  }
}

/** Whether the process a lock names is still the one that wrote it. */
function isHeld(lock: LockRecord, dataDir: string): boolean {
  if (!fs.existsSync("/proc/self/stat")) return signalable(lock.pid); // no /proc (not Linux): liveness is all we can know
  if (!isLiveProcess(lock.pid)) return false;
  if (lock.startTime !== undefined) {
    return lock.startTime === processStartTime(lock.pid) && (lock.bootId === undefined || lock.bootId === bootId());
  }
  // a pid-only lock (an older version): held only by a process with a file of this directory open
  return hasOpenFileUnder(lock.pid, path.resolve(dataDir) + path.sep);
}

function signalable(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function hasOpenFileUnder(pid: number, dirPrefix: string): boolean {
  try {
    return fs.readdirSync(`/proc/${pid}/fd`).some((fd) => {
      try {
        return fs.readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith(dirPrefix);
      } catch {
        return false;
      }
    });
  } catch {
    return false; // another user's process: not an orchestrator on our (0700) directory
  }
}

/** The pid of the orchestrator that holds `dataDir`, if one does. */
export function lockHolder(dataDir: string): number | undefined {
  const lock = readLock(dataDir);
  return lock && lock.pid !== process.pid && isHeld(lock, dataDir) ? lock.pid : undefined;
}

/** The URL of the orchestrator running on `dataDir`, if one is. */
export function runningOrchestratorUrl(dataDir: string): string | undefined {
  if (lockHolder(dataDir) === undefined) return undefined;
  try {
    return fs.readFileSync(path.join(dataDir, "orchestrator.url"), "utf8").trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Takes the data directory for this process: one orchestrator per directory, since a second one
 * would run a second nats-server on the same store. A lock whose process is gone, or is another
 * process under a reused pid, is taken over. Returns the release function.
 */
export function lockDataDir(dataDir: string): () => void {
  const lockPath = path.join(dataDir, LOCK_FILE);
  const mine = `${process.pid} ${processStartTime(process.pid) ?? ""} ${bootId() ?? ""}`.trim() + "\n";
  for (let tries = 0; ; tries++) {
    try {
      fs.writeFileSync(lockPath, mine, { flag: "wx", mode: 0o600 }); // exclusive: two fresh starts cannot both win
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST" || tries >= 3) throw err;
    }
    const holder = lockHolder(dataDir);
    if (holder !== undefined) {
      throw new DataDirLockedError(`another podfleet orchestrator (pid ${holder}) is using ${dataDir}; stop it or use another --data-dir`);
    }
    fs.rmSync(lockPath, { force: true }); // stale: its process is gone, or the pid now names another process
  }
  return () => {
    try {
      if (fs.readFileSync(lockPath, "utf8") === mine) fs.rmSync(lockPath, { force: true });
    } catch {
      // already gone
    }
  };
}
