/**
 * A streaming ingest killed for real (SIGKILL of `podfleet up`, a child process) after some of its
 * chunks were published resumes at the next start without redoing them: the chunks recorded before
 * the kill keep their rows (same creation time, same samples), the plan goes on after the last of
 * them, and its cores tile the whole episode. The download server holds back the end of the file
 * on the first request, so the kill always lands mid-ingest.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { Database } from "../orchestrator/store/database.ts";
import { EpisodeStore, type PlannedChunk } from "../orchestrator/store/episode-store.ts";
import { authHeaders } from "./support/auth.ts";
import { stallFirstRequest } from "./support/stalling-server.ts";
import { episodeStatus, killAllUsing, startUp, until } from "./support/up-process.ts";

const run = promisify(execFile);
const ENV = { PODFLEET_MAX_MACHINES: "0", PODFLEET_ALLOW_PRIVATE_URLS: "1", PODFLEET_LOG_LEVEL: "info" };

async function readStore<T>(dataDir: string, fn: (store: EpisodeStore) => Promise<T>): Promise<T> {
  const database = await Database.open(`file:${path.join(dataDir, "podfleet.db")}`);
  try {
    return await fn(new EpisodeStore(database));
  } finally {
    database.close();
  }
}

test("SIGKILL mid-ingest: the next start resumes after the published chunks, without redoing them", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-ingest-crash-"));
  const dataDir = path.join(dir, "data");
  fs.mkdirSync(dataDir);
  t.after(() => {
    killAllUsing(dataDir);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const mp3 = path.join(dir, "a.mp3");
  await run("ffmpeg", [
    "-nostdin",
    "-loglevel",
    "error",
    "-f",
    "lavfi",
    "-i",
    "aevalsrc=0.5*sin(2*PI*220*t)*lt(mod(t\\,4.6)\\,4):s=22050:d=150",
    "-c:a",
    "libmp3lame",
    "-b:a",
    "64k",
    mp3,
  ]);
  const bytes = fs.readFileSync(mp3);

  // first request: 60 % of the file, then nothing; later requests: the whole file
  const audio = await stallFirstRequest(t, bytes);
  const audioUrl = audio.url;

  const first = await startUp(dataDir, ENV);
  const res = await fetch(`${first.url}/v1/episodes`, {
    method: "POST",
    headers: { "content-type": "application/json", ...authHeaders(first.url) },
    body: JSON.stringify({ audioUrl, chunkSeconds: 20 }),
  });
  assert.equal(res.status, 202);
  const id = ((await res.json()) as { id: string }).id;
  await until("two chunks published", async () => (((await episodeStatus(first.url, id))?.chunks.total ?? 0) >= 2 ? true : undefined), 90_000);
  first.child.kill("SIGKILL");
  await first.exited;

  const before = await readStore(dataDir, async (store) => ({ chunks: await store.listChunks(id), episode: (await store.getEpisode(id))! }));
  assert.equal(before.episode.status, "transcribing");
  assert.equal(before.episode.chunkCount, null, "killed while the plan was growing");
  const planBefore = JSON.parse(before.episode.planJson!) as PlannedChunk[];
  assert.equal(planBefore.length, before.chunks.length);

  const second = await startUp(dataDir, ENV);
  await until(
    "the plan to be complete",
    async () => {
      const view = (await (await fetch(`${second.url}/v1/episodes/${id}`, { headers: authHeaders(second.url) })).json()) as {
        status: string;
        error: string | null;
        durationSec: number | null;
      };
      if (view.status === "failed") throw new Error(`episode failed: ${view.error}`);
      return view.durationSec !== null ? true : undefined;
    },
    120_000,
  );
  second.child.kill("SIGINT");
  assert.equal(await second.exited, 0);

  const after = await readStore(dataDir, async (store) => ({ chunks: await store.listChunks(id), episode: (await store.getEpisode(id))! }));
  const plan = JSON.parse(after.episode.planJson!) as PlannedChunk[];
  assert.equal(after.episode.chunkCount, plan.length);
  assert.ok(plan.length > before.chunks.length, "the resumed run added the rest");
  assert.deepEqual(plan.slice(0, planBefore.length), planBefore, "the plan resumed after the chunks already recorded");
  for (const old of before.chunks) {
    const now = after.chunks.find((c) => c.id === old.id)!;
    assert.deepEqual(
      [now.createdAt, now.startSample, now.endSample],
      [old.createdAt, old.startSample, old.endSample],
      `chunk ${old.index} was not redone`,
    );
  }
  let at = 0;
  for (const c of plan) {
    assert.equal(c.coreStartSample, at);
    at = c.coreEndSample!;
  }
  assert.equal(at, after.episode.sampleCount, "the cores tile the episode");
  // the PCM kept for re-publishes: what the first run appended, continued (not appended again) by the second
  const kept = fs.readFileSync(path.join(dataDir, "audio", `${id}.pcm`));
  assert.equal(kept.length, after.episode.sampleCount! * 2, "the kept PCM is the episode's decode, once");
  const fromFile = path.join(dir, "a.pcm");
  await run("ffmpeg", ["-nostdin", "-loglevel", "error", "-i", mp3, "-ac", "1", "-ar", "16000", "-f", "s16le", fromFile]);
  // the same samples, but for the last frame (26 ms) that a streamed MP3 decode ends differently
  const same = fs.statSync(fromFile).size - 0.03 * 16_000 * 2;
  assert.ok(kept.subarray(0, same).equals(fs.readFileSync(fromFile).subarray(0, same)), "the kept PCM is the file's decode");
  assert.equal(audio.requests(), 2, "downloaded again once");
});
