/**
 * Issue 15's hour scenario: a real MP3 of connected speech (bench/speech-mp3.ts: 60 min, 128
 * kbit/s, four flite voices; 20 min in --quick) served by `python3 -m http.server` on 127.0.0.1 and
 * submitted by URL to a warm fleet of 32 synthetic-engine machines, at RTF 0.1 and 0.02
 * (PODFLEET_SYNTHETIC_RTF on the orchestrator). Reported per run:
 * - submit → first job published (the first chunk's row is written just before its job goes out);
 * - submit → transcript, against the floor measured in the same run: one ffmpeg decode of the
 *   file + one round of the engine per chunk wave (waves = ceil(chunks / machines), each as long as
 *   the longest chunk × RTF);
 * - ingest CPU per audio hour, from submit to the plan's completion: the orchestrator process
 *   (this one) plus its waited-for children (ffmpeg, ffprobe: /proc/self/stat cutime+cstime);
 * - nats-server CPU (its own process, /proc/PID/stat) from submit to the plan's completion and to
 *   the transcript, per audio hour and per chunk;
 * - the whole farm's CPU from submit to transcript (orchestrator, ffmpeg, nats-server, the 32
 *   machines' worker processes, the python server) and that divided by this machine's cores: the
 *   wall time the work needs even with every core busy, to hold the floor against (every part of
 *   the farm runs on this one machine here, unlike a deployment), also by component
 *   (orchestrator_cpu_s, ffmpeg_cpu_s, nats_cpu_s, workers_cpu_s, python_cpu_s), with the idle
 *   fleet's own CPU rate sampled for 5 s before the submit and the orchestrator's garbage
 *   collections (count and pause) in that window.
 * HOUR_STREAM_RTFS=0.02 runs one rate only; HOUR_STREAM_CPU_PROFILE=DIR also writes the orchestrator's
 * CPU profile of each run there.
 */
import { execFile, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { PerformanceObserver } from "node:perf_hooks";
import { promisify } from "node:util";
import type { BenchContext, ScenarioResult } from "../bench-result.ts";
import { processCpuMs } from "../process-cpu.ts";
import { benchApi, round, startBenchFarm, until, warmFleet, type BenchFarm } from "../bench-stack.ts";
import { speechMp3 } from "../speech-mp3.ts";

const run = promisify(execFile);
const MACHINES = 32;
const CLK_TCK = 100; // Linux USER_HZ
/** How long the idle fleet's own CPU is sampled before the submit. */
const IDLE_PROBE_MS = 5_000;

/** CPU seconds of this process's waited-for children (ffmpeg, ffprobe; workers still running are not in it). */
function childrenCpuS(): number {
  const fields = fs.readFileSync("/proc/self/stat", "utf8").split(") ")[1]!.split(" ");
  // after "pid (comm) ": state is field 3, cutime field 16, cstime field 17
  return (Number(fields[13]) + Number(fields[14])) / CLK_TCK;
}

/** Serves `dir` with python's http.server (HTTP/1.0) on 127.0.0.1; resolves with its base URL and a stop function. */
async function pythonServer(dir: string): Promise<{ url: string; pid: number; stop(): Promise<void> }> {
  const py = spawn("python3", ["-u", "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory", dir], { stdio: ["ignore", "pipe", "ignore"] });
  const closed = new Promise<void>((r) => py.once("close", () => r()));
  let out = "";
  const port = await new Promise<number>((resolve, reject) => {
    py.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /port (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    py.once("close", (code) => reject(new Error(`python3 -m http.server exited ${code}`)));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    pid: py.pid!,
    stop: async () => {
      py.kill("SIGTERM");
      await closed;
    },
  };
}

/** Wall seconds of one ffmpeg decode of `file` to 16 kHz mono PCM (the floor's first term). */
async function decodeSeconds(file: string): Promise<number> {
  const t0 = performance.now();
  await run("ffmpeg", ["-nostdin", "-v", "error", "-i", file, "-vn", "-ac", "1", "-ar", "16000", "-f", "s16le", "-y", "/dev/null"]);
  return (performance.now() - t0) / 1000;
}

/** CPU ms of the warm fleet's machine processes (the local runtime's pids), summed. */
async function machinesCpuMs(farm: BenchFarm): Promise<{ pids: number[]; ms(): number }> {
  const res = await benchApi(farm, "/v1/machines");
  const { machines } = (await res.json()) as { machines: { pid?: number }[] };
  const pids = machines.flatMap((m) => (m.pid === undefined ? [] : [m.pid]));
  return { pids, ms: () => pids.reduce((sum, pid) => sum + processCpuMs(pid), 0) };
}

/** Counts this process's (the orchestrator's) garbage collections and their pauses until `stop`. */
function gcPauses(): { stop(): { count: number; ms: number } } {
  let count = 0;
  let ms = 0;
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      count += 1;
      ms += e.duration;
    }
  });
  obs.observe({ entryTypes: ["gc"] });
  return {
    stop: () => {
      for (const e of obs.takeRecords()) {
        count += 1;
        ms += e.duration;
      }
      obs.disconnect();
      return { count, ms };
    },
  };
}

