/**
 * Scenario 5, backlog at scale: many short episodes uploaded at once to an in-process orchestrator
 * (autoscaler capped at 0 machines), drained by simulated machines — bench/sim-fleet.ts, one child
 * process running N real worker pull loops with the benchmark-only synthetic engine. Measures the
 * orchestrator's peak RSS (this process), DB size, chunks completed per second, and checks from
 * the database and the results bucket that every chunk completed exactly once.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { workerAuthEnv } from "../../orchestrator/queue/nats-credentials.ts";
import type { BenchContext, ScenarioResult } from "../bench-result.ts";
import { childCpuMs, processCpuMs } from "../process-cpu.ts";
import { gappedWav, round, startBenchFarm, submitWav, until } from "../bench-stack.ts";

const SIM_FLEET = fileURLToPath(new URL("../sim-fleet.ts", import.meta.url));
const EPISODE_SEC = 20;
const CHUNK_SEC = 1;

export interface BacklogRun {
  episodes: number;
  chunks: number;
  /** Phase 1, no machine running: uploads accepted, decoded, cut and queued. */
  ingestWallS: number;
  /** This process's CPU in phase 1 per minute of audio (upload handling, decode, silence search, chunk jobs into NATS), ffmpeg children included. */
  ingestCpuMsPerAudioMin: number;
  /** The ffmpeg/ffprobe children's part of that. */
  ingestChildCpuMsPerAudioMin: number;
  /** The embedded nats-server's CPU, per minute of audio in phase 1 and per chunk in phase 2. */
  natsCpuMsPerAudioMin: number;
  natsCpuMsPerChunk: number;
  /** Phase 2, the simulated fleet drains the queue: from its start to the last episode done. */
  drainWallS: number;
  chunksPerS: number;
  /** This process's CPU in phase 2 per chunk: claim and result events, result fetches, stitching, transcript storage. */
  cpuMsPerChunk: number;
  /** The same less the idle rate (autoscaler/sweeper passes, timers) over the phase's wall time. */
  cpuMsPerChunkNetOfIdle: number;
  peakRssMb: number;
  dbMb: number;
  doneOnce: boolean;
  detail: string;
}

const cpuMs = (since: NodeJS.CpuUsage): number => {
  const c = process.cpuUsage(since);
  return (c.user + c.system) / 1000;
};

/**
 * Two phases, so each figure means one thing: (1) all episodes are uploaded and ingested with no
 * machine running, and wait queued — the backlog; (2) the simulated fleet starts and drains it.
 */
