/**
 * Issue 15, "uploads stream the same way": time from an upload's first byte to its first chunk job
 * published, for a real MP3 of connected speech (bench/speech-mp3.ts, 10 min at 128 kbit/s unless
 * told otherwise) uploaded over HTTP by a Node http client at a throttled rate and at full speed,
 * to an in-process orchestrator with no machines (nothing competes with the ingest but the bench).
 * "Published" is the job message seen by a core NATS subscriber on the jobs subject (JetStream
 * delivers each stored message to it as it is published). Also printed: when the last byte left the
 * client and when the 202 came. Each episode is cancelled once its plan is complete.
 *
 * `npm run bench:upload-first-job -- [--minutes=10] [--rate-mb=2] [--runs=3]`
 */
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { connect } from "@nats-io/transport-node";
import { connectAuth } from "../orchestrator/queue/nats-credentials.ts";
import { benchApi, startBenchFarm, until, type BenchFarm } from "./bench-stack.ts";
import { speechMp3 } from "./speech-mp3.ts";

const { values } = parseArgs({
  options: { minutes: { type: "string", default: "10" }, "rate-mb": { type: "string", default: "2" }, runs: { type: "string", default: "3" } },
});
const minutes = Number(values.minutes);
const rateBytesPerSec = Number(values["rate-mb"]) * 1_000_000;
const runs = Number(values.runs);

interface Timing {
  firstJobMs: number;
  lastByteMs: number;
  answeredMs: number;
}

/** Uploads `bytes` at `rate` bytes/s (Infinity: as fast as the socket takes them); times from the first byte written. */
async function timedUpload(farm: BenchFarm, bytes: Buffer, rate: number, firstJob: Promise<number>): Promise<Timing> {
  const token = fs.readFileSync(path.join(farm.dataDir, "admin-token"), "utf8").trim();
  const url = new URL("/v1/episodes?title=bench-upload", farm.orch.url);
  const req = http.request(url, {
    method: "POST",
    headers: { "content-type": "audio/mpeg", "content-length": String(bytes.length), authorization: `Bearer ${token}` },
  });
  const answered = new Promise<number>((resolve, reject) => {
    req.on("response", (res) => {
      res.resume();
      res.on("end", () => (res.statusCode === 202 ? resolve(performance.now()) : reject(new Error(`upload answered ${res.statusCode}`))));
    });
    req.on("error", reject);
  });
  const piece = 64 * 1024;
  const t0 = performance.now();
  for (let sent = 0; sent < bytes.length; sent += piece) {
    if (Number.isFinite(rate)) {
      const due = t0 + (sent / rate) * 1000;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
    }
    if (!req.write(bytes.subarray(sent, sent + piece))) await new Promise((r) => req.once("drain", r));
  }
  await new Promise<void>((resolve) => req.end(() => resolve()));
  const lastByte = performance.now();
  const [job, answer] = await Promise.all([firstJob, answered]);
  return { firstJobMs: job - t0, lastByteMs: lastByte - t0, answeredMs: answer - t0 };
}

async function main(): Promise<void> {
  const mp3 = await speechMp3(minutes);
  const bytes = fs.readFileSync(mp3);
  const farm = await startBenchFarm({ env: { PODFLEET_MAX_MACHINES: "0" } });
  const nc = await connect({ servers: farm.orch.natsUrl, ...connectAuth(farm.orch.natsAuth.orchestrator) });
  try {
    console.log(
      `upload_first_job: ${minutes} min MP3, ${(bytes.length / 1e6).toFixed(1)} MB, ${runs} runs per rate; load ${fs.readFileSync("/proc/loadavg", "utf8").trim()}`,
    );
    for (const rate of [rateBytesPerSec, Infinity]) {
      const label = Number.isFinite(rate) ? `${rate / 1e6} MB/s` : "full speed";
      for (let i = 0; i < runs; i++) {
        const sub = nc.subscribe(farm.orch.names.jobsSubject, { max: 1 });
        const firstJob = (async () => {
          for await (const _ of sub) return performance.now();
          throw new Error("the jobs subscription closed before a job");
        })();
        const t = await timedUpload(farm, bytes, rate, firstJob);
        const id = ((await (await benchApi(farm, "/v1/episodes?limit=1")).json()) as { episodes: Array<{ id: string }> }).episodes[0]!.id;
        await until(
          "the plan to be complete",
          async () => ((await farm.orch.store.getEpisode(id))?.chunkCount ?? null) !== null || undefined,
          600_000,
          100,
        );
        await benchApi(farm, `/v1/episodes/${id}`, { method: "DELETE" });
        const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
        console.log(`  ${label.padEnd(10)} run ${i + 1}: first job ${s(t.firstJobMs)}, last byte sent ${s(t.lastByteMs)}, 202 at ${s(t.answeredMs)}`);
      }
    }
  } finally {
    await nc.close();
    await farm.close();
  }
}

await main();
