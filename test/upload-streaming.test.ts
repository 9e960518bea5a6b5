/**
 * Uploads stream into ingest like downloads do (episodes/upload-receipt.ts), over real HTTP from a
 * Node http client that writes the body in pieces, with real ffmpeg, NATS, libSQL and, for the
 * transcript, real pocketsphinx workers:
 *  - the first chunk job is published while the client still holds back the rest of the body, and
 *    the transcript is identical to that of the same file uploaded in one go;
 *  - a client that disconnects mid-body, and a body past PODFLEET_MAX_AUDIO_BYTES (413), fail the
 *    episode with the reason, cancel the chunks already published and leave no upload file;
 *  - an orchestrator SIGKILLed mid-upload: the restart's takeover fails the episode saying the
 *    upload never ended, instead of waiting for bytes that will never come;
 *  - a client that goes quiet mid-body (PODFLEET_UPLOAD_IDLE_SEC) is answered 408 and its episode
 *    fails likewise; a JSON body that goes quiet loses its connection a little later;
 *  - an upload trickling in holds a receiving slot, not a processing one: a file decode (an MP4 with
 *    its index at the end) goes ahead meanwhile, and an upload waiting for a receiving slot is still
 *    received and decoded from its file once the slot frees.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { test, type TestContext } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Objm } from "@nats-io/obj";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { episodeLiveObjectName } from "../contract/wire.ts";
import type { Orchestrator } from "../orchestrator/orchestrator.ts";
import { connectAuth } from "../orchestrator/queue/nats-credentials.ts";
import { authHeaders } from "./support/auth.ts";
import { speechEpisode, startFleetStack, submitFile } from "./support/fleet-stack.ts";
import { startStack, waitFor, type CleanupContext } from "./support/ingest-stack.ts";
import { episodeStatus, killAllUsing, startUp, until, waitFinished } from "./support/up-process.ts";
import { submitAudioUrl } from "./support/cluster-probe.ts";
import { serveFiles } from "./support/file-server.ts";
import { execFileSync } from "node:child_process";

function tmpDir(t: CleanupContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-upstream-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

interface Answer {
  status: number;
  body: any;
}

/** Uploads a test body started; `cutting` destroys those it left half-sent. */
const started = new Set<PacedUpload>();

/** A test body that, however it ends, cuts its uploads first: a client mid-body would keep the orchestrator from closing. */
function cutting(fn: (t: TestContext) => Promise<void>): (t: TestContext) => Promise<void> {
  return async (t) => {
    try {
      await fn(t);
    } finally {
      for (const u of started) u.req.destroy();
      started.clear();
    }
  };
}

/** A POST of an audio body to /v1/episodes that the test writes piece by piece, at its own pace. */
class PacedUpload {
  readonly req: http.ClientRequest;
  readonly answer: Promise<Answer | Error>;
  sent = 0;

