/**
 * What the throughput benchmarks share: an in-process orchestrator on a temp data dir (so the
 * bench process's own CPU and RSS are the orchestrator's), its HTTP API behind one helper, audio
 * fixtures (speech from the accuracy set, an hour of noise from ffmpeg), waiting, and percentiles.
 */
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { parseConfig } from "../orchestrator/config.ts";
import { connectAuth } from "../orchestrator/queue/nats-credentials.ts";
import { queueDepth } from "../orchestrator/queue/jetstream.ts";
import { wavHeader } from "../orchestrator/ingest/audio-decode.ts";
import { createLogger } from "../orchestrator/log.ts";
import { startOrchestrator, type Orchestrator } from "../orchestrator/orchestrator.ts";
import { buildEpisode, FULL_SET, QUICK_SET } from "./bench-episodes.ts";
import { until as untilDefined } from "../test/support/until.ts";
import { setFaults } from "../test/support/runtime-faults.ts";

const run = promisify(execFile);

export interface BenchFarm {
  orch: Orchestrator;
  dataDir: string;
  close(): Promise<void>;
}

export interface FarmOptions {
  /** Orchestrator settings on top of the bench defaults (PODFLEET_* names). */
  env?: Record<string, string>;
  /** Local runtime: time a created machine spends in `starting`. */
  bootDelayMs?: number;
  /** Real-time factor handed to synthetic-engine workers (PODFLEET_SYNTHETIC_RTF). */
  syntheticRtf?: number;
}

