/**
 * A streamed episode whose download is cut after some of its chunks were published and processed,
 * retried at once (inside JetStream's 2-minute duplicate window), with real workers (local machines
 * runtime, synthetic engine), real NATS, ffmpeg and libSQL. The retry plans the episode afresh: its
 * chunk jobs (and the workers' events about them) must not carry the message ids of the first run's,
 * or JetStream drops them as duplicates and the chunks never run. The stranded-job pass, which would
 * publish a lost job again after minutes, is pushed past the test's deadline: only the retry's own
 * jobs can finish the episode.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import type { CleanupContext } from "./support/cleanup.ts";
import { startFleetStack } from "./support/fleet-stack.ts";
import { api } from "./support/ingest-stack.ts";
import { until } from "./support/until.ts";

const run = promisify(execFile);

/** 90 s of a 220 Hz tone that pauses 0.6 s every 4.6 s, as a 64 kbit/s MP3. */
async function gappedMp3(t: CleanupContext): Promise<Buffer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-ingest-retry-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, "a.mp3");
  const tone = "aevalsrc=0.5*sin(2*PI*220*t)*lt(mod(t\\,4.6)\\,4):s=22050:d=90";
  await run("ffmpeg", ["-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i", tone, "-c:a", "libmp3lame", "-b:a", "64k", file]);
  return fs.readFileSync(file);
}

/**
 * Serves `bytes` without a length: the first request gets 60 % and is cut once `cut()` is called;
 * every later request gets the whole file.
 */
async function cuttingServer(t: CleanupContext, bytes: Buffer): Promise<{ url: string; cut(): void }> {
  let cut!: () => void;
  const cutNow = new Promise<void>((r) => (cut = r));
  let requests = 0;
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { "content-type": "audio/mpeg" });
    if (++requests > 1) {
      res.end(bytes);
      return;
    }
    res.write(bytes.subarray(0, Math.floor(bytes.length * 0.6)));
    void cutNow.then(() => res.destroy());
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => {
    cut();
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/a.mp3`, cut: () => cut() };
}

test("an episode retried at once after its streamed ingest failed mid-way is transcribed whole", async (t) => {
  const bytes = await gappedMp3(t);
  const server = await cuttingServer(t, bytes);
  const orch = await startFleetStack(t, {
    PODFLEET_ENGINE: "synthetic",
    PODFLEET_SYNTHETIC_RTF: "0.02",
    PODFLEET_CHUNK_SECONDS: "10",
    PODFLEET_FETCH_RETRY_WINDOW_SEC: "0", // a cut download fails the episode at once
    PODFLEET_STRANDED_SEC: "3600", // no re-publish of lost jobs within the test: the retry's jobs must run
  });

  const res = await api(orch.url, "POST", "/v1/episodes", { audioUrl: server.url });
  assert.equal(res.status, 202, JSON.stringify(res.body));
  const id = (res.body as { id: string }).id;
  const firstRun = await until(
    "two chunks of the first run processed while the download hangs",
    async () => {
      const ep = await orch.store.getEpisode(id);
      if (ep?.status === "failed") throw new Error(`episode failed before its chunks ran: ${ep.error}`);
      const chunks = await orch.store.listChunks(id);
      return chunks.filter((c) => c.state === "done").length >= 2 ? chunks : undefined;
    },
    90_000,
  );
  server.cut();
  await until(
    "the episode to fail on the cut download",
    async () => ((await orch.store.getEpisode(id))?.status === "failed" ? true : undefined),
    30_000,
  );

  // at once: well inside the jobs stream's duplicate window (2 minutes)
  assert.equal((await api(orch.url, "POST", `/v1/episodes/${id}/retry`, {})).status, 202);
  const done = await until(
    "the retried episode to be done",
    async () => {
      const ep = await orch.store.getEpisode(id);
      if (ep?.status === "failed") throw new Error(`retry failed: ${ep.error}`);
      return ep?.status === "done" ? ep : undefined;
    },
    90_000,
  ).catch(async (err: unknown) => {
    const states = (await orch.store.listChunks(id)).map((c) => `${c.index}:${c.state}@g${c.generation}`);
    throw new Error(`${(err as Error).message}; chunks ${states.join(" ")}`, { cause: err });
  });
  const chunks = await orch.store.listChunks(id);
  assert.equal(chunks.length, done.chunkCount);
  assert.ok(chunks.length > firstRun.length, "the retry planned the whole file");
  assert.ok(
    chunks.every((c) => c.state === "done"),
    "every chunk processed",
  );
  // the retry's chunks are newer than every job of the first run: none of those can pass for one of them
  const firstGen = Math.max(...firstRun.map((c) => c.generation));
  assert.ok(
    chunks.every((c) => c.generation > firstGen),
    `retry generations ${chunks.map((c) => c.generation).join(",")} above the first run's ${firstGen}`,
  );
});
