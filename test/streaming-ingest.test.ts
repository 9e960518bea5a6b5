/**
 * Streaming ingest over real HTTP servers on 127.0.0.1, real ffmpeg, NATS and libSQL: the first
 * job is published while the download is still running (a server that holds back the rest of the
 * file until the test has seen it), an HTTP/1.0 server (python's http.server: no chunking, the
 * body ends when the connection closes) is streamed to a complete plan, and an MP4 that cannot be
 * decoded as a stream (its index at the end) falls back to the downloaded file. In every case the
 * chunk cores tile the episode exactly and the rendition is the bytes served.
 */
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { InlineChunkJob, JOB_HEADER, SAMPLE_RATE } from "../contract/wire.ts";
import { decodeToPcm } from "../orchestrator/ingest/audio-decode.ts";
import type { Orchestrator } from "../orchestrator/orchestrator.ts";
import { queueDepth } from "../orchestrator/queue/jetstream.ts";
import { connectAuth } from "../orchestrator/queue/nats-credentials.ts";
import { eq } from "drizzle-orm";
import { chunks } from "../db/schema.ts";
import { Database } from "../orchestrator/store/database.ts";
import { EpisodeStore, chunkId, type PlannedChunk } from "../orchestrator/store/episode-store.ts";
import { PartialTranscripts } from "../orchestrator/transcript/partial-transcript.ts";
import { api, startStack, waitFor, type CleanupContext } from "./support/ingest-stack.ts";

const run = promisify(execFile);

/** `seconds` of a 220 Hz tone that pauses 0.6 s every 4.6 s, encoded by ffmpeg into `file` (codec by extension). */
async function gappedAudio(dir: string, name: string, seconds: number, codecArgs: string[]): Promise<string> {
  const file = path.join(dir, name);
  await run("ffmpeg", [
    "-nostdin",
    "-loglevel",
    "error",
    "-y",
    "-f",
    "lavfi",
    "-i",
    `aevalsrc=0.5*sin(2*PI*220*t)*lt(mod(t\\,4.6)\\,4):s=22050:d=${seconds}`,
    ...codecArgs,
    file,
  ]);
  return file;
}

