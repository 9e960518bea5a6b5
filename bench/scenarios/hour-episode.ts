/**
 * One 60-minute episode (ffmpeg noise; 20 minutes in --quick) through a farm of synthetic-engine machines: the timing
 * points scenarios 3 (scaling) and 6 (cold start) read from the store.
 */
import type { BenchContext } from "../bench-result.ts";
import { firstClaimAt, noiseWav, startBenchFarm, submitWav, waitDone, warmFleet } from "../bench-stack.ts";

export interface HourRun {
  machines: number;
  /** Sum over chunks of audio length × RTF (seconds): the work one machine would do alone. */
  workS: number;
  /** The longest chunk's work (seconds). */
  chunkWorkS: number;
  chunks: number;
  /** Upload sent → first chunk queued (ingest). */
  ingestS: number;
  /** First chunk queued → first chunk started (machine boot + worker start). */
  queuedToFirstStartS: number;
  /** Upload sent → first chunk started. */
  submitToFirstStartS: number;
  /** First chunk queued → last chunk done. */
  makespanS: number;
  /** Upload sent → episode done (stitched). */
  totalS: number;
}

export const HOUR_SEC = 3600;
/** Length of the "hour" episode: 60 min, or 20 min in --quick (ingesting an hour costs ~10 s per run here). */
export const episodeSeconds = (ctx: BenchContext): number => (ctx.quick ? 1200 : HOUR_SEC);

/** One fresh run per call: no scenario's row reuses another's run. */
export async function runHourEpisode(
  ctx: BenchContext,
  opts: { machines: number; rtf: number; bootDelayMs: number; warm?: boolean },
): Promise<HourRun> {
  const file = await noiseWav(ctx.dir, episodeSeconds(ctx));
  const farm = await startBenchFarm({
    // warm machines must outlast the ingest of the episode that follows the warm-up one
    env: { PODFLEET_ENGINE: "synthetic", PODFLEET_MAX_MACHINES: String(opts.machines), ...(opts.warm ? { PODFLEET_IDLE_TIMEOUT_SEC: "180" } : {}) },
    syntheticRtf: opts.rtf,
    bootDelayMs: opts.bootDelayMs,
  });
  try {
    if (opts.warm) await warmFleet(farm, ctx.dir, opts.machines);
    const submitAt = Date.now();
    const id = await submitWav(farm, file, 60);
    const firstStart = await firstClaimAt(farm, id, 600_000);
    const doneAt = await waitDone(farm, id, 1_800_000);
    const chunks = await farm.orch.store.listChunks(id);
    const queuedAt = Math.min(...chunks.map((c) => c.createdAt));
    const lastDone = Math.max(...chunks.map((c) => c.doneAt ?? 0));
    const lens = chunks.map((c) => ((c.endSample - c.startSample) / 16_000) * opts.rtf);
    return {
      machines: opts.machines,
      workS: lens.reduce((a, b) => a + b, 0),
      chunkWorkS: Math.max(...lens),
      chunks: chunks.length,
      ingestS: (queuedAt - submitAt) / 1000,
      queuedToFirstStartS: (firstStart - queuedAt) / 1000,
      submitToFirstStartS: (firstStart - submitAt) / 1000,
      makespanS: (lastDone - queuedAt) / 1000,
      totalS: (doneAt - submitAt) / 1000,
    };
  } finally {
    await farm.close();
  }
}
