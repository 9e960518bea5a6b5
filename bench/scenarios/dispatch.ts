/**
 * Scenario 4, dispatch: (a) latency from a chunk job being published to an idle worker claiming
 * it, on a real nats-server with real worker pull loops (runWorker + the benchmark-only synthetic
 * engine at RTF 0) waiting idle; one job at a time so a worker is always idle when it lands.
 * (b) orchestrator CPU per chunk: process.cpuUsage of this process (the in-process orchestrator)
 * while simulated machines drain a queued backlog: claim and result events, result fetches,
 * stitching and transcript storage (see backlog.ts); ingest is reported per audio minute.
 */
import { setMaxListeners } from "node:events";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { connect } from "@nats-io/transport-node";
import { ChunkEvent, wireNames } from "../../contract/wire.ts";
import { chunkId as chunkIdOf } from "../../orchestrator/store/episode-store.ts";
import { SyntheticEngine } from "../../machine-image/worker/synthetic-engine.ts";
import { runWorker } from "../../machine-image/worker/worker.ts";
import { wavHeader } from "../../orchestrator/ingest/audio-decode.ts";
import { startNatsServer } from "../../orchestrator/queue/nats-server.ts";
import { NatsWorkQueue } from "../../orchestrator/queue/nats-work-queue.ts";
import type { BenchContext, ScenarioResult } from "../bench-result.ts";
import { quantile, round } from "../bench-stack.ts";
import { runBacklog } from "./backlog.ts";

async function claimLatencies(samples: number, workers: number): Promise<number[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-dispatch-"));
  const server = await startNatsServer({ storeDir: path.join(dir, "nats"), logFile: path.join(dir, "nats.log") });
  const names = wireNames("bench");
  const stop = new AbortController();
  setMaxListeners(0, stop.signal);
  const nc = await connect({ servers: server.url });
  const workerNc = await connect({ servers: server.url });
  try {
    const queue = await NatsWorkQueue.open(nc, names, { ackWaitMs: 30_000, maxDeliver: 5, audioDir: path.join(dir, "audio") });
    const wav = Buffer.concat([wavHeader(16_000), Buffer.alloc(32_000)]);
    let ready = 0;
    const loops = Array.from({ length: workers }, (_, i) =>
      runWorker({
        nc: workerNc,
        names,
        engine: new SyntheticEngine({ realTimeFactor: 0 }),
        machineId: `dispatch-${i}`,
        idleTimeoutMs: 3_600_000,
        workDir: path.join(dir, `w${i}`),
        signal: stop.signal,
        log: (e) => void (e === "worker.started" && ready++),
      }),
    );
    while (ready < workers) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 200)); // every loop has its pull request out
    const waiters = new Map<string, (e: ChunkEvent) => void>();
    const sub = nc.subscribe(`${names.eventsSubjectPrefix}.>`, {
      callback: (_err, msg) => {
        const e = ChunkEvent.safeParse(msg.json());
        if (e.success) waiters.get(`${e.data.chunkId}.${e.data.type}`)?.(e.data);
      },
    });
    const out: number[] = [];
    for (let i = 0; i < samples; i++) {
      const chunkId = chunkIdOf("ep_dispatch", i);
      const claimed = new Promise<ChunkEvent>((r) => waiters.set(`${chunkId}.claimed`, r));
      const result = new Promise<ChunkEvent>((r) => waiters.set(`${chunkId}.result`, r));
      const t0 = Date.now();
      await queue.publishChunk({ id: "ep_dispatch", language: "en" }, { index: i, startSample: 0, endSample: 16_000 }, 1, wav);
      out.push((await claimed).at - t0);
      await result; // the worker is idle again before the next job
      await new Promise((r) => setTimeout(r, 5));
    }
    sub.unsubscribe();
    stop.abort();
    await Promise.allSettled(loops);
    return out;
  } finally {
    stop.abort();
    await workerNc.close().catch(() => undefined);
    await nc.close().catch(() => undefined);
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export async function dispatch(ctx: BenchContext): Promise<ScenarioResult> {
  const samples = ctx.quick ? 200 : 1000;
  const lat = await claimLatencies(samples, 4);
  const p50 = quantile(lat, 0.5);
  const p99 = quantile(lat, 0.99);
  ctx.log(`  claim latency p50 ${p50} ms, p99 ${p99} ms over ${samples} jobs; orchestrator CPU per chunk…`);
  const episodes = ctx.quick ? 5 : 25;
  // Fleet passes at their production defaults (autoscaler 2 s, sweeper 10 s), not the bench's 250 ms:
  // they cost CPU per second, not per chunk, and at 4 autoscaler passes a second they were most of the figure.
  const b = await runBacklog(ctx, { episodes, machines: 20, env: { PODFLEET_AUTOSCALE_INTERVAL_MS: "2000", PODFLEET_SWEEP_INTERVAL_MS: "10000" } });
  return {
    scenario: "dispatch",
    figures: {
      claim_samples: samples,
      claim_p50_ms: p50,
      claim_p99_ms: p99,
      claim_max_ms: Math.max(...lat),
      cpu_run_chunks: b.chunks,
      orchestrator_cpu_ms_per_chunk: round(b.cpuMsPerChunk, 3),
      orchestrator_cpu_ms_per_chunk_net_of_idle: round(b.cpuMsPerChunkNetOfIdle, 3),
      orchestrator_ingest_cpu_ms_per_audio_min: round(b.ingestCpuMsPerAudioMin, 1),
      ingest_ffmpeg_cpu_ms_per_audio_min: round(b.ingestChildCpuMsPerAudioMin, 1),
      nats_server_cpu_ms_per_chunk: round(b.natsCpuMsPerChunk, 3),
    },
    target: "claim p99 <= 20 ms and orchestrator CPU <= 1 ms per chunk",
    met: p99 <= 20 && b.cpuMsPerChunk <= 1,
  };
}
