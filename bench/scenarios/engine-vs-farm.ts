/**
 * Scenarios 1 and 2: the same synthesized speech episode through pocketsphinx directly (one
 * process over the whole file, what a user would otherwise run) and through the farm with one and
 * with two local worker machines (already up: a warm-up episode started them). Throughput = audio seconds per wall second. The farm's wall
 * time runs from the upload to the episode being done (ingest, queue, workers, stitching), with
 * the machines already warm (machine start is scenario 6).
 */
import { PocketsphinxEngine } from "../../machine-image/worker/pocketsphinx-engine.ts";
import type { BenchContext, ScenarioResult } from "../bench-result.ts";
import { round, speechWav, startBenchFarm, submitWav, waitDone, warmFleet } from "../bench-stack.ts";

async function farmWall(dir: string, file: string, workers: number, chunkSeconds: number): Promise<number> {
  const farm = await startBenchFarm({ env: { PODFLEET_MAX_MACHINES: String(workers) } });
  try {
    await warmFleet(farm, dir, workers);
    const t0 = Date.now();
    const id = await submitWav(farm, file, chunkSeconds);
    await waitDone(farm, id, 1_800_000);
    return (Date.now() - t0) / 1000;
  } finally {
    await farm.close();
  }
}

export async function engineVsFarm(ctx: BenchContext): Promise<ScenarioResult[]> {
  const speech = await speechWav(ctx.dir, ctx.quick);
  const chunkSeconds = ctx.quick ? 15 : 30;
  ctx.log(`  speech episode ${round(speech.seconds, 1)} s; direct pocketsphinx run…`);
  const t0 = Date.now();
  await new PocketsphinxEngine().transcribe(speech.path, { language: "en", signal: new AbortController().signal });
  const directS = (Date.now() - t0) / 1000;
  ctx.log(`  direct ${round(directS, 2)} s; farm with 1 worker…`);
  const farm1S = await farmWall(ctx.dir, speech.path, 1, chunkSeconds);
  ctx.log(`  farm(1) ${round(farm1S, 2)} s; farm with 2 workers…`);
  const farm2S = await farmWall(ctx.dir, speech.path, 2, chunkSeconds);
  ctx.log(`  farm(2) ${round(farm2S, 2)} s`);
  const tput = (s: number) => round(speech.seconds / s, 2);
  const ratio = round(directS / farm1S, 3);
  const speedup = round(directS / farm2S, 3);
  const episode = `${round(speech.seconds, 1)} s synthesized speech${ctx.quick ? " (quick: shorter than the 5-10 min of the full run)" : ""}, ${chunkSeconds} s chunks`;
  return [
    {
      scenario: "overhead",
      figures: { episode, audio_s: round(speech.seconds, 1), direct_wall_s: round(directS, 2), farm1_wall_s: round(farm1S, 2), direct_audio_s_per_s: tput(directS), farm1_audio_s_per_s: tput(farm1S), ratio },
      target: "farm(1 worker) / direct throughput >= 0.97",
      met: ratio >= 0.97,
    },
    {
      scenario: "speedup",
      figures: { episode, direct_wall_s: round(directS, 2), farm2_wall_s: round(farm2S, 2), farm2_audio_s_per_s: tput(farm2S), speedup },
      target: "farm(2 workers) vs direct >= 1.8x",
      met: speedup >= 1.8,
    },
  ];
}
