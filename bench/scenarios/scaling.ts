/**
 * Scenario 3: makespan of a 60-minute episode on 1…64 machines of the local runtime running the
 * BENCHMARK-ONLY synthetic engine (sleeps audio length × RTF; burns no CPU), against the bound
 * boot + ceil(chunks / W) × one chunk's work: chunks cannot be split, so W machines need that many
 * waves of the (equal, 60 s) chunks at least. "boot" is measured (first chunk queued → first chunk
 * started: the configured boot delay plus starting the worker process), so efficiency isolates
 * scheduling. (The earlier ideal, boot + work/W + one chunk, is no bound: at W = 32 and 60 chunks
 * it allowed 2.9 chunk times where two waves are the least possible.)
 */
import type { BenchContext, ScenarioResult } from "../bench-result.ts";
import { round } from "../bench-stack.ts";
import { episodeSeconds, runHourEpisode } from "./hour-episode.ts";

export async function scaling(ctx: BenchContext): Promise<ScenarioResult> {
  const rtf = ctx.quick ? 0.015 : 0.1;
  const bootDelayMs = 2_000;
  // quick: 16 and 64 are left out to keep --quick under 5 minutes
  const fleet = ctx.quick ? [1, 4, 32] : [1, 4, 16, 32, 64];
  const figures: ScenarioResult["figures"] = {
    episode: `${episodeSeconds(ctx) / 60} min ffmpeg noise, 60 s chunks${ctx.quick ? " (quick: 20 min instead of 60)" : ""}`,
    engine: "synthetic",
    rtf,
    boot_delay_s: bootDelayMs / 1000,
  };
  let eff32 = Number.NaN;
  for (const w of fleet) {
    const r = await runHourEpisode(ctx, { machines: w, rtf, bootDelayMs });
    const ideal = r.queuedToFirstStartS + Math.ceil(r.chunks / w) * r.chunkWorkS;
    const eff = ideal / r.makespanS;
    if (w === 32) eff32 = eff;
    ctx.log(
      `  W=${w}: makespan ${round(r.makespanS, 2)} s, ideal ${round(ideal, 2)} s, boot ${round(r.queuedToFirstStartS, 2)} s, efficiency ${round(eff, 3)}`,
    );
    figures[`makespan_s_w${w}`] = round(r.makespanS, 2);
    figures[`ideal_s_w${w}`] = round(ideal, 2);
    figures[`boot_s_w${w}`] = round(r.queuedToFirstStartS, 2);
    figures[`efficiency_w${w}`] = round(eff, 3);
  }
  return { scenario: "scaling", figures, target: "parallel efficiency >= 0.95 at 32 machines", met: eff32 >= 0.95 };
}