export async function runBacklog(ctx: BenchContext, opts: { episodes: number; machines: number; env?: Record<string, string> }): Promise<BacklogRun> {
  const file = gappedWav(ctx.dir, EPISODE_SEC);
  const farm = await startBenchFarm({ env: { PODFLEET_MAX_MACHINES: "0", ...opts.env } });
  const natsPid = Number(fs.readFileSync(path.join(farm.dataDir, "nats-server.pid"), "utf8"));
  const natsCpu = (): number => processCpuMs(natsPid);
  let peakRss = process.memoryUsage().rss;
  const rssTimer = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 100);
  let sim: ReturnType<typeof spawn> | undefined;
  try {
    // idle baseline: fleet passes and timers cost CPU whether or not chunks flow
    const idle0 = process.cpuUsage();
    const idleT0 = Date.now();
    await new Promise((r) => setTimeout(r, 3_000));
    const idleMsPerS = cpuMs(idle0) / ((Date.now() - idleT0) / 1000);

    // Phase 1: the backlog builds up (several uploads in flight, like many clients at once).
    const ingest0 = process.cpuUsage();
    const child0 = childCpuMs();
    const nats0 = natsCpu();
    const ingestT0 = Date.now();
    const ids: string[] = [];
    const next = async (): Promise<void> => {
      while (ids.length < opts.episodes) {
        ids.push("");
        const slot = ids.length - 1;
        ids[slot] = await submitWav(farm, file, CHUNK_SEC);
      }
    };
    await Promise.all([next(), next(), next(), next()]);
    await until(
      "every episode queued",
      async () => {
        const eps = await farm.orch.store.episodesInStates(["received", "ingesting"]);
        return eps.length === 0 ? true : undefined;
      },
      1_800_000,
      250,
    );
    const ingestWallS = (Date.now() - ingestT0) / 1000;
    const ingestChildCpu = childCpuMs() - child0;
    const ingestCpu = cpuMs(ingest0) + ingestChildCpu;
    const natsIngest = natsCpu() - nats0;

    // Phase 2: the fleet drains it.
    const drain0 = process.cpuUsage();
    const natsDrain0 = natsCpu();
    const drainT0 = Date.now();
    sim = spawn(process.execPath, ["--import", "tsx", SIM_FLEET, farm.orch.natsUrl, farm.orch.config.nats.prefix, String(opts.machines), "0"], {
      stdio: ["ignore", "pipe", "inherit"],
      env: { ...process.env, ...workerAuthEnv(farm.orch.natsAuth.worker) },
    });
    const simExited = new Promise((_, reject) => sim!.once("exit", (code) => reject(new Error(`sim-fleet exited ${code}`))));
    simExited.catch(() => undefined);
    await Promise.race([
      until(
        "backlog drained",
        async () => {
          const eps = await farm.orch.store.episodesInStates(["transcribing", "stitching"]);
          return eps.length === 0 ? true : undefined;
        },
        1_800_000,
        250,
      ),
      simExited,
    ]);
    const drainWallS = (Date.now() - drainT0) / 1000;
    const drainCpu = cpuMs(drain0);
    const natsDrain = natsCpu() - natsDrain0;

    const rows = await farm.orch.store.listEpisodes(opts.episodes + 10);
    const failed = rows.filter((e) => e.status !== "done").length;
    let chunks = 0;
    let notDone = 0;
    let badAttempts = 0;
    const owners = new Set<string>();
    for (const id of ids) {
      for (const c of await farm.orch.store.listChunks(id)) {
        chunks += 1;
        if (c.state !== "done" || (!c.resultObject && c.resultWords === null)) notDone += 1;
        if (c.attempt !== 1 || c.generation !== 1) badAttempts += 1;
        if (c.leaseOwner) owners.add(c.leaseOwner);
      }
    }
    const dbFile = path.join(farm.dataDir, "podfleet.db");
    const dbBytes = ["", "-wal", "-shm"].reduce((n, s) => n + (fs.existsSync(dbFile + s) ? fs.statSync(dbFile + s).size : 0), 0);
    const doneOnce = failed === 0 && notDone === 0 && badAttempts === 0;
    return {
      episodes: opts.episodes,
      chunks,
      ingestWallS,
      ingestCpuMsPerAudioMin: ingestCpu / ((opts.episodes * EPISODE_SEC) / 60),
      ingestChildCpuMsPerAudioMin: ingestChildCpu / ((opts.episodes * EPISODE_SEC) / 60),
      natsCpuMsPerAudioMin: natsIngest / ((opts.episodes * EPISODE_SEC) / 60),
      natsCpuMsPerChunk: natsDrain / chunks,
      drainWallS,
      chunksPerS: chunks / drainWallS,
      cpuMsPerChunk: drainCpu / chunks,
      cpuMsPerChunkNetOfIdle: (drainCpu - idleMsPerS * drainWallS) / chunks,
      peakRssMb: peakRss / 2 ** 20,
      dbMb: dbBytes / 2 ** 20,
      doneOnce,
      detail: `episodes not done ${failed}, chunks not done ${notDone}, chunks with a second attempt ${badAttempts}, machines that did work ${owners.size}`,
    };
  } finally {
    clearInterval(rssTimer);
    if (sim) {
      sim.kill("SIGTERM");
      await new Promise((r) => (sim!.exitCode !== null || sim!.signalCode !== null ? r(null) : sim!.once("exit", r)));
    }
    await farm.close();
  }
}

export async function backlog(ctx: BenchContext): Promise<ScenarioResult> {
  const episodes = ctx.quick ? 20 : 500;
  const machines = 200;
  const r = await runBacklog(ctx, { episodes, machines });
  ctx.log(`  ${r.chunks} chunks queued in ${round(r.ingestWallS, 1)} s, drained in ${round(r.drainWallS, 1)} s; ${r.detail}`);
  return {
    scenario: "backlog",
    figures: {
      episodes,
      simulated_machines: machines,
      simulation: "one child process, 200 real worker pull loops (synthetic engine, RTF 0) on the real NATS wire protocol",
      chunks: r.chunks,
      ingest_wall_s: round(r.ingestWallS, 1),
      drain_wall_s: round(r.drainWallS, 1),
      chunks_per_s: round(r.chunksPerS, 1),
      orchestrator_ingest_cpu_ms_per_audio_min: round(r.ingestCpuMsPerAudioMin, 1),
      ingest_ffmpeg_cpu_ms_per_audio_min: round(r.ingestChildCpuMsPerAudioMin, 1),
      nats_server_ingest_cpu_ms_per_audio_min: round(r.natsCpuMsPerAudioMin, 1),
      nats_server_cpu_ms_per_chunk: round(r.natsCpuMsPerChunk, 3),
      orchestrator_peak_rss_mb: round(r.peakRssMb, 1),
      db_mb: round(r.dbMb, 2),
      orchestrator_cpu_ms_per_chunk: round(r.cpuMsPerChunk, 3),
      orchestrator_cpu_ms_per_chunk_net_of_idle: round(r.cpuMsPerChunkNetOfIdle, 3),
      every_chunk_done_once: r.doneOnce,
      check: r.detail,
    },
    target: "every chunk completed exactly once (figures reported)",
    met: r.doneOnce,
    ...(ctx.quick ? { note: `quick: ${episodes} episodes instead of 500` } : {}),
  };
}
