/**
 * CPU time from /proc, for benchmark figures that must count more than `process.cpuUsage()`:
 * ffmpeg children the orchestrator spawned (ingest), and the nats-server child (a cost no
 * orchestrator figure saw before). Linux only, like the rest of the benchmarks.
 */
import fs from "node:fs";

const TICK_MS = 1000 / 100; // USER_HZ is 100 on Linux

/** Fields of /proc/PID/stat after the command name (which may hold spaces). */
function statFields(pid: number | "self"): string[] {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
}

/** User + system CPU of a live process, ms (0 once it is gone). */
export function processCpuMs(pid: number): number {
  try {
    const f = statFields(pid);
    return (Number(f[11]) + Number(f[12])) * TICK_MS; // utime, stime
  } catch {
    return 0;
  }
}

/** This process's own CPU, ms (microsecond resolution, unlike /proc). */
export function selfCpuMs(): number {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
}

/**
 * CPU of this process's children that have exited and been reaped (cutime + cstime), ms: every
 * ffmpeg/ffprobe run the orchestrator waited for. Resolution 10 ms per read.
 */
export function childCpuMs(): number {
  const f = statFields("self");
  return (Number(f[13]) + Number(f[14])) * TICK_MS;
}

/**
 * This process's CPU by thread kind, ms (user + system, 10 ms resolution per thread): "main" (the
 * event loop, where the JavaScript runs), "v8" (V8's worker threads: optimising compilers and the
 * garbage collector's helpers), "libuv" (the thread pool: file I/O) and "other". Threads that ended
 * meanwhile are not counted.
 */
export function threadCpuMs(): Record<"main" | "v8" | "libuv" | "other", number> {
  const out = { main: 0, v8: 0, libuv: 0, other: 0 };
  for (const tid of fs.readdirSync("/proc/self/task")) {
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/self/task/${tid}/stat`, "utf8");
    } catch {
      continue; // ended between the listing and the read
    }
    const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ms = (Number(f[11]) + Number(f[12])) * TICK_MS;
    const kind = tid === String(process.pid) ? "main" : name.startsWith("V8") ? "v8" : name.startsWith("libuv") ? "libuv" : "other";
    out[kind] += ms;
  }
  return out;
}