/** An orchestrator with fast fleet passes, no rate limit, and the local machines runtime. */
export async function startBenchFarm(opts: FarmOptions = {}): Promise<BenchFarm> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-bench-"));
  const config = parseConfig(
    {
      PODFLEET_LOG_LEVEL: "silent",
      PODFLEET_RATE_LIMIT_PER_MIN: "0",
      PODFLEET_ALLOW_PRIVATE_URLS: "1",
      PODFLEET_AUTOSCALE_INTERVAL_MS: "250",
      PODFLEET_SWEEP_INTERVAL_MS: "5000",
      PODFLEET_MAX_STARTING: "64",
      PODFLEET_IDLE_TIMEOUT_SEC: "20",
      PODFLEET_BOOT_DEADLINE_SEC: "300",
      ...opts.env,
    },
    { dataDir, port: 0, host: "127.0.0.1" },
  );
  const rtf = opts.syntheticRtf;
  const orch = await startOrchestrator(config, createLogger(config.logLevel), {
    launch: (_machine, spec) => (rtf === undefined ? spec : { ...spec, env: { ...spec.env, PODFLEET_SYNTHETIC_RTF: String(rtf) } }),
  });
  if (opts.bootDelayMs !== undefined && orch.localRuntime) setFaults(orch.localRuntime, { bootDelayMs: opts.bootDelayMs });
  return {
    orch,
    dataDir,
    close: async () => {
      await orch.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Every bench HTTP call goes through here. When the admin token file exists (admin auth), it is
 * sent as a bearer token; otherwise no header.
 */
export async function benchApi(farm: BenchFarm, pathAndQuery: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  const tokenFile = path.join(farm.dataDir, "admin-token");
  if (fs.existsSync(tokenFile)) headers.set("authorization", `Bearer ${fs.readFileSync(tokenFile, "utf8").trim()}`);
  return fetch(new URL(pathAndQuery, farm.orch.url), { ...init, headers });
}

/** Uploads a WAV file as an episode; returns its id. */
export async function submitWav(farm: BenchFarm, file: string, chunkSeconds?: number): Promise<string> {
  const q = chunkSeconds === undefined ? "" : `&chunkSeconds=${chunkSeconds}`;
  const res = await benchApi(farm, `/v1/episodes?title=bench${q}`, {
    method: "POST",
    headers: { "content-type": "audio/wav" },
    body: fs.readFileSync(file),
  });
  if (res.status !== 202) throw new Error(`submit failed: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { id: string }).id;
}

/** Polls every `everyMs` (default 20 ms, finer than the tests' 100 ms) until `check` returns a value or `timeoutMs` passes. */
export function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs: number, everyMs = 20): Promise<T> {
  return untilDefined(what, check, timeoutMs, everyMs);
}

/** Waits for an episode to finish; throws if it failed. Returns its finish time (ms epoch). */
export async function waitDone(farm: BenchFarm, id: string, timeoutMs: number): Promise<number> {
  return until(
    `episode ${id} done`,
    async () => {
      const ep = await farm.orch.store.getEpisode(id);
      if (ep?.status === "failed") throw new Error(`episode ${id} failed: ${ep.error ?? "?"}`);
      return ep?.status === "done" ? Date.now() : undefined;
    },
    timeoutMs,
  );
}

/** Earliest chunk claim (leasedAt) of an episode, waiting for it. */
export async function firstClaimAt(farm: BenchFarm, id: string, timeoutMs: number): Promise<number> {
  return until(
    `first chunk of ${id} started`,
    async () => {
      const leased = (await farm.orch.store.listChunks(id)).map((c) => c.leasedAt).filter((t): t is number => t !== null);
      return leased.length > 0 ? Math.min(...leased) : undefined;
    },
    timeoutMs,
  );
}

/** `seconds` of 16 kHz mono pink-ish noise (no silences: the planner cuts at fixed lengths). */
export async function noiseWav(dir: string, seconds: number): Promise<string> {
  const file = path.join(dir, `noise-${seconds}s.wav`);
  if (!fs.existsSync(file)) {
    await run("ffmpeg", [
      "-nostdin",
      "-loglevel",
      "error",
      "-y",
      "-f",
      "lavfi",
      "-i",
      `anoisesrc=d=${seconds}:c=pink:a=0.05:r=16000`,
      "-ac",
      "1",
      "-c:a",
      "pcm_s16le",
      file,
    ]);
  }
  return file;
}

/** Synthesized speech: the accuracy set's episodes joined, ≈ 5 min (quick: the first 45 s of the first). */
export async function speechWav(dir: string, quick: boolean): Promise<{ path: string; seconds: number }> {
  const parts = [];
  for (const spec of quick ? QUICK_SET : FULL_SET) parts.push((await buildEpisode(spec, dir, 16_000)).pcm);
  // quick: the first 45 s only, so scenarios 1 and 2 take about a minute and a half
  const pcm = quick ? Buffer.concat(parts).subarray(0, 45 * 16_000 * 2) : Buffer.concat(parts);
  const samples = pcm.length / 2;
  const file = path.join(dir, quick ? "speech-quick.wav" : "speech-full.wav");
  fs.writeFileSync(file, Buffer.concat([wavHeader(samples), pcm]));
  return { path: file, seconds: samples / 16_000 };
}

/** The q-quantile (0..1) of `values` (nearest rank). */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

export const round = (v: number, digits = 3): number => Math.round(v * 10 ** digits) / 10 ** digits;

/** Waits until `n` workers have a pull request waiting on the shared consumer (warm and idle). */
export async function waitIdleWorkers(farm: BenchFarm, n: number, timeoutMs: number): Promise<void> {
  const nc = await connect({ servers: farm.orch.natsUrl, name: "podfleet-bench", ...connectAuth(farm.orch.natsAuth.orchestrator) });
  try {
    const jsm = await jetstreamManager(nc);
    await until(`${n} idle workers`, async () => ((await queueDepth(jsm, farm.orch.names)).waiting >= n ? true : undefined), timeoutMs, 100);
  } finally {
    await nc.close();
  }
}

/**
 * `seconds` of audio, each second 0.6 s of noise then 0.4 s of digital silence: at 1 s chunks the
 * planner cuts in every gap, one job per second (pure noise or silence would give overlapping cuts).
 */
export function gappedWav(dir: string, seconds: number): string {
  const file = path.join(dir, `gapped-${seconds}s.wav`);
  if (fs.existsSync(file)) return file;
  const samples = seconds * 16_000;
  const pcm = Buffer.alloc(samples * 2);
  let seed = 1;
  for (let i = 0; i < samples; i++) {
    if (i % 16_000 < 9_600) {
      seed = (seed * 1_103_515_245 + 12_345) & 0x7fffffff;
      pcm.writeInt16LE((seed % 8_000) - 4_000, i * 2);
    }
  }
  fs.writeFileSync(file, Buffer.concat([wavHeader(samples), pcm]));
  return file;
}

/**
 * Brings `n` machines up and leaves them idle on the queue: a warm-up episode of `n` one-second
 * chunks makes the autoscaler start `n` machines; they wait for work until the idle timeout (20 s).
 */
export async function warmFleet(farm: BenchFarm, dir: string, n: number): Promise<void> {
  const id = await submitWav(farm, gappedWav(dir, Math.max(n, 2)), 1);
  await waitDone(farm, id, 300_000);
  await waitIdleWorkers(farm, n, 120_000);
}
