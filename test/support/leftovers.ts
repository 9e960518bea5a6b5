/**
 * What a test process still has running: its descendant processes (read from /proc) and the
 * resources that keep its event loop alive (process.getActiveResourcesInfo()), compared with a
 * baseline taken before the tests ran. Used by the leak check (./leak-check.ts) and its test.
 */
import fs from "node:fs";

/** A process under the test process, found through /proc's parent links. */
export interface ChildProcessInfo {
  pid: number;
  ppid: number;
  command: string;
}

/** What is left running; both lists empty means clean. */
export interface Leftovers {
  processes: ChildProcessInfo[];
  /** Resource type (e.g. `TCPSocketWrap`, `Timeout`, `ProcessWrap`) → how many more than the baseline. */
  resources: Map<string, number>;
  /** Best-effort descriptions of the extra handles (addresses, pids), for the message only. */
  details: string[];
}

/** Counts per resource type, as getActiveResourcesInfo() lists them (unref'd handles and timers are not listed). */
export function resourceCounts(list: readonly string[] = process.getActiveResourcesInfo()): Map<string, number> {
  const counts = new Map<string, number>();
  for (const type of list) counts.set(type, (counts.get(type) ?? 0) + 1);
  return counts;
}

/** Live (not zombie) processes whose parent chain leads to `rootPid`. */
export function descendantProcesses(rootPid = process.pid): ChildProcessInfo[] {
  const all: ChildProcessInfo[] = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
      // pid (comm) state ppid ...: comm may hold spaces and parentheses, so split after the last ')'
      const [state, ppid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (state === "Z") continue;
      const command = fs.readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0").filter(Boolean).join(" ");
      all.push({ pid: Number(entry), ppid: Number(ppid), command });
    } catch {
      // the process ended while we looked
    }
  }
  const found: ChildProcessInfo[] = [];
  const parents = new Set([rootPid]);
  for (let grew = true; grew;) {
    grew = false;
    for (const p of all) {
      if (parents.has(p.ppid) && !parents.has(p.pid)) {
        parents.add(p.pid);
        found.push(p);
        grew = true;
      }
    }
  }
  return found;
}

/** Handles node itself exposes for diagnostics (undocumented; absent on some runtimes, hence optional). */
type HandleLister = { _getActiveHandles?: () => unknown[] };

/** One line per socket, server or child process handle not in `baseline`; empty where node cannot tell. */
function handleDetails(baseline: ReadonlySet<unknown>): string[] {
  const list = (process as unknown as HandleLister)._getActiveHandles?.() ?? [];
  const lines: string[] = [];
  for (const handle of list) {
    if (baseline.has(handle) || typeof handle !== "object" || handle === null) continue;
    const h = handle as Record<string, unknown> & { address?: () => unknown };
    if (typeof h.pid === "number" && Array.isArray(h.spawnargs)) lines.push(`child process ${h.pid}: ${h.spawnargs.join(" ")}`);
    else if (typeof h.listening === "boolean" && typeof h.address === "function") lines.push(`server listening on ${JSON.stringify(h.address())}`);
    else if (typeof h.remotePort === "number" || typeof h.localPort === "number")
      lines.push(`socket ${String(h.localAddress)}:${String(h.localPort)} → ${String(h.remoteAddress)}:${String(h.remotePort)}`);
    else lines.push(`${handle.constructor.name} handle`);
  }
  return lines;
}

/** The handle objects alive now, to leave out of later details. */
function handleBaseline(): Set<unknown> {
  return new Set((process as unknown as HandleLister)._getActiveHandles?.() ?? []);
}

/** What the process runs before its tests: resource counts, handle objects, descendant pids (tsx's esbuild service, say). */
export interface Baseline {
  resources: ReadonlyMap<string, number>;
  handles: ReadonlySet<unknown>;
  pids: ReadonlySet<number>;
}

export function takeBaseline(): Baseline {
  return { resources: resourceCounts(), handles: handleBaseline(), pids: new Set(descendantProcesses().map((p) => p.pid)) };
}

/** tsx's loader starts esbuild's transform service lazily, the first time it compiles a file, and keeps it (unref'd) for the process's life. */
const LOADER_SERVICE = /\/esbuild --service=\S+ --ping$/;

/** Descendant processes that were not there at `baseline` (the loader's esbuild service is not a leak). */
export function newProcesses(baseline: Baseline): ChildProcessInfo[] {
  return descendantProcesses().filter((p) => !baseline.pids.has(p.pid) && !(p.ppid === process.pid && LOADER_SERVICE.test(p.command)));
}

/** What is running now beyond `baseline`. */
export function leftovers(baseline: Baseline): Leftovers {
  const resources = new Map<string, number>();
  for (const [type, n] of resourceCounts()) {
    const extra = n - (baseline.resources.get(type) ?? 0);
    if (extra > 0) resources.set(type, extra);
  }
  return { processes: newProcesses(baseline), resources, details: resources.size > 0 ? handleDetails(baseline.handles) : [] };
}

export function isClean(found: Leftovers): boolean {
  return found.processes.length === 0 && found.resources.size === 0;
}

/** A message that names what was left, for a person reading the test output. */
export function describeLeftovers(where: string, found: Leftovers): string {
  const lines = [`leak check: ${where} left things running after its tests and their cleanup ended:`];
  for (const p of found.processes) lines.push(`  process ${p.pid} (parent ${p.ppid}): ${p.command.slice(0, 300)}`);
  for (const [type, n] of found.resources)
    lines.push(`  ${n} × ${type}${type === "Timeout" ? " (a setTimeout/setInterval still pending and ref'd)" : ""}`);
  for (const d of found.details) lines.push(`    ${d}`);
  lines.push("Stop what a test starts in t.after() or after() (test/support/cleanup.ts).");
  return lines.join("\n");
}
