/**
 * Scenario 7: /metrics. One short episode through a 2-machine synthetic farm, then a scrape: the
 * figures production would watch, read back from the Prometheus text.
 */
import type { BenchContext, ScenarioResult } from "../bench-result.ts";
import { benchApi, noiseWav, startBenchFarm, submitWav, waitDone } from "../bench-stack.ts";

/** `name{labels} value` lines of a Prometheus text document, keyed by the text before the value. */
export function parsePrometheus(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const i = line.lastIndexOf(" ");
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

export async function metrics(ctx: BenchContext): Promise<ScenarioResult> {
  const file = await noiseWav(ctx.dir, 120);
  const farm = await startBenchFarm({ env: { PODFLEET_ENGINE: "synthetic", PODFLEET_MAX_MACHINES: "2" }, syntheticRtf: 0.02 });
  try {
    const id = await submitWav(farm, file, 10);
    await waitDone(farm, id, 300_000);
    const res = await benchApi(farm, "/metrics");
    const text = await res.text();
    const m = parsePrometheus(text);
    const families = [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((x) => x[1]);
    const done = m.get('podfleet_chunks{state="done"}') ?? 0;
    return {
      scenario: "metrics",
      figures: {
        status: res.status,
        content_type: res.headers.get("content-type"),
        families: families.join(" "),
        chunks_done: done,
        latency_count: m.get("podfleet_chunk_latency_seconds_count") ?? null,
        latency_sum_s: m.get("podfleet_chunk_latency_seconds_sum") ?? null,
        machine_seconds: m.get("podfleet_machine_seconds_total") ?? null,
        machine_seconds_per_audio_hour: m.get("podfleet_machine_seconds_per_audio_hour") ?? null,
      },
      target: "GET /metrics serves every family in Prometheus text format and counts the episode",
      met: res.status === 200 && families.length >= 7 && done > 0,
    };
  } finally {
    await farm.close();
  }
}