/**
 * With HOUR_STREAM_CPU_PROFILE=DIR, the orchestrator's (this process's) V8 CPU profile from submit to
 * transcript goes to DIR/hour-stream-rtfR.cpuprofile (open it in Chrome's DevTools).
 */
async function startProfile(): Promise<{ stop(name: string): Promise<void> } | undefined> {
  const dir = process.env.HOUR_STREAM_CPU_PROFILE;
  if (!dir) return undefined;
  const { Session } = await import("node:inspector/promises");
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.start");
  return {
    stop: async (name) => {
      const { profile } = await session.post("Profiler.stop");
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, `${name}.cpuprofile`), JSON.stringify(profile));
      session.disconnect();
    },
  };
}

async function oneRun(ctx: BenchContext, mp3: string, server: { url: string; pid: number }, rtf: number): Promise<Record<string, number>> {
  const base = server.url;
  const farm: BenchFarm = await startBenchFarm({
    env: {
      PODFLEET_ENGINE: "synthetic",
      PODFLEET_SYNTHETIC_RTF: String(rtf),
      PODFLEET_MAX_MACHINES: String(MACHINES),
      PODFLEET_IDLE_TIMEOUT_SEC: "240",
      // the autoscaler at its default interval, as `podfleet up` runs it: the bench farm's 250 ms is
      // for scenarios that grow a fleet, and here (a warm fleet at its cap) its four passes a second
      // were orchestrator CPU that a deployment does not spend (BENCHMARKS.md, "Hour episode, streamed")
      PODFLEET_AUTOSCALE_INTERVAL_MS: "2000",
    },
  });
  try {
    ctx.log(`  rtf ${rtf}: warming ${MACHINES} machines`);
    await warmFleet(farm, ctx.dir, MACHINES);
    const decodeS = await decodeSeconds(mp3);
    const natsPid = Number(fs.readFileSync(path.join(farm.dataDir, "nats-server.pid"), "utf8"));
    const machines = await machinesCpuMs(farm);
    // what the idle fleet burns on its own (pull requests, timers): part of workers_cpu_s below
    const idle0 = machines.ms();
    await new Promise((r) => setTimeout(r, IDLE_PROBE_MS));
    const idleWorkersMs = machines.ms() - idle0;
    const nats0 = processCpuMs(natsPid);
    const machines0 = machines.ms();
    const python0 = processCpuMs(server.pid);
    const profile = await startProfile();
    const gc = gcPauses();
    const cpu0 = process.cpuUsage();
    const child0 = childrenCpuS();
    const submitAt = Date.now();
    const res = await benchApi(farm, "/v1/episodes", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ audioUrl: `${base}/${path.basename(mp3)}`, chunkSeconds: 60, title: "hour-stream" }),
    });
    if (res.status !== 202) throw new Error(`submit failed: ${res.status} ${await res.text()}`);
    const id = ((await res.json()) as { id: string }).id;
    // both times come from the rows (the chunk's createdAt, the plan's completion updatedAt), so a
    // slow poll loses no precision, and it costs this process (the orchestrator's) little CPU
    const firstJobAt = await until(
      "first job",
      async () => {
        const first = (await farm.orch.store.listChunks(id))[0];
        return first?.createdAt;
      },
      600_000,
      100,
    );
    const planned = await until(
      "plan complete",
      async () => {
        const ep = await farm.orch.store.getEpisode(id);
        if (ep?.status === "failed") throw new Error(`episode failed: ${ep.error}`);
        if (ep?.chunkCount == null) return undefined;
        // completePlan writes updatedAt; a later state change would too, so past "transcribing" only the poll's time is known
        return ep.status === "transcribing" ? ep.updatedAt : Date.now();
      },
      600_000,
      250,
    );
    const cpu = process.cpuUsage(cpu0);
    const childS = childrenCpuS() - child0;
    const natsIngestMs = processCpuMs(natsPid) - nats0;
    // the finish time from the row, polled every 100 ms (not waitDone's 20 ms: this process is the
    // orchestrator, and a poll of the episode row every 20 ms was its CPU, and its event loop's time, too)
    const doneAt = await until(
      `episode ${id} done`,
      async () => {
        const ep = await farm.orch.store.getEpisode(id);
        if (ep?.status === "failed") throw new Error(`episode ${id} failed: ${ep.error ?? "?"}`);
        return ep?.status === "done" ? (ep.finishedAt ?? undefined) : undefined;
      },
      1_800_000,
      100,
    );
    const natsMs = processCpuMs(natsPid) - nats0;
    // everything the farm burnt from submit to transcript, all on this machine's cores
    const orchDone = process.cpuUsage(cpu0);
    const gcs = gc.stop();
    await profile?.stop(`hour-stream-rtf${rtf}`);
    const parts = {
      orchestrator: (orchDone.user + orchDone.system) / 1e6,
      ffmpeg: childrenCpuS() - child0,
      nats: natsMs / 1000,
      workers: (machines.ms() - machines0) / 1000,
      python: (processCpuMs(server.pid) - python0) / 1000,
    };
    const farmCpuS = parts.orchestrator + parts.ffmpeg + parts.nats + parts.workers + parts.python;
    const ep = (await farm.orch.store.getEpisode(id))!;
    const chunks = await farm.orch.store.listChunks(id);
    const longest = Math.max(...chunks.map((c) => (c.endSample - c.startSample) / 16_000));
    const waves = Math.ceil(chunks.length / MACHINES);
    const floorS = decodeS + waves * longest * rtf;
    const totalS = (doneAt - submitAt) / 1000;
    const audioH = ep.durationSec! / 3600;
    const figures = {
      rtf,
      audio_min: round(ep.durationSec! / 60, 1),
      chunks: chunks.length,
      first_job_s: round((firstJobAt - submitAt) / 1000, 2),
      plan_complete_s: round((planned - submitAt) / 1000, 2),
      transcript_s: round(totalS, 2),
      decode_s: round(decodeS, 2),
      floor_s: round(floorS, 2),
      ratio_to_floor: round(totalS / floorS, 2),
      ingest_cpu_s_per_audio_h: round(((cpu.user + cpu.system) / 1e6 + childS) / audioH, 2),
      ffmpeg_cpu_s_per_audio_h: round(childS / audioH, 2),
      nats_cpu_s_per_audio_h_ingest: round(natsIngestMs / 1000 / audioH, 2),
      nats_cpu_s_per_audio_h: round(natsMs / 1000 / audioH, 2),
      nats_cpu_ms_per_chunk: round(natsMs / chunks.length, 1),
      machines_measured: machines.pids.length,
      // the farm's CPU from submit to transcript by component (seconds; they sum to farm_cpu_s)
      orchestrator_cpu_s: round(parts.orchestrator, 2),
      orchestrator_gcs: gcs.count,
      orchestrator_gc_pause_s: round(gcs.ms / 1000, 2),
      ffmpeg_cpu_s: round(parts.ffmpeg, 2),
      nats_cpu_s: round(parts.nats, 2),
      workers_cpu_s: round(parts.workers, 2),
      workers_idle_cpu_s_per_s: round(idleWorkersMs / 1000 / (IDLE_PROBE_MS / 1000), 3),
      python_cpu_s: round(parts.python, 2),
      farm_cpu_s: round(farmCpuS, 2),
      // the wall time the farm's CPU alone needs with every core busy: below the floor only if the cores suffice
      cpu_bound_s: round(farmCpuS / os.availableParallelism(), 2),
      load_avg_1m: round(os.loadavg()[0]!, 1),
    };
    ctx.log(`  rtf ${rtf}: ${JSON.stringify(figures)}`);
    return figures;
  } finally {
    await farm.close();
  }
}

export async function hourStream(ctx: BenchContext): Promise<ScenarioResult[]> {
  const minutes = ctx.quick ? 20 : 60;
  ctx.log(`  building ${minutes} min of speech as MP3 (cached in the temp dir)`);
  const mp3 = await speechMp3(minutes);
  const server = await pythonServer(path.dirname(mp3));
  try {
    const out: ScenarioResult[] = [];
    // HOUR_STREAM_RTFS=0.02 runs one of the two (for profiling and before/after comparisons)
    const rtfs = process.env.HOUR_STREAM_RTFS?.split(",").map(Number) ?? [0.1, 0.02];
    for (const rtf of rtfs) {
      const f = await oneRun(ctx, mp3, server, rtf);
      out.push({
        scenario: `hour_stream_rtf${rtf}`,
        figures: { episode: `${minutes} min speech MP3 by URL (python http.server), 60 s chunks, ${MACHINES} warm machines`, ...f },
        target: "transcript <= 1.3 x floor and first job <= 1.5 s after submit",
        met: f.ratio_to_floor! <= 1.3 && f.first_job_s! <= 1.5,
      });
    }
    return out;
  } finally {
    await server.stop();
  }
}