  constructor(
    base: string,
    query: string,
    private readonly bytes: Buffer,
    opts: { declareLength: boolean },
  ) {
    const url = new URL(`/v1/episodes?${query}`, base);
    this.req = http.request(url, {
      method: "POST",
      headers: { "content-type": "audio/wav", ...authHeaders(url), ...(opts.declareLength ? { "content-length": String(bytes.length) } : {}) },
    });
    started.add(this);
    this.answer = new Promise((resolve) => {
      this.req.on("response", (res) => {
        let text = "";
        res.on("data", (d: Buffer) => (text += d.toString()));
        res.on("end", () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
        res.on("error", resolve);
      });
      this.req.on("error", resolve);
    });
  }

  /** Writes the body up to byte `upTo` in 16 KiB pieces `gapMs` apart; stops early once the server has answered. */
  async sendTo(upTo: number, gapMs: number): Promise<void> {
    let answered = false;
    void this.answer.then(() => (answered = true));
    while (this.sent < Math.min(upTo, this.bytes.length) && !answered) {
      const piece = this.bytes.subarray(this.sent, Math.min(upTo, this.sent + 16 * 1024));
      await new Promise<void>((resolve) => this.req.write(piece, () => resolve()));
      this.sent += piece.length;
      await sleep(gapMs);
    }
  }

  async finish(gapMs: number): Promise<Answer> {
    await this.sendTo(this.bytes.length, gapMs);
    this.req.end();
    const answer = await this.answer;
    if (answer instanceof Error) throw answer;
    return answer;
  }
}

/** The newest episode's id, once the orchestrator has recorded one. */
async function newestEpisode(orch: Orchestrator): Promise<string> {
  return waitFor("the upload's episode to be recorded", async () => (await orch.store.listEpisodes(1))[0]?.id, 30_000);
}

/** Waits for chunks of `id` to be recorded and their jobs published (the jobs stream's last sequence past `before`). */
async function chunksPublished(orch: Orchestrator, id: string, jobsPublished: () => Promise<number>, timeoutMs = 90_000): Promise<number> {
  return waitFor(
    "a chunk of the upload to be published",
    async () => {
      const ep = await orch.store.getEpisode(id);
      if (ep?.status === "failed") throw new Error(`episode failed: ${ep.error}`);
      const chunks = await orch.store.listChunks(id);
      return chunks.length > 0 && (await jobsPublished()) >= chunks.length ? chunks.length : undefined;
    },
    timeoutMs,
  );
}

async function natsView(t: CleanupContext, orch: Orchestrator) {
  const nc = await connect({ servers: orch.natsUrl, ...connectAuth(orch.natsAuth.orchestrator) });
  t.after(() => nc.close());
  const jsm = await jetstreamManager(nc);
  const audio = await new Objm(nc).open(orch.names.audioBucket);
  return {
    jobsPublished: async () => (await jsm.streams.info(orch.names.jobsStream)).state.last_seq,
    liveMarker: async (id: string) => {
      const info = await audio.info(episodeLiveObjectName(id));
      return info !== null && !info.deleted;
    },
  };
}

/** Files the upload left in the data directory's uploads and work folders, and its kept PCM. */
function leftovers(orch: Orchestrator, id: string): string[] {
  const dirs = ["uploads", "work"].map((d) => path.join(orch.config.dataDir, d));
  const files = dirs.flatMap((d) => (fs.existsSync(d) ? fs.readdirSync(d) : []));
  const pcm = path.join(orch.config.dataDir, "audio", `${id}.pcm`);
  return fs.existsSync(pcm) ? [...files, pcm] : files;
}

/** The episode once it has failed (its row, with the error). */
function failedEpisode(orch: Orchestrator, id: string) {
  return waitFor(
    "the episode to fail",
    async () => {
      const ep = await orch.store.getEpisode(id);
      return ep?.status === "failed" ? ep : undefined;
    },
    30_000,
  );
}

/** Waits until the upload left no file behind (leftovers). */
async function filesRemoved(orch: Orchestrator, id: string): Promise<void> {
  await waitFor("the upload's files to be removed", () => (leftovers(orch, id).length === 0 ? true : undefined), 10_000);
}

async function transcriptJson(base: string, id: string): Promise<string> {
  const res = await fetch(`${base}/v1/episodes/${id}/transcript.json`);
  assert.equal(res.status, 200);
  return res.text();
}

test(
  "an upload's first chunk job is out before its last byte, and its transcript matches a one-piece upload",
  { timeout: 400_000 },
  cutting(async (t) => {
    const dir = tmpDir(t);
    const wav = await speechEpisode(dir, 7);
    const bytes = fs.readFileSync(wav);
    const orch = await startFleetStack(t);
    const nats = await natsView(t, orch);

    const upload = new PacedUpload(orch.url, "title=fleet", bytes, { declareLength: true });
    // the first half over about a second and a half, then the client holds the rest back
    await upload.sendTo(Math.floor(bytes.length / 2), 40);
    const id = await newestEpisode(orch);
    const published = await chunksPublished(orch, id, nats.jobsPublished);
    assert.ok(upload.sent < bytes.length, "the client has not sent its last byte");
    const during = await orch.store.getEpisode(id);
    assert.equal(during?.status, "transcribing");
    assert.equal(during?.chunkCount, null, "the plan is still growing");
    const answer = await upload.finish(40);
    assert.equal(answer.status, 202, JSON.stringify(answer.body));
    assert.equal(answer.body.id, id);
    const streamed = await waitFinished(orch.url, id, 240_000);
    assert.equal(streamed.status, "done", `streamed upload: ${streamed.error}`);
    assert.ok(streamed.chunks.total > published, `${published} of ${streamed.chunks.total} chunks were out before the last byte`);

    const whole = await submitFile(orch.url, wav);
    const reference = await waitFinished(orch.url, whole, 240_000);
    assert.equal(reference.status, "done", `one-piece upload: ${reference.error}`);
    const [a, b] = await Promise.all([orch.store.getEpisode(id), orch.store.getEpisode(whole)]);
    assert.equal(a?.planJson, b?.planJson, "the same cuts");
    assert.equal(a?.audioSha256, b?.audioSha256, "the same bytes");
    assert.equal(await transcriptJson(orch.url, id), await transcriptJson(orch.url, whole), "the same transcript");
    assert.deepEqual(leftovers(orch, id), [], "no upload file or PCM left once done");
  }),
);

test(
  "a client that disconnects mid-body: the episode fails saying so, its published chunks are cancelled, nothing is left",
  cutting(async (t) => {
    const dir = tmpDir(t);
    const wav = await speechEpisode(dir, 8);
    const bytes = fs.readFileSync(wav);
    const orch = await startStack(t);
    const nats = await natsView(t, orch);

    const upload = new PacedUpload(orch.url, "chunkSeconds=4", bytes, { declareLength: true });
    await upload.sendTo(Math.floor(bytes.length * 0.6), 5);
    const id = await newestEpisode(orch);
    await chunksPublished(orch, id, nats.jobsPublished);
    assert.equal(await nats.liveMarker(id), true, "its chunks are live for the workers");
    upload.req.destroy();

    const failed = await failedEpisode(orch, id);
    assert.match(failed.error ?? "", /the upload was interrupted before its end/);
    assert.deepEqual(await orch.store.listChunks(id), [], "the partial plan is dropped");
    assert.equal(failed.planJson, null);
    assert.equal(await nats.liveMarker(id), false, "the workers are told to drop its jobs");
    await filesRemoved(orch, id);
  }),
);

test(
  "a body past PODFLEET_MAX_AUDIO_BYTES after chunks went out: 413, the episode fails, its chunks are cancelled",
  cutting(async (t) => {
    const dir = tmpDir(t);
    const wav = await speechEpisode(dir, 8);
    const bytes = fs.readFileSync(wav);
    const limit = Math.floor(bytes.length * 0.7);
    const orch = await startStack(t, { PODFLEET_MAX_AUDIO_BYTES: String(limit) });
    const nats = await natsView(t, orch);

    // no Content-Length: the cap is found while the body streams
    const upload = new PacedUpload(orch.url, "chunkSeconds=4", bytes, { declareLength: false });
    await upload.sendTo(Math.floor(bytes.length * 0.5), 5);
    const id = await newestEpisode(orch);
    await chunksPublished(orch, id, nats.jobsPublished);
    await upload.sendTo(bytes.length, 5);
    upload.req.end();
    const answer = await upload.answer;
    if (answer instanceof Error) throw new Error(`the client got no answer: ${answer.message}`, { cause: answer });
    assert.equal(answer.status, 413);
    assert.equal(answer.body.error.code, "too_large");
    assert.match(answer.body.error.message, new RegExp(`over the ${limit}-byte limit`));

    const failed = await failedEpisode(orch, id);
    assert.match(failed.error ?? "", new RegExp(`over the ${limit}-byte limit`));
    assert.deepEqual(await orch.store.listChunks(id), []);
    assert.equal(await nats.liveMarker(id), false);
    await filesRemoved(orch, id);
  }),
);

test(
  "an orchestrator killed mid-upload: the restart fails the episode as an interrupted upload and keeps nothing",
  { timeout: 240_000 },
  cutting(async (t) => {
    const dir = tmpDir(t);
    t.after(() => killAllUsing(dir));
    const wav = await speechEpisode(dir, 8);
    const bytes = fs.readFileSync(wav);
    const dataDir = path.join(dir, "data");
    const env = { PODFLEET_MAX_MACHINES: "0", PODFLEET_LOG_LEVEL: "info" };
    const first = await startUp(dataDir, env);
    const upload = new PacedUpload(first.url, "chunkSeconds=4", bytes, { declareLength: true });
    await upload.sendTo(Math.floor(bytes.length * 0.6), 5);
    const id = await until(
      "a chunk of the upload to be published",
      async () => {
        const res = await fetch(`${first.url}/v1/episodes`, { headers: authHeaders(first.url) });
        const ep = ((await res.json()) as { episodes: Array<{ id: string; chunks: { total: number } }> }).episodes[0];
        return ep && ep.chunks.total > 0 ? ep.id : undefined;
      },
      60_000,
    );
    first.child.kill("SIGKILL");
    await first.exited;
    upload.req.destroy();
    const uploads = path.join(dataDir, "uploads");
    assert.deepEqual(fs.readdirSync(uploads), [`${id}.upload.part`], "the killed run left the part it had received");

    const second = await startUp(dataDir, env);
    try {
      const ended = await waitFinished(second.url, id, 60_000);
      assert.equal(ended.status, "failed");
      assert.match(ended.error ?? "", /the upload was interrupted before its end/);
      assert.equal((await episodeStatus(second.url, id))?.chunks.total, 0, "the chunks published before the kill are cancelled");
      await until("the part file to be removed", () => (fs.readdirSync(uploads).length === 0 ? true : undefined), 10_000);
    } finally {
      second.child.kill("SIGINT");
      await second.exited;
    }
  }),
);

test(
  "a client that goes quiet mid-body: 408 after PODFLEET_UPLOAD_IDLE_SEC, the episode fails saying so, its chunks are cancelled, nothing is left",
  cutting(async (t) => {
    const dir = tmpDir(t);
    const wav = await speechEpisode(dir, 8);
    const bytes = fs.readFileSync(wav);
    const orch = await startStack(t, { PODFLEET_UPLOAD_IDLE_SEC: "2" });
    const nats = await natsView(t, orch);

    const upload = new PacedUpload(orch.url, "chunkSeconds=4", bytes, { declareLength: true });
    await upload.sendTo(Math.floor(bytes.length * 0.6), 5);
    const id = await newestEpisode(orch);
    await chunksPublished(orch, id, nats.jobsPublished);
    // the client keeps its connection open and sends nothing more
    const answer = await upload.answer;
    if (answer instanceof Error) throw new Error(`the client got no answer: ${answer.message}`, { cause: answer });
    assert.equal(answer.status, 408);
    assert.equal(answer.body.error.code, "stalled");
    assert.match(answer.body.error.message, /the upload stalled: no bytes for 2 s after \d+ bytes/);

    const failed = await failedEpisode(orch, id);
    assert.match(failed.error ?? "", /the upload stalled/);
    assert.deepEqual(await orch.store.listChunks(id), []);
    assert.equal(await nats.liveMarker(id), false, "the workers are told to drop its jobs");
    await filesRemoved(orch, id);
  }),
);

test("a JSON body that goes quiet loses its connection once the idle limit and its margin pass; the server answers the next request", async (t) => {
  const orch = await startStack(t, { PODFLEET_UPLOAD_IDLE_SEC: "1" });
  const url = new URL("/v1/episodes", orch.url);
  const started = Date.now();
  const req = http.request(url, { method: "POST", headers: { "content-type": "application/json", "content-length": "200", ...authHeaders(url) } });
  const outcome = new Promise<string>((resolve) => {
    req.on("response", (res) => resolve(`answered ${res.statusCode}`));
    req.on("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
  req.write('{"audioUrl": "http');
  t.after(() => req.destroy());
  assert.equal(await outcome, "ECONNRESET", "the connection was dropped, not answered");
  const waited = Date.now() - started;
  assert.ok(waited >= 1_000, `dropped after ${waited} ms, not before the idle limit`);
  const res = await fetch(new URL("/v1/episodes", orch.url), { headers: authHeaders(url) });
  assert.equal(res.status, 200);
});

test("a request without a body keeps its connection however quiet its answer: a transcript stream outlasts the body idle limit", async (t) => {
  const dir = tmpDir(t);
  const orch = await startStack(t, { PODFLEET_UPLOAD_IDLE_SEC: "1" });
  // no machines: the episode stays transcribing, and its stream only writes a keep-alive every 15 s
  const id = await submitFile(orch.url, await speechEpisode(dir, 8));
  const url = new URL(`/v1/episodes/${id}/transcript-stream`, orch.url);
  const req = http.get(url, { headers: authHeaders(url) });
  t.after(() => req.destroy());
  const keptAlive = new Promise<string>((resolve) => {
    req.on("response", (res) => {
      let text = "";
      res.on("data", (d: Buffer) => {
        text += d.toString();
        if (text.includes(": keep-alive")) resolve("keep-alive");
      });
      res.on("close", () => resolve("closed"));
    });
    req.on("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
  assert.equal(await keptAlive, "keep-alive", "the stream was still open at its first keep-alive, 15 s in (the body limit here is 1 + 5 s)");
});

test(
  "an upload trickling in holds no processing slot: a file decode goes ahead, and an upload waiting for a receiving slot catches up from its file",
  { timeout: 300_000 },
  cutting(async (t) => {
    const dir = tmpDir(t);
    const wav = await speechEpisode(dir, 8);
    const bytes = fs.readFileSync(wav);
    // an MP4 muxed the default way has its index at the end: not decodable as a stream, so it is decoded from its file
    const m4a = path.join(dir, "late-index.m4a");
    execFileSync("ffmpeg", ["-loglevel", "error", "-i", wav, "-c:a", "aac", "-b:a", "64k", m4a]);
    const audio = await serveFiles(t, { "/late-index.m4a": { path: m4a, contentType: "audio/mp4" } });
    const orch = await startStack(t, { PODFLEET_MAX_STREAMED_UPLOADS: "1" }, { maxConcurrentIngests: 1 });
    const nats = await natsView(t, orch);
    const planned = (id: string) =>
      waitFor(
        `episode ${id}'s plan to be complete`,
        async () => {
          const ep = await orch.store.getEpisode(id);
          if (ep?.status === "failed") throw new Error(`episode ${id} failed: ${ep.error}`);
          return ep?.chunkCount !== null && ep?.chunkCount !== undefined ? ep : undefined;
        },
        120_000,
      );

    // A trickles in and holds the one receiving slot
    const slow = new PacedUpload(orch.url, "chunkSeconds=4", bytes, { declareLength: true });
    await slow.sendTo(Math.floor(bytes.length * 0.5), 5);
    const slowId = await newestEpisode(orch);
    await chunksPublished(orch, slowId, nats.jobsPublished);

    // the file decode takes the one processing slot meanwhile
    const fileId = await submitAudioUrl(orch.url, `${audio.url}/late-index.m4a`);
    const fileEp = await planned(fileId);
    assert.ok(fileEp.chunkCount! > 0);
    // B arrives whole while A still holds the receiving slot: received (202), decoded later
    const waiting = new PacedUpload(orch.url, "chunkSeconds=4", bytes, { declareLength: true });
    const answer = await waiting.finish(0);
    assert.equal(answer.status, 202, JSON.stringify(answer.body));
    assert.equal((await orch.store.listChunks(answer.body.id)).length, 0, "B waits for the receiving slot");
    assert.ok(slow.sent < bytes.length, "A is still arriving");

    assert.equal((await slow.finish(5)).status, 202);
    const [a, b] = [await planned(slowId), await planned(answer.body.id)];
    assert.equal(a.planJson, b.planJson, "B, decoded from its file after waiting, is cut like A");
  }),
);
