/**
 * Issue 18's benchmark, the backlog on the cluster with one orchestrator vs two, in one run: each
 * side gets a fresh stack (test/support/cluster-stack.ts: a 3-node JetStream cluster, one sqld,
 * `podfleet up` processes in Fly mode, so each orchestrator has a process and a core of its own to
 * use) and the same two phases as the backlog scenario: (1) uploads, 4 at a time spread round-robin
 * over the orchestrators, ingested with no machine running until every episode waits queued
 * (ingest throughput); (2) simulated machines (bench/sim-fleet.ts) drain the queue while the
 * orchestrators handle claims, results and stitching (chunk dispatch). Counts are read from the
 * shared database directly; the exactly-once check is the backlog's.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import { fileURLToPath } from "node:url";
import type { BenchContext, ScenarioResult } from "../bench-result.ts";
import { gappedWav, round } from "../bench-stack.ts";
import { authHeaders } from "../../test/support/auth.ts";
import { suiteCleanup } from "../../test/support/cleanup.ts";
import { dbRows } from "../../test/support/cluster-probe.ts";
import { startClusterStack } from "../../test/support/cluster-stack.ts";
import { until } from "../../test/support/until.ts";

const SIM_FLEET = fileURLToPath(new URL("../sim-fleet.ts", import.meta.url));
const EPISODE_SEC = 20;
const CHUNK_SEC = 1;

interface ClusterBacklogRun {
  orchestrators: number;
  chunks: number;
  ingestWallS: number;
  episodesPerS: number;
  drainWallS: number;
  chunksPerS: number;
  doneOnce: boolean;
  detail: string;
}

async function countByStatus(databaseUrl: string): Promise<Record<string, number>> {
  const rows = await dbRows<{ status: string; n: number }>(databaseUrl, "SELECT status, count(*) AS n FROM episodes GROUP BY status");
  return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
}

async function runOnCluster(ctx: BenchContext, orchestrators: number, episodes: number, machines: number): Promise<ClusterBacklogRun> {
  const file = gappedWav(ctx.dir, EPISODE_SEC);
  const body = fs.readFileSync(file);
  const cleanup = suiteCleanup();
  try {
    const stack = await startClusterStack(cleanup, orchestrators, {
      engine: "synthetic",
      maxMachines: 0,
      env: { PODFLEET_LOG_LEVEL: "warn", PODFLEET_RATE_LIMIT_PER_MIN: "0", PODFLEET_SYNTHETIC_RTF: "0", PODFLEET_MAX_STARTING: "64" },
    });
    const urls = stack.orchestrators.map((o) => o.url);
    const db = stack.sqld.url;

    // Phase 1: the backlog builds up through every orchestrator.
    const t0 = Date.now();
    let submitted = 0;
    const submitter = async (): Promise<void> => {
      while (submitted < episodes) {
        const url = urls[submitted % urls.length]!;
        submitted += 1;
        const res = await fetch(`${url}/v1/episodes?title=bench&chunkSeconds=${CHUNK_SEC}`, {
          method: "POST",
          headers: { "content-type": "audio/wav", ...authHeaders(url) },
          body,
        });
        if (res.status !== 202) throw new Error(`submit to ${url}: ${res.status} ${await res.text()}`);
      }
    };
    await Promise.all([submitter(), submitter(), submitter(), submitter()]);
    await until(
      "every episode queued",
      async () => {
        const s = await countByStatus(db);
        if (s.failed) throw new Error(`${s.failed} episodes failed while ingesting`);
        return (s.received ?? 0) + (s.ingesting ?? 0) === 0 ? true : undefined;
      },
      1_800_000,
      250,
    );
    const ingestWallS = (Date.now() - t0) / 1000;

    // Phase 2: simulated machines drain it (worker loops on one of the cluster's nodes).
    const d0 = Date.now();
    const sim = spawn(process.execPath, ["--import", "tsx", SIM_FLEET, stack.nats.urls[0]!, stack.env.PODFLEET_NATS_PREFIX!, String(machines), "0"], {
      stdio: ["ignore", "ignore", "inherit"],
    });
    cleanup.after(async () => {
      if (sim.exitCode !== null || sim.signalCode !== null) return;
      sim.kill("SIGTERM");
      await new Promise((r) => sim.once("exit", r));
    });
    await until(
      "backlog drained",
      async () => {
        if (sim.exitCode !== null) throw new Error(`sim-fleet exited ${sim.exitCode}`);
        const s = await countByStatus(db);
        return (s.transcribing ?? 0) + (s.stitching ?? 0) + (s.queued ?? 0) === 0 ? true : undefined;
      },
      1_800_000,
      250,
    );
    const drainWallS = (Date.now() - d0) / 1000;

    const status = await countByStatus(db);
    const [chunkRow] = await dbRows<{ n: number; bad: number }>(
      db,
      "SELECT count(*) AS n, sum(CASE WHEN state = 'done' AND attempt = 1 AND generation = 1 AND (result_object IS NOT NULL OR result_words IS NOT NULL) THEN 0 ELSE 1 END) AS bad FROM chunks",
    );
    const chunks = Number(chunkRow?.n ?? 0);
    const bad = Number(chunkRow?.bad ?? 0);
    const notDone = episodes - (status.done ?? 0);
    return {
      orchestrators,
      chunks,
      ingestWallS,
      episodesPerS: episodes / ingestWallS,
      drainWallS,
      chunksPerS: chunks / drainWallS,
      doneOnce: notDone === 0 && bad === 0,
      detail: `episodes not done ${notDone}, chunks not done once ${bad}`,
    };
  } finally {
    await cleanup.run();
  }
}

export async function clusterBacklog(ctx: BenchContext): Promise<ScenarioResult> {
  const episodes = ctx.quick ? 20 : 100;
  const machines = ctx.quick ? 50 : 200;
  const one = await runOnCluster(ctx, 1, episodes, machines);
  ctx.log(`  1 orchestrator: ${one.chunks} chunks queued in ${round(one.ingestWallS, 1)} s, drained in ${round(one.drainWallS, 1)} s; ${one.detail}`);
  const two = await runOnCluster(ctx, 2, episodes, machines);
  ctx.log(
    `  2 orchestrators: ${two.chunks} chunks queued in ${round(two.ingestWallS, 1)} s, drained in ${round(two.drainWallS, 1)} s; ${two.detail}`,
  );
  return {
    scenario: "cluster_backlog",
    figures: {
      episodes,
      episode_audio_s: EPISODE_SEC,
      chunk_s: CHUNK_SEC,
      simulated_machines: machines,
      topology: "3-node NATS JetStream cluster (R3), one sqld, podfleet up processes in Fly mode; sim-fleet on node 1",
      one_chunks: one.chunks,
      one_ingest_wall_s: round(one.ingestWallS, 1),
      one_ingest_episodes_per_s: round(one.episodesPerS, 2),
      one_drain_wall_s: round(one.drainWallS, 1),
      one_chunks_per_s: round(one.chunksPerS, 1),
      two_chunks: two.chunks,
      two_ingest_wall_s: round(two.ingestWallS, 1),
      two_ingest_episodes_per_s: round(two.episodesPerS, 2),
      two_drain_wall_s: round(two.drainWallS, 1),
      two_chunks_per_s: round(two.chunksPerS, 1),
      ingest_speedup: round(two.episodesPerS / one.episodesPerS, 2),
      dispatch_speedup: round(two.chunksPerS / one.chunksPerS, 2),
      every_chunk_done_once: one.doneOnce && two.doneOnce,
      check: `one: ${one.detail}; two: ${two.detail}`,
    },
    target: "every chunk completed exactly once with 1 and 2 orchestrators (throughput figures reported)",
    met: one.doneOnce && two.doneOnce,
    ...(ctx.quick ? { note: `quick: ${episodes} episodes, ${machines} simulated machines` } : {}),
  };
}
