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
import { createInterface } from "node:readline";
import { workerAuthEnv } from "../../orchestrator/queue/nats-credentials.ts";
import type { BenchContext, ScenarioResult } from "../bench-result.ts";
import { gappedWav, round, startBenchFarm, submitWav, until } from "../bench-stack.ts";

const SIM_FLEET = fileURLToPath(new URL("../sim-fleet.ts", import.meta.url));
const EPISODE_SEC = 20;
const CHUNK_SEC = 1;

export interface BacklogRun {
  episodes: number;
  chunks: number;
  wallS: number;
  chunksPerS: number;
  /** All CPU of this process (the orchestrator) from first upload to last episode done, per chunk. */
  cpuMsPerChunk: number;
  /** The same less the idle rate (autoscaler/sweeper passes, timers) over the run's wall time. */
  cpuMsPerChunkNetOfIdle: number;
  peakRssMb: number;
  dbMb: number;
  doneOnce: boolean;
  detail: string;
}

export async function runBacklog(ctx: BenchContext, opts: { episodes: number; machines: number }): Promise<BacklogRun> {
  const file = gappedWav(ctx.dir, EPISODE_SEC);
  const farm = await startBenchFarm({ env: { PODFLEET_MAX_MACHINES: "0" } });
  const sim = spawn(process.execPath, ["--import", "tsx", SIM_FLEET, farm.orch.natsUrl, farm.orch.config.nats.prefix, String(opts.machines), "0"], {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, ...workerAuthEnv(farm.orch.natsAuth.worker) },
  });
  const simLines: string[] = [];
  const ready = new Promise<void>((resolve, reject) => {
    createInterface({ input: sim.stdout! }).on("line", (l) => {
      simLines.push(l);
      if (l === "ready") resolve();
    });
    sim.once("exit", (code) => reject(new Error(`sim-fleet exited ${code}`)));
  });
  let peakRss = process.memoryUsage().rss;
  const rssTimer = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 100);
  try {
    await ready;
    // idle baseline: fleet passes and timers cost CPU whether or not chunks flow
    const idle0 = process.cpuUsage();
    const idleT0 = Date.now();
    await new Promise((r) => setTimeout(r, 3_000));
    const idleCpu = process.cpuUsage(idle0);
    const idleMsPerS = (idleCpu.user + idleCpu.system) / 1000 / ((Date.now() - idleT0) / 1000);
    const cpu0 = process.cpuUsage();
    const t0 = Date.now();
    const ids: string[] = [];
    // several uploads in flight, like many clients submitting at once
    const next = async (): Promise<void> => {
      while (ids.length < opts.episodes) {
        ids.push("");
        const slot = ids.length - 1;
        ids[slot] = await submitWav(farm, file, CHUNK_SEC);
      }
    };
    await Promise.all([next(), next(), next(), next()]);
    await until("backlog drained", async () => {
      const eps = await farm.orch.store.episodesInStates(["received", "ingesting", "transcribing", "stitching"]);
      return eps.length === 0 ? true : undefined;
    }, 1_800_000, 250);
    const wallS = (Date.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const rows = await farm.orch.store.listEpisodes(opts.episodes + 10);
    const failed = rows.filter((e) => e.status !== "done").length;
    let chunks = 0;
    let notDone = 0;
    let badAttempts = 0;
    const owners = new Set<string>();
    for (const id of ids) {
      for (const c of await farm.orch.store.listChunks(id)) {
        chunks += 1;
        if (c.state !== "done" || !c.resultObject) notDone += 1;
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
      wallS,
      chunksPerS: chunks / wallS,
      cpuMsPerChunk: (cpu.user + cpu.system) / 1000 / chunks,
      cpuMsPerChunkNetOfIdle: ((cpu.user + cpu.system) / 1000 - idleMsPerS * wallS) / chunks,
      peakRssMb: peakRss / 2 ** 20,
      dbMb: dbBytes / 2 ** 20,
      doneOnce,
      detail: `episodes not done ${failed}, chunks not done ${notDone}, chunks with a second attempt ${badAttempts}, machines that did work ${owners.size}`,
    };
  } finally {
    clearInterval(rssTimer);
    sim.kill("SIGTERM");
    await new Promise((r) => (sim.exitCode !== null ? r(null) : sim.once("exit", r)));
    await farm.close();
  }
}

export async function backlog(ctx: BenchContext): Promise<ScenarioResult> {
  const episodes = ctx.quick ? 20 : 500;
  const machines = 200;
  const r = await runBacklog(ctx, { episodes, machines });
  ctx.log(`  ${r.chunks} chunks in ${round(r.wallS, 1)} s; ${r.detail}`);
  return {
    scenario: "backlog",
    figures: {
      episodes,
      simulated_machines: machines,
      simulation: "one child process, 200 real worker pull loops (synthetic engine, RTF 0) on the real NATS wire protocol",
      chunks: r.chunks,
      wall_s: round(r.wallS, 1),
      chunks_per_s: round(r.chunksPerS, 1),
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