function tmpDir(t: CleanupContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-stream-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The cores of a complete plan start at 0, touch exactly, and end at the episode's last sample. */
function assertTiles(plan: PlannedChunk[], sampleCount: number): void {
  assert.ok(plan.length > 0);
  let at = 0;
  plan.forEach((c, i) => {
    assert.equal(c.index, i);
    assert.ok(c.coreStartSample !== undefined && c.coreEndSample !== undefined, `chunk ${i} has its core`);
    assert.equal(c.coreStartSample, at, `core ${i} starts where core ${i - 1} ended`);
    assert.ok(c.coreEndSample > c.coreStartSample);
    assert.ok(c.startSample <= c.coreStartSample && c.endSample >= c.coreEndSample, `chunk ${i}'s audio holds its core`);
    at = c.coreEndSample;
  });
  assert.equal(at, sampleCount);
}

async function submitUrl(orch: Orchestrator, url: string, chunkSeconds: number): Promise<string> {
  const res = await api(orch.url, "POST", "/v1/episodes", { audioUrl: url, chunkSeconds });
  assert.equal(res.status, 202, JSON.stringify(res.body));
  return (res.body as { id: string }).id;
}

/** Waits for the plan to be complete (chunkCount set), failing fast if the episode failed. */
async function planComplete(
  orch: Orchestrator,
  id: string,
): Promise<{ plan: PlannedChunk[]; sampleCount: number; sha256: string | null; bytes: number | null }> {
  return waitFor(
    "the plan to be complete",
    async () => {
      const ep = await orch.store.getEpisode(id);
      if (ep?.status === "failed") throw new Error(`episode failed: ${ep.error}`);
      if (!ep || ep.chunkCount === null) return undefined;
      return { plan: JSON.parse(ep.planJson!) as PlannedChunk[], sampleCount: ep.sampleCount!, sha256: ep.audioSha256, bytes: ep.audioBytes };
    },
    120_000,
  );
}

/**
 * An MP3 decoded from a pipe keeps the encoder's end padding (ffmpeg trims it only when it can
 * seek to the LAME tag): up to one frame (26 ms) more than the file decodes to, all at the end.
 */
function assertSameLength(streamed: number, fromFile: number): void {
  assert.ok(streamed >= fromFile && streamed - fromFile <= 0.03 * SAMPLE_RATE, `streamed ${streamed} samples, the file ${fromFile}`);
}

const sha256 = (file: string) => createHash("sha256").update(fs.readFileSync(file)).digest("hex");

test("the first job is published while the download is still running", async (t) => {
  const dir = tmpDir(t);
  const mp3 = await gappedAudio(dir, "a.mp3", 150, ["-c:a", "libmp3lame", "-b:a", "64k"]);
  const bytes = fs.readFileSync(mp3);
  const head = Math.floor(bytes.length * 0.7);
  // sends 70 % of the file at once, the rest only when the test says so
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  let finished = false;
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { "content-type": "audio/mpeg", "content-length": bytes.length });
    res.write(bytes.subarray(0, head));
    void released.then(() => res.end(bytes.subarray(head), () => (finished = true)));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => {
    release();
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  const orch = await startStack(t);
  const nc = await connect({ servers: orch.natsUrl, ...connectAuth(orch.natsAuth.orchestrator) });
  t.after(() => nc.close());
  const jsm = await jetstreamManager(nc);
  const id = await submitUrl(orch, `http://127.0.0.1:${(server.address() as AddressInfo).port}/a.mp3`, 30);

  // jobs are in the queue, the episode is transcribing, and the server still holds 30 % back
  const early = await waitFor(
    "a chunk recorded and its job queued",
    async () => {
      const chunks = await orch.store.listChunks(id);
      return chunks.length >= 2 && (await queueDepth(jsm, orch.names)).pending >= 2 ? chunks : undefined;
    },
    60_000,
  );
  assert.equal(finished, false, "the download has not ended");
  const during = await orch.store.getEpisode(id);
  assert.equal(during?.status, "transcribing");
  assert.equal(during?.chunkCount, null, "the plan is still growing");
  assert.ok(early.every((c) => c.state === "queued"));
  // each job carries its chunk's WAV, cut from the episode's PCM the orchestrator keeps while it decodes
  const kept = path.join(orch.config.dataDir, "audio", `${id}.pcm`);
  const { first_seq } = (await jsm.streams.info(orch.names.jobsStream)).state;
  for (let seq = first_seq; seq < first_seq + 2; seq++) {
    const msg = (await jsm.streams.getMessage(orch.names.jobsStream, { seq }))!;
    const job = InlineChunkJob.parse(JSON.parse(msg.header.get(JOB_HEADER)));
    const chunk = early.find((c) => c.index === job.index)!;
    assert.deepEqual([job.episodeId, job.startSample, job.endSample], [id, chunk.startSample, chunk.endSample]);
    const pcmNow = fs.readFileSync(kept);
    assert.ok(pcmNow.length >= chunk.endSample * 2, "the kept PCM holds the chunk's audio");
    assert.deepEqual(Buffer.from(msg.data.subarray(44)), pcmNow.subarray(chunk.startSample * 2, chunk.endSample * 2), `job ${job.index}'s WAV`);
  }

  release();
  const done = await planComplete(orch, id);
  assert.equal(finished, true);
  assertTiles(done.plan, done.sampleCount);
  assert.deepEqual(
    done.plan.slice(0, early.length).map((c) => [c.startSample, c.endSample]),
    early.map((c) => [c.startSample, c.endSample]),
    "published chunks are not changed",
  );
  assert.equal(done.sha256, sha256(mp3));
  assert.equal(done.bytes, bytes.length);
  const pcm = path.join(dir, "a.pcm");
  const fromFile = await decodeToPcm(mp3, pcm);
  assertSameLength(done.sampleCount, fromFile);
  assert.equal(fs.statSync(kept).size, done.sampleCount * 2, "the kept PCM is the whole decode");
  // the same samples as the file's decode, but for the last frame (26 ms) that a streamed MP3 decode ends differently
  const same = (fromFile - Math.round(0.03 * SAMPLE_RATE)) * 2;
  assert.ok(fs.readFileSync(kept).subarray(0, same).equals(fs.readFileSync(pcm).subarray(0, same)), "the kept PCM is the file's decode");
  assert.ok(Math.abs(done.sampleCount / SAMPLE_RATE - 150) < 1);
});

test("an HTTP/1.0 server (python http.server) is streamed to a complete plan", async (t) => {
  const dir = tmpDir(t);
  const mp3 = await gappedAudio(dir, "b.mp3", 80, ["-c:a", "libmp3lame", "-b:a", "48k"]);
  const py = spawn("python3", ["-u", "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory", dir], { stdio: ["ignore", "pipe", "pipe"] });
  const exited = new Promise<void>((r) => py.once("close", () => r()));
  t.after(async () => {
    py.kill("SIGTERM");
    await exited;
  });
  let out = "";
  const port = await new Promise<number>((resolve, reject) => {
    py.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /port (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    py.once("close", (code) => reject(new Error(`http.server exited ${code}: ${out}`)));
  });
  const orch = await startStack(t);
  const id = await submitUrl(orch, `http://127.0.0.1:${port}/b.mp3`, 20);
  const done = await planComplete(orch, id);
  assertTiles(done.plan, done.sampleCount);
  assertSameLength(done.sampleCount, await decodeToPcm(mp3, path.join(dir, "b.pcm")));
  assert.equal(done.sha256, sha256(mp3));
  assert.ok(done.plan.length >= 3, `80 s at 20 s chunks: ${done.plan.length} chunks`);
  assert.ok(
    done.plan.slice(0, -1).every((c) => /silence/.test(c.reason)),
    "every cut is in a pause",
  );
});

test("an MP4 with its index at the end is decoded from the downloaded file instead", async (t) => {
  const dir = tmpDir(t);
  const m4a = await gappedAudio(dir, "c.m4a", 50, ["-c:a", "aac", "-b:a", "48k"]);
  const bytes = fs.readFileSync(m4a);
  const server = http.createServer((_req, res) => res.writeHead(200, { "content-type": "audio/mp4" }).end(bytes));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const orch = await startStack(t);
  const id = await submitUrl(orch, `http://127.0.0.1:${(server.address() as AddressInfo).port}/c.m4a`, 20);
  const done = await planComplete(orch, id);
  assertTiles(done.plan, done.sampleCount);
  assert.equal(done.sampleCount, await decodeToPcm(m4a, path.join(dir, "c.pcm")));
});

test("machines start when an episode is submitted, before its first chunk exists", async (t) => {
  // headers (with the length of 10 minutes of 128 kbit/s audio) and then nothing until the test ends
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { "content-type": "audio/mpeg", "content-length": 600 * 16_000 });
    res.flushHeaders();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  const orch = await startStack(t, {
    PODFLEET_MAX_MACHINES: "3",
    PODFLEET_ENGINE: "synthetic",
    PODFLEET_SYNTHETIC_RTF: "0.01",
    PODFLEET_AUTOSCALE_INTERVAL_MS: "60000",
  });
  const id = await submitUrl(orch, `http://127.0.0.1:${(server.address() as AddressInfo).port}/held.mp3`, 60);
  // ten one-minute chunks expected: the fleet goes to its cap of 3, though no byte of audio arrived
  const machines = await waitFor(
    "machines started for the submitted episode",
    async () => {
      const listed = await orch.machines.list();
      return listed.length >= 3 ? listed : undefined;
    },
    60_000,
  );
  assert.equal(machines.length, 3, "bounded by the fleet limit");
  assert.equal((await orch.store.listChunks(id)).length, 0, "no chunk was published yet");
  assert.equal((await orch.store.getEpisode(id))?.status, "ingesting");
});

test("the partial transcript of a plan still growing (chunkCount null) holds its done chunks, cut at the last core's end", async (t) => {
  const dir = tmpDir(t);
  const database = await Database.open(`file:${path.join(dir, "podfleet.db")}`);
  t.after(() => database.close());
  const store = new EpisodeStore(database);
  const id = "ep_growing";
  const input = {
    id,
    title: null,
    sourceKind: "url" as const,
    sourceUrl: "http://127.0.0.1/a.mp3",
    uploadPath: null,
    chunkSeconds: 10,
    language: "en",
  };
  await store.createEpisode(input);
  await store.transitionEpisode(id, "ingesting");
  const rate = SAMPLE_RATE;
  // cores [0, 10 s) and [10 s, 20 s), each with 2 s of padding
  await store.recordChunk(id, { index: 0, startSample: 0, endSample: 12 * rate, coreStartSample: 0, coreEndSample: 10 * rate, reason: "test" });
  await store.recordChunk(id, {
    index: 1,
    startSample: 8 * rate,
    endSample: 22 * rate,
    coreStartSample: 10 * rate,
    coreEndSample: 20 * rate,
    reason: "test",
  });
  const words = {
    0: [
      { text: "one", start: 1, end: 1.5 },
      { text: "two", start: 9.8, end: 10.4 }, // midpoint 10.1 s: past core 0, chunk 1's word
    ],
    1: [
      { text: "two", start: 1.8, end: 2.4 }, // 9.8–10.4 s in the episode
      { text: "three", start: 5, end: 5.5 },
      { text: "four", start: 11.9, end: 12.5 }, // 19.9–20.5 s: midpoint 20.2 s, past the last core
    ],
  };
  for (const [index, list] of Object.entries(words)) {
    await database.db
      .update(chunks)
      .set({ state: "done", resultWords: JSON.stringify(list) })
      .where(eq(chunks.id, chunkId(id, Number(index))));
  }
  const partials = new PartialTranscripts({
    store,
    results: {
      getChunkTranscript: () => Promise.reject(new Error("every result is inline here")),
    },
  });
  const p = (await partials.read(id))!;
  assert.equal(p.chunkCount, null);
  assert.equal(p.status, "transcribing");
  assert.equal(p.complete, false);
  assert.equal(p.chunksDone, 2);
  assert.deepEqual(
    p.words.map((w) => w.text),
    ["one", "two", "three"],
    "each word once, and none past the last core (the next chunk will hold it)",
  );
  assert.equal(p.throughSec, 20);
});
