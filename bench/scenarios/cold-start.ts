/**
 * Scenario 6: what a podcaster waits for. Submission → first chunk started, and submission → a
 * 60-minute episode done, with machines already warm (warm pool) and cold with boot delays of
 * 2 s and 40 s (local runtime, synthetic engine). "Warm" = machines already up and idle
 * (started by a warm-up episode; the fleet's warm pool keeps stopped machines, not running ones). Figures only; the target is that they exist.
 */
import type { BenchContext, ScenarioResult } from "../bench-result.ts";
import { round } from "../bench-stack.ts";
import { episodeSeconds, runHourEpisode } from "./hour-episode.ts";

export async function coldStart(ctx: BenchContext): Promise<ScenarioResult> {
  const machines = ctx.quick ? 4 : 16;
  const rtf = ctx.quick ? 0.015 : 0.1;
  const figures: ScenarioResult["figures"] = {
    episode: `${episodeSeconds(ctx) / 60} min, 60 s chunks${ctx.quick ? " (quick: 20 min instead of 60)" : ""}`,
    engine: "synthetic",
    rtf,
    machines,
  };
  const cases: Array<[string, number, boolean]> = [
    ["warm", 0, true],
    ["cold_2s", 2_000, false],
    ["cold_40s", 40_000, false],
  ];
  for (const [label, bootDelayMs, warm] of cases) {
    const r = await runHourEpisode(ctx, { machines, rtf, bootDelayMs, warm });
    ctx.log(
      `  ${label}: first chunk started ${round(r.submitToFirstStartS, 2)} s after submission, episode done after ${round(r.totalS, 2)} s (ingest ${round(r.ingestS, 2)} s)`,
    );
    figures[`${label}_first_chunk_s`] = round(r.submitToFirstStartS, 2);
    figures[`${label}_total_s`] = round(r.totalS, 2);
    figures[`${label}_ingest_s`] = round(r.ingestS, 2);
  }
  return { scenario: "cold_start", figures, target: "report (no numeric target)", met: true };
}
