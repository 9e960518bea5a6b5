/**
 * GET /metrics: Prometheus text format (every sample line parses, every family has HELP and TYPE,
 * histogram buckets are cumulative and end in +Inf = _count), and the numbers move after an
 * episode runs through real workers (the benchmark-only synthetic engine keeps it fast).
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { wavHeader } from "../orchestrator/ingest/audio-decode.ts";
import { MetricsText } from "../orchestrator/http/metrics-registry.ts";
import { parseStrict } from "./support/prometheus-text.ts";
import { startFleetStack, submitFile, until } from "./support/fleet-stack.ts";

function noiseWav(seconds: number): Buffer {
  const samples = seconds * 16_000;
  const pcm = Buffer.alloc(samples * 2);
  for (let i = 0; i < samples; i++) pcm.writeInt16LE(Math.round(Math.sin(i / 7) * 3000 + ((i * 7919) % 2000) - 1000), i * 2);
  return Buffer.concat([wavHeader(samples), pcm]);
}

test("MetricsText: escapes label values, renders cumulative histograms with +Inf", () => {
  const text = new MetricsText()
    .gauge("x_gauge", "a gauge", [{ labels: { state: 'a"b\\c\nd' }, value: 1.5 }, { value: Number.NaN }])
    .histogram("x_seconds", "a histogram", {
      buckets: [
        { le: 1, count: 1 },
        { le: 5, count: 3 },
      ],
      sum: 7.5,
      count: 4,
    })
    .render();
  const v = parseStrict(text);
  assert.equal(v.get('x_gauge{state="a\\"b\\\\c\\nd"}'), 1.5);
  assert.ok(Number.isNaN(v.get("x_gauge")));
  assert.equal(v.get('x_seconds_bucket{le="+Inf"}'), 4);
  assert.equal(v.get("x_seconds_count"), 4);
  assert.equal(v.get("x_seconds_sum"), 7.5);
});

test("/metrics serves Prometheus text and its numbers move after an episode", async (t) => {
  const orch = await startFleetStack(t, { PODFLEET_ENGINE: "synthetic", PODFLEET_CHUNK_SECONDS: "4" });
  const scrape = async () => {
    const res = await fetch(new URL("/metrics", orch.url), { headers: { authorization: `Bearer ${orch.adminToken}` } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
    return parseStrict(await res.text());
  };
  const before = await scrape();
  assert.equal(before.get('podfleet_chunks{state="done"}'), 0);
  assert.equal(before.get("podfleet_chunk_latency_seconds_count"), 0);
  assert.equal(before.get("podfleet_audio_seconds_done_total"), 0);
  assert.ok(Number.isNaN(before.get("podfleet_machine_seconds_per_audio_hour")));
  assert.equal(before.get('podfleet_queue_depth{kind="pending"}'), 0);
  // no last-resort handler in this process (it belongs to `podfleet up`): both kinds exposed, at 0
  assert.equal(before.get('podfleet_escaped_errors_total{kind="uncaught_exception"}'), 0);
  assert.equal(before.get('podfleet_escaped_errors_total{kind="unhandled_rejection"}'), 0);

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-metrics-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, "noise.wav");
  fs.writeFileSync(file, noiseWav(10));
  const id = await submitFile(orch.url, file);
  const ep = await until(
    "episode done",
    async () => {
      const e = await orch.store.getEpisode(id);
      assert.notEqual(e?.status, "failed", e?.error ?? "");
      return e?.status === "done" ? e : undefined;
    },
    90_000,
  );

  const after = await scrape();
  const chunks = ep.chunkCount!;
  assert.ok(chunks >= 2);
  assert.equal(after.get('podfleet_chunks{state="done"}'), chunks);
  assert.equal(after.get("podfleet_chunk_latency_seconds_count"), chunks);
  assert.equal(after.get('podfleet_chunk_latency_seconds_bucket{le="+Inf"}'), chunks);
  assert.ok(after.get("podfleet_chunk_latency_seconds_sum")! > 0);
  let last = 0;
  for (const [k, v] of after) {
    if (!k.startsWith("podfleet_chunk_latency_seconds_bucket")) continue;
    assert.ok(v >= last, "buckets are cumulative");
    last = v;
  }
  assert.ok(Math.abs(after.get("podfleet_audio_seconds_done_total")! - 10) < 0.1);
  // a machine ran the episode: it is counted by state, and its usage is accrued by the sweeper/autoscaler passes
  const machines = [...after].filter(([k]) => k.startsWith("podfleet_machines{")).reduce((n, [, v]) => n + v, 0);
  assert.ok(machines >= 1, "the worker machine is counted");
  await until(
    "machine-seconds accrued",
    async () => {
      const m = await scrape();
      return m.get("podfleet_machine_seconds_total")! > 0 && m.get("podfleet_machine_seconds_per_audio_hour")! > 0 ? true : undefined;
    },
    30_000,
  );
});
