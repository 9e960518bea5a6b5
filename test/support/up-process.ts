/**
 * `podfleet up` as a child process on a data directory, for tests that kill things for real:
 * start it, submit audio over HTTP, wait for an episode, and find every process the stack left
 * (command line or open files under the data directory, which catches local workers whose
 * logs live there).
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { authHeaders, rememberDataDirToken } from "./auth.ts";
import { until } from "./until.ts";

// Kept here for the tests that import it from this module; new code imports ./until.ts.
export { until } from "./until.ts";

const BIN = fileURLToPath(new URL("../../bin/podfleet.js", import.meta.url));

export interface UpProcess {
  url: string;
  child: ChildProcess;
  exited: Promise<number | null>;
  stderr: () => string;
}

/** Starts `podfleet up --port 0` and resolves once it has written a fresh orchestrator.url. */
export async function startUp(dataDir: string, env: Record<string, string>): Promise<UpProcess> {
  const urlFile = path.join(dataDir, "orchestrator.url");
  fs.rmSync(urlFile, { force: true }); // a SIGKILLed run leaves its stale URL behind
  const child = spawn(process.execPath, [BIN, "up", "--port", "0"], {
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", PODFLEET_DATA_DIR: dataDir, ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.on("close", (code) => r(code)));
  const url = await until(
    "the orchestrator URL file",
    () => {
      if (child.exitCode !== null) throw new Error(`podfleet up exited ${child.exitCode}: ${stderr}`);
      return fs.existsSync(urlFile) ? fs.readFileSync(urlFile, "utf8").trim() || undefined : undefined;
    },
    60_000,
  );
  rememberDataDirToken(url, dataDir); // written before orchestrator.url
  return { url, child, exited, stderr: () => stderr };
}

export interface EpisodeStatus {
  id: string;
  status: string;
  error: string | null;
  chunks: { total: number; done: number; queued: number; leased: number; failed: number };
}

export async function submitUpload(url: string, file: string, chunkSeconds: number): Promise<string> {
  const res = await fetch(`${url}/v1/episodes?chunkSeconds=${chunkSeconds}`, {
    method: "POST",
    body: fs.readFileSync(file),
    headers: { "content-type": "audio/wav", ...authHeaders(url) },
  });
  if (res.status !== 202) throw new Error(`submit answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { id: string }).id;
}

export async function episodeStatus(url: string, id: string): Promise<EpisodeStatus | undefined> {
  try {
    const res = await fetch(`${url}/v1/episodes/${id}`, { headers: authHeaders(url) });
    return res.ok ? ((await res.json()) as EpisodeStatus) : undefined;
  } catch {
    return undefined; // the orchestrator is down or restarting
  }
}

/** Waits for an episode to end; on timeout the error carries its last status and, if given, `diagnose()` (log tails). */
export async function waitFinished(url: string, id: string, timeoutMs: number, diagnose?: () => string): Promise<EpisodeStatus> {
  let last: EpisodeStatus | undefined;
  try {
    return await until(
      `episode ${id} to finish`,
      async () => {
        const s = await episodeStatus(url, id);
        last = s ?? last;
        return s && (s.status === "done" || s.status === "failed") ? s : undefined;
      },
      timeoutMs,
      250,
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}; last status ${JSON.stringify(last)}${diagnose ? `\n${diagnose()}` : ""}`, { cause: err });
  }
}

/** The last `lines` lines of every log under `<dataDir>/logs` and of `stderr`, for failure messages. */
export function logTails(dataDir: string, stderr: string, lines = 15): string {
  const tail = (text: string) => text.trimEnd().split("\n").slice(-lines).join("\n");
  const out = [`--- podfleet up stderr\n${tail(stderr)}`];
  const walk = (dir: string): void => {
    for (const e of fs.existsSync(dir) ? fs.readdirSync(dir, { withFileTypes: true }) : []) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(`--- ${path.relative(dataDir, p)}\n${tail(fs.readFileSync(p, "utf8"))}`);
    }
  };
  walk(path.join(dataDir, "logs"));
  return out.join("\n");
}

export async function transcriptFiles(url: string, id: string): Promise<{ txt: string; json: string }> {
  const get = async (f: string) => {
    const res = await fetch(`${url}/v1/episodes/${id}/transcript.${f}`);
    if (!res.ok) throw new Error(`transcript.${f}: HTTP ${res.status}`);
    return res.text();
  };
  return { txt: await get("txt"), json: await get("json") };
}

/** Live (non-zombie) processes whose command line or open files mention `dir`. */
export function processesUsing(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (/\) Z /.test(fs.readFileSync(`/proc/${entry}/stat`, "utf8"))) continue;
      let hit = fs.readFileSync(`/proc/${entry}/cmdline`, "utf8").includes(dir);
      if (!hit) {
        for (const fd of fs.readdirSync(`/proc/${entry}/fd`)) {
          try {
            if (fs.readlinkSync(`/proc/${entry}/fd/${fd}`).startsWith(dir)) {
              hit = true;
              break;
            }
          } catch {
            // fd closed while we looked
          }
        }
      }
      if (hit) pids.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return pids;
}

/** SIGKILLs every process still using `dir` (test cleanup after a failure). */
export function killAllUsing(dir: string): void {
  for (const pid of processesUsing(dir)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}
